package raftchain

import (
	"bytes"
	"slices"
	"sync/atomic"
	"testing"
)

// descending is an Order that puts a block's envelopes in descending byte
// order, which arrival order does not produce by chance for long.
func descending(envs [][]byte) [][]byte {
	out := slices.Clone(envs)
	slices.SortFunc(out, func(a, b []byte) int { return bytes.Compare(b, a) })
	if slices.EqualFunc(out, envs, bytes.Equal) {
		return envs
	}
	return out
}

// TestClusterFollowersTakeTheLeadersOrder: with Config.Order set, the
// leader alone orders each block and every node stores the same blocks, in
// its order.
func TestClusterFollowersTakeTheLeadersOrder(t *testing.T) {
	var calls [4]atomic.Int64
	cl := newCluster(t, 3, func(c *Config) {
		id := c.NodeID
		c.Order = func(envs [][]byte) [][]byte {
			calls[id].Add(1)
			return descending(envs)
		}
	})
	cl.startAll()
	lead := cl.leader(1, 2, 3)
	acked := cl.orderMany("e", 40, 1, 2, 3)
	cl.waitEnvelopes(acked, 1, 2, 3)
	cl.sameBlocks(1, 2, 3)
	for id := uint64(1); id <= 3; id++ {
		if n := calls[id].Load(); (id == lead) != (n > 0) {
			t.Errorf("node %d (leader %d) ordered %d blocks", id, lead, n)
		}
	}
	reordered := 0
	s := cl.node(1).store
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.blocks[1:] {
		d := b.Data.Data
		if !slices.IsSortedFunc(d, func(a, b []byte) int { return bytes.Compare(b, a) }) {
			t.Fatalf("block %d is not in the leader's order", b.Header.Number)
		}
		if len(d) > 1 {
			reordered++
		}
	}
	if reordered == 0 {
		t.Fatal("no block held more than one envelope: nothing was reordered")
	}
}
