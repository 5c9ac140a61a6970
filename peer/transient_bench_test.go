package peer

import (
	"fmt"
	"testing"
)

// BenchmarkTransientTake prices what the commit path asks of the transient
// store for a block of 500 transactions none of which has private data (the
// common case): reading the block's sets and removing the previous block's.
func BenchmarkTransientTake(b *testing.B) {
	s := newTransientStores(b.TempDir(), transientBlockRetention, fakeHeights{"ch": 1}.height, quietLog)
	defer s.Close()
	block := uint64(1)
	ids := func(n uint64) []string {
		out := make([]string, 500)
		for i := range out {
			out[i] = fmt.Sprintf("%064x", n*1000+uint64(i))
		}
		return out
	}
	txIDs := []([]string){ids(0), ids(1)}
	b.ReportAllocs()
	for b.Loop() {
		if got := s.Take("ch", block, txIDs[block%2]); len(got) != 0 {
			b.Fatalf("took %d sets from an empty store", len(got))
		}
		block++
	}
}
