// Package wal persists one Raft node's log: entries, hard state and
// snapshots, in a single append-only file of checksummed records.
//
// Record layout: uint32 little-endian length of (type ‖ data), uint32 CRC-32C
// of (type ‖ data), one type byte, data (a marshalled raftpb message).
// Open replays the file; a record that is cut short or fails its checksum ends
// the log and everything from it on is truncated (a torn tail from a crash in
// the middle of a write). Save fsyncs before returning, so whatever Save
// acknowledged survives a crash; Write may skip the fsync (for hard states
// that only move the commit index), and records it wrote are durable once a
// later synced write returns. The WAL never interprets entry data.
package wal
