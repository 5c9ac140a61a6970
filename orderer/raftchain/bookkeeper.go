package raftchain

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/weft-ledger/weft/orderer/blockcutter"
	"github.com/weft-ledger/weft/protos"
)

// bookkeeper is the deterministic part of a chain: given what Raft reports
// and commits, it decides which envelopes wait for which block, when a block
// is cut, when a waiting Order call is answered and with what, which conf
// change the leader proposes next, and whether this node was evicted. It
// has no goroutines, channels, locks or clock: time enters as tick (Raft's
// clock, which deadlines count) and as the now arguments (the batch
// timeout's clock). Its outputs wait until the chain takes them: answers
// (takeAnswers), block entries to propose (takeBlocks), a conf change to
// propose (nextConfChange), a block for the writer (blockCommitted), the
// eviction (evicted). One goroutine, the chain's loop, owns it; the script
// tests in testdata/ drive it directly.
type bookkeeper struct {
	channelID    string
	nodeID       uint64
	electionTick uint64
	log          *slog.Logger
	order        func([][]byte) [][]byte // Config.Order
	// holdBatches: cut only when a batch is full or its BatchTimeout passed
	// (Config.HoldBatches), never because the pipeline is idle.
	holdBatches bool
	// arrivals are the times the last envelopes reached the cutter, oldest
	// first, at most busyArrivals of them: enough to tell whether the
	// channel is busy (cutWhenIdle).
	arrivals []time.Time

	ticks uint64 // tick calls so far

	// Raft's view as of the last observeRole.
	leader        uint64 // 0: none known
	leaderChanges uint64
	isLeader      bool
	// active: a leader that applied every entry of earlier terms (up to
	// activeAt) and so knows every pending envelope: it cuts blocks.
	active        bool
	activeAt      uint64
	noLeaderTicks uint64
	confState     *raftpb.ConfState // as of the last applied conf change or snapshot

	waits waitlist

	pending    []pendingEnv        // committed envelopes not yet in a committed block
	cutter     *blockcutter.Cutter // its Config is the channel's batch settings
	uncut      []uint64            // log indexes of the envelopes inside cutter, in order
	lastMade   *cb.BlockHeader     // header of the last block this leader cut
	proposals  [][]byte            // block entries cut, not yet taken by the chain
	lastBlock  *cb.BlockHeader     // header of the last block handed to the writer
	lastConfig uint64              // number of the last config block
	seq        configSeq

	members membership        // consenters of the last config block
	heard   map[uint64]uint64 // consenter id → 1 + tick of its last message (0: never)
	// Eviction: wasMember once this node was a consenter; evictPending when
	// the last config block no longer lists it; the chain stops at evictAt
	// (ticks) or once Raft removed it, whichever comes first.
	wasMember, evictPending bool
	evictAt                 uint64
	ccPending               bool   // a conf change was proposed and not applied yet
	ccDeadline              uint64 // tick after which a lost conf change is proposed again
}

// configSeq is the sequence of the last config accepted in log order. It is
// worked out from base (the snapshot the log starts from) when the first
// CONFIG envelope after it is applied, which takes reading the block store:
// the chain does that when known is false (setConfigSeq).
type configSeq struct {
	seq   uint64
	known bool
	base  snapData
}

// newBookkeeper starts from the store's last block and last config block:
// lastBlock is the header of the last block, members the consenters of the
// last config block. firstID seeds the proposal ids (the chain takes it
// from the clock); an envelope waits submitTicks ticks, which stand for
// cfg.SubmitTimeout.
func newBookkeeper(cfg Config, firstID, submitTicks uint64, lastBlock *cb.BlockHeader, lastConfig uint64, members membership) (*bookkeeper, error) {
	cutter, err := blockcutter.New(cfg.Batch)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", cfg.ChannelID, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &bookkeeper{
		channelID:    cfg.ChannelID,
		nodeID:       cfg.NodeID,
		electionTick: uint64(cfg.ElectionTick),
		log:          logger,
		order:        cfg.Order,
		holdBatches:  cfg.HoldBatches,
		waits:        newWaitlist(cfg.NodeID, firstID, submitTicks, cfg.SubmitTimeout),
		cutter:       cutter,
		lastBlock:    lastBlock,
		lastConfig:   lastConfig,
		members:      members,
		heard:        map[uint64]uint64{},
		wasMember:    slices.Contains(members.ids, cfg.NodeID),
		confState:    &raftpb.ConfState{},
	}, nil
}

// restore takes up a Raft snapshot: from the WAL at start, or received from
// the leader once its blocks are in the store.
func (b *bookkeeper) restore(d snapData, cs *raftpb.ConfState) {
	b.pending = d.pending
	b.seq = configSeq{base: d}
	b.confState = cs
	b.ccPending = false
}

// resumedFromWAL runs at start when the WAL held a log: a node that took
// part in the cluster and is not among the consenters of its last config
// block was removed while it was down.
func (b *bookkeeper) resumedFromWAL() {
	if !slices.Contains(b.confState.GetVoters(), b.nodeID) {
		return
	}
	b.wasMember = true
	if !slices.Contains(b.members.ids, b.nodeID) {
		b.evictPending, b.evictAt = true, 2*b.electionTick
	}
}

// nextBlock is the number of the next block to hand to the writer.
func (b *bookkeeper) nextBlock() uint64 { return b.lastBlock.GetNumber() + 1 }

// tick advances the clock one Raft tick: it answers envelopes that waited
// SubmitTimeout, cuts a batch whose BatchTimeout passed at now, and reports
// whether the chain should catch up from other orderers: no leader for three
// election timeouts (then it calls afterLeaderlessCatchUp).
func (b *bookkeeper) tick(now time.Time) (catchUp bool) {
	b.ticks++
	b.waits.expire(b.ticks, func() error {
		return fmt.Errorf("%w: channel %s, after %s (leader %d)", ErrSubmitTimeout, b.channelID, b.waits.submitTimeout, b.leader)
	})
	if b.leader != 0 {
		b.noLeaderTicks = 0
	} else if b.noLeaderTicks++; b.noLeaderTicks >= 3*b.electionTick {
		b.noLeaderTicks = 0
		catchUp = true
	}
	b.batchTimeout(now)
	return catchUp
}

// afterLeaderlessCatchUp: a node that learnt of its removal from the blocks
// it pulled stops at once, since no leader will tell it more.
func (b *bookkeeper) afterLeaderlessCatchUp() {
	if b.evictPending {
		b.evictAt = b.ticks
	}
}

// batchTimeout cuts the pending batch when its BatchTimeout passed at now.
func (b *bookkeeper) batchTimeout(now time.Time) {
	if !b.active {
		return
	}
	if batch := b.cutter.Tick(now); batch != nil {
		b.makeBlock(batch)
	}
}

// batchDeadline is when batchTimeout will cut; ok is false when this node
// does not cut or holds nothing to cut.
func (b *bookkeeper) batchDeadline() (time.Time, bool) {
	if !b.active {
		return time.Time{}, false
	}
	return b.cutter.Deadline()
}

// pipelineIdle reports whether no block this leader cut is still on its way:
// every block it made was taken by the chain, committed in the Raft log and,
// as writerCaughtUp says, appended to the store.
func (b *bookkeeper) pipelineIdle(writerCaughtUp bool) bool {
	return writerCaughtUp && len(b.proposals) == 0 && b.lastMade.GetNumber() == b.lastBlock.GetNumber()
}

// cutWhenIdle cuts what the cutter holds when the pipeline is idle and the
// channel is not busy, so that an envelope with nothing else coming does not
// wait for BatchTimeout. While a block is on its way the cutter keeps
// filling: that block's commit and write, or a full batch, or BatchTimeout,
// ends the wait. A busy channel (busy) is cut as Fabric cuts, full or at
// BatchTimeout: there small blocks would cost every peer its per-block work
// when CPU is scarcest, while large ones come at once. The chain calls it
// after each event, once the Ready's committed entries are all applied, so
// that envelopes committed together go in one block.
func (b *bookkeeper) cutWhenIdle(now time.Time, writerCaughtUp bool) {
	if b.holdBatches || !b.active || b.cutter.Pending() == 0 || !b.pipelineIdle(writerCaughtUp) || b.busy(now) {
		return
	}
	b.makeBlock(b.cutter.Cut())
}

// busyArrivals is how many envelopes must have reached the cutter within the
// last busyWindow for the channel to count as busy: half a full block
// (MaxMessageCount) a second. With Fabric's default MaxMessageCount (500)
// that is 250 envelopes a second: below, a lone envelope or a light load is
// cut at once; above, blocks grow as Fabric's do. Blocks of fewer than 16
// envelopes (Fabric's test-network: 10) are small at any load, and the
// channel never counts as busy (0).
func (b *bookkeeper) busyArrivals() int {
	if m := b.cutter.Config().MaxMessageCount; m >= 16 {
		return int(m / 2)
	}
	return 0
}

// busyWindow is the span over which arrivals are counted: long enough to
// span the gaps between the bursts a closed-loop load sends after each
// block, short enough to notice the load falling within a second.
const busyWindow = time.Second

// noteArrival records that an envelope reached the cutter at now.
func (b *bookkeeper) noteArrival(now time.Time) {
	n := b.busyArrivals()
	if n == 0 {
		b.arrivals = b.arrivals[:0]
		return
	}
	if len(b.arrivals) >= n {
		b.arrivals = append(b.arrivals[:0], b.arrivals[len(b.arrivals)-n+1:]...)
	}
	b.arrivals = append(b.arrivals, now)
}

// busy reports whether busyArrivals envelopes reached the cutter within the
// busyWindow before now.
func (b *bookkeeper) busy(now time.Time) bool {
	n := b.busyArrivals()
	if n == 0 || len(b.arrivals) < n {
		return false
	}
	return now.Sub(b.arrivals[len(b.arrivals)-n]) < busyWindow
}

// heardFrom records a Raft message from consenter id.
func (b *bookkeeper) heardFrom(id uint64) { b.heard[id] = b.ticks + 1 }

// observeRole takes up Raft's state after a Ready: the leader it knows
// (0: none), whether this node leads, the last index of its log and the
// last applied one. A follower whose leader is gone answers what it
// forwarded (ErrNoLeader); a leader that steps down answers ErrNotLeader; a
// new leader starts cutting once it applied its whole log, at now.
func (b *bookkeeper) observeRole(lead uint64, leader bool, lastIndex, applied uint64, now time.Time) {
	if lead != b.leader {
		if lead != 0 {
			b.leaderChanges++
		}
		if b.leader != 0 && !b.isLeader && len(b.waits.waiting) > 0 {
			// What this follower forwarded went to a leader that is gone:
			// answer now rather than at SubmitTimeout. Like a timeout, the
			// envelope may still be ordered if that leader replicated it.
			b.waits.failAll(fmt.Errorf("%w: leader %d was lost while the envelope waited; it may or may not be ordered", ErrNoLeader, b.leader))
		}
		b.leader = lead
	}
	if leader != b.isLeader {
		b.isLeader = leader
		b.active = false
		b.proposals = nil
		b.ccPending = false
		if leader {
			b.activeAt = lastIndex
		} else {
			b.waits.failAll(ErrNotLeader)
		}
	}
	if b.isLeader && !b.active && applied >= b.activeAt {
		b.activate(now)
	}
}

// refuseWithoutLeader is the answer to envelopes submitted while no leader
// is known (nil when one is).
func (b *bookkeeper) refuseWithoutLeader() error {
	if b.leader != 0 {
		return nil
	}
	return fmt.Errorf("%w (channel %s); retry once the consenters have elected one", ErrNoLeader, b.channelID)
}

// newProposalID returns the id of the next envelope this node proposes.
func (b *bookkeeper) newProposalID() uint64 { return b.waits.newID(b.nodeID) }

// proposed starts waiting for the envelope with id: Raft took its proposal.
func (b *bookkeeper) proposed(id uint64) { b.waits.add(id, b.ticks) }

// proposalRefused is the answer to envelopes Raft refused to propose.
func (b *bookkeeper) proposalRefused(err error) error {
	if b.isLeader {
		return fmt.Errorf("%w (channel %s): %v", ErrNotLeader, b.channelID, err)
	}
	return fmt.Errorf("%w (channel %s): %v", ErrNoLeader, b.channelID, err)
}

// takeAnswers returns the answers decided since the last call (valid until
// the next call into the bookkeeper).
func (b *bookkeeper) takeAnswers() []answer { return b.waits.takeAnswers() }

// takeBlocks returns the block entries cut since the last call, to propose
// in order.
func (b *bookkeeper) takeBlocks() [][]byte {
	out := b.proposals
	b.proposals = nil
	return out
}

// needConfigSeq reports whether the config sequence must be read from the
// store before the next CONFIG envelope is applied, and from which snapshot.
func (b *bookkeeper) needConfigSeq() (snapData, bool) { return b.seq.base, !b.seq.known }

// setConfigSeq records the config sequence in force at the snapshot
// needConfigSeq named.
func (b *bookkeeper) setConfigSeq(seq uint64) { b.seq.seq, b.seq.known = seq, true }

// applyEnvelope takes up a committed envelope (log index, proposal id): it
// waits for a block, the active leader cuts it, and its waiter is answered.
// A stale CONFIG envelope is dropped, on every node alike, and its waiter
// answered ErrStaleConfig. now is when it reaches the cutter.
func (b *bookkeeper) applyEnvelope(now time.Time, index, id uint64, env []byte) error {
	if isConfigEnvelope(env) {
		refusal, err := b.acceptConfig(env)
		if err != nil {
			return fmt.Errorf("raft entry %d: %w", index, err)
		}
		if refusal != nil {
			// Dropped on every node alike: the log decides, not timing.
			b.log.Warn("config update not ordered", "index", index, "reason", refusal)
			b.waits.answer(id, refusal)
			return nil
		}
	}
	p := pendingEnv{index: index, env: env}
	b.pending = append(b.pending, p)
	if b.active {
		b.cut(now, p)
	}
	b.waits.answer(id, nil)
	return nil
}

// applyBlockEntry takes up a committed block entry: it returns the block,
// made of the pending envelopes up to log index lastEnv (or decoded whole
// from an entry an earlier version wrote).
func (b *bookkeeper) applyBlockEntry(kind byte, lastEnv uint64, body []byte) (*cb.Block, error) {
	i := 0
	for i < len(b.pending) && b.pending[i].index <= lastEnv {
		i++
	}
	covered := b.pending[:i]
	b.pending = b.pending[i:]
	return blockOfEntry(kind, body, covered)
}

// blockCommitted takes up a block on its way to the writer and returns the
// writer's job; ok is false for a block below nextBlock (written before a
// restart). A pulled block was signed by the orderer it came from and is
// written as is.
func (b *bookkeeper) blockCommitted(blk *cb.Block, raftIndex uint64, pulled bool) (job blockJob, ok bool, err error) {
	num, next := blk.GetHeader().GetNumber(), b.nextBlock()
	switch {
	case num < next:
		return job, false, nil
	case num > next:
		return job, false, fmt.Errorf("raft entry %d holds block %d but the next block is %d", raftIndex, num, next)
	}
	b.lastBlock = blk.Header
	b.onBlock(blk, pulled)
	job = blockJob{blk: blk, raftIndex: raftIndex, pulled: pulled, lastConfig: b.lastConfig}
	if !pulled {
		job.md = b.consenterMetadata(raftIndex)
	}
	return job, true, nil
}

// snapshotData is what a snapshot of the log applied so far carries.
func (b *bookkeeper) snapshotData() snapData {
	return snapData{lastBlock: b.lastBlock.GetNumber(), blockHash: protos.BlockHeaderHash(b.lastBlock), pending: b.pending}
}

// activate starts cutting: the cutter is refilled with every envelope that
// no committed block holds, and blocks chain onto the last written one.
func (b *bookkeeper) activate(now time.Time) {
	b.active = true
	cutter, _ := blockcutter.New(b.cutter.Config())
	b.cutter = cutter
	b.uncut = nil
	b.lastMade = b.lastBlock
	for _, p := range b.pending {
		b.cut(now, p)
	}
}

func (b *bookkeeper) cut(now time.Time, p pendingEnv) {
	b.uncut = append(b.uncut, p.index)
	b.noteArrival(now)
	if isConfigEnvelope(p.env) {
		// A config envelope gets a block of its own.
		if batch := b.cutter.Cut(); len(batch) > 0 {
			b.makeBlock(batch)
		}
		b.makeBlock(blockcutter.Batch{p.env})
		return
	}
	batches, err := b.cutter.Add(now, p.env)
	if err != nil {
		// Committed but above the limit (the limit changed): give it its own block.
		batches = []blockcutter.Batch{b.cutter.Cut(), {p.env}}
	}
	for _, batch := range batches {
		if len(batch) > 0 {
			b.makeBlock(batch)
		}
	}
}

// makeBlock proposes batch as the block after the last one this leader cut:
// its header and the log index of its last envelope.
func (b *bookkeeper) makeBlock(batch blockcutter.Batch) {
	envs := [][]byte(batch)
	if b.order != nil {
		envs = b.order(envs)
	}
	blk := protos.NewBlock(b.lastMade.Number+1, protos.BlockHeaderHash(b.lastMade), envs)
	lastEnv := b.uncut[len(batch)-1]
	b.uncut = b.uncut[len(batch):]
	b.lastMade = blk.Header
	if len(envs) > 0 && &envs[0] != &batch[0] {
		// Followers rebuild a block by reference in log order: a
		// reordered one travels whole.
		b.proposals = append(b.proposals, encodeBlock(lastEnv, blk))
		return
	}
	b.proposals = append(b.proposals, encodeBlockRef(lastEnv, blk.Header))
}

// confChanged takes up the voters after Raft applied a conf change. Only a
// ConfChangeV2, which this package proposes, ends the one in flight.
func (b *bookkeeper) confChanged(cs *raftpb.ConfState, v2 bool) {
	b.confState = cs
	if v2 {
		b.ccPending = false
	}
}

// voters are the Raft voters as of the last applied conf change.
func (b *bookkeeper) voters() []uint64 { return b.confState.GetVoters() }
