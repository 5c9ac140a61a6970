package raftchain

import (
	"bytes"
	"context"
	"fmt"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/weft-ledger/weft/protos"
)

// Puller fetches committed blocks of the channel from other orderers.
type Puller interface {
	// Pull calls each for blocks from..to inclusive, in order, verified
	// (signature per the channel's BlockValidation policy and hash chain) by
	// the puller; it stops at the first error of each.
	Pull(ctx context.Context, from, to uint64, each func(*cb.Block) error) error
	// Height returns the highest height any reachable orderer reports for the channel.
	Height(ctx context.Context) (uint64, error)
}

// pullTimeout bounds one catch-up (Height and Pull) so that the loop is not
// held forever by an unresponsive orderer.
const pullTimeout = 2 * time.Minute

// pullAttempts is how often a snapshot's blocks are pulled before the chain
// gives up.
const pullAttempts = 5

// pullBlocks pulls blocks nextBlock..to from other orderers and hands them to
// the writer as they are (signed by the orderer that wrote them). Each must
// chain onto the last block this node has.
func (c *Chain) pullBlocks(ctx context.Context, to uint64) error {
	from := c.bk.nextBlock()
	if to < from {
		return nil
	}
	c.log.Info("pulling blocks from other orderers", "from", from, "to", to)
	err := c.cfg.Puller.Pull(ctx, from, to, func(b *cb.Block) error {
		h := b.GetHeader()
		if next := c.bk.nextBlock(); h.GetNumber() != next {
			return fmt.Errorf("pulled block %d, want block %d", h.GetNumber(), next)
		}
		if last := c.bk.lastBlock; !bytes.Equal(h.GetPreviousHash(), protos.BlockHeaderHash(last)) {
			return fmt.Errorf("pulled block %d does not chain onto block %d of this orderer (previous hash %x)", h.GetNumber(), last.GetNumber(), h.GetPreviousHash())
		}
		if !bytes.Equal(h.GetDataHash(), protos.BlockDataHash(b.GetData())) {
			return fmt.Errorf("pulled block %d: data do not match its data hash", h.GetNumber())
		}
		return c.handBlock(b, 0, true)
	})
	if err != nil {
		return fmt.Errorf("channel %s: pull blocks %d..%d: %w", c.cfg.ChannelID, from, to, err)
	}
	if next := c.bk.nextBlock(); next <= to {
		return fmt.Errorf("channel %s: pulled blocks up to %d, need %d", c.cfg.ChannelID, next-1, to)
	}
	return nil
}

// installSnapshot makes this node hold every block a snapshot received from
// the leader covers, pulling the missing ones, before the snapshot is saved
// and applied; it returns the snapshot's data.
func (c *Chain) installSnapshot(snap *raftpb.Snapshot) (snapData, error) {
	idx := snap.GetMetadata().GetIndex()
	d, err := decodeSnapshotData(snap.GetData())
	if err != nil {
		return d, fmt.Errorf("raft snapshot at index %d: %w", idx, err)
	}
	if d.version < snapshotV2 {
		return d, fmt.Errorf("received raft snapshot at index %d written by an earlier version (no block number); this node cannot catch up from it: restore its ledger from another orderer", idx)
	}
	if d.lastBlock >= c.bk.nextBlock() {
		if c.cfg.Puller == nil {
			return d, fmt.Errorf("received raft snapshot at index %d covering block %d, but this node has blocks up to %d and no puller to fetch the rest from other orderers", idx, d.lastBlock, c.bk.nextBlock()-1)
		}
		// The node cannot go on without these blocks: try a few times (the
		// puller moves to other orderers), keeping what was pulled.
		backoff := max(100*time.Millisecond, time.Duration(c.cfg.ElectionTick)*c.cfg.TickInterval)
		var err error
		for attempt := 1; attempt <= pullAttempts; attempt++ {
			ctx, cancel := context.WithTimeout(c.ctx, pullTimeout)
			err = c.pullBlocks(ctx, d.lastBlock)
			cancel()
			if err == nil || c.stopping() {
				break
			}
			c.log.Warn("pulling the blocks of a raft snapshot failed", "attempt", attempt, "error", err)
			select {
			case <-time.After(backoff):
			case <-c.stopC:
			}
		}
		if err != nil {
			return d, fmt.Errorf("catch up to raft snapshot at index %d (%d attempts): %w", idx, pullAttempts, err)
		}
		if !bytes.Equal(protos.BlockHeaderHash(c.bk.lastBlock), d.blockHash) {
			return d, fmt.Errorf("channel %s: block %d pulled from other orderers does not match the raft snapshot at index %d (header hash differs)", c.cfg.ChannelID, d.lastBlock, idx)
		}
	}
	// The snapshot is saved only once the blocks it covers are in the store.
	if err := c.writer.wait(); err != nil {
		return d, err
	}
	return d, nil
}

// catchUpLeaderless runs when this node has heard of no leader for a while:
// if other orderers have more blocks, it pulls them; a pulled config block
// that no longer lists this node evicts it (it was removed while it was down).
func (c *Chain) catchUpLeaderless() error {
	// Asking for heights must not hold up an election for long.
	hctx, hcancel := context.WithTimeout(c.ctx, max(time.Second, 2*time.Duration(c.cfg.ElectionTick)*c.cfg.TickInterval))
	h, err := c.cfg.Puller.Height(hctx)
	hcancel()
	if err != nil {
		c.log.Debug("no leader, and no other orderer reports its height", "error", err)
		return nil
	}
	if h <= c.bk.nextBlock() {
		return nil
	}
	c.log.Info("no raft leader; other orderers have more blocks", "their_height", h, "height", c.bk.nextBlock())
	ctx, cancel := context.WithTimeout(c.ctx, pullTimeout)
	defer cancel()
	if err := c.pullBlocks(ctx, h-1); err != nil {
		c.log.Warn("catching up without a leader failed; will retry", "error", err)
	}
	return nil
}
