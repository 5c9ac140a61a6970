package raftchain

import (
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
)

// handBlock passes a committed block to the writer (waiting while its queue
// is full). A block below the next number was written before a restart. A
// pulled block was signed by the orderer it came from and is written as is.
func (c *Chain) handBlock(blk *cb.Block, raftIndex uint64, pulled bool) error {
	job, ok, err := c.bk.blockCommitted(blk, raftIndex, pulled)
	if !ok {
		return err
	}
	c.handed++
	for _, env := range blk.GetData().GetData() {
		c.bytesSinceSnap += uint64(len(env))
	}
	if isConfigBlock(blk) {
		c.maxBytes.Store(c.bk.batchConfig().AbsoluteMaxBytes)
	}
	select {
	case c.writeC <- job:
		return nil
	case <-c.writerDone:
		return c.writerError()
	}
}

// writeBlocks is the writer goroutine: it writes every block handed to it, in
// order, until writeC is closed; after a failure it only drains the queue.
func (c *Chain) writeBlocks() {
	defer close(c.writerDone)
	failed := false
	for j := range c.writeC {
		if failed {
			continue
		}
		if err := c.writeBlock(j); err != nil {
			failed = true
			c.writerErr.Store(&err)
		} else {
			c.written.Add(1)
		}
		select {
		case c.writtenC <- struct{}{}:
		default:
		}
	}
}

func (c *Chain) writerError() error {
	if p := c.writerErr.Load(); p != nil {
		return *p
	}
	return ErrHalted
}

// stopWriter lets the writer finish the blocks handed to it, then takes the
// snapshot they may complete.
func (c *Chain) stopWriter() {
	close(c.writeC)
	<-c.writerDone
	if c.Err() == nil {
		if err := c.blocksWritten(); err != nil {
			c.fail(err)
		}
	}
}

// blocksWritten runs in the loop after the writer signalled: it takes a
// snapshot once SnapshotIntervalBlocks blocks or SnapshotIntervalBytes bytes
// of envelopes were written and the writer
// has caught up, so that every block the snapshot covers is in the store.
func (c *Chain) blocksWritten() error {
	if p := c.writerErr.Load(); p != nil {
		return *p
	}
	n := c.written.Load()
	c.sinceSnap += n - c.seen
	c.seen = n
	due := (c.cfg.SnapshotIntervalBlocks > 0 && c.sinceSnap >= c.cfg.SnapshotIntervalBlocks) ||
		(c.cfg.SnapshotIntervalBytes > 0 && c.bytesSinceSnap >= c.cfg.SnapshotIntervalBytes)
	if due && n == c.handed && c.applied > c.snapIndex {
		return c.snapshot(c.applied)
	}
	return nil
}

// writeBlock signs the job's block (unless pulled) and appends it to the
// store (writer goroutine), then tells Config.OnBlockWritten.
func (c *Chain) writeBlock(j blockJob) error {
	h := c.store.Height()
	num := j.blk.GetHeader().GetNumber()
	switch {
	case num < h:
		return nil // written before a restart
	case num > h:
		return fmt.Errorf("raft entry %d holds block %d but the store height is %d", j.raftIndex, num, h)
	}
	if !j.pulled {
		if err := SignBlock(j.blk, c.cfg.Signer, j.lastConfig, j.md); err != nil {
			return err
		}
	}
	if err := c.store.Append(j.blk); err != nil {
		return fmt.Errorf("append block %d: %w", num, err)
	}
	c.log.Debug("wrote block", "block", num, "txs", len(j.blk.Data.Data), "raft_index", j.raftIndex, "pulled", j.pulled)
	if c.cfg.OnBlockWritten != nil {
		c.cfg.OnBlockWritten(j.blk)
	}
	return nil
}

// snapshot compacts the log up to index (the entry just applied); envelopes
// still waiting for a block travel in the snapshot data.
func (c *Chain) snapshot(index uint64) error {
	data := encodeSnapshotData(c.bk.snapshotData())
	snap, err := c.storage.CreateSnapshot(index, c.bk.confState, data)
	if err != nil {
		return fmt.Errorf("create snapshot at %d: %w", index, err)
	}
	if err := c.wal.Save(snap, nil, nil); err != nil {
		return err
	}
	if err := c.storage.Compact(index); err != nil {
		return fmt.Errorf("compact raft log at %d: %w", index, err)
	}
	c.snapIndex, c.sinceSnap, c.bytesSinceSnap = index, 0, 0
	return nil
}
