// Package raftchain orders one channel's envelopes through go.etcd.io/raft/v3
// and writes the resulting blocks.
//
// A Chain owns one raft.RawNode, its WAL (package orderer/wal), one loop:
// Ready → save to WAL → send through the Transport → apply → Advance, and a
// block writer goroutine that signs and appends committed blocks in order,
// so the block store's fsyncs do not hold up proposals. Snapshots are taken
// only when the writer has caught up, so a snapshot never covers a block
// that is not in the store yet. There are no goroutines inside the raft
// core. Time enters through Tick, either
// from the ticker the chain owns (Config.TickInterval) or from a test; a
// chain with its own ticker also reads the wall clock when an envelope
// reaches the blockcutter and runs a batch timer, so a block is cut
// BatchTimeout after its first envelope rather than at the next Raft tick.
// Many proposals share one Ready and so one WAL fsync (group commit); a
// Ready that only advances the commit index is written without an fsync, as
// Raft allows, so an envelope is acknowledged after one fsync.
//
// Two kinds of entries go into the Raft log:
//   - an envelope: Order returns nil once it is committed to the log;
//   - a block: the leader feeds committed envelopes to a blockcutter and
//     proposes each cut block as its header and the log index of its last
//     envelope (the envelopes are in the log already); every node rebuilds
//     the block from the committed envelopes not yet in a block, checks the
//     header's data hash, and writes it to its store, so all nodes hold
//     identical block data (each signs its own copy). Entries holding a whole
//     block, as earlier versions wrote them, are still read.
//
// A block entry records the log index of its last envelope, so every node
// knows which committed envelopes still wait for a block; they survive
// restarts (replayed from the WAL, or carried in snapshot data) and a new
// leader cuts them. A multi-node cluster adds a Transport and calls Step with
// received messages; the chain code is unchanged. Catching up a follower from a
// snapshot (pulling blocks from another orderer) is not implemented yet.
package raftchain
