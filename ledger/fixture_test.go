package ledger

import (
	"bytes"
	"fmt"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

func loadFixtureBlock(t *testing.T, n int) *cb.Block {
	t.Helper()
	b, err := protos.UnmarshalBlock(fabricfixture.ReadFile(t, "blocks", fmt.Sprintf("block_%06d.pb", n)))
	if err != nil {
		t.Fatalf("block %d: %v", n, err)
	}
	return b
}

type expectedEntry struct {
	value   []byte
	deleted bool
	version statedb.Version
}

// TestFabricFixtureBlocks commits the blocks a Fabric v2.5.16 peer delivered
// and checks the ledger agrees with Fabric: the chain links, every tx stays
// VALID, and the state holds exactly what the blocks' own write sets say.
func TestFabricFixtureBlocks(t *testing.T) {
	t.Parallel()
	l := openLedger(t, t.TempDir())
	defer l.Close()

	expected := map[string]map[string]expectedEntry{}
	set := func(ns, key string, e expectedEntry) {
		if expected[ns] == nil {
			expected[ns] = map[string]expectedEntry{}
		}
		expected[ns][key] = e
	}
	var block9Keys []string
	var sequenceWrite []byte
	for n := 0; n <= 9; n++ {
		b := loadFixtureBlock(t, n)
		fabricFilter := protos.TxFilter(b)
		for i, code := range fabricFilter {
			if pb.TxValidationCode(code) != pb.TxValidationCode_VALID {
				t.Fatalf("fixture block %d tx %d is %s; this test expects all VALID", n, i, pb.TxValidationCode(code))
			}
		}
		// Expected effects, decoded from the block itself before committing.
		for i, raw := range b.Data.Data {
			sets, ok := txWriteSets(t, raw)
			if !ok {
				continue
			}
			v := statedb.Version{BlockNum: uint64(n), TxNum: uint64(i)}
			for _, s := range sets {
				for _, w := range s.kv.Writes {
					set(s.ns, w.Key, expectedEntry{value: w.Value, deleted: w.IsDelete, version: v})
					if n == 9 && s.ns == "basic" {
						block9Keys = append(block9Keys, w.Key)
					}
					if s.ns == "_lifecycle" && w.Key == "namespaces/fields/basic/Sequence" {
						sequenceWrite = w.Value
					}
				}
				for _, c := range s.hashed {
					for _, w := range c.set.HashedWrites {
						set(HashedNamespace(s.ns, c.name), string(w.KeyHash), expectedEntry{value: w.ValueHash, deleted: w.IsDelete, version: v})
					}
				}
			}
		}
		// What the Fabric peer recorded: its commit hash and the whole block.
		fabricHash, err := CommitHash(b)
		if err != nil {
			t.Fatal(err)
		}
		if (n == 0) != (fabricHash == nil) {
			t.Fatalf("fixture block %d: Fabric commit hash %x; the fixture should carry one on every block but the genesis block", n, fabricHash)
		}
		fabricBytes := protos.Marshal(b)
		b.Metadata.Metadata[cb.BlockMetadataIndex_COMMIT_HASH] = nil // Weft must compute it itself
		if err := l.Commit(b, nil); err != nil {
			t.Fatalf("Commit fixture block %d: %v", n, err)
		}
		stored, err := l.Blocks().Block(uint64(n))
		if err != nil {
			t.Fatal(err)
		}
		if got := protos.TxFilter(stored); !bytes.Equal(got, fabricFilter) {
			t.Fatalf("block %d: filter after commit %v differs from Fabric's %v", n, got, fabricFilter)
		}
		if got, err := CommitHash(stored); err != nil || !bytes.Equal(got, fabricHash) {
			t.Fatalf("block %d: commit hash %x (%v), the Fabric peer recorded %x", n, got, err, fabricHash)
		}
		if !bytes.Equal(protos.Marshal(stored), fabricBytes) {
			t.Fatalf("block %d as stored differs from the block the Fabric peer served", n)
		}
	}
	if h := l.Blocks().Height(); h != 10 {
		t.Fatalf("height = %d, want 10", h)
	}
	if len(block9Keys) != 500 {
		t.Fatalf("block 9 wrote %d basic keys, want 500 (one CreateAsset each)", len(block9Keys))
	}
	if sequenceWrite == nil {
		t.Fatal("no block wrote _lifecycle namespaces/fields/basic/Sequence")
	}
	if _, ok := expected["basic"]["asset1"]; !ok {
		t.Fatal("InitLedger (block 7) did not write basic/asset1")
	}
	hashedNamespaces := 0
	for ns, keys := range expected {
		if len(ns) > len("_lifecycle$$h") && ns[:len("_lifecycle$$h")] == "_lifecycle$$h" {
			hashedNamespaces++
		}
		for key, want := range keys {
			got, err := l.State().Get(ns, key)
			if err != nil {
				t.Fatal(err)
			}
			if want.deleted {
				if got != nil {
					t.Errorf("%s/%q present, want deleted", ns, key)
				}
				continue
			}
			if got == nil {
				t.Errorf("%s/%q absent, want %q at %s", ns, key, want.value, want.version)
				continue
			}
			if !bytes.Equal(got.Value, want.value) || got.Version != want.version {
				t.Errorf("%s/%q = %q at %s, want %q at %s", ns, key, got.Value, got.Version, want.value, want.version)
			}
		}
	}
	if hashedNamespaces == 0 {
		t.Error("approvals wrote no hashed _lifecycle state (implicit org collections)")
	}
	// The count of live basic keys equals what the blocks wrote.
	live := 0
	for _, e := range expected["basic"] {
		if !e.deleted {
			live++
		}
	}
	if got := len(dump(t, l.State(), "basic")); got != live {
		t.Errorf("state holds %d basic keys, blocks wrote %d", got, live)
	}
	seq, err := l.State().Get("_lifecycle", "namespaces/fields/basic/Sequence")
	if err != nil || seq == nil || !bytes.Equal(seq.Value, sequenceWrite) {
		t.Errorf("_lifecycle Sequence of basic = %v, %v; want the value block 3 wrote", seq, err)
	}
	if sp, ok, err := l.State().Savepoint(); err != nil || !ok || sp.BlockNum != 9 {
		t.Errorf("savepoint = %v %v %v, want block 9", sp, ok, err)
	}
	info := l.Blocks().Info()
	last := loadFixtureBlock(t, 9)
	if !bytes.Equal(info.CurrentBlockHash, protos.BlockHeaderHash(last.Header)) {
		t.Error("Info().CurrentBlockHash is not the header hash of block 9")
	}
}

// TestSimulatorMatchesFabricBytes replays the chaincode calls behind the
// fixture's InitLedger (block 7) and CreateAsset (block 9) transactions on
// the state before each block and requires the simulator to produce exactly
// the read/write set bytes the Fabric peers endorsed.
func TestSimulatorMatchesFabricBytes(t *testing.T) {
	t.Parallel()
	l := openLedger(t, t.TempDir())
	defer l.Close()
	for n := 0; n <= 9; n++ {
		b := loadFixtureBlock(t, n)
		if n == 7 || n == 9 {
			for i, raw := range b.Data.Data {
				env, err := protos.UnmarshalEnvelope(raw)
				if err != nil {
					t.Fatal(err)
				}
				etx, err := protos.ParseEndorserTx(env)
				if err != nil {
					t.Fatal(err)
				}
				sets, err := decodeRWSet(etx.ReadWriteSet)
				if err != nil {
					t.Fatal(err)
				}
				// Redo the calls: the peer's lifecycle check reads the
				// definition's sequence, then the chaincode reads (CreateAsset
				// checks existence) and writes its keys, in an arbitrary order.
				sim := l.NewSimulator(env.ChannelHeader.TxId)
				var basic decodedNs
				for _, s := range sets {
					if s.ns == "basic" {
						basic = s
					}
				}
				for j := len(basic.kv.Writes) - 1; j >= 0; j-- {
					w := basic.kv.Writes[j]
					if err := sim.SetState("basic", w.Key, w.Value); err != nil {
						t.Fatal(err)
					}
				}
				for _, r := range basic.kv.Reads {
					if _, err := sim.GetState("basic", r.Key); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := sim.GetState("_lifecycle", "namespaces/fields/basic/Sequence"); err != nil {
					t.Fatal(err)
				}
				pub, pvt, err := sim.Results()
				sim.Done()
				if err != nil {
					t.Fatal(err)
				}
				if pvt != nil {
					t.Fatalf("block %d tx %d: unexpected private results", n, i)
				}
				if got := protos.Marshal(pub); !bytes.Equal(got, etx.ChaincodeAction.Results) {
					t.Fatalf("block %d tx %d: simulator rwset differs from Fabric's\n got %x\nwant %x", n, i, got, etx.ChaincodeAction.Results)
				}
			}
		}
		if err := l.Commit(b, nil); err != nil {
			t.Fatalf("Commit block %d: %v", n, err)
		}
	}
}

// Writes shows what the last Commit applied, and only for that block: a
// pipelined committer uses it to tell whether a check made before the block
// was applied still holds.
func TestWritesOfTheLastBlock(t *testing.T) {
	l := openLedger(t, t.TempDir())
	for n := 0; n <= 8; n++ {
		if err := l.Commit(loadFixtureBlock(t, n), nil); err != nil {
			t.Fatalf("commit fixture block %d: %v", n, err)
		}
	}
	if l.Writes(7) != nil {
		t.Fatal("Writes(7) after block 8 was committed: want nil")
	}
	w := l.Writes(8)
	if w == nil {
		t.Fatal("Writes(8) after committing block 8 = nil")
	}
	vv, deleted, ok := w.Get("basicor", "asset1")
	if !ok || deleted || len(vv.Value) == 0 || vv.Version.BlockNum != 8 {
		t.Fatalf("Writes(8) of basicor/asset1 (basicor.InitLedger) = %+v deleted=%v ok=%v", vv, deleted, ok)
	}
	if _, _, ok := w.Get("basic", "asset1"); ok {
		t.Fatal("Writes(8) holds basic/asset1, which block 7 wrote")
	}
}

// Commit reuses what MissingIn decoded of the same block only under the
// same filter: a filter changed in between is honoured.
func TestCommitAfterMissingInHonoursTheFilter(t *testing.T) {
	l := openLedger(t, t.TempDir())
	for n := 0; n <= 8; n++ {
		if err := l.Commit(loadFixtureBlock(t, n), nil); err != nil {
			t.Fatalf("commit fixture block %d: %v", n, err)
		}
	}
	b := loadFixtureBlock(t, 9)
	if _, err := l.MissingIn(b, nil); err != nil {
		t.Fatal(err)
	}
	filter := protos.TxFilter(b)
	filter[0] = byte(pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE)
	protos.SetTxFilter(b, filter)
	if err := l.Commit(b, nil); err != nil {
		t.Fatal(err)
	}
	w := l.Writes(9)
	if w == nil {
		t.Fatal("Writes(9) = nil after committing block 9")
	}
	if w.Len() != 499 {
		t.Fatalf("block 9 with its first transaction invalid applied %v writes, want 499", w.Len())
	}
}
