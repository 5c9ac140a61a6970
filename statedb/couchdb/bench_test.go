package couchdb

import (
	"fmt"
	"testing"

	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/leveldb"
)

// BenchmarkApply commits blocks of 100 JSON asset updates (Preload of
// their keys, then Apply), as a committer does, on CouchDB and, for
// comparison, on LevelDB.
func BenchmarkApply(b *testing.B) {
	run := func(b *testing.B, db statedb.DB) {
		asset := func(i, blk int) []byte {
			return []byte(fmt.Sprintf(`{"ID":"asset%d","Color":"blue","Size":%d,"Owner":"Tomoko","AppraisedValue":%d}`, i, blk, 300+i))
		}
		keys := make([]statedb.NsKey, 100)
		for i := range keys {
			keys[i] = statedb.NsKey{Namespace: "basic", Key: fmt.Sprintf("asset%d", i)}
		}
		b.ResetTimer()
		for n := 0; n < b.N; n++ {
			if bl, ok := db.(statedb.BulkLoader); ok {
				if err := bl.Preload(keys); err != nil {
					b.Fatal(err)
				}
			}
			batch := statedb.NewBatch()
			for i, k := range keys {
				batch.Put(k.Namespace, k.Key, asset(i, n), nil, statedb.Version{BlockNum: uint64(n + 1), TxNum: uint64(i)})
			}
			if err := db.Apply(batch, statedb.Version{BlockNum: uint64(n + 1)}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(keys))/b.Elapsed().Seconds(), "updates/s")
	}
	b.Run("couchdb", func(b *testing.B) {
		c := connect(b, Config{WarmIndexesAfterNBlocks: 1000})
		db := openChannel(b, c, "bench")
		run(b, db)
	})
	b.Run("leveldb", func(b *testing.B) {
		db, err := leveldb.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		run(b, db)
	})
}
