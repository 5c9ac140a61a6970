package leveldb_test

import (
	"sync"
	"testing"
	"time"

	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/leveldb"
	"github.com/weft-ledger/weft/statedb/statedbtest"
)

func TestLevelDBBackend(t *testing.T) {
	var mu sync.Mutex
	dirs := map[*testing.T]string{}
	statedbtest.RunWith(t, func(t *testing.T) statedb.DB {
		mu.Lock()
		dir, ok := dirs[t]
		if !ok {
			dir = t.TempDir()
			dirs[t] = dir
		}
		mu.Unlock()
		db, err := leveldb.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}, statedbtest.Options{AnyNamespace: true})
}

func TestObserveApply(t *testing.T) {
	db, err := leveldb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var calls, updates int
	db.ObserveApply(func(elapsed time.Duration, n int) {
		calls++
		updates += n
		if elapsed <= 0 {
			t.Errorf("Apply observed with duration %s", elapsed)
		}
	})
	b := statedb.NewBatch()
	b.Put("ns", "a", []byte("1"), nil, statedb.Version{BlockNum: 1})
	b.Put("ns", "b", []byte("2"), nil, statedb.Version{BlockNum: 1})
	if err := db.Apply(b, statedb.Version{BlockNum: 1}); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || updates != 2 {
		t.Fatalf("observer saw %d calls with %d updates, want 1 with 2", calls, updates)
	}
	db.ObserveApply(nil)
	if err := db.Apply(statedb.NewBatch(), statedb.Version{BlockNum: 2}); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatal("observer called after it was removed")
	}
}

// TestGetValuesAreTheCallers checks what Get hands out now that Metadata and
// Value share one buffer: changing or growing one leaves the other and the
// stored value alone, an empty value is non-nil, and keys longer than Get's
// key buffer read as well as short ones.
func TestGetValuesAreTheCallers(t *testing.T) {
	db, err := leveldb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	long := string(make([]byte, 300))
	b := statedb.NewBatch()
	b.Put("ns", "k", []byte("value"), []byte("meta"), statedb.Version{BlockNum: 3, TxNum: 1})
	b.Put("ns", "empty", []byte{}, nil, statedb.Version{BlockNum: 3, TxNum: 2})
	b.Put("ns", long, []byte("far"), nil, statedb.Version{BlockNum: 3, TxNum: 3})
	if err := db.Apply(b, statedb.Version{BlockNum: 3}); err != nil {
		t.Fatal(err)
	}
	vv, err := db.Get("ns", "k")
	if err != nil || vv == nil {
		t.Fatalf("Get = %v, %v", vv, err)
	}
	if string(vv.Metadata) != "meta" || string(vv.Value) != "value" || vv.Version != (statedb.Version{BlockNum: 3, TxNum: 1}) {
		t.Fatalf("Get = %q %q %v", vv.Metadata, vv.Value, vv.Version)
	}
	vv.Metadata = append(vv.Metadata, "XXXXX"...)
	if string(vv.Value) != "value" {
		t.Fatalf("appending to Metadata changed Value to %q", vv.Value)
	}
	vv.Value[0] = 'V'
	again, err := db.Get("ns", "k")
	if err != nil || string(again.Value) != "value" || string(again.Metadata) != "meta" {
		t.Fatalf("after changing a returned value, Get = %q %q, %v", again.Metadata, again.Value, err)
	}
	empty, err := db.Get("ns", "empty")
	if err != nil || empty == nil || empty.Value == nil || len(empty.Value) != 0 || empty.Metadata != nil {
		t.Fatalf("Get of an empty value = %+v, %v; want a non-nil empty Value and nil Metadata", empty, err)
	}
	far, err := db.Get("ns", long)
	if err != nil || far == nil || string(far.Value) != "far" {
		t.Fatalf("Get of a %d-byte key = %+v, %v", len(long), far, err)
	}
	if none, err := db.Get("ns", long+"x"); err != nil || none != nil {
		t.Fatalf("Get of a missing long key = %+v, %v", none, err)
	}
}

// A snapshot answers Get and GetRange as the state was when it was taken,
// whatever is applied afterwards, and the same as the database did then.
func TestSnapshotIsFixed(t *testing.T) {
	db, err := leveldb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v1 := statedb.Version{BlockNum: 1}
	b := statedb.NewBatch()
	b.Put("ns", "a", []byte("1"), []byte("m"), v1)
	b.Put("ns", "b", []byte("2"), nil, v1)
	b.Put("other", "a", []byte("x"), nil, v1)
	if err := db.Apply(b, v1); err != nil {
		t.Fatal(err)
	}
	snap, err := db.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	v2 := statedb.Version{BlockNum: 2}
	b = statedb.NewBatch()
	b.Put("ns", "a", []byte("changed"), nil, v2)
	b.Delete("ns", "b", v2)
	b.Put("ns", "c", []byte("new"), nil, v2)
	if err := db.Apply(b, v2); err != nil {
		t.Fatal(err)
	}

	vv, err := snap.Get("ns", "a")
	if err != nil || vv == nil || string(vv.Value) != "1" || string(vv.Metadata) != "m" || vv.Version != v1 {
		t.Fatalf("snapshot Get(ns, a) = %+v, %v; want value 1, metadata m at %s", vv, err, v1)
	}
	if vv, err := snap.Get("ns", "c"); err != nil || vv != nil {
		t.Fatalf("snapshot Get(ns, c) = %+v, %v; want absent (written after the snapshot)", vv, err)
	}
	if vv, err := db.Get("ns", "a"); err != nil || vv == nil || string(vv.Value) != "changed" {
		t.Fatalf("database Get(ns, a) = %+v, %v; want the value applied after the snapshot", vv, err)
	}
	it, err := snap.GetRange("ns", "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var keys []string
	for {
		kv, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if kv == nil {
			break
		}
		if kv.Namespace != "ns" || kv.Version != v1 {
			t.Errorf("snapshot range entry %+v, want namespace ns at %s", kv, v1)
		}
		keys = append(keys, kv.Key)
	}
	if len(keys) != 2 || keys[0] != "a" || keys[1] != "b" {
		t.Fatalf("snapshot range of ns = %q, want [a b]", keys)
	}
	it.Close()
	snap.Release()
	snap.Release() // a second release is harmless
	if _, err := snap.Get("ns", "a"); err == nil {
		t.Fatal("Get on a released snapshot succeeded")
	}
}
