package channelconfig

import (
	"os"
	"path/filepath"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

func genesisBytes(tb testing.TB) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "mychannel-genesis.block"))
	if err != nil {
		tb.Fatalf("Fabric fixtures: %v", err)
	}
	return raw
}

// checkBundleFromBytes decodes raw as a block and builds its bundle. It must
// never panic; a bundle it returns must be internally consistent.
func checkBundleFromBytes(t *testing.T, raw []byte) {
	t.Helper()
	b := &cb.Block{}
	if err := proto.Unmarshal(raw, b); err != nil {
		return
	}
	bundle, err := BundleFromBlock(b)
	if err != nil {
		if bundle != nil {
			t.Fatal("BundleFromBlock returned a bundle with its error")
		}
		return
	}
	cfg, channelID, err := ConfigFromBlock(b)
	if err != nil {
		t.Fatalf("BundleFromBlock accepted a block ConfigFromBlock refuses: %v", err)
	}
	if bundle.ChannelID() != channelID || !proto.Equal(bundle.Config(), cfg) {
		t.Fatal("bundle does not hold the block's channel ID and config")
	}
	if bundle.Sequence() != cfg.Sequence {
		t.Fatalf("bundle sequence %d, config sequence %d", bundle.Sequence(), cfg.Sequence)
	}
	for _, id := range bundle.MSPs().IDs() {
		if _, ok := bundle.MSPs().MSP(id); !ok {
			t.Fatalf("MSP %s listed but not found", id)
		}
	}
	garbage := []protos.SignedData{{Data: []byte("data"), Identity: []byte("not an identity"), Signature: []byte("sig")}}
	for _, path := range bundle.PolicyPaths() {
		p, err := bundle.Policy(path)
		if err != nil || p == nil {
			t.Fatalf("policy %s listed but not found: %v", path, err)
		}
		// Evaluation of any compiled policy must not panic, whatever it is given.
		_ = p.Evaluate(nil)
		_ = p.Evaluate(garbage)
	}
	if o := bundle.Orderer(); o != nil {
		for _, org := range o.Orgs {
			if org == nil {
				t.Fatal("orderer config holds a nil organisation")
			}
		}
	}
	if a := bundle.Application(); a != nil {
		for _, org := range a.Orgs {
			if org == nil {
				t.Fatal("application config holds a nil organisation")
			}
		}
	}
}

// FuzzBundleFromBlock decodes random bytes, seeded with Fabric's genesis
// blocks, as a config block.
func FuzzBundleFromBlock(f *testing.F) {
	f.Add(genesisBytes(f))
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "blocks", "block_000000.pb"))
	if err != nil {
		f.Fatalf("Fabric fixtures: %v", err)
	}
	f.Add(raw)
	f.Add([]byte{})
	f.Fuzz(checkBundleFromBytes)
}

// FuzzBundleFromMutatedGenesis overwrites one byte of Fabric's genesis block
// and optionally truncates it, so every run starts from a real config.
func FuzzBundleFromMutatedGenesis(f *testing.F) {
	genesis := genesisBytes(f)
	f.Add(uint32(0), byte(0), uint32(0))
	f.Add(uint32(100), byte(0xff), uint32(0))
	f.Add(uint32(len(genesis)/2), byte(0x0a), uint32(0))
	f.Add(uint32(0), byte(0), uint32(len(genesis)/3))
	f.Fuzz(func(t *testing.T, pos uint32, val byte, cut uint32) {
		raw := append([]byte(nil), genesis...)
		raw[int(pos)%len(raw)] = val
		if cut > 0 {
			raw = raw[:len(raw)-int(cut)%len(raw)]
		}
		checkBundleFromBytes(t, raw)
	})
}

// TestBundleFromGenesisByteFlips runs a deterministic sweep of mutations as a
// plain test: a flipped byte every 331 bytes, and truncations.
func TestBundleFromGenesisByteFlips(t *testing.T) {
	t.Parallel()
	genesis := genesisBytes(t)
	refused := 0
	for pos := 0; pos < len(genesis); pos += 331 {
		raw := append([]byte(nil), genesis...)
		raw[pos] ^= 0xff
		checkBundleFromBytes(t, raw)
		b := &cb.Block{}
		if proto.Unmarshal(raw, b) != nil {
			refused++
		} else if _, err := BundleFromBlock(b); err != nil {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no byte flip of the genesis block was refused: the sweep does not reach the decoder")
	}
	for cut := 1; cut < len(genesis); cut += 997 {
		checkBundleFromBytes(t, genesis[:len(genesis)-cut])
	}
}
