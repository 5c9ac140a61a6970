// Package raftchain orders one channel's envelopes through go.etcd.io/raft/v3
// and writes the resulting blocks.
//
// A Chain owns one raft.RawNode, its WAL (package orderer/wal) and one loop:
// Ready → save to WAL → send through the Transport → apply → Advance. There
// are no goroutines inside the raft core; time enters only through Tick,
// either from the ticker the chain owns (Config.TickInterval) or from a test.
//
// Two kinds of entries go into the Raft log:
//   - an envelope: Order returns nil once it is committed to the log;
//   - a block: the leader feeds committed envelopes to a blockcutter and
//     proposes each cut block; every node writes a committed block to its
//     store, so all nodes hold identical block data (each signs its own copy).
//
// A block entry records the log index of its last envelope, so every node
// knows which committed envelopes still wait for a block; they survive
// restarts (replayed from the WAL, or carried in snapshot data) and a new
// leader cuts them. A multi-node cluster adds a Transport and calls Step with
// received messages; the chain code is unchanged. Catching up a follower from a
// snapshot (pulling blocks from another orderer) is not implemented yet.
package raftchain
