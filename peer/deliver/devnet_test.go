package deliver

import (
	"context"
	"crypto/x509"
	"os"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/ledger"
)

// devnet is a development network's crypto and genesis block, generated once
// per test binary with Weft's own cryptogen and configtxgen replacements from
// the Fabric fixture's crypto-config.yaml and sampleconfig/configtx.yaml.
type devnet struct {
	*testnet.Net
	genesis *cb.Block
	bundle  *channelconfig.Bundle
}

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	os.Exit(code)
}

// getDevnet returns the shared devnet: the Fabric fixture's crypto-config.yaml
// with sampleconfig/configtx.yaml.
func getDevnet(t testing.TB) *devnet {
	t.Helper()
	tn := testnet.Load(t, testnet.Spec{Crypto: testnet.Fixture, ConfigTx: testnet.Sample})
	return &devnet{Net: tn, genesis: tn.Genesis(), bundle: tn.Bundle}
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
