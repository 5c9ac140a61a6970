package ledger

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

func pageKeys(t *testing.T, sim *Simulator, ns, start, end string, size int32) ([]string, string) {
	t.Helper()
	kvs, bookmark, err := sim.GetStateRangePage(ns, start, end, size)
	must(t, err)
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, kv.Key)
	}
	return keys, bookmark
}

func fmtInfo(i *kvrwset.RangeQueryInfo) string {
	var keys []string
	for _, r := range i.GetRawReads().GetKvReads() {
		keys = append(keys, r.Key)
	}
	return fmt.Sprintf("[%q,%q] exhausted=%v reads=%v", i.StartKey, i.EndKey, i.ItrExhausted, keys)
}

func TestGetStateRangePage(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seed(s) // cc1: a b c d
	cases := []struct {
		name         string
		start, end   string
		size         int32
		keys         string
		bookmark     string
		recordedInfo string
	}{
		{"full page, more keys follow", "a", "", 2, "[a b]", "c", `["a","b"] exhausted=false reads=[a b]`},
		{"full page ending at the last key", "c", "", 2, "[c d]", "", `["c","d"] exhausted=false reads=[c d]`},
		{"short page exhausts the range", "c", "", 3, "[c d]", "", `["c",""] exhausted=true reads=[c d]`},
		{"end key bounds the page", "a", "c", 5, "[a b]", "", `["a","c"] exhausted=true reads=[a b]`},
		{"full page before the end key", "a", "c", 1, "[a]", "b", `["a","a"] exhausted=false reads=[a]`},
		{"empty range", "x", "y", 2, "[]", "", `["x","y"] exhausted=true reads=[]`},
		{"page size 0 reads up to the total query limit", "a", "", 0, "[a b c d]", "", `["a",""] exhausted=true reads=[a b c d]`},
		{"negative page size reads up to the total query limit", "b", "", -3, "[b c d]", "", `["b",""] exhausted=true reads=[b c d]`},
	}
	for _, c := range cases {
		var keys []string
		var bookmark string
		pub, _ := s.run(func(sim *Simulator) {
			keys, bookmark = pageKeys(t, sim, "cc1", c.start, c.end, c.size)
		})
		if fmt.Sprint(keys) != c.keys || bookmark != c.bookmark {
			t.Errorf("%s: page %v bookmark %q, want %s bookmark %q", c.name, keys, bookmark, c.keys, c.bookmark)
		}
		infos := rangeInfos(t, pub, "cc1")
		if len(infos) != 1 || fmtInfo(infos[0]) != c.recordedInfo {
			var got []string
			for _, i := range infos {
				got = append(got, fmtInfo(i))
			}
			t.Errorf("%s: recorded %v, want %s", c.name, got, c.recordedInfo)
		}
		// The peek at the bookmark key is not a read.
		kv := &kvrwset.KVRWSet{}
		must(t, proto.Unmarshal(pub.NsRwset[0].Rwset, kv))
		if len(kv.Reads) != 0 {
			t.Errorf("%s: plain reads %v recorded, want none", c.name, kv.Reads)
		}
	}

	// Walking the range page by page with the bookmark visits every key once.
	var all []string
	start := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination did not end")
		}
		var keys []string
		var bookmark string
		s.run(func(sim *Simulator) { keys, bookmark = pageKeys(t, sim, "cc1", start, "", 3) })
		all = append(all, keys...)
		if bookmark == "" {
			break
		}
		start = bookmark
	}
	if fmt.Sprint(all) != "[a b c d]" {
		t.Fatalf("paged walk saw %v", all)
	}
}

func TestGetStateRangePageOnlyInReadOnlyTransactions(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seed(s)
	sim := s.l.NewSimulator("tx1")
	defer sim.Done()
	must(t, sim.SetState("cc1", "z", []byte("1")))
	if _, _, err := sim.GetStateRangePage("cc1", "a", "", 2); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("paginated read after a write: err = %v, want the read-only rule", err)
	}

	sim2 := s.l.NewSimulator("tx2")
	defer sim2.Done()
	if _, _, err := sim2.GetStateRangePage("cc1", "a", "", 2); err != nil {
		t.Fatal(err)
	}
	writes := map[string]func() error{
		"SetState":         func() error { return sim2.SetState("cc1", "z", []byte("1")) },
		"DeleteState":      func() error { return sim2.DeleteState("cc1", "a") },
		"SetStateMetadata": func() error { return sim2.SetStateMetadata("cc1", "a", map[string][]byte{"x": {1}}) },
		"PutPrivateData":   func() error { return sim2.PutPrivateData("cc1", "coll", "k", []byte("v")) },
	}
	for name, w := range writes {
		if err := w(); err == nil || !strings.Contains(err.Error(), "paginated") {
			t.Errorf("%s after a paginated read: err = %v, want the paginated-query rule", name, err)
		}
	}
	// Plain reads stay allowed.
	if _, err := sim2.GetState("cc1", "a"); err != nil {
		t.Fatal(err)
	}
	sim2.Done()
	if _, _, err := sim2.GetStateRangePage("cc1", "a", "", 2); err != ErrSimulationDone {
		t.Fatalf("after Done: err = %v, want ErrSimulationDone", err)
	}
}

// TestGetStateRangePagePhantoms: a full page is checked at commit over
// [start, last returned key]; a short page over the whole range asked for.
func TestGetStateRangePagePhantoms(t *testing.T) {
	t.Parallel()
	s := newSimLedger(t)
	seed(s) // cc1: a b c d
	page := func(start string, size int32) *rwset.TxReadWriteSet {
		pub, _ := s.run(func(sim *Simulator) { pageKeys(t, sim, "cc1", start, "", size) })
		return pub
	}
	insert := func(key string) *rwset.TxReadWriteSet {
		pub, _ := s.run(func(sim *Simulator) { must(t, sim.SetState("cc1", key, []byte("new"))) })
		return pub
	}
	// Page [a b] of size 2, then "ab" is inserted inside it.
	inside := page("a", 2)
	codes := s.commit([]*rwset.TxReadWriteSet{insert("ab")}, nil)
	if codes[0] != pb.TxValidationCode_VALID {
		t.Fatalf("insert: %v", codes)
	}
	codes = s.commit([]*rwset.TxReadWriteSet{inside}, nil)
	if codes[0] != pb.TxValidationCode_PHANTOM_READ_CONFLICT {
		t.Fatalf("page [a b] after an insert of ab: %v, want PHANTOM_READ_CONFLICT", codes[0])
	}

	// Page [a ab b] of size 3, then "bb" is inserted after it (before c).
	fresh := page("a", 3)
	codes = s.commit([]*rwset.TxReadWriteSet{insert("bb"), fresh}, nil)
	if codes[0] != pb.TxValidationCode_VALID || codes[1] != pb.TxValidationCode_VALID {
		t.Fatalf("page [a ab b] after an insert of bb beyond it: %v, want VALID VALID", codes)
	}

	// A short page covered the range to its end: any insert after its
	// start is a phantom, even past the last key read.
	short := page("c", 10) // [c d], exhausted
	codes = s.commit([]*rwset.TxReadWriteSet{insert("zz"), short}, nil)
	if codes[1] != pb.TxValidationCode_PHANTOM_READ_CONFLICT {
		t.Fatalf("exhausted page after an insert of zz: %v, want PHANTOM_READ_CONFLICT", codes[1])
	}

	// A change to a key on the page (not an insert) also conflicts.
	onPage := page("a", 2) // [a ab]
	update, _ := s.run(func(sim *Simulator) { must(t, sim.SetState("cc1", "ab", []byte("changed"))) })
	codes = s.commit([]*rwset.TxReadWriteSet{update, onPage}, nil)
	if codes[1] != pb.TxValidationCode_PHANTOM_READ_CONFLICT {
		t.Fatalf("page after an update of a key on it: %v, want PHANTOM_READ_CONFLICT", codes[1])
	}
}
