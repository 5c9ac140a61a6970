package validator

import (
	"log/slog"
	"testing"
)

// BenchmarkValidateFixtureBlock validates Fabric's block 9 (500 asset
// transactions endorsed by both organisations) against the state after
// blocks 0-8: what a committing peer pays per block before MVCC.
func BenchmarkValidateFixtureBlock(b *testing.B) {
	c := newFixtureChain(b)
	for n := 0; n <= 8; n++ {
		c.commit(b, n)
	}
	blk, _ := readFixture(b, 9)
	v := New(Config{Logger: slog.New(slog.DiscardHandler)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate(blk, c.bundle, c.l.State(), c.l.Blocks().TxExists); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(blk.Data.Data)), "µs/tx")
}
