package peer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/protos"
)

// committedBlocks is the view of a channel's block store that clients get:
// a block becomes visible only once the commit path has applied its writes to
// the world state. Without it a client could learn of a commit through Deliver
// and then read the state from before it.
type committedBlocks struct {
	*ledger.BlockStore

	mu      sync.Mutex // guards height, changed and recent
	height  uint64
	changed chan struct{} // closed and replaced when height grows
	// recent are the last blocks published, by number modulo its length:
	// Deliver streams (the clients' event streams) follow the top of the
	// chain and would otherwise each read and decode every new block from
	// the block file. They are shared, so never modified.
	recent [16]*cb.Block
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

// publish makes b, whose state is applied, and the blocks below it visible,
// and keeps b for the readers that follow the top of the chain. b must not be
// modified afterwards.
func (c *committedBlocks) publish(b *cb.Block) {
	n := b.GetHeader().GetNumber()
	c.mu.Lock()
	c.recent[n%uint64(len(c.recent))] = b
	c.mu.Unlock()
	c.advance(n + 1)
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

// The lookups below hide blocks the store holds but whose writes are not in
// the world state yet (a state write that failed after the append is retried
// by the commit path): qscc, Deliver and the gateway answer from this view.

// Info describes the chain up to the last fully committed block.
func (c *committedBlocks) Info() *cb.BlockchainInfo {
	h := c.Height()
	info := c.BlockStore.Info()
	if info.Height <= h || h == 0 {
		return info
	}
	last, err := c.BlockStore.Block(h - 1)
	if err != nil {
		return &cb.BlockchainInfo{Height: h}
	}
	return &cb.BlockchainInfo{Height: h, CurrentBlockHash: protos.BlockHeaderHash(last.Header),
		PreviousBlockHash: append([]byte(nil), last.Header.PreviousHash...)}
}

// visible returns b if it is fully committed, else ErrBlockNotFound.
func (c *committedBlocks) visible(b *cb.Block, err error, what string) (*cb.Block, error) {
	if err != nil {
		return nil, err
	}
	if h := c.Height(); b.GetHeader().GetNumber() >= h {
		return nil, fmt.Errorf("%s is in block %d, whose state is not applied yet (committed height %d): %w",
			what, b.GetHeader().GetNumber(), h, ledger.ErrBlockNotFound)
	}
	return b, nil
}

// Block returns block n once it is fully committed. The block may be shared
// with other readers: callers must not modify it.
func (c *committedBlocks) Block(n uint64) (*cb.Block, error) {
	c.mu.Lock()
	h := c.height
	b := c.recent[n%uint64(len(c.recent))]
	c.mu.Unlock()
	if n >= h {
		return nil, fmt.Errorf("block %d (committed height is %d): %w", n, h, ledger.ErrBlockNotFound)
	}
	if b != nil && b.GetHeader().GetNumber() == n {
		return b, nil
	}
	return c.BlockStore.Block(n)
}

// BlockByHash returns the fully committed block whose header hash is h.
func (c *committedBlocks) BlockByHash(h []byte) (*cb.Block, error) {
	b, err := c.BlockStore.BlockByHash(h)
	return c.visible(b, err, fmt.Sprintf("block with hash %x", h))
}

// BlockByTxID returns the fully committed block holding txID.
func (c *committedBlocks) BlockByTxID(txID string) (*cb.Block, error) {
	b, err := c.BlockStore.BlockByTxID(txID)
	return c.visible(b, err, "transaction "+txID)
}

// TxByID returns transaction txID once its block is fully committed.
func (c *committedBlocks) TxByID(txID string) (*pb.ProcessedTransaction, error) {
	if _, err := c.BlockByTxID(txID); err != nil {
		if errors.Is(err, ledger.ErrBlockNotFound) {
			return nil, fmt.Errorf("transaction %s: %w (%v)", txID, ledger.ErrTxNotFound, err)
		}
		return nil, err
	}
	return c.BlockStore.TxByID(txID)
}
