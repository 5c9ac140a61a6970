package raftchain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/orderer/blockcutter"
	"github.com/weft-ledger/weft/orderer/wal"
	"github.com/weft-ledger/weft/protos"
)

// Sentinel errors Order callers map to a broadcast status.
var (
	// ErrNotLeader: this node cannot accept proposals now (no leader, or
	// another node leads and forwarding is not implemented yet).
	ErrNotLeader = errors.New("raftchain: this orderer is not the Raft leader of the channel")
	// ErrHalted: the chain was stopped or failed.
	ErrHalted = errors.New("raftchain: chain is halted")
	// ErrMessageTooLarge: the envelope exceeds BatchSize.AbsoluteMaxBytes.
	ErrMessageTooLarge = blockcutter.ErrMessageTooLarge
)

// BlockStore is the part of a channel ledger the chain writes to
// (*ledger.BlockStore satisfies it). It already holds the genesis block.
type BlockStore interface {
	Height() uint64
	Block(n uint64) (*cb.Block, error)
	Append(b *cb.Block) error
}

// Transport carries Raft messages to the other consenters of the channel.
type Transport interface {
	Send(channelID string, msgs []*raftpb.Message)
}

// NoopTransport drops every message: enough for a single-node cluster.
type NoopTransport struct{}

// Send implements Transport.
func (NoopTransport) Send(string, []*raftpb.Message) {}

// Config describes one channel's chain.
type Config struct {
	ChannelID string
	// NodeID is this orderer's Raft id (its consenter id, 1-based).
	NodeID uint64
	// Voters are the consenter ids a brand-new chain starts with.
	Voters []uint64
	// NextConsenterID is written into every block's etcdraft.BlockMetadata.
	NextConsenterID uint64
	Batch           blockcutter.Config
	WALDir          string
	// TickInterval drives the chain's own ticker; 0 means the caller calls Tick.
	TickInterval  time.Duration
	ElectionTick  int // default 10
	HeartbeatTick int // default 1
	// SnapshotIntervalBlocks takes a Raft snapshot and compacts the log every
	// that many written blocks; 0 never does.
	SnapshotIntervalBlocks uint64
	Signer                 protos.Signer
	Logger                 *slog.Logger
}

type proposal struct {
	env  []byte
	done chan error
}

// Chain orders one channel. Create with New, then Start; stop with Halt.
type Chain struct {
	cfg       Config
	store     BlockStore
	transport Transport
	log       *slog.Logger

	proposeC chan proposal
	tickC    chan time.Time
	stepC    chan *raftpb.Message
	stopC    chan struct{}
	doneC    chan struct{} // closed when the loop has exited
	stopOnce sync.Once
	startMu  sync.Mutex
	started  bool

	mu     sync.Mutex // guards err, leader
	err    error
	leader uint64

	// Everything below is owned by the loop goroutine.
	wal        *wal.WAL
	storage    *raft.MemoryStorage
	rn         *raft.RawNode
	confState  *raftpb.ConfState
	applied    uint64
	snapIndex  uint64
	sinceSnap  uint64
	now        time.Time
	pending    []pendingEnv // committed envelopes not yet in a committed block
	waiters    map[uint64]chan error
	nextID     uint64
	isLeader   bool
	active     bool   // leader that applied every entry of earlier terms
	activeAt   uint64 // log index to apply before becoming active
	cutter     *blockcutter.Cutter
	uncut      []uint64        // log indexes of the envelopes inside cutter, in order
	lastMade   *cb.BlockHeader // header of the last block this leader created
	toPropose  [][]byte
	lastConfig uint64
	consenters []uint64
	nextBlock  uint64          // number of the next block to hand to the writer
	lastBlock  *cb.BlockHeader // header of the last committed block
	handed     uint64          // blocks handed to the writer
	seen       uint64          // of those, known written

	// The block writer signs and appends committed blocks in order, so that
	// the store's fsyncs do not hold up proposals. It reports through
	// written, writerErr and the writtenC signal.
	writeC     chan blockJob
	writtenC   chan struct{}
	writerDone chan struct{}
	written    atomic.Uint64
	writerErr  atomic.Pointer[error]
}

type blockJob struct {
	blk       *cb.Block
	raftIndex uint64
}

// New opens the chain's WAL and rebuilds its Raft state. The store must hold
// at least the genesis block.
func New(cfg Config, store BlockStore, tr Transport) (*Chain, error) {
	if cfg.NodeID == 0 {
		return nil, fmt.Errorf("channel %s: raft node id must be > 0", cfg.ChannelID)
	}
	if cfg.Signer == nil {
		return nil, fmt.Errorf("channel %s: no signer for blocks", cfg.ChannelID)
	}
	if store.Height() == 0 {
		return nil, fmt.Errorf("channel %s: block store has no genesis block", cfg.ChannelID)
	}
	if cfg.ElectionTick == 0 {
		cfg.ElectionTick = 10
	}
	if cfg.HeartbeatTick == 0 {
		cfg.HeartbeatTick = 1
	}
	if tr == nil {
		tr = NoopTransport{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cutter, err := blockcutter.New(cfg.Batch)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", cfg.ChannelID, err)
	}
	c := &Chain{
		cfg: cfg, store: store, transport: tr,
		log:      cfg.Logger.With("channel", cfg.ChannelID, "raft_id", cfg.NodeID),
		proposeC: make(chan proposal, 256),
		tickC:    make(chan time.Time),
		stepC:    make(chan *raftpb.Message, 256),
		stopC:    make(chan struct{}),
		doneC:    make(chan struct{}),
		storage:  raft.NewMemoryStorage(),
		waiters:  map[uint64]chan error{},
		nextID:   uint64(time.Now().UnixNano()),
		cutter:   cutter,
		now:      time.Now(),

		writeC:     make(chan blockJob, 16),
		writtenC:   make(chan struct{}, 1),
		writerDone: make(chan struct{}),
	}
	if err := c.loadStoreState(); err != nil {
		return nil, err
	}
	if err := c.openWAL(); err != nil {
		return nil, err
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              cfg.NodeID,
		ElectionTick:    cfg.ElectionTick,
		HeartbeatTick:   cfg.HeartbeatTick,
		Storage:         c.storage,
		Applied:         c.applied,
		MaxSizePerMsg:   4 << 20,
		MaxInflightMsgs: 256,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          quietLogger{},
	})
	if err != nil {
		c.wal.Close()
		return nil, fmt.Errorf("channel %s: start raft node: %w", cfg.ChannelID, err)
	}
	c.rn = rn
	return c, nil
}

// loadStoreState reads LastConfig and the consenter set from the last block.
func (c *Chain) loadStoreState() error {
	h := c.store.Height()
	last, err := c.store.Block(h - 1)
	if err != nil {
		return fmt.Errorf("channel %s: read block %d: %w", c.cfg.ChannelID, h-1, err)
	}
	obm, rmd, err := BlockMetadata(last)
	if err != nil {
		return fmt.Errorf("channel %s: %w", c.cfg.ChannelID, err)
	}
	c.lastConfig = obm.GetLastConfig().GetIndex()
	c.nextBlock, c.lastBlock = h, last.Header
	c.consenters = slices.Clone(c.cfg.Voters)
	if rmd != nil && len(rmd.ConsenterIds) > 0 {
		c.consenters = rmd.ConsenterIds
		if rmd.NextConsenterId > c.cfg.NextConsenterID {
			c.cfg.NextConsenterID = rmd.NextConsenterId
		}
	}
	return nil
}

func (c *Chain) openWAL() error {
	w, st, err := wal.Open(c.cfg.WALDir)
	if err != nil {
		return fmt.Errorf("channel %s: %w", c.cfg.ChannelID, err)
	}
	c.wal = w
	if st.TruncatedBytes > 0 {
		c.log.Warn("discarded torn WAL tail", "bytes", st.TruncatedBytes)
	}
	snap := st.Snapshot
	if st.Empty() {
		if len(c.cfg.Voters) == 0 {
			w.Close()
			return fmt.Errorf("channel %s: new chain needs its voter ids", c.cfg.ChannelID)
		}
		// A fresh log starts from a snapshot at index 1 holding the voters.
		snap = &raftpb.Snapshot{
			Data: encodeSnapshotData(nil),
			Metadata: &raftpb.SnapshotMetadata{
				Index: proto.Uint64(1), Term: proto.Uint64(1),
				ConfState: &raftpb.ConfState{Voters: slices.Clone(c.cfg.Voters)},
			},
		}
		if err := w.Save(snap, nil, nil); err != nil {
			w.Close()
			return fmt.Errorf("channel %s: %w", c.cfg.ChannelID, err)
		}
	}
	if snap == nil {
		w.Close()
		return fmt.Errorf("channel %s: WAL in %s has entries but no initial snapshot", c.cfg.ChannelID, c.cfg.WALDir)
	}
	if err := c.storage.ApplySnapshot(snap); err != nil {
		w.Close()
		return fmt.Errorf("channel %s: apply WAL snapshot: %w", c.cfg.ChannelID, err)
	}
	pending, err := decodeSnapshotData(snap.GetData())
	if err != nil {
		w.Close()
		return fmt.Errorf("channel %s: snapshot at index %d: %w", c.cfg.ChannelID, snap.GetMetadata().GetIndex(), err)
	}
	c.pending = pending
	c.confState = snap.GetMetadata().GetConfState()
	c.applied = snap.GetMetadata().GetIndex()
	c.snapIndex = c.applied
	if st.HardState != nil {
		if err := c.storage.SetHardState(st.HardState); err != nil {
			w.Close()
			return err
		}
	}
	if err := c.storage.Append(st.Entries); err != nil {
		w.Close()
		return fmt.Errorf("channel %s: load WAL entries: %w", c.cfg.ChannelID, err)
	}
	return nil
}

// Start runs the chain loop (and its ticker when TickInterval > 0).
func (c *Chain) Start() {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if c.started {
		return
	}
	c.started = true
	if len(c.confState.GetVoters()) == 1 && c.confState.GetVoters()[0] == c.cfg.NodeID {
		// Alone in the cluster: no need to wait for an election timeout.
		if err := c.rn.Campaign(); err != nil {
			c.log.Warn("campaign failed", "error", err)
		}
	}
	go c.writeBlocks()
	go c.loop()
	if c.cfg.TickInterval > 0 {
		go c.runTicker()
	}
}

func (c *Chain) runTicker() {
	t := time.NewTicker(c.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			c.Tick(now)
		case <-c.doneC:
			return
		}
	}
}

// Tick advances the chain's clock: one Raft tick, and the batch timeout is
// checked against now. It returns once the loop took it, or when halted.
func (c *Chain) Tick(now time.Time) {
	select {
	case c.tickC <- now:
	case <-c.doneC:
	}
}

// Step hands a Raft message received from another consenter to the chain.
func (c *Chain) Step(ctx context.Context, m *raftpb.Message) error {
	select {
	case c.stepC <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.doneC:
		return ErrHalted
	}
}

// Order proposes env and returns nil once it is committed to the Raft log.
func (c *Chain) Order(ctx context.Context, env []byte) error {
	wait, err := c.Submit(ctx, env)
	if err != nil {
		return err
	}
	select {
	case err := <-wait:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.doneC:
		// The loop may have stopped with env still queued.
		select {
		case err := <-wait:
			return err
		default:
			return c.haltErr()
		}
	}
}

// Submit queues env for proposal — envelopes are proposed in the order of
// Submit calls — and returns a channel that receives nil once env is
// committed to the Raft log, or the reason it was not. Callers also watch
// Done: a chain that stops may leave the channel unanswered.
func (c *Chain) Submit(ctx context.Context, env []byte) (<-chan error, error) {
	select {
	case <-c.doneC:
		return nil, c.haltErr()
	default:
	}
	if len(env) > int(c.cfg.Batch.AbsoluteMaxBytes) {
		return nil, fmt.Errorf("%w: envelope of %d bytes, channel %s allows %d (Orderer.BatchSize.AbsoluteMaxBytes)",
			ErrMessageTooLarge, len(env), c.cfg.ChannelID, c.cfg.Batch.AbsoluteMaxBytes)
	}
	p := proposal{env: env, done: make(chan error, 1)}
	select {
	case c.proposeC <- p:
		return p.done, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.doneC:
		return nil, c.haltErr()
	}
}

// Leader returns the Raft id of the current leader (0 when unknown).
func (c *Chain) Leader() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

// Done is closed once the chain stopped (Halt, or a fatal error).
func (c *Chain) Done() <-chan struct{} { return c.doneC }

// Err returns why the chain stopped on its own (nil while running or after Halt).
func (c *Chain) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Chain) haltErr() error {
	if err := c.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrHalted, err)
	}
	return ErrHalted
}

// Halt stops the loop and the ticker, fails waiting Order calls and closes the WAL.
func (c *Chain) Halt() {
	c.stopOnce.Do(func() { close(c.stopC) })
	c.startMu.Lock()
	started := c.started
	c.started = true // a later Start must not run a halted chain
	c.startMu.Unlock()
	if !started {
		c.wal.Close()
		close(c.doneC)
		return
	}
	<-c.doneC
}

func (c *Chain) loop() {
	defer close(c.doneC)
	defer c.wal.Close()
	defer c.stopWriter()
	defer c.failWaiters(ErrHalted)
	if err := c.processReady(); err != nil {
		c.fail(err)
		return
	}
	// With its own ticker the chain also owns a batch timer, so that a block
	// is cut BatchTimeout after its first envelope and not at the next tick.
	var batchTimer *time.Timer
	var batchC <-chan time.Time
	var armedFor time.Time
	defer func() {
		if batchTimer != nil {
			batchTimer.Stop()
		}
	}()
	for {
		if c.ownClock() {
			if d, ok := c.cutter.Deadline(); ok && c.active {
				if !d.Equal(armedFor) {
					armedFor = d
					if batchTimer == nil {
						batchTimer = time.NewTimer(time.Until(d))
					} else {
						batchTimer.Reset(time.Until(d))
					}
					batchC = batchTimer.C
				}
			} else if batchC != nil {
				batchTimer.Stop()
				batchC, armedFor = nil, time.Time{}
			}
		}
		select {
		case <-c.stopC:
			return
		case <-c.writtenC:
			if err := c.blocksWritten(); err != nil {
				c.fail(err)
				return
			}
		case now := <-batchC:
			batchC, armedFor = nil, time.Time{}
			c.now = now
			if c.active {
				if b := c.cutter.Tick(now); b != nil {
					c.makeBlock(b)
				}
			}
		case p := <-c.proposeC:
			c.propose(p)
			c.drainProposals()
		case now := <-c.tickC:
			c.now = now
			c.rn.Tick()
			if c.active {
				if b := c.cutter.Tick(now); b != nil {
					c.makeBlock(b)
				}
			}
		case m := <-c.stepC:
			if err := c.rn.Step(m); err != nil {
				c.log.Debug("drop raft message", "from", m.GetFrom(), "error", err)
			}
		}
		if err := c.processReady(); err != nil {
			c.fail(err)
			return
		}
	}
}

// ownClock reports whether the chain reads the wall clock itself (it runs its
// own ticker); otherwise time only enters through Tick.
func (c *Chain) ownClock() bool { return c.cfg.TickInterval > 0 }

// clock is the time an envelope reaches the cutter.
func (c *Chain) clock() time.Time {
	if c.ownClock() {
		c.now = time.Now()
	}
	return c.now
}

func (c *Chain) fail(err error) {
	c.log.Error("chain halted", "error", err)
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

func (c *Chain) failWaiters(err error) {
	for id, w := range c.waiters {
		w <- err
		delete(c.waiters, id)
	}
}

// drainProposals proposes what is already queued (up to a channel's worth),
// so that it shares the next Ready and its fsync.
func (c *Chain) drainProposals() {
	for range cap(c.proposeC) {
		select {
		case p := <-c.proposeC:
			c.propose(p)
		default:
			return
		}
	}
}

func (c *Chain) propose(p proposal) {
	if !c.isLeader {
		p.done <- ErrNotLeader
		return
	}
	c.nextID++
	id := c.nextID
	if err := c.rn.Propose(encodeEnvelope(id, p.env)); err != nil {
		p.done <- fmt.Errorf("%w: %v", ErrNotLeader, err)
		return
	}
	c.waiters[id] = p.done
}

// processReady runs Ready → save → send → apply → Advance until raft is idle,
// then proposes the blocks cut while applying.
func (c *Chain) processReady() error {
	for {
		// Envelopes that arrived while the last Ready was saved ride along
		// with a block proposal and its fsync. (Only then: draining on every
		// round would keep the loop from ticks and timers under load.)
		if c.proposeBlocks() && c.isLeader {
			c.drainProposals()
		}
		if !c.rn.HasReady() {
			return nil
		}
		rd := c.rn.Ready()
		// Entries and vote/term changes are fsynced; a Ready that only moves
		// the commit index is written without waiting for the disk.
		if err := c.wal.Write(rd.Snapshot, rd.Entries, rd.HardState, rd.MustSync); err != nil {
			return err
		}
		if !raft.IsEmptySnap(rd.Snapshot) {
			// Only a leader sends snapshots; installing one needs the blocks
			// it covers, which a later issue pulls from other orderers.
			return fmt.Errorf("received raft snapshot at index %d: catching up from snapshots is not supported yet", rd.Snapshot.GetMetadata().GetIndex())
		}
		if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
			if err := c.storage.SetHardState(rd.HardState); err != nil {
				return err
			}
		}
		if err := c.storage.Append(rd.Entries); err != nil {
			return err
		}
		if len(rd.Messages) > 0 {
			c.transport.Send(c.cfg.ChannelID, rd.Messages)
		}
		if err := c.apply(rd.CommittedEntries); err != nil {
			return err
		}
		c.rn.Advance(rd)
		c.updateRole()
	}
}

// proposeBlocks proposes the blocks cut since the last call and reports
// whether there were any.
func (c *Chain) proposeBlocks() bool {
	proposed := len(c.toPropose) > 0
	for len(c.toPropose) > 0 {
		data := c.toPropose[0]
		c.toPropose = c.toPropose[1:]
		if err := c.rn.Propose(data); err != nil {
			// Lost leadership: the envelopes stay pending and the next
			// leader cuts them.
			c.log.Warn("block proposal dropped", "error", err)
			c.toPropose = nil
		}
	}
	return proposed
}

func (c *Chain) updateRole() {
	st := c.rn.BasicStatus()
	c.mu.Lock()
	c.leader = st.Lead
	c.mu.Unlock()
	leader := st.RaftState == raft.StateLeader
	if leader != c.isLeader {
		c.isLeader = leader
		c.active = false
		c.toPropose = nil
		if leader {
			last, _ := c.storage.LastIndex()
			c.activeAt = last
			c.log.Info("became raft leader", "term", st.GetTerm())
		} else {
			c.failWaiters(ErrNotLeader)
			c.log.Info("lost raft leadership", "leader", st.Lead)
		}
	}
	if c.isLeader && !c.active && c.applied >= c.activeAt {
		c.activate()
	}
}

// activate starts cutting: the cutter is refilled with every envelope that
// no committed block holds, and blocks chain onto the last written one.
func (c *Chain) activate() {
	c.active = true
	cutter, _ := blockcutter.New(c.cfg.Batch)
	c.cutter = cutter
	c.uncut = nil
	c.lastMade = c.lastBlock
	for _, p := range c.pending {
		c.cut(p)
	}
}

func (c *Chain) cut(p pendingEnv) {
	c.uncut = append(c.uncut, p.index)
	batches, err := c.cutter.Add(c.clock(), p.env)
	if err != nil {
		// Committed but above the limit (the limit changed): give it its own block.
		batches = []blockcutter.Batch{c.cutter.Cut(), {p.env}}
	}
	for _, b := range batches {
		if len(b) > 0 {
			c.makeBlock(b)
		}
	}
}

func (c *Chain) makeBlock(batch blockcutter.Batch) {
	blk := protos.NewBlock(c.lastMade.Number+1, protos.BlockHeaderHash(c.lastMade), batch)
	lastEnv := c.uncut[len(batch)-1]
	c.uncut = c.uncut[len(batch):]
	c.lastMade = blk.Header
	c.toPropose = append(c.toPropose, encodeBlockRef(lastEnv, blk.Header))
}

func (c *Chain) apply(entries []*raftpb.Entry) error {
	for _, e := range entries {
		if e.GetIndex() <= c.applied {
			continue
		}
		switch e.GetType() {
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if err := proto.Unmarshal(e.Data, &cc); err != nil {
				return fmt.Errorf("decode conf change at index %d: %w", e.GetIndex(), err)
			}
			c.confState = c.rn.ApplyConfChange(&cc)
		case raftpb.EntryConfChangeV2:
			var cc raftpb.ConfChangeV2
			if err := proto.Unmarshal(e.Data, &cc); err != nil {
				return fmt.Errorf("decode conf change at index %d: %w", e.GetIndex(), err)
			}
			c.confState = c.rn.ApplyConfChange(&cc)
		case raftpb.EntryNormal:
			if len(e.Data) > 0 {
				if err := c.applyNormal(e); err != nil {
					return err
				}
			}
		}
		c.applied = e.GetIndex()
	}
	return nil
}

func (c *Chain) applyNormal(e *raftpb.Entry) error {
	kind, n, body, err := decodeEntry(e.Data)
	if err != nil {
		return fmt.Errorf("raft entry %d: %w", e.GetIndex(), err)
	}
	switch kind {
	case kindEnvelope:
		p := pendingEnv{index: e.GetIndex(), env: body}
		c.pending = append(c.pending, p)
		if c.active {
			c.cut(p)
		}
		if w, ok := c.waiters[n]; ok {
			w <- nil
			delete(c.waiters, n)
		}
	case kindBlock, kindBlockRef:
		i := 0
		for i < len(c.pending) && c.pending[i].index <= n {
			i++
		}
		covered := c.pending[:i]
		c.pending = c.pending[i:]
		blk, err := blockOfEntry(kind, body, covered)
		if err != nil {
			return fmt.Errorf("raft entry %d: %w", e.GetIndex(), err)
		}
		return c.handBlock(blk, e.GetIndex())
	}
	return nil
}

// blockOfEntry returns the block a block entry commits: decoded whole
// (kindBlock), or rebuilt from its header and the envelopes it covers.
func blockOfEntry(kind byte, body []byte, covered []pendingEnv) (*cb.Block, error) {
	if kind == kindBlock {
		blk := &cb.Block{}
		if err := proto.Unmarshal(body, blk); err != nil {
			return nil, fmt.Errorf("decode block: %w", err)
		}
		return blk, nil
	}
	hdr := &cb.BlockHeader{}
	if err := proto.Unmarshal(body, hdr); err != nil {
		return nil, fmt.Errorf("decode block header: %w", err)
	}
	envs := make([][]byte, len(covered))
	for i, p := range covered {
		envs[i] = p.env
	}
	blk := protos.NewBlock(hdr.Number, hdr.PreviousHash, envs)
	if !bytes.Equal(blk.Header.DataHash, hdr.DataHash) {
		return nil, fmt.Errorf("block %d: the %d committed envelopes it covers do not match its data hash; this node's log diverged from the leader's", hdr.Number, len(envs))
	}
	return blk, nil
}

// quietLogger sends raft's own logging to nowhere except warnings and errors.
type quietLogger struct{}

func (quietLogger) Debug(...any)                {}
func (quietLogger) Debugf(string, ...any)       {}
func (quietLogger) Info(...any)                 {}
func (quietLogger) Infof(string, ...any)        {}
func (quietLogger) Warning(v ...any)            { slog.Warn(fmt.Sprint(v...)) }
func (quietLogger) Warningf(f string, v ...any) { slog.Warn(fmt.Sprintf(f, v...)) }
func (quietLogger) Error(v ...any)              { slog.Error(fmt.Sprint(v...)) }
func (quietLogger) Errorf(f string, v ...any)   { slog.Error(fmt.Sprintf(f, v...)) }
func (quietLogger) Fatal(v ...any)              { panic(fmt.Sprint(v...)) }
func (quietLogger) Fatalf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
func (quietLogger) Panic(v ...any)              { panic(fmt.Sprint(v...)) }
func (quietLogger) Panicf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
