package cluster

import (
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
)

// Measurements of docs/benchmarks.md: leader failover time, throughput of a
// three-node cluster against one node, catch-up speed. They run only with
// WEFT_MEASURE=1 (make chaos sets it): they take a few minutes and their
// numbers only mean something on an otherwise idle machine.
//
//	WEFT_MEASURE=1 go test -count=1 -v -run TestMeasure ./e2e/cluster/
//	  FAILOVER_RUNS=10 CATCHUP_BLOCKS=500 THROUGHPUT_SECONDS=10 THROUGHPUT_NODES=1,3,5 adjust them.

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func requireMeasure(t *testing.T) {
	if os.Getenv("WEFT_MEASURE") == "" {
		t.Skip("measurements run with WEFT_MEASURE=1 (make chaos)")
	}
}

// blockSeen is a block as a watcher received it.
type blockSeen struct {
	num uint64
	at  time.Time
	txs []string
}

// watch delivers a node's blocks from block from on, stamping each with the
// time it arrived, until ctx ends.
func (n *network) watch(ctx context.Context, id, from uint64) <-chan blockSeen {
	out := make(chan blockSeen, 100000)
	go func() {
		defer close(out)
		n.deliver(ctx, id, specified(from), specified(math.MaxUint64), func(b *cb.Block) error {
			txs, err := endorserTxIDs([]*cb.Block{b})
			out <- blockSeen{num: b.GetHeader().GetNumber(), at: time.Now(), txs: txs}
			return err
		})
	}()
	return out
}

// probeSet is the TxIDs probeEvery sent.
type probeSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (p *probeSet) has(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ids[id]
}

// probeEvery broadcasts a fresh envelope every interval, round robin to
// targets, until ctx ends; each broadcast runs on its own.
func (n *network) probeEvery(ctx context.Context, interval time.Duration, targets []uint64) *probeSet {
	p := &probeSet{ids: map[string]bool{}}
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			env, id, err := n.newTx(100)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.ids[id] = true
			p.mu.Unlock()
			go func(target uint64) {
				bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				n.Broadcast(bctx, target, env)
			}(targets[i%len(targets)])
		}
	}()
	return p
}

// TestMeasureFailover kills the leader under load FAILOVER_RUNS times and
// reports the time to the new leader's election (from its log) and to the
// first block, seen by a follower, holding one of the envelopes broadcast to
// the survivors every 20ms after the kill: median and worst.
func TestMeasureFailover(t *testing.T) {
	requireMeasure(t)
	runs := envInt("FAILOVER_RUNS", 5)
	n := start(t, options{})
	l := n.startLoad(loadOptions{Workers: 4, Timeout: 2 * time.Second})
	var elect, firstBlock []time.Duration
	for i := 0; i < runs; i++ {
		old := n.leader(t)
		watcher := others(n.ids(), old)[0]
		h, err := n.Height(context.Background(), watcher)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		blocks := n.watch(ctx, watcher, h)
		waitAcks(t, l, 20, time.Now(), 20*time.Second)
		killed := time.Now()
		n.Kill(old)
		// Fresh envelopes every 20ms to the survivors, each in its own
		// goroutine, so that no broadcast stuck on the dead leader delays them.
		probes := n.probeEvery(ctx, 20*time.Millisecond, others(n.ids(), old))
		_, elected, err := n.Leader(10*electionTimeout, old)
		if err != nil {
			t.Fatal(err)
		}
		var first time.Duration
		timeout := time.After(30 * time.Second)
	seek:
		for {
			select {
			case b, ok := <-blocks:
				if !ok {
					t.Fatalf("run %d: delivery from node %d ended", i, watcher)
				}
				for _, tx := range b.txs {
					if probes.has(tx) {
						first = b.at.Sub(killed)
						break seek
					}
				}
			case <-timeout:
				t.Fatalf("run %d: no block with a transaction sent after the kill within 30s", i)
			}
		}
		cancel()
		elect = append(elect, elected.Sub(killed))
		firstBlock = append(firstBlock, first)
		t.Logf("run %d: leader %d killed; new leader after %v, first new block after %v", i, old, elected.Sub(killed).Round(time.Millisecond), first.Round(time.Millisecond))
		n.StartNode(old)
		if _, err := n.waitHeights(n.ids(), 1, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	l.stop()
	checkExactlyOnce(t, l.Acked(), n.checkChains(t))
	em, ew := stats(elect)
	bm, bw := stats(firstBlock)
	t.Logf("MEASURE failover over %d runs (TickInterval %v, ElectionTick %d): election median %v worst %v; first block median %v worst %v",
		runs, tickInterval, electionTick, em.Round(time.Millisecond), ew.Round(time.Millisecond), bm.Round(time.Millisecond), bw.Round(time.Millisecond))
}

// TestMeasureThroughput runs the same bounded load (THROUGHPUT_INFLIGHT
// broadcasts in flight, default 64, round robin over the nodes) against one node and against three, and
// reports acknowledged transactions per second.
func TestMeasureThroughput(t *testing.T) {
	requireMeasure(t)
	secs := envInt("THROUGHPUT_SECONDS", 10)
	inflight := envInt("THROUGHPUT_INFLIGHT", 64)
	sizes := []int{1, 3}
	if v := os.Getenv("THROUGHPUT_NODES"); v != "" { // e.g. "1" or "1,3,5"
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			k, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || k < 1 {
				t.Fatalf("THROUGHPUT_NODES %q: want a comma-separated list of node counts", v)
			}
			sizes = append(sizes, k)
		}
	}
	for _, nodes := range sizes {
		n := start(t, options{Nodes: nodes, MaxMessageCount: 500, BatchTimeout: 200 * time.Millisecond})
		lead := n.leader(t)
		opts := loadOptions{Workers: inflight, Pause: -1, BodySize: 3000}
		if os.Getenv("THROUGHPUT_LEADER_ONLY") == "1" { // isolate the cost of forwarding
			opts.Targets = func() []uint64 { return []uint64{lead} }
		}
		l := n.startLoad(opts)
		waitAcks(t, l, 100, time.Time{}, 20*time.Second)
		from := time.Now()
		before := l.count()
		time.Sleep(time.Duration(secs) * time.Second) // the measuring window
		got := l.count() - before
		took := time.Since(from)
		l.stop()
		checkExactlyOnce(t, l.Acked(), n.checkChains(t))
		t.Logf("MEASURE throughput %d node(s): %d acks in %v = %.0f tx/s (%d in flight, 3 KB bodies, outcomes %s)",
			nodes, got, took.Round(time.Millisecond), float64(got)/took.Seconds(), inflight, l.summary())
		n.close()
	}
}

// TestMeasureCatchUp takes a follower down for CATCHUP_BLOCKS blocks (well
// past the snapshot interval) and reports how fast it catches up.
func TestMeasureCatchUp(t *testing.T) {
	requireMeasure(t)
	want := uint64(envInt("CATCHUP_BLOCKS", 300))
	n := start(t, options{SnapshotIntervalSize: "64 KB", SnapshotIntervalBlocks: 20})
	lead := n.leader(t)
	lag := others(n.ids(), lead)[0]
	n.Kill(lag)
	h0, err := n.Height(context.Background(), lead)
	if err != nil {
		t.Fatal(err)
	}
	l := n.startLoad(loadOptions{Workers: 16, Pause: -1, BodySize: 1000})
	if err := n.waitHeight(lead, h0+want, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	l.stop()
	h, err := n.waitHeights(others(n.ids(), lag), 1, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	n.StartNode(lag)
	listening := time.Now()
	if _, err := n.waitHeights(n.ids(), h, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	took := time.Since(listening)
	checkExactlyOnce(t, l.Acked(), n.checkChains(t))
	t.Logf("MEASURE catch-up: %d blocks (%d txs of 1 KB) in %v after the node listened = %.0f blocks/s",
		h-h0, len(l.Acked()), took.Round(time.Millisecond), float64(h-h0)/took.Seconds())
}
