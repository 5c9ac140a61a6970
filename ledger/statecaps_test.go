package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// Options.State replaces LevelDB: the ledger writes there, opens nothing in
// dir/state, exposes it as StateBackend and closes it on Close.
func TestOptionsStateIsTheWorldState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mem := newMemState()
	l, err := OpenWithOptions(dir, Options{Logger: quietLog, State: mem})
	must(t, err)
	s := &simLedger{t: t, l: l}
	seedAssets(s, map[string]string{"a": "1"})
	if vv, _ := mem.Get("cc", "a"); vv == nil || string(vv.Value) != "1" {
		t.Fatalf("state handed in holds %v", vv)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Fatalf("dir/state exists (%v): LevelDB was opened too", err)
	}
	if l.StateBackend() != mem {
		t.Fatal("StateBackend is not the state handed in")
	}
	must(t, l.Close())
	if !mem.closed {
		t.Fatal("Close left the state database open")
	}
}

// A state database whose savepoint is above the block store's height
// belongs to another ledger: Open refuses it, says so and what to do, and
// closes it.
func TestStateAheadOfBlockStoreRefused(t *testing.T) {
	t.Parallel()
	mem := newMemState()
	must(t, mem.Apply(statedb.NewBatch(), statedb.Version{BlockNum: 5}))
	_, err := OpenWithOptions(t.TempDir(), Options{Logger: quietLog, State: mem})
	if !errors.Is(err, ErrStateAhead) {
		t.Fatalf("Open = %v, want ErrStateAhead", err)
	}
	for _, want := range []string{"savepoint is block 5", "holds only 0 blocks", "belongs to another ledger", "state database of its own", "restore the block files"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !mem.closed {
		t.Fatal("a failed Open left the state database open")
	}

	// The same for LevelDB: a state folder ahead of the blocks.
	dir := t.TempDir()
	s := &simLedger{t: t, l: openLedger(t, dir)}
	seedAssets(s, map[string]string{"a": "1"})
	must(t, s.l.Close())
	must(t, os.RemoveAll(filepath.Join(dir, "chain")))
	if _, err := OpenWithOptions(dir, Options{Logger: quietLog}); !errors.Is(err, ErrStateAhead) || !strings.Contains(err.Error(), "remove the state folder") {
		t.Fatalf("Open with LevelDB ahead of the blocks = %v", err)
	}
}

func nsKeys(keys []statedb.NsKey) string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Namespace+"/"+strings.ToValidUTF8(k.Key, "#"))
	}
	return strings.Join(out, " ")
}

// Before the MVCC checks of a block, a BulkLoader gets one Preload call
// with every public and hashed key the block's valid transactions read or
// write, once each: not the keys of range queries, nor those of
// transactions the filter already marks invalid or that do not decode.
func TestPreloadOncePerBlock(t *testing.T) {
	t.Parallel()
	s, mem := newMemLedger(t)
	seedAssets(s, map[string]string{"a": "1", "c": "1"})
	mem.preloads = nil

	h := func(k string) []byte { return keyHash(k) }
	tx0 := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{{
		Namespace: "cc",
		Rwset: protos.Marshal(&kvrwset.KVRWSet{
			Reads:            []*kvrwset.KVRead{{Key: "a", Version: &kvrwset.Version{BlockNum: 0, TxNum: 0}}},
			RangeQueriesInfo: []*kvrwset.RangeQueryInfo{{StartKey: "r", EndKey: "s", ItrExhausted: true, ReadsInfo: &kvrwset.RangeQueryInfo_RawReads{RawReads: &kvrwset.QueryReads{}}}},
			Writes:           []*kvrwset.KVWrite{{Key: "b", Value: []byte("2")}},
			MetadataWrites:   []*kvrwset.KVMetadataWrite{{Key: "c"}},
		}),
		CollectionHashedRwset: []*rwset.CollectionHashedReadWriteSet{{
			CollectionName: "coll",
			HashedRwset: protos.Marshal(&kvrwset.HashedRWSet{
				HashedReads:  []*kvrwset.KVReadHash{{KeyHash: h("p")}},
				HashedWrites: []*kvrwset.KVWriteHash{{KeyHash: h("q"), ValueHash: h("v")}},
			}),
		}},
	}}}
	tx1 := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{{
		Namespace: "cc",
		Rwset: protos.Marshal(&kvrwset.KVRWSet{
			Reads:  []*kvrwset.KVRead{{Key: "a", Version: &kvrwset.Version{BlockNum: 0, TxNum: 0}}},
			Writes: []*kvrwset.KVWrite{{Key: "d", Value: []byte("2")}},
		}),
	}}}
	invalid := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{{
		Namespace: "cc", Rwset: protos.Marshal(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "z", Value: []byte("2")}}}),
	}}}
	b := nextBlock(s.prev, endorserEnvelope("t0", tx0), endorserEnvelope("t1", tx1), endorserEnvelope("t2", invalid), []byte("not an envelope"))
	protos.SetTxFilter(b, []byte{0, 0, byte(pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE), 0})

	// A failing Preload fails the Commit before anything is appended.
	mem.failLoad = errors.New("couch is down")
	if err := s.l.Commit(b, nil); err == nil || !strings.Contains(err.Error(), "preload") || !strings.Contains(err.Error(), "couch is down") {
		t.Fatalf("Commit with a failing Preload = %v", err)
	}
	if h := s.l.Blocks().Height(); h != 1 {
		t.Fatalf("height after a failed Preload = %d", h)
	}
	mem.failLoad, mem.preloads = nil, nil
	protos.SetTxFilter(b, []byte{0, 0, byte(pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE), 0})
	must(t, s.l.Commit(b, nil))
	s.prev = b

	hns := HashedNamespace("cc", "coll")
	k := func(ns, key string) statedb.NsKey { return statedb.NsKey{Namespace: ns, Key: key} }
	want := nsKeys([]statedb.NsKey{k("cc", "a"), k("cc", "b"), k("cc", "c"), k(hns, string(h("p"))), k(hns, string(h("q"))), k("cc", "d")})
	if len(mem.preloads) != 1 || nsKeys(mem.preloads[0]) != want {
		var got []string
		for _, p := range mem.preloads {
			got = append(got, nsKeys(p))
		}
		t.Fatalf("Preload calls = %q, want one with %q", got, want)
	}
	if codes := protos.TxFilter(b); codes[0] != 0 || codes[1] != 0 || codes[3] != byte(pb.TxValidationCode_BAD_PAYLOAD) {
		t.Fatalf("filter = %v", codes)
	}

	// One call per block.
	seedAssets(s, map[string]string{"e": "1"})
	if len(mem.preloads) != 2 || nsKeys(mem.preloads[1]) != "cc/e" {
		t.Fatalf("second block's Preload calls = %d, last %q", len(mem.preloads), nsKeys(mem.preloads[len(mem.preloads)-1]))
	}
}

// countingLoader is a wrapper that forwards Preload: the ledger calls it
// rather than the database under it.
type countingLoader struct {
	statedb.DB
	mu    sync.Mutex
	calls int
}

func (c *countingLoader) Preload(keys []statedb.NsKey) error {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.DB.(statedb.BulkLoader).Preload(keys)
}

// Capabilities are detected before WrapState, which hides them; a wrapper
// that implements one is used instead.
func TestCapabilitiesSurviveWrapState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		wrap func(statedb.DB) statedb.DB
	}{
		{"hiding", func(db statedb.DB) statedb.DB { return hidingState{db} }},
		{"forwarding", func(db statedb.DB) statedb.DB { return &countingLoader{DB: db} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := newMemState()
			var wrapped statedb.DB
			l, err := OpenWithOptions(t.TempDir(), Options{Logger: quietLog, State: mem, WrapState: func(db statedb.DB) statedb.DB {
				wrapped = tc.wrap(db)
				return wrapped
			}})
			must(t, err)
			defer l.Close()
			s := &simLedger{t: t, l: l}
			seedAssets(s, map[string]string{"a1": `{"owner":"tom"}`})
			if len(mem.preloads) != 1 {
				t.Fatalf("Preload calls = %d", len(mem.preloads))
			}
			if c, ok := wrapped.(*countingLoader); ok && c.calls != 1 {
				t.Fatalf("the wrapper's Preload was called %d times", c.calls)
			}
			s.run(func(sim *Simulator) {
				it, err := sim.ExecuteQuery("cc", tomQuery)
				must(t, err)
				if got := collect(t, it, -1); len(got) != 1 {
					t.Fatalf("query through the wrapper = %v", got)
				}
				if err := sim.SetState("cc", "_x", []byte("v")); err == nil {
					t.Fatal("the key checker was lost behind the wrapper")
				}
			})
			if l.StateBackend() != mem || l.State() != wrapped {
				t.Fatal("State/StateBackend are not the wrapped/base databases")
			}
		})
	}
}
