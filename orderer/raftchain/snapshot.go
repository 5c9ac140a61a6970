package raftchain

import (
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
)

// snapshotSchedule decides when the loop compacts the Raft log: once
// SnapshotIntervalBlocks blocks or SnapshotIntervalBytes bytes of envelopes
// were written since the last snapshot, and only when the writer has caught
// up, so that every block a snapshot covers is in the store.
type snapshotSchedule struct {
	everyBlocks uint64 // Config.SnapshotIntervalBlocks; 0: never
	everyBytes  uint64 // Config.SnapshotIntervalBytes; 0: never
	index       uint64 // log index of the last snapshot
	blocks      uint64 // blocks written since it
	bytes       uint64 // envelope bytes in the blocks handed to the writer since it
	seen        uint64 // blocks the writer had written at the last due
}

// handed counts a block handed to the writer.
func (s *snapshotSchedule) handed(blk *cb.Block) {
	for _, env := range blk.GetData().GetData() {
		s.bytes += uint64(len(env))
	}
}

// due reports whether to snapshot the log up to applied, the writer having
// written written of the handed blocks.
func (s *snapshotSchedule) due(written, handed, applied uint64) bool {
	s.blocks += written - s.seen
	s.seen = written
	due := (s.everyBlocks > 0 && s.blocks >= s.everyBlocks) ||
		(s.everyBytes > 0 && s.bytes >= s.everyBytes)
	return due && written == handed && applied > s.index
}

// taken restarts the counts at a snapshot at index, taken or installed.
func (s *snapshotSchedule) taken(index uint64) {
	s.index, s.blocks, s.bytes = index, 0, 0
}

// blocksWritten runs in the loop after the writer signalled: it takes the
// snapshot the schedule asks for.
func (c *Chain) blocksWritten() error {
	if err := c.writer.failed(); err != nil {
		return err
	}
	if c.snaps.due(c.writer.written.Load(), c.writer.handed, c.applied) {
		return c.snapshot(c.applied)
	}
	return nil
}

// snapshot compacts the log up to index (the entry just applied); envelopes
// still waiting for a block travel in the snapshot data.
func (c *Chain) snapshot(index uint64) error {
	sd := c.bk.snapshotData()
	data := encodeSnapshotData(sd)
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
	c.snaps.taken(index)
	c.setSnapshotBlock(sd.lastBlock)
	c.releaseWAL(index)
	return nil
}

// releaseWAL removes the WAL segments a snapshot at index, just saved,
// covers. Failing to is no reason to stop: they are removed at the next
// snapshot.
func (c *Chain) releaseWAL(index uint64) {
	removed, err := c.wal.ReleaseTo(index)
	if len(removed) > 0 {
		c.log.Debug("removed WAL segments covered by a snapshot", "index", index, "segments", len(removed))
	}
	if err != nil {
		c.log.Warn("cannot remove WAL segments covered by a snapshot", "index", index, "error", err)
	}
}
