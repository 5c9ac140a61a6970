package leveldb_test

import (
	"sync"
	"testing"

	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/leveldb"
	"github.com/weft-ledger/weft/statedb/statedbtest"
)

func TestLevelDBBackend(t *testing.T) {
	var mu sync.Mutex
	dirs := map[*testing.T]string{}
	statedbtest.Run(t, func(t *testing.T) statedb.DB {
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
	})
}
