package peer

import (
	"context"
	"sync"

	"github.com/weft-ledger/weft/ledger"
)

// committedBlocks is the view of a channel's block store that clients get:
// a block becomes visible only once the commit path has applied its writes to
// the world state. Without it a client could learn of a commit through Deliver
// and then read the state from before it.
type committedBlocks struct {
	*ledger.BlockStore

	mu      sync.Mutex // guards height and changed
	height  uint64
	changed chan struct{} // closed and replaced when height grows
}

func newCommittedBlocks(s *ledger.BlockStore) *committedBlocks {
	return &committedBlocks{BlockStore: s, height: s.Height(), changed: make(chan struct{})}
}

// Height is the number of fully committed blocks.
func (c *committedBlocks) Height() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.height
}

// WaitHeight returns once Height() >= h, or with ctx's error.
func (c *committedBlocks) WaitHeight(ctx context.Context, h uint64) error {
	for {
		c.mu.Lock()
		if c.height >= h {
			c.mu.Unlock()
			return nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// advance publishes the blocks below h as committed.
func (c *committedBlocks) advance(h uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h > c.height {
		c.height = h
		close(c.changed)
		c.changed = make(chan struct{})
	}
}
