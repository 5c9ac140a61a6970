// Package raftchain orders one channel's envelopes through go.etcd.io/raft/v3
// and writes the resulting blocks.
//
// A Chain owns one raft.RawNode, its WAL (package orderer/wal), one loop:
// Ready → save to WAL → send through the Transport → apply → Advance, and a
// block writer goroutine that signs and appends committed blocks in order,
// so the block store's fsyncs do not hold up proposals. Snapshots are taken
// only when the writer has caught up, so a snapshot never covers a block
// that is not in the store yet; once one is saved (taken here or received
// from the leader), the WAL segments it covers are removed (wal.ReleaseTo). There are no goroutines inside the raft
// core. Time enters through Tick, either
// from the ticker the chain owns (Config.TickInterval) or from a test; a
// chain with its own ticker also reads the wall clock when an envelope
// reaches the blockcutter and runs a batch timer, so a block is cut
// BatchTimeout after its first envelope rather than at the next Raft tick.
// Unless Config.HoldBatches, the leader also cuts whatever the cutter holds
// as soon as no block it cut waits to be proposed, committed or written
// (bookkeeper.cutWhenIdle): BatchTimeout is then only the longest wait.
// A leader whose term and vote do not change sends its appends before its
// own WAL fsync, so its disk and the followers' work at once.
// Many proposals share one Ready and so one WAL fsync (group commit); a
// Ready that only advances the commit index is written without an fsync, as
// Raft allows, so an envelope is acknowledged after one fsync.
//
// The chain is split the way etcd splits RawNode from its raft state
// machine. Chain (chain.go, propose.go, apply.go, catchup.go, snapshot.go)
// runs the loop and does all the I/O: Raft, the WAL, the transport, pulls
// from other orderers, timers, reply channels, and hands blocks to a
// blockWriter (writer.go), the goroutine that writes them. A bookkeeper
// (bookkeeper.go, waitlist.go, membership.go) makes the decisions, with no
// goroutines, channels, locks or clock: which committed envelopes still
// wait for a block, when the leader cuts one, when and with what a waiting
// Order call is answered, which consenter change the leader proposes next,
// whether a consenter change is safe, and whether this node was evicted. It
// learns time from tick and from the now the chain passes in, and its
// outputs wait until the chain takes them. The scripts in testdata/ drive
// it as the loop does.
//
// Who owns what: the loop goroutine owns the RawNode, its storage, the WAL
// and the bookkeeper; the writer goroutine owns signing and appending
// blocks; the ticker goroutine only sends ticks. Order, Submit, Step, Tick
// and ValidateConsenters only hand work to the loop over channels; Status,
// Leader and Err read what the loop publishes under a mutex, and Submit
// reads the batch size limit from an atomic.
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
// leader cuts them.
//
// Several consenters: a Transport carries Raft messages and the receiver
// calls Step. Order on a follower proposes through Raft (etcd raft forwards
// the proposal to the leader); envelope ids carry the node id in their top
// 16 bits so that they are unique across nodes, and a waiter is answered when
// the entry is applied here, i.e. committed on a quorum: never earlier. With
// no leader known Order answers ErrNoLeader at once; a proposal lost with a
// leader change or a partition is answered ErrSubmitTimeout after
// Config.SubmitTimeout; a leader that steps down (CheckQuorum) answers its
// waiters ErrNotLeader.
//
// Config envelopes (channel header type CONFIG) are cut into a block of
// their own. Each node derives the consenter set (with Raft ids, matched by
// TLS certificate; a new consenter gets NextConsenterId) from the config
// blocks it writes, and writes it into etcdraft.BlockMetadata from the config
// block on. When the consenters differ from the Raft voters, the leader
// proposes one ConfChangeV2 at a time; a new leader finishes what its
// predecessor began. ValidateConsenters lets the broadcast path refuse a
// config update that changes more than one consenter or would leave the
// reachable voters below quorum. A node that a written config block no
// longer lists stops with ErrEvicted (a removed leader first commits its own
// removal and steps down); a node that was down while it was removed
// notices when, without a leader for three election timeouts, it pulls the
// blocks it missed through Config.Puller.
//
// Snapshot data carry the number and header hash of the last block they
// cover and the pending envelopes. A follower that receives a snapshot
// beyond its blocks pulls the missing blocks (checking that they chain onto
// its last block and end at the snapshot's hash), writes them as they are
// (signed by the orderer they came from), and only then saves and applies
// the snapshot.
//
// Timing: election timeout is ElectionTick × TickInterval (raft randomises it
// up to twice that). Fabric's defaults (500ms × 10) fail over in ~5-10 s;
// for ~1-2 s on a LAN configure the channel's etcdraft Options with
// TickInterval 100ms, ElectionTick 10, HeartbeatTick 1.
package raftchain
