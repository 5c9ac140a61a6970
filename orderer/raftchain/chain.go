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

	"github.com/weft-ledger/weft/internal/rpcrecover"
	"github.com/weft-ledger/weft/orderer/blockcutter"
	"github.com/weft-ledger/weft/orderer/wal"
	"github.com/weft-ledger/weft/protos"
)

// Sentinel errors Order callers map to a broadcast status.
var (
	// ErrNotLeader: this node lost the Raft leadership (or is handing it
	// over) while the envelope waited; it may or may not be ordered.
	ErrNotLeader = errors.New("raftchain: this orderer is not the Raft leader of the channel")
	// ErrNoLeader: no Raft leader is known (election under way, or this node
	// is cut off from a quorum); retry later or at another orderer.
	ErrNoLeader = errors.New("raftchain: no Raft leader is known for the channel")
	// ErrSubmitTimeout: the envelope was not committed within
	// Config.SubmitTimeout (its proposal was lost with a leader change or a
	// partition); it may or may not be ordered.
	ErrSubmitTimeout = errors.New("raftchain: envelope not committed to the Raft log in time")
	// ErrStaleConfig: a CONFIG envelope reached the Raft log after another
	// config change; its sequence no longer follows the channel's. Every node
	// drops it the same way; compute the update again on the new config.
	ErrStaleConfig = errors.New("raftchain: config update was computed on an older channel config")
	// ErrEvicted: a config block removed this orderer from the channel's
	// consenters; the chain stopped serving.
	ErrEvicted = errors.New("raftchain: this orderer was removed from the channel's consenters")
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
	// NextConsenterID is written into every block's etcdraft.BlockMetadata
	// until a block's metadata or a consenter addition moves it.
	NextConsenterID uint64
	Batch           blockcutter.Config
	WALDir          string
	// WALSegmentSize is the size past which the WAL starts a new segment
	// (default wal.DefaultSegmentSize); segments a snapshot covers are
	// removed once it is saved.
	WALSegmentSize int64
	// TickInterval drives the chain's own ticker; 0 means the caller calls Tick.
	TickInterval  time.Duration
	ElectionTick  int // default 10
	HeartbeatTick int // default 1
	// SnapshotIntervalBlocks takes a Raft snapshot and compacts the log every
	// that many written blocks; 0 never does.
	SnapshotIntervalBlocks uint64
	// SnapshotIntervalBytes takes a Raft snapshot once that many bytes of
	// envelopes were written in blocks since the last one (the channel's
	// etcdraft Options.SnapshotIntervalSize); 0 never does.
	SnapshotIntervalBytes uint64
	// MaxInflightMsgs bounds the append messages in flight to one follower
	// (the channel's etcdraft Options.MaxInflightBlocks); default 256.
	MaxInflightMsgs int
	Signer          protos.Signer
	Logger          *slog.Logger

	// Puller fetches blocks from other orderers: to catch up from a Raft
	// snapshot beyond this node's blocks, and, when no leader is heard of for
	// three election timeouts, to catch up and notice an eviction that
	// happened while this node was down. nil: neither (a snapshot beyond the
	// store halts the chain).
	Puller Puller
	// SubmitTimeout answers a waiting envelope ErrSubmitTimeout when it is
	// not committed in time. Default: three election timeouts
	// (3 × ElectionTick × TickInterval). It is counted in ticks; a chain
	// ticked by its caller (TickInterval 0) uses 3 × ElectionTick ticks.
	SubmitTimeout time.Duration
	// Reachable returns the consenter ids the transport reaches now; a
	// follower's ValidateConsenters uses it. nil: unknown.
	Reachable func() []uint64
	// ObservePersist, when set, is told how long each write of Raft state
	// to the WAL took (consensus_etcdraft_data_persist_duration).
	ObservePersist func(elapsed time.Duration)
	// OnBlockWritten is called by the block writer after each block is
	// appended to the store, in order (also for pulled blocks).
	OnBlockWritten func(*cb.Block)
	// Order, when set, chooses the order of the envelopes of each block this
	// node cuts as leader (orderer/reorder.Order): the same envelopes, or
	// envs itself to keep their order. A reordered block goes through Raft
	// whole, so followers take it as the leader made it, whatever their
	// own setting.
	Order func(envs [][]byte) [][]byte
	// HoldBatches makes the leader cut a block only when the batch is full
	// (MaxMessageCount, PreferredMaxBytes) or BatchTimeout passed since its
	// first envelope, as Fabric does. By default the leader also cuts
	// whatever it holds as soon as no block it cut is waiting to be
	// committed or written, so a lone envelope is not held for BatchTimeout.
	HoldBatches bool
}

type proposal struct {
	env []byte
	// entry, when not nil, is the envelope's whole entry data with room
	// for its prefix (SubmitFramed): env is entry[EntryPrefix:].
	entry []byte
	done  chan error
}

// Chain orders one channel. Create with New, then Start; stop with Halt.
//
// Chain runs the loop and does the I/O: Raft (rn, storage), the WAL, the
// transport, the block store through its writer goroutine, pulls, timers.
// What it decides on the way (pending envelopes, cutting, answers to
// waiting Order calls, membership and eviction) is bk's.
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
	queryC   chan func()
	stopOnce sync.Once
	startMu  sync.Mutex
	started  bool
	ctx      context.Context // cancelled by Halt: ends a pull
	cancel   context.CancelFunc

	mu     sync.Mutex // guards err, status
	err    error
	status Status

	// maxBytes is the batch's AbsoluteMaxBytes, read by Submit outside the
	// loop; a config block may change it.
	maxBytes atomic.Uint32

	// Everything below is owned by the loop goroutine.
	bk        *bookkeeper
	replies   map[uint64]chan error // proposal id → its Order call, until bk answers it
	wal       *wal.WAL
	storage   *raft.MemoryStorage
	rn        *raft.RawNode
	applied   uint64
	snaps     snapshotSchedule
	now       time.Time
	startSnap snapData
	// writer signs and appends committed blocks beside the loop, so that the
	// store's fsyncs do not hold up proposals.
	writer *blockWriter
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
	if cfg.MaxInflightMsgs <= 0 {
		cfg.MaxInflightMsgs = 256
	}
	if tr == nil {
		tr = NoopTransport{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	submitTicks := uint64(3 * cfg.ElectionTick)
	if cfg.TickInterval > 0 {
		if cfg.SubmitTimeout <= 0 {
			cfg.SubmitTimeout = 3 * time.Duration(cfg.ElectionTick) * cfg.TickInterval
		}
		submitTicks = uint64((cfg.SubmitTimeout + cfg.TickInterval - 1) / cfg.TickInterval)
	}
	if err := cfg.Batch.Validate(); err != nil {
		return nil, fmt.Errorf("channel %s: %w", cfg.ChannelID, err)
	}
	c := &Chain{
		cfg: cfg, store: store, transport: tr,
		log:      cfg.Logger.With("channel", cfg.ChannelID, "raft_id", cfg.NodeID),
		proposeC: make(chan proposal, 256),
		tickC:    make(chan time.Time),
		stepC:    make(chan *raftpb.Message, 256),
		stopC:    make(chan struct{}),
		queryC:   make(chan func()),
		doneC:    make(chan struct{}),
		storage:  raft.NewMemoryStorage(),
		replies:  map[uint64]chan error{},
		snaps:    snapshotSchedule{everyBlocks: cfg.SnapshotIntervalBlocks, everyBytes: cfg.SnapshotIntervalBytes},
		now:      time.Now(),
	}
	c.writer = newBlockWriter(store, cfg.Signer, c.log, cfg.OnBlockWritten)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.maxBytes.Store(cfg.Batch.AbsoluteMaxBytes)
	if err := c.loadStoreState(submitTicks); err != nil {
		return nil, err
	}
	if err := c.openWAL(); err != nil {
		return nil, err
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                cfg.NodeID,
		ElectionTick:      cfg.ElectionTick,
		HeartbeatTick:     cfg.HeartbeatTick,
		Storage:           c.storage,
		Applied:           c.applied,
		MaxSizePerMsg:     4 << 20,
		MaxInflightMsgs:   cfg.MaxInflightMsgs,
		CheckQuorum:       true,
		PreVote:           true,
		StepDownOnRemoval: true,
		Logger:            quietLogger{},
	})
	if err != nil {
		c.wal.Close()
		return nil, fmt.Errorf("channel %s: start raft node: %w", cfg.ChannelID, err)
	}
	c.rn = rn
	return c, nil
}

// loadStoreState reads LastConfig and the consenter set from the last block
// and the last config block, and starts the bookkeeper from them.
func (c *Chain) loadStoreState(submitTicks uint64) error {
	h := c.store.Height()
	last, err := c.store.Block(h - 1)
	if err != nil {
		return fmt.Errorf("channel %s: read block %d: %w", c.cfg.ChannelID, h-1, err)
	}
	obm, rmd, err := BlockMetadata(last)
	if err != nil {
		return fmt.Errorf("channel %s: %w", c.cfg.ChannelID, err)
	}
	lastConfig := obm.GetLastConfig().GetIndex()
	m := membership{ids: slices.Clone(c.cfg.Voters), next: c.cfg.NextConsenterID}
	if rmd != nil && len(rmd.ConsenterIds) > 0 {
		m.ids = rmd.ConsenterIds
		m.next = max(m.next, rmd.NextConsenterId)
	}
	if m.next == 0 && len(m.ids) > 0 {
		m.next = slices.Max(m.ids) + 1
	}
	if cfgBlock, err := c.store.Block(lastConfig); err != nil {
		c.log.Warn("cannot read the last config block; consenter changes will be refused", "block", lastConfig, "error", err)
	} else if set, err := ConsentersOfConfigBlock(cfgBlock); err != nil || len(set) != len(m.ids) {
		c.log.Debug("no consenter set in the last config block", "block", lastConfig, "error", err, "consenters", len(set), "ids", len(m.ids))
	} else {
		m.set = set
	}
	cfg := c.cfg
	cfg.Logger = c.log
	// The clock seeds proposal ids, so a restarted node does not reuse the
	// ids of entries it may still replay.
	firstID := uint64(time.Now().UnixMicro())
	c.bk, err = newBookkeeper(cfg, firstID, submitTicks, last.Header, lastConfig, m)
	return err
}

func (c *Chain) openWAL() error {
	w, st, err := wal.OpenWithOptions(c.cfg.WALDir, wal.Options{SegmentSize: c.cfg.WALSegmentSize})
	if err != nil {
		return fmt.Errorf("channel %s: %w", c.cfg.ChannelID, err)
	}
	c.wal = w
	if st.TruncatedBytes > 0 {
		c.log.Warn("discarded torn WAL tail", "bytes", st.TruncatedBytes, "file", st.TornFile, "offset", st.TornOffset)
	}
	if st.Migrated {
		c.log.Info("adopted the single-file WAL of an earlier version as the first segment", "dir", c.cfg.WALDir)
	}
	snap := st.Snapshot
	if st.Empty() {
		if len(c.cfg.Voters) == 0 {
			w.Close()
			return fmt.Errorf("channel %s: new chain needs its voter ids", c.cfg.ChannelID)
		}
		// A fresh log starts from a snapshot at index 1 holding the voters.
		// It stands for the genesis block on every node, also on one that
		// joins later with more blocks in its store (onboarding): the log it
		// replays from index 2 starts from there.
		genesis, err := c.store.Block(0)
		if err != nil {
			w.Close()
			return fmt.Errorf("channel %s: read genesis block: %w", c.cfg.ChannelID, err)
		}
		snap = &raftpb.Snapshot{
			Data: encodeSnapshotData(snapData{lastBlock: 0, blockHash: protos.BlockHeaderHash(genesis.GetHeader())}),
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
	sd, err := decodeSnapshotData(snap.GetData())
	if err != nil {
		w.Close()
		return fmt.Errorf("channel %s: snapshot at index %d: %w", c.cfg.ChannelID, snap.GetMetadata().GetIndex(), err)
	}
	c.startSnap = sd
	c.setSnapshotBlock(sd.lastBlock)
	c.bk.restore(sd, snap.GetMetadata().GetConfState())
	if !st.Empty() {
		c.bk.resumedFromWAL()
	}
	c.applied = snap.GetMetadata().GetIndex()
	c.snaps.taken(c.applied)
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
	if v := c.bk.voters(); len(v) == 1 && v[0] == c.cfg.NodeID {
		// Alone in the cluster: no need to wait for an election timeout.
		if err := c.rn.Campaign(); err != nil {
			c.log.Warn("campaign failed", "error", err)
		}
	}
	go c.writer.run()
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

// Leader returns the Raft id of the current leader (0 when unknown).
func (c *Chain) Leader() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.Leader
}

// Done is closed once the chain stopped (Halt, or a fatal error).
func (c *Chain) Done() <-chan struct{} { return c.doneC }

// Err returns why the chain stopped on its own: a failure, or an error
// wrapping ErrEvicted (nil while running or after Halt).
func (c *Chain) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Chain) haltErr() error {
	if err := c.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrHalted, err)
	}
	return ErrHalted
}

// Evicted reports whether the chain stopped because a config block removed
// this orderer from the consenters (Err then wraps ErrEvicted).
func (c *Chain) Evicted() bool { return errors.Is(c.Err(), ErrEvicted) }

// Halt stops the loop and the ticker, fails waiting Order calls and closes the WAL.
func (c *Chain) Halt() {
	c.stopOnce.Do(func() { close(c.stopC); c.cancel() })
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
	defer func() { c.failWaiters(c.haltErr()) }()
	defer c.setStopped()
	if err := c.catchUpStore(); err != nil {
		c.fail(err)
		return
	}
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
			if d, ok := c.bk.batchDeadline(); ok {
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
		case <-c.writer.signal:
			if err := c.blocksWritten(); err != nil {
				c.fail(err)
				return
			}
		case now := <-batchC:
			batchC, armedFor = nil, time.Time{}
			c.now = now
			c.bk.batchTimeout(now)
		case p := <-c.proposeC:
			c.drainProposals(p)
		case now := <-c.tickC:
			c.tick(now)
		case m := <-c.stepC:
			c.bk.heardFrom(m.GetFrom())
			if err := c.step(m); err != nil {
				c.fail(err)
				return
			}
		case f := <-c.queryC:
			f()
		}
		if err := c.processReady(); err != nil {
			if !c.stopping() {
				c.fail(err)
			}
			return
		}
		if err := c.bk.evicted(); err != nil {
			c.log.Warn("evicted from the channel; the chain stops", "config_block", c.bk.lastConfig, "consenters", c.bk.members.ids)
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
	}
}

// step hands a message from another consenter to Raft. A message Raft
// refuses is dropped. The Raft library panics on a message that contradicts
// this node's log (a commit index beyond its last entry, an append that
// conflicts with committed entries), which only a faulty or malicious
// consenter sends, or a leader that knew this node before its log was lost:
// that panic stops this channel's chain with the returned error, naming the
// sender, instead of the orderer process and all its channels. Nothing of
// the message has reached the WAL then.
func (c *Chain) step(m *raftpb.Message) (fatal error) {
	defer func() {
		if r := recover(); r != nil {
			what := fmt.Sprintf("stepping a raft %s from consenter %d", m.GetType(), m.GetFrom())
			fatal = fmt.Errorf("channel %s: a raft %s from consenter %d (term %d) contradicts this node's raft log; the chain stops, the orderer's other channels go on: %w",
				c.cfg.ChannelID, m.GetType(), m.GetFrom(), m.GetTerm(), rpcrecover.Recovered(c.log, what, r))
		}
	}()
	if m.GetType() == raftpb.MessageType_MsgProp && len(m.GetEntries()) == 0 {
		// Raft panics on an empty proposal; it proposes nothing.
		c.log.Debug("drop raft message", "from", m.GetFrom(), "error", "empty MsgProp")
		return nil
	}
	if err := c.rn.Step(m); err != nil {
		c.log.Debug("drop raft message", "from", m.GetFrom(), "error", err)
	}
	return nil
}

// tick advances Raft's clock and the bookkeeper's (which answers envelopes
// that waited too long and cuts a timed-out batch) and, with no leader for
// three election timeouts, catches up from other orderers.
func (c *Chain) tick(now time.Time) {
	c.now = now
	c.rn.Tick()
	c.countActive()
	if c.bk.tick(now) && c.cfg.Puller != nil {
		c.catchUpLeaderless()
		c.bk.afterLeaderlessCatchUp()
	}
}

// catchUpStore runs at start: a Raft snapshot in the WAL may cover blocks
// the store lacks (the node stopped before it had written them).
func (c *Chain) catchUpStore() error {
	d := c.startSnap
	if d.version < snapshotV2 || d.lastBlock < c.bk.nextBlock() {
		return nil
	}
	if c.cfg.Puller == nil {
		return fmt.Errorf("channel %s: the raft snapshot in the WAL covers block %d but the block store ends at block %d, and there is no puller to fetch the rest", c.cfg.ChannelID, d.lastBlock, c.bk.nextBlock()-1)
	}
	ctx, cancel := context.WithTimeout(c.ctx, pullTimeout)
	defer cancel()
	if err := c.pullBlocks(ctx, d.lastBlock); err != nil {
		return err
	}
	if !bytes.Equal(protos.BlockHeaderHash(c.bk.lastBlock), d.blockHash) {
		return fmt.Errorf("channel %s: block %d pulled from other orderers does not match the raft snapshot in the WAL", c.cfg.ChannelID, d.lastBlock)
	}
	return nil
}

// ownClock reports whether the chain reads the wall clock itself (it runs its
// own ticker); otherwise time only enters through Tick.
func (c *Chain) ownClock() bool { return c.cfg.TickInterval > 0 }

// clock is the time an envelope reaches the cutter.
func (c *Chain) clock() time.Time {
	if c.ownClock() {
		return time.Now()
	}
	return c.now
}

// stopping reports whether Halt was called (a pull it cut short is no failure).
func (c *Chain) stopping() bool {
	select {
	case <-c.stopC:
		return true
	default:
		return false
	}
}

func (c *Chain) fail(err error) {
	c.log.Error("chain halted", "error", err)
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// failWaiters answers every waiting Order call with err: the loop stops.
func (c *Chain) failWaiters(err error) {
	for id, w := range c.replies {
		w <- err
		delete(c.replies, id)
	}
}

// answerWaiters delivers the answers the bookkeeper decided.
func (c *Chain) answerWaiters() {
	for _, a := range c.bk.takeAnswers() {
		if w, ok := c.replies[a.id]; ok {
			w <- a.err
			delete(c.replies, a.id)
		}
	}
}

// processReady runs Ready → save → send → apply → Advance until raft is idle,
// then proposes the blocks cut while applying. Each round ends by delivering
// the answers it decided, before the next round's fsync.
func (c *Chain) processReady() error {
	defer c.answerWaiters() // also those of the event before (a tick)
	for {
		// The last round's committed entries are all applied: cut what they
		// brought if no block is on its way.
		c.bk.cutWhenIdle(c.clock(), c.writer.caughtUp())
		// Envelopes that arrived while the last Ready was saved ride along
		// with a block proposal and its fsync. (Only then: draining on every
		// round would keep the loop from ticks and timers under load.)
		if c.proposeBlocks() && c.bk.isLeader {
			c.drainProposals()
		}
		c.reconcileVoters()
		if !c.rn.HasReady() {
			return nil
		}
		rd := c.rn.Ready()
		var snap *snapData
		if !raft.IsEmptySnap(rd.Snapshot) {
			// A leader sent a snapshot: first get the blocks it covers.
			d, err := c.installSnapshot(rd.Snapshot)
			if err != nil {
				return err
			}
			snap = &d
		}
		// A leader whose term and vote stay as they are on disk sends its
		// appends before its own fsync, so that its disk and the followers'
		// work at once (Raft thesis 10.2.1): an entry still counts as
		// committed only once a majority, which may include the leader only
		// after this write, has it on disk. Any other node sends after
		// persisting, as a vote or an acknowledgement must follow the disk.
		sentEarly := c.bk.isLeader && rd.SoftState == nil && len(rd.Messages) > 0 && c.sameTermAndVote(rd.HardState)
		if sentEarly {
			c.transport.Send(c.cfg.ChannelID, rd.Messages)
		}
		// Entries and vote/term changes are fsynced; a Ready that only moves
		// the commit index is written without waiting for the disk.
		persistStart := time.Now()
		if err := c.wal.Write(rd.Snapshot, rd.Entries, rd.HardState, rd.MustSync); err != nil {
			return err
		}
		if c.cfg.ObservePersist != nil {
			c.cfg.ObservePersist(time.Since(persistStart))
		}
		if snap != nil {
			if err := c.applySnapshot(rd.Snapshot, *snap); err != nil {
				return err
			}
		}
		if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
			if err := c.storage.SetHardState(rd.HardState); err != nil {
				return err
			}
		}
		if err := c.storage.Append(rd.Entries); err != nil {
			return err
		}
		if len(rd.Messages) > 0 && !sentEarly {
			c.transport.Send(c.cfg.ChannelID, rd.Messages)
		}
		if err := c.apply(rd.CommittedEntries); err != nil {
			return err
		}
		c.rn.Advance(rd)
		// The transport gives no delivery report: a snapshot counts as sent,
		// and if it was lost the follower's rejection brings another one.
		for _, m := range rd.Messages {
			if m.GetType() == raftpb.MessageType_MsgSnap {
				c.rn.ReportSnapshot(m.GetTo(), raft.SnapshotFinish)
			}
		}
		c.updateRole()
		c.answerWaiters()
	}
}

// sameTermAndVote reports whether hs (a Ready's hard state, possibly empty)
// keeps the term and vote already in storage, so that only the commit index
// may change.
func (c *Chain) sameTermAndVote(hs *raftpb.HardState) bool {
	if hs == nil || raft.IsEmptyHardState(hs) {
		return true
	}
	cur, _, err := c.storage.InitialState()
	return err == nil && cur.GetTerm() == hs.GetTerm() && cur.GetVote() == hs.GetVote()
}

// applySnapshot installs a snapshot received from the leader, once its
// blocks are in the store (installSnapshot).
func (c *Chain) applySnapshot(snap *raftpb.Snapshot, d snapData) error {
	if err := c.storage.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("apply raft snapshot at index %d: %w", snap.GetMetadata().GetIndex(), err)
	}
	idx := snap.GetMetadata().GetIndex()
	c.applied = idx
	c.snaps.taken(idx)
	c.setSnapshotBlock(d.lastBlock)
	c.bk.restore(d, snap.GetMetadata().GetConfState())
	c.log.Info("installed raft snapshot", "index", idx, "block", d.lastBlock, "pending_envelopes", len(d.pending))
	c.releaseWAL(idx)
	return nil
}

// proposeBlocks proposes the blocks cut since the last call and reports
// whether there were any.
func (c *Chain) proposeBlocks() bool {
	blocks := c.bk.takeBlocks()
	for _, data := range blocks {
		if err := c.rn.Propose(data); err != nil {
			// Lost leadership: the envelopes stay pending and the next
			// leader cuts them.
			c.log.Warn("block proposal dropped", "error", err)
			break
		}
	}
	return len(blocks) > 0
}

// updateRole tells the bookkeeper Raft's state after a Ready and publishes
// the status.
func (c *Chain) updateRole() {
	st := c.rn.BasicStatus()
	last, _ := c.storage.LastIndex()
	was := c.bk.isLeader
	c.bk.observeRole(st.Lead, st.RaftState == raft.StateLeader, last, c.applied, c.clock())
	if c.bk.isLeader != was {
		if c.bk.isLeader {
			c.log.Info("became raft leader", "term", st.GetTerm())
		} else {
			c.log.Info("lost raft leadership", "leader", st.Lead)
		}
		// The active count is otherwise taken once a tick: a new leader
		// (or a lost one) reports it at once.
		c.countActive()
	}
	c.mu.Lock()
	s := &c.status
	s.NodeID, s.Leader, s.Term, s.Role, s.LeaderChanges = c.cfg.NodeID, st.Lead, st.GetTerm(), st.RaftState.String(), c.bk.leaderChanges
	if !slices.Equal(s.Voters, c.bk.voters()) {
		s.Voters = slices.Clone(c.bk.voters())
	}
	if !slices.Equal(s.Consenters, c.bk.members.ids) {
		s.Consenters = slices.Clone(c.bk.members.ids)
	}
	c.mu.Unlock()
}

// inLoop runs f in the chain's loop and waits for it (bounded).
func (c *Chain) inLoop(f func()) error {
	done := make(chan struct{})
	wrapped := func() { f(); close(done) }
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	select {
	case c.queryC <- wrapped:
	case <-c.doneC:
		return c.haltErr()
	case <-timeout.C:
		return fmt.Errorf("channel %s: the raft chain is busy (catching up?); retry", c.cfg.ChannelID)
	}
	select {
	case <-done:
		return nil
	case <-c.doneC:
		return c.haltErr()
	}
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
