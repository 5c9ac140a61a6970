package testnet

import (
	"crypto/tls"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/sampleconfig"
)

// Source says where a configuration file comes from.
type Source int

const (
	// Sample is Weft's sampleconfig/ (embedded).
	Sample Source = iota
	// Fixture is the Fabric v2.5.16 fixture folder next to the repository.
	Fixture
)

func (s Source) String() string {
	if s == Fixture {
		return "fabric fixture"
	}
	return "sampleconfig"
}

// Spec chooses the crypto-config.yaml and configtx.yaml of a network.
type Spec struct {
	Crypto   Source
	ConfigTx Source
}

// Channel and Profile name the channel whose genesis block is built.
const (
	Channel = "mychannel"
	Profile = "ChannelUsingRaft"
)

// Net is one generated network, shared by the tests of a binary: never
// change its files or its Bundle (see the package doc).
type Net struct {
	// Dir holds organizations/ (cryptogen layout), crypto-config.yaml and configtx.yaml.
	Dir     string
	genesis *cb.Block
	// Bundle is mychannel's configuration from the genesis block.
	Bundle *channelconfig.Bundle
	orgs   map[string]orgInfo // by MSP ID, e.g. "Org1MSP"
}

type orgInfo struct {
	kind   string // "peerOrganizations" or "ordererOrganizations"
	domain string
}

type entry struct {
	once sync.Once
	net  *Net
	err  error
}

var (
	mu   sync.Mutex
	nets = map[Spec]*entry{}
)

// SampleNet is the network of sampleconfig's crypto-config.yaml and configtx.yaml.
func SampleNet(tb testing.TB) *Net { return Load(tb, Spec{Sample, Sample}) }

// FabricNet is the network of the Fabric fixture's crypto-config.yaml and configtx.yaml.
func FabricNet(tb testing.TB) *Net { return Load(tb, Spec{Fixture, Fixture}) }

// Load returns the network of spec, generating it on first use in this
// process. It fails tb when the material cannot be built.
func Load(tb testing.TB, spec Spec) *Net {
	tb.Helper()
	mu.Lock()
	e, ok := nets[spec]
	if !ok {
		e = &entry{}
		nets[spec] = e
	}
	mu.Unlock()
	e.once.Do(func() { e.net, e.err = generate(spec) })
	if e.err != nil {
		tb.Fatalf("testnet (crypto from %s, configtx from %s): %v", spec.Crypto, spec.ConfigTx, e.err)
	}
	return e.net
}

// Close removes every generated network's folder. Call it after m.Run in
// TestMain; networks must not be used afterwards.
func Close() {
	mu.Lock()
	defer mu.Unlock()
	for spec, e := range nets {
		if e.net != nil {
			os.RemoveAll(e.net.Dir)
		}
		delete(nets, spec)
	}
}

func readSource(src Source, name string) ([]byte, error) {
	if src == Fixture {
		raw, err := os.ReadFile(fabricfixture.Path(name))
		if err != nil {
			return nil, fmt.Errorf("read fixture %s (is the Fabric fixture folder present?): %w", name, err)
		}
		return raw, nil
	}
	raw, err := fs.ReadFile(sampleconfig.Files, name)
	if err != nil {
		return nil, fmt.Errorf("read sampleconfig/%s: %w", name, err)
	}
	return raw, nil
}

func generate(spec Spec) (*Net, error) {
	dir, err := os.MkdirTemp("", "weft-testnet-")
	if err != nil {
		return nil, err
	}
	n, err := build(dir, spec)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return n, nil
}

func build(dir string, spec Spec) (*Net, error) {
	for _, f := range []struct {
		name string
		src  Source
	}{{"crypto-config.yaml", spec.Crypto}, {"configtx.yaml", spec.ConfigTx}} {
		raw, err := readSource(f.src, f.name)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), raw, 0o600); err != nil {
			return nil, err
		}
	}
	cc, err := msp.LoadCryptoConfig(filepath.Join(dir, "crypto-config.yaml"))
	if err != nil {
		return nil, err
	}
	if err := msp.GenerateCrypto(cc, filepath.Join(dir, "organizations")); err != nil {
		return nil, fmt.Errorf("generate crypto: %w", err)
	}
	ctx, err := channelconfig.LoadConfigTx(filepath.Join(dir, "configtx.yaml"))
	if err != nil {
		return nil, err
	}
	genesis, err := channelconfig.GenesisBlock(ctx, Profile, Channel)
	if err != nil {
		return nil, fmt.Errorf("genesis block of %s (profile %s): %w", Channel, Profile, err)
	}
	bundle, err := channelconfig.BundleFromBlock(genesis)
	if err != nil {
		return nil, err
	}
	n := &Net{Dir: dir, genesis: genesis, Bundle: bundle, orgs: map[string]orgInfo{}}
	for _, o := range cc.OrdererOrgs {
		n.orgs[o.Name+"MSP"] = orgInfo{"ordererOrganizations", o.Domain}
	}
	for _, o := range cc.PeerOrgs {
		n.orgs[o.Name+"MSP"] = orgInfo{"peerOrganizations", o.Domain}
	}
	return n, nil
}

// Genesis returns a copy of mychannel's genesis block; callers may change it.
func (n *Net) Genesis() *cb.Block { return proto.Clone(n.genesis).(*cb.Block) }

// Orgs is the organizations/ folder (cryptogen layout).
func (n *Net) Orgs() string { return filepath.Join(n.Dir, "organizations") }

// Path joins p under Orgs, e.g. Path("peerOrganizations", "org1.example.com", "msp").
func (n *Net) Path(p ...string) string {
	return filepath.Join(append([]string{n.Orgs()}, p...)...)
}

func (n *Net) org(tb testing.TB, mspID string) orgInfo {
	tb.Helper()
	o, ok := n.orgs[mspID]
	if !ok {
		tb.Fatalf("testnet: no organisation with MSP ID %q in crypto-config.yaml", mspID)
	}
	return o
}

// OrgDir is an organisation's folder, e.g. .../peerOrganizations/org1.example.com.
func (n *Net) OrgDir(tb testing.TB, mspID string) string {
	tb.Helper()
	o := n.org(tb, mspID)
	return n.Path(o.kind, o.domain)
}

// NodeDir is a node's folder by its host name, e.g. "peer0.org1.example.com"
// or "orderer.example.com"; it holds msp/ and tls/.
func (n *Net) NodeDir(tb testing.TB, host string) string {
	tb.Helper()
	dir, _ := n.node(tb, host)
	return dir
}

// node finds the organisation whose domain is host's parent domain.
func (n *Net) node(tb testing.TB, host string) (dir, mspID string) {
	tb.Helper()
	for id, o := range n.orgs {
		name, ok := strings.CutSuffix(host, "."+o.domain)
		if !ok || strings.Contains(name, ".") {
			continue
		}
		sub := "peers"
		if o.kind == "ordererOrganizations" {
			sub = "orderers"
		}
		return n.Path(o.kind, o.domain, sub, host), id
	}
	tb.Fatalf("testnet: no organisation's domain is the parent of node %q", host)
	return "", ""
}

// TLSFiles are a node's TLS server key pair and its TLS CA certificate.
type TLSFiles struct{ Cert, Key, CA string }

// TLS returns the TLS file paths of node host (see NodeDir).
func (n *Net) TLS(tb testing.TB, host string) TLSFiles {
	tb.Helper()
	d := filepath.Join(n.NodeDir(tb, host), "tls")
	return TLSFiles{Cert: filepath.Join(d, "server.crt"), Key: filepath.Join(d, "server.key"), CA: filepath.Join(d, "ca.crt")}
}

// Signer loads node host's signing identity (see NodeDir).
func (n *Net) Signer(tb testing.TB, host string) *msp.SigningIdentity {
	tb.Helper()
	dir, mspID := n.node(tb, host)
	return load(tb, filepath.Join(dir, "msp"), mspID)
}

// User loads a user's signing identity, e.g. User("User1", "Org1MSP").
func (n *Net) User(tb testing.TB, name, mspID string) *msp.SigningIdentity {
	tb.Helper()
	o := n.org(tb, mspID)
	return load(tb, n.Path(o.kind, o.domain, "users", name+"@"+o.domain, "msp"), mspID)
}

// Admin loads an organisation's Admin user.
func (n *Net) Admin(tb testing.TB, mspID string) *msp.SigningIdentity {
	tb.Helper()
	return n.User(tb, "Admin", mspID)
}

func load(tb testing.TB, dir, mspID string) *msp.SigningIdentity {
	tb.Helper()
	s, err := msp.LoadSigningIdentity(dir, mspID)
	if err != nil {
		tb.Fatalf("testnet: load signing identity of %s from %s: %v", mspID, dir, err)
	}
	return s
}

// TLSCert loads node host's TLS server key pair (see NodeDir).
func (n *Net) TLSCert(tb testing.TB, host string) tls.Certificate {
	tb.Helper()
	f := n.TLS(tb, host)
	c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		tb.Fatalf("testnet: load TLS key pair of %s: %v", host, err)
	}
	return c
}
