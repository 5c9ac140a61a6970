package deliver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/msp"
)

// devnet is a development network's crypto and genesis block, generated once
// per test binary with Weft's own cryptogen and configtxgen replacements from
// the Fabric fixture's crypto-config.yaml and sampleconfig/configtx.yaml.
type devnet struct {
	dir     string
	genesis *cb.Block
	bundle  *channelconfig.Bundle
}

var (
	devnetOnce sync.Once
	devnetVal  *devnet
	devnetErr  error
)

const fixtureDir = "../../../shared/fixtures/fabric-2.5.16"

func TestMain(m *testing.M) {
	code := m.Run()
	if devnetVal != nil {
		os.RemoveAll(devnetVal.dir)
	}
	os.Exit(code)
}

// replacements rewrite addresses in configtx.yaml before the genesis block is
// built (old -> new), e.g. to point anchor peers at test listeners.
func getDevnet(t *testing.T) *devnet {
	t.Helper()
	devnetOnce.Do(func() { devnetVal, devnetErr = newDevnet(nil) })
	if devnetErr != nil {
		t.Fatalf("devnet: %v", devnetErr)
	}
	return devnetVal
}

func newDevnet(replacements map[string]string) (*devnet, error) {
	dir, err := os.MkdirTemp("", "weft-deliver-devnet")
	if err != nil {
		return nil, err
	}
	cc, err := msp.LoadCryptoConfig(filepath.Join(fixtureDir, "crypto-config.yaml"))
	if err != nil {
		return nil, err
	}
	if err := msp.GenerateCrypto(cc, filepath.Join(dir, "organizations")); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile("../../sampleconfig/configtx.yaml")
	if err != nil {
		return nil, err
	}
	text := string(raw)
	for old, repl := range replacements {
		text = strings.ReplaceAll(text, old, repl)
	}
	if err := os.WriteFile(filepath.Join(dir, "configtx.yaml"), []byte(text), 0o644); err != nil {
		return nil, err
	}
	ctx, err := channelconfig.LoadConfigTx(filepath.Join(dir, "configtx.yaml"))
	if err != nil {
		return nil, err
	}
	genesis, err := channelconfig.GenesisBlock(ctx, "ChannelUsingRaft", testChannel)
	if err != nil {
		return nil, err
	}
	bundle, err := channelconfig.BundleFromBlock(genesis)
	if err != nil {
		return nil, err
	}
	return &devnet{dir: dir, genesis: genesis, bundle: bundle}, nil
}

// identity loads a signing identity: org like "peerOrganizations/org1.example.com",
// who "User1", "Admin", "peer0" or "orderer".
func (d *devnet) identity(t *testing.T, org, who, mspID string) *msp.SigningIdentity {
	t.Helper()
	var dir string
	switch {
	case strings.HasPrefix(who, "peer"):
		dir = filepath.Join(d.dir, "organizations", org, "peers", who+"."+filepath.Base(org), "msp")
	case strings.HasPrefix(who, "orderer"):
		dir = filepath.Join(d.dir, "organizations", org, "orderers", who+"."+filepath.Base(org), "msp")
	default:
		dir = filepath.Join(d.dir, "organizations", org, "users", who+"@"+filepath.Base(org), "msp")
	}
	s, err := msp.LoadSigningIdentity(dir, mspID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tlsCert loads a node's TLS server certificate and key, e.g.
// "ordererOrganizations/example.com/orderers/orderer.example.com".
func (d *devnet) tlsCert(t *testing.T, node string) tls.Certificate {
	t.Helper()
	dir := filepath.Join(d.dir, "organizations", node, "tls")
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tlsRoots returns the TLS root CAs of an organisation's MSP in the bundle.
func (d *devnet) tlsRoots(t *testing.T, mspID string) *x509.CertPool {
	t.Helper()
	m, ok := d.bundle.MSPs().MSP(mspID)
	if !ok {
		t.Fatalf("no MSP %s in the channel config", mspID)
	}
	return m.TLSRootCAs()
}

// observedStore is the real block store, reporting each WaitHeight that has
// to block so tests can append exactly then.
type observedStore struct {
	*ledger.BlockStore
	waiters chan uint64
}

func (s observedStore) WaitHeight(ctx context.Context, h uint64) error {
	if s.Height() < h {
		select {
		case s.waiters <- h:
		default:
		}
	}
	return s.BlockStore.WaitHeight(ctx, h)
}

// openStore opens a real block store holding the devnet genesis block.
func openStore(t *testing.T, d *devnet) observedStore {
	t.Helper()
	bs, err := ledger.OpenBlockStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	if err := bs.Append(d.genesis); err != nil {
		t.Fatal(err)
	}
	return observedStore{BlockStore: bs, waiters: make(chan uint64, 16)}
}
