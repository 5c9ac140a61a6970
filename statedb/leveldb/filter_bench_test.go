package leveldb

import (
	"fmt"
	"testing"

	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/weft-ledger/weft/statedb"
)

// BenchmarkGetAbsent reads keys that are not there from a state of 200,000
// keys compacted into tables, as a new key's existence check does on a
// ledger that has outgrown its memtable: with the Bloom filter of Options,
// and with LevelDB's defaults (no filter), which read a block of each table
// whose key range covers the key.
func BenchmarkGetAbsent(b *testing.B) {
	for _, c := range []struct {
		name string
		opts *opt.Options
	}{{"filter", Options()}, {"nofilter", nil}} {
		b.Run(c.name, func(b *testing.B) {
			db, err := open(b.TempDir(), c.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			const keys, perBatch = 200_000, 10_000
			value := make([]byte, 200)
			for n := 0; n < keys; n += perBatch {
				batch := statedb.NewBatch()
				for i := n; i < n+perBatch; i++ {
					batch.Put("basic", fmt.Sprintf("asset-%08d", i*2), value, nil, statedb.Version{BlockNum: uint64(n/perBatch + 1)})
				}
				if err := db.Apply(batch, statedb.Version{BlockNum: uint64(n/perBatch + 1)}); err != nil {
					b.Fatal(err)
				}
			}
			if err := db.db.CompactRange(util.Range{}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// Odd numbers fall between the keys written.
				if v, err := db.Get("basic", fmt.Sprintf("asset-%08d", (i*7919%keys)*2+1)); err != nil || v != nil {
					b.Fatal(v, err)
				}
				i++
			}
		})
	}
}
