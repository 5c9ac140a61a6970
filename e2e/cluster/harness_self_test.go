package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
)

// TestHarness checks the harness itself, without needing the nodes to form a
// Raft group: processes in their namespaces, reachability from the root
// namespace and between nodes, partitions and healing, kill/stop/restart,
// and that everything the network created is gone after close.
func TestHarness(t *testing.T) {
	n := start(t, options{Nodes: 3})
	prefix := n.fab.prefix
	for _, nd := range n.nodes {
		for _, other := range n.nodes {
			if nd != other && !n.fab.canReach(nd.id, other.addr()) {
				t.Fatalf("%s cannot reach %s before any partition", nd.name, other.addr())
			}
		}
	}

	n.Partition([]uint64{1}, []uint64{2, 3})
	for _, c := range []struct {
		from uint64
		to   uint64
		want bool
	}{{1, 2, false}, {1, 3, false}, {2, 1, false}, {3, 1, false}, {2, 3, true}, {3, 2, true}} {
		if got := n.fab.canReach(c.from, n.node(c.to).addr()); got != c.want {
			t.Errorf("partitioned {1}|{2,3}: node %d reaches node %d = %v, want %v", c.from, c.to, got, c.want)
		}
	}
	// The root namespace still reaches the minority.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if _, err := n.Height(ctx, 1); err != nil {
		t.Errorf("the test cannot read from the partitioned node: %v", err)
	}
	cancel()
	n.Heal()
	if !n.fab.canReach(1, n.node(2).addr()) || !n.fab.canReach(3, n.node(1).addr()) {
		t.Error("heal did not restore the links to node 1")
	}

	// A frozen node accepts TCP connections but answers nothing.
	n.Stop(2)
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	if _, err := n.Height(ctx, 2); err == nil {
		t.Error("a SIGSTOPped orderer answered Deliver")
	}
	cancel()
	n.Cont(2)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	if h, err := n.Height(ctx, 2); err != nil || h != 1 {
		t.Errorf("after SIGCONT: height %d, %v; want 1 (the genesis block)", h, err)
	}
	cancel()

	n.Kill(3)
	if n.node(3).running() || n.fab.canReach(1, n.node(3).addr()) {
		t.Error("node 3 still runs or listens after SIGKILL")
	}
	n.Restart(3)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	if h, err := n.Height(ctx, 3); err != nil || h != 1 {
		t.Errorf("after restart node 3 reports height %d, %v; want 1 (its channel reopened from disk)", h, err)
	}
	cancel()

	n.close()
	out, _ := output("ip", "netns", "list")
	links, _ := output("ip", "-o", "link", "show")
	if strings.Contains(out, prefix+"-") || strings.Contains(links, prefix) {
		t.Errorf("namespaces or links of %s left after close:\n%s\n%s", prefix, out, links)
	}
}

// TestSingleNodeCrash proves the client side of the harness on a one-node
// cluster: load with acks, a SIGKILL under load, a restart from disk, then
// the exactly-once and chain checks.
func TestSingleNodeCrash(t *testing.T) {
	n := start(t, options{Nodes: 1})
	if _, _, err := n.Leader(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	l := n.startLoad(loadOptions{Workers: 4})
	t0 := time.Now()
	if err := l.waitAcks(100, t0, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	n.Kill(1)
	killed := time.Now()
	n.StartNode(1)
	if err := l.waitAcks(100, killed, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	l.stop()
	t.Logf("broadcast outcomes: %s", l.summary())
	chain := n.checkChains(t)
	checkExactlyOnce(t, l.Acked(), chain)

	// The checks fail on a lost acknowledgement.
	fake := l.Acked()
	fake["not-a-txid"] = ack{Node: 1}
	ft := &fakeT{TB: t}
	checkExactlyOnce(ft, fake, chain)
	if !strings.Contains(ft.msg, "missing from the chain") {
		t.Errorf("checkExactlyOnce did not report a lost acknowledged transaction: %q", ft.msg)
	}
	// ... and on a transaction ordered twice.
	dup := append(append([]*cb.Block(nil), chain...), chain[len(chain)-1])
	ft = &fakeT{TB: t}
	checkExactlyOnce(ft, l.Acked(), dup)
	if len(chain[len(chain)-1].GetData().GetData()) > 0 && !strings.Contains(ft.msg, "more than once") {
		t.Errorf("checkExactlyOnce did not report a duplicate: %q", ft.msg)
	}
}

// fakeT records errors instead of failing the test.
type fakeT struct {
	testing.TB
	msg string
}

func (f *fakeT) Errorf(format string, args ...any) { f.msg += fmt.Sprintf(format, args...) + "\n" }
func (f *fakeT) Logf(string, ...any)               {}
func (f *fakeT) Helper()                           {}
