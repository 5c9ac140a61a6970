// Package wal persists one Raft node's log: entries, hard state and
// snapshots, as checksummed records in a directory of segment files.
//
// Record layout: uint32 little-endian length of (type ‖ data), uint32 CRC-32C
// of (type ‖ data), one type byte, data (a marshalled raftpb message).
//
// Segments are named <seq>-<index>.wal (16 hex digits each, as etcd names
// them): seq counts from 0, index is the log index of the first entry the
// segment was started for. Writes go to the last segment; once it has grown
// past Options.SegmentSize (64 MiB by default) it is synced and the next
// segment is created under a temporary name, begins with the latest
// snapshot and hard state, is synced and renamed into place. Every segment
// before the last is therefore complete and synced. ReleaseTo(index), called
// after a snapshot at index or beyond was saved, removes the segments whose
// entries are all below index; the segment holding index, and the last one,
// stay. A single-file WAL of an earlier version (raft.wal) is replayed and
// renamed into the first segment.
//
// Recovery (Open). A damaged record is one cut short by the end of the file,
// with a length of 0 or out of range, or with a checksum mismatch. It is a
// torn tail — the end of a write a crash interrupted — only when it is in
// the last segment and no intact record (a length that fits, a known type
// and a matching checksum) starts anywhere after it; Open then truncates the
// segment at the damaged record and reports it in State (TornFile,
// TornOffset, TruncatedBytes). Any other damage — in a segment that later
// segments follow, or with an intact record after it — a checksummed record
// that does not decode, a missing segment or a hole in the entries is
// refused with an error wrapping ErrCorrupt (a *CorruptError names the
// segment and offset) and nothing on disk is changed: dropping it would
// drop entries and a vote this node acknowledged. Damage to the very last
// record is indistinguishable from a torn write and is treated as one.
//
// Save fsyncs before returning, so whatever Save acknowledged survives a
// crash; Write may skip the fsync (for hard states that only move the
// commit index), and records it wrote are durable once a later synced write
// returns. A write carrying a snapshot is always synced. A failed write or
// sync cuts the segment back to where the write began and the WAL refuses
// further writes. The WAL never interprets entry data.
package wal
