package raftchain

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/orderer/blockcutter"
)

// BenchmarkChainOrder orders 3 KiB envelopes through a single-node chain with
// a real WAL in a temporary folder, 128 Order calls in flight (as `weft bench`
// keeps 128 broadcasts in flight), the sampleconfig batch settings and a
// 500ms tick, and a real block store (ledger.BlockStore) in a temporary
// folder. One op is one acknowledged envelope; ack-ms is the mean Order round
// trip.
func BenchmarkChainOrder(b *testing.B) {
	const inflight = 128
	store, err := ledger.OpenBlockStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	if err := store.Append(newMemStore(b).blocks[0]); err != nil {
		b.Fatal(err)
	}
	cfg := Config{
		ChannelID: "bench", NodeID: 1, Voters: []uint64{1}, NextConsenterID: 2,
		Batch:        blockcutter.Config{MaxMessageCount: 500, AbsoluteMaxBytes: 99 << 20, PreferredMaxBytes: 2 << 20, BatchTimeout: 200 * time.Millisecond},
		WALDir:       b.TempDir(),
		TickInterval: 500 * time.Millisecond,
		Signer:       newSigner(b),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	var c *Chain
	c, err = New(cfg, store, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.Start()
	defer c.Halt()
	eventually.True(b, 5*time.Second, "node 1 leads", func() bool { return c.Leader() == 1 })
	env := make([]byte, 3000)
	var next atomic.Int64
	var ackNanos atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := c.Order(context.Background(), env); err != nil {
					b.Error(err)
					return
				}
				ackNanos.Add(int64(time.Since(t0)))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(ackNanos.Load())/1e6/float64(b.N), "ack-ms")
}
