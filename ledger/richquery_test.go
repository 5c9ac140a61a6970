package ledger

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/statedb"
)

// newMemLedger opens a ledger whose world state is a memState.
func newMemLedger(t *testing.T) (*simLedger, *memState) {
	t.Helper()
	mem := newMemState()
	l, err := OpenWithOptions(t.TempDir(), Options{Logger: quietLog, State: mem})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &simLedger{t: t, l: l}, mem
}

// publicReads lists the reads recorded for ns as "key@block:tx", and fails
// the test if a range query was recorded.
func publicReads(t *testing.T, pub *rwset.TxReadWriteSet, ns string) []string {
	t.Helper()
	var out []string
	for _, n := range pub.NsRwset {
		if n.Namespace != ns {
			continue
		}
		kv := &kvrwset.KVRWSet{}
		must(t, proto.Unmarshal(n.Rwset, kv))
		if len(kv.RangeQueriesInfo) > 0 {
			t.Fatalf("rich query recorded range query info %v", kv.RangeQueriesInfo)
		}
		for _, r := range kv.Reads {
			out = append(out, fmt.Sprintf("%s@%s", r.Key, fmtReadVersion(r.Version)))
		}
	}
	return out
}

func collect(t *testing.T, it statedb.Iterator, limit int) []string {
	t.Helper()
	defer it.Close()
	var out []string
	for limit < 0 || len(out) < limit {
		kv, err := it.Next()
		must(t, err)
		if kv == nil {
			break
		}
		out = append(out, kv.Namespace+"/"+kv.Key)
	}
	return out
}

func seedAssets(s *simLedger, assets map[string]string) {
	s.t.Helper()
	pub, _ := s.run(func(sim *Simulator) {
		for k, v := range assets {
			must(s.t, sim.SetState("cc", k, []byte(v)))
		}
	})
	if codes := s.commit([]*rwset.TxReadWriteSet{pub}, nil); codes[0] != pb.TxValidationCode_VALID {
		s.t.Fatalf("seed: %v", codes)
	}
}

const tomQuery = `{"selector":{"owner":"tom"}}`

// Every result a rich query hands out is recorded as a plain read of its
// key at the version returned, as Fabric's queryResultsItr records it: no
// range info, nothing for results not taken, nothing for an empty result.
func TestRichQueryRecordsReads(t *testing.T) {
	t.Parallel()
	s, _ := newMemLedger(t)
	seedAssets(s, map[string]string{
		"a1":    `{"owner":"tom","colour":"blue"}`,
		"a2":    `{"owner":"ann","colour":"red"}`,
		"a3":    `{"owner":"tom","colour":"red"}`,
		"plain": "not json",
	})
	seedAssets(s, map[string]string{"a3": `{"owner":"tom","colour":"green"}`}) // a3 at 1:0

	pub, _ := s.run(func(sim *Simulator) {
		_, err := sim.GetState("cc", "plain")
		must(t, err)
		it, err := sim.ExecuteQuery("cc", tomQuery)
		must(t, err)
		if got := collect(t, it, -1); strings.Join(got, ",") != "cc/a1,cc/a3" {
			t.Fatalf("query results = %v", got)
		}
		// A plain rich query does not make the transaction read-only.
		must(t, sim.SetState("cc", "a9", []byte(`{"owner":"tom"}`)))
	})
	if got := publicReads(t, pub, "cc"); strings.Join(got, ",") != "a1@0:0,a3@1:0,plain@0:0" {
		t.Fatalf("reads = %v, want a1@0:0,a3@1:0,plain@0:0", got)
	}

	// Only the results taken are recorded.
	pub, _ = s.run(func(sim *Simulator) {
		it, err := sim.ExecuteQuery("cc", tomQuery)
		must(t, err)
		collect(t, it, 1)
	})
	if got := publicReads(t, pub, "cc"); strings.Join(got, ",") != "a1@0:0" {
		t.Fatalf("reads after taking one result = %v", got)
	}

	// A query that selects nothing records nothing, not even the namespace.
	pub, _ = s.run(func(sim *Simulator) {
		it, err := sim.ExecuteQuery("cc", `{"selector":{"owner":"zed"}}`)
		must(t, err)
		collect(t, it, -1)
	})
	if len(pub.NsRwset) != 0 {
		t.Fatalf("empty query recorded %v", pub.NsRwset)
	}

	// Done closes an iterator left open, and it then ends.
	sim := s.l.NewSimulator("open")
	it, err := sim.ExecuteQuery("cc", tomQuery)
	must(t, err)
	sim.Done()
	if kv, err := it.Next(); kv != nil || err != nil {
		t.Fatalf("Next after Done = %v, %v", kv, err)
	}
	if _, err := sim.ExecuteQuery("cc", tomQuery); !errors.Is(err, ErrSimulationDone) {
		t.Fatalf("ExecuteQuery after Done = %v", err)
	}
}

// As in Fabric, rich query results are not re-checked for phantoms at
// commit: a key that comes to match the query does not invalidate the
// transaction, while a change to a key it returned does (MVCC on the read).
func TestRichQueryNotCheckedForPhantoms(t *testing.T) {
	t.Parallel()
	s, _ := newMemLedger(t)
	seedAssets(s, map[string]string{"a1": `{"owner":"tom"}`, "a2": `{"owner":"ann"}`})
	query := func() *rwset.TxReadWriteSet {
		pub, _ := s.run(func(sim *Simulator) {
			it, err := sim.ExecuteQuery("cc", tomQuery)
			must(t, err)
			collect(t, it, -1)
			must(t, sim.SetState("cc", "count", []byte("1")))
		})
		return pub
	}

	phantom := query()
	newMatch, _ := s.run(func(sim *Simulator) { must(t, sim.SetState("cc", "a2", []byte(`{"owner":"tom"}`))) })
	if codes := s.commit([]*rwset.TxReadWriteSet{newMatch, phantom}, nil); codes[0] != pb.TxValidationCode_VALID || codes[1] != pb.TxValidationCode_VALID {
		t.Fatalf("a key that came to match the query: codes %v, want both VALID (no phantom check)", codes)
	}

	stale := query()
	change, _ := s.run(func(sim *Simulator) { must(t, sim.SetState("cc", "a1", []byte(`{"owner":"tom","v":2}`))) })
	if codes := s.commit([]*rwset.TxReadWriteSet{change, stale}, nil); codes[1] != pb.TxValidationCode_MVCC_READ_CONFLICT {
		t.Fatalf("a returned key changed: codes %v, want the query's tx MVCC_READ_CONFLICT", codes)
	}
}

// Pages chain through the bookmark the state database returns; every
// result of every page is a read; a page size that is not positive, or above
// the limit, asks for TotalQueryLimit; and, as in Fabric, paginated queries
// and writes exclude each other within a transaction.
func TestRichQueryPages(t *testing.T) {
	t.Parallel()
	s, mem := newMemLedger(t)
	seedAssets(s, map[string]string{
		"a1": `{"owner":"tom","size":"3"}`, "a2": `{"owner":"tom","size":"5"}`, "a3": `{"owner":"tom","size":"1"}`,
		"a4": `{"owner":"tom","size":"4"}`, "a5": `{"owner":"tom","size":"2"}`, "b1": `{"owner":"ann","size":"9"}`,
	})
	query := `{"selector":{"owner":"tom"},"sort":[{"size":"desc"}]}`

	var pages []string
	pub, _ := s.run(func(sim *Simulator) {
		bookmark := ""
		for i := 0; ; i++ {
			kvs, next, err := sim.ExecuteQueryPage("cc", query, bookmark, 2)
			must(t, err)
			var keys []string
			for _, kv := range kvs {
				if kv.Namespace != "cc" {
					t.Fatalf("result namespace %q", kv.Namespace)
				}
				keys = append(keys, kv.Key)
			}
			pages = append(pages, strings.Join(keys, ",")+" next="+next)
			if bookmark = next; bookmark == "" || i > 5 {
				break
			}
		}
	})
	if got := strings.Join(pages, " | "); got != "a2,a4 next=2 | a1,a5 next=4 | a3 next=" {
		t.Fatalf("pages = %s", got)
	}
	if got := strings.Join(mem.pages, ","); got != "cc /2,cc 2/2,cc 4/2" {
		t.Fatalf("pages asked of the state database = %s", got)
	}
	if got := publicReads(t, pub, "cc"); strings.Join(got, ",") != "a1@0:0,a2@0:0,a3@0:0,a4@0:0,a5@0:0" {
		t.Fatalf("reads = %v", got)
	}

	for _, size := range []int32{0, -1, TotalQueryLimit + 1} {
		s.run(func(sim *Simulator) {
			kvs, next, err := sim.ExecuteQueryPage("cc", query, "", size)
			must(t, err)
			if len(kvs) != 5 || next != "" {
				t.Fatalf("page size %d: %d results, next %q", size, len(kvs), next)
			}
		})
		if last := mem.pages[len(mem.pages)-1]; last != fmt.Sprintf("cc /%d", TotalQueryLimit) {
			t.Fatalf("page size %d asked the state database for %q", size, last)
		}
	}

	s.run(func(sim *Simulator) {
		must(t, sim.SetState("cc", "x", []byte("1")))
		_, _, err := sim.ExecuteQueryPage("cc", query, "", 2)
		if err == nil || !strings.Contains(err.Error(), "paginated rich query of cc after a write") || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("page after a write = %v", err)
		}
		// A plain query stays allowed.
		it, err := sim.ExecuteQuery("cc", query)
		must(t, err)
		it.Close()
	})
	s.run(func(sim *Simulator) {
		_, _, err := sim.ExecuteQueryPage("cc", query, "", 2)
		must(t, err)
		for name, write := range map[string]func() error{
			"SetState":         func() error { return sim.SetState("cc", "x", []byte("1")) },
			"SetStateMetadata": func() error { return sim.SetStateMetadata("cc", "a1", map[string][]byte{"m": {1}}) },
			"PutPrivateData":   func() error { return sim.PutPrivateData("cc", "coll", "k", []byte("v")) },
			"PurgePrivateData": func() error { return sim.PurgePrivateData("cc", "coll", "k") },
		} {
			if err := write(); err == nil || !strings.Contains(err.Error(), "after a paginated rich query") {
				t.Errorf("%s after a paginated rich query = %v", name, err)
			}
		}
	})
}

// A query on private data runs over this peer's copy of the collection,
// returns entries in the chaincode's namespace, records nothing, and is
// allowed only in a read-only transaction, as in Fabric.
func TestPrivateRichQuery(t *testing.T) {
	t.Parallel()
	s, _ := newMemLedger(t)
	pub, pvt := s.run(func(sim *Simulator) {
		must(t, sim.PutPrivateData("cc", "coll", "p1", []byte(`{"owner":"tom"}`)))
		must(t, sim.PutPrivateData("cc", "coll", "p2", []byte(`{"owner":"ann"}`)))
		must(t, sim.SetState("cc", "pub", []byte(`{"owner":"tom"}`)))
	})
	s.commit([]*rwset.TxReadWriteSet{pub}, map[uint64]*rwset.TxPvtReadWriteSet{0: pvt})

	pub, _ = s.run(func(sim *Simulator) {
		it, err := sim.ExecuteQueryOnPrivateData("cc", "coll", tomQuery)
		must(t, err)
		if got := collect(t, it, -1); strings.Join(got, ",") != "cc/p1" {
			t.Fatalf("private query results = %v", got)
		}
		err = sim.SetState("cc", "x", []byte("1"))
		if err == nil || !strings.Contains(err.Error(), "after a private data rich query") {
			t.Fatalf("write after a private query = %v", err)
		}
	})
	if len(pub.NsRwset) != 0 {
		t.Fatalf("private query recorded %v", pub.NsRwset)
	}
	s.run(func(sim *Simulator) {
		must(t, sim.PutPrivateData("cc", "coll", "p3", []byte("v")))
		_, err := sim.ExecuteQueryOnPrivateData("cc", "coll", tomQuery)
		if err == nil || !strings.Contains(err.Error(), "private data rich query of cc/coll after a write") {
			t.Fatalf("private query after a write = %v", err)
		}
	})
	// The public query does not see the collection.
	s.run(func(sim *Simulator) {
		it, err := sim.ExecuteQuery("cc", tomQuery)
		must(t, err)
		if got := collect(t, it, -1); strings.Join(got, ",") != "cc/pub" {
			t.Fatalf("public query results = %v", got)
		}
	})
}

// hidingState wraps a state database and hides its optional capabilities,
// as any wrapper that embeds only statedb.DB does.
type hidingState struct{ statedb.DB }

// On LevelDB (and any state database that is not a statedb.Querier) every
// rich query fails with ErrNoRichQueries and a message naming CouchDB and
// what the peer uses.
func TestRichQueriesNeedAQuerier(t *testing.T) {
	t.Parallel()
	calls := map[string]func(*Simulator) error{
		"ExecuteQuery":     func(sim *Simulator) error { _, err := sim.ExecuteQuery("cc", tomQuery); return err },
		"ExecuteQueryPage": func(sim *Simulator) error { _, _, err := sim.ExecuteQueryPage("cc", tomQuery, "", 2); return err },
		"ExecuteQueryOnPrivateData": func(sim *Simulator) error {
			_, err := sim.ExecuteQueryOnPrivateData("cc", "coll", tomQuery)
			return err
		},
	}
	level := newSimLedger(t)
	other, err := OpenWithOptions(t.TempDir(), Options{Logger: quietLog, State: hidingState{newMemState()}})
	must(t, err)
	defer other.Close()
	for name, call := range calls {
		err := call(level.l.NewSimulator("tx"))
		if !errors.Is(err, ErrNoRichQueries) || !strings.Contains(err.Error(), "need a CouchDB state database") || !strings.Contains(err.Error(), "this peer uses LevelDB") ||
			!strings.Contains(err.Error(), "GetStateByRange") {
			t.Errorf("%s on LevelDB = %v", name, err)
		}
		err = call(other.NewSimulator("tx"))
		if !errors.Is(err, ErrNoRichQueries) || !strings.Contains(err.Error(), "ledger.hidingState") {
			t.Errorf("%s on a state database without queries = %v", name, err)
		}
	}
}

// A state database that cannot store every key or value checks every write
// at simulation, as Fabric's ValidateKeyValue: the write is refused with
// its message, and (as in Fabric) still counts as a write.
func TestKeyValueCheckerRefusesWrites(t *testing.T) {
	t.Parallel()
	s, mem := newMemLedger(t)
	sim := s.l.NewSimulator("tx")
	defer sim.Done()
	refused := map[string]func() error{
		"SetState":          func() error { return sim.SetState("cc", "_bad", []byte("v")) },
		"SetState value":    func() error { return sim.SetState("cc", "k", []byte(`{"_id":"x"}`)) },
		"DeleteState":       func() error { return sim.DeleteState("cc", "_bad") },
		"SetStateMetadata":  func() error { return sim.SetStateMetadata("cc", "_bad", map[string][]byte{"m": {1}}) },
		"PutPrivateData":    func() error { return sim.PutPrivateData("cc", "coll", "_bad", []byte("v")) },
		"private value":     func() error { return sim.PutPrivateData("cc", "coll", "k", []byte(`{"_rev":"1"}`)) },
		"DeletePrivateData": func() error { return sim.DeletePrivateData("cc", "coll", "_bad") },
		"PurgePrivateData":  func() error { return sim.PurgePrivateData("cc", "coll", "_bad") },
	}
	for name, write := range refused {
		err := write()
		if err == nil || !strings.Contains(err.Error(), "refused by the state database") ||
			!(strings.Contains(err.Error(), `cannot begin with "_"`) || strings.Contains(err.Error(), "is reserved")) {
			t.Errorf("%s = %v, want the state database's refusal", name, err)
		}
	}
	must(t, sim.SetState("cc", "k", []byte(`{"owner":"tom"}`)))
	must(t, sim.SetStateMetadata("cc", "k", map[string][]byte{"m": {1}}))
	must(t, sim.PutPrivateData("cc", "coll", "k", []byte("v")))
	pub, pvt, err := sim.Results()
	must(t, err)
	kv := &kvrwset.KVRWSet{}
	must(t, proto.Unmarshal(pub.NsRwset[0].Rwset, kv))
	if len(kv.Writes) != 1 || kv.Writes[0].Key != "k" || len(kv.MetadataWrites) != 1 || len(pvt.NsPvtRwset[0].CollectionPvtRwset) != 1 {
		t.Fatalf("write set = %v, want only the accepted writes", kv)
	}
	// The checker saw each write's key and value; metadata writes, deletes and
	// purges with no value.
	mem.mu.Lock()
	checks := strings.Join(mem.checks, " ")
	mem.mu.Unlock()
	for _, want := range []string{"_bad=v", `k={"_id":"x"}`, "k=v", `k={"owner":"tom"}`, "k="} {
		if !strings.Contains(" "+checks+" ", " "+want+" ") {
			t.Errorf("checks %q lack %q", checks, want)
		}
	}

	// A refused write still makes the transaction a writing one (Fabric marks
	// the write before the check).
	s.run(func(sim *Simulator) {
		if err := sim.SetState("cc", "_bad", []byte("v")); err == nil {
			t.Fatal("write of _bad accepted")
		}
		if _, _, err := sim.ExecuteQueryPage("cc", tomQuery, "", 2); err == nil || !strings.Contains(err.Error(), "after a write") {
			t.Fatalf("paginated query after a refused write = %v", err)
		}
	})

	// Without a checker (LevelDB) such keys are fine.
	level := newSimLedger(t)
	level.run(func(sim *Simulator) { must(t, sim.SetState("cc", "_bad", []byte(`{"_id":"x"}`))) })
}
