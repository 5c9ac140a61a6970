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
