package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/leveldb"
)

// Options tunes a Ledger; the zero value uses the defaults.
type Options struct {
	// MaxBlockFileSize is passed to the block store (see BlockStoreOptions).
	MaxBlockFileSize int64
	// Logger receives commit and recovery events; nil means slog.Default().
	Logger *slog.Logger
	// State, when set, is the world state database the ledger uses instead
	// of opening LevelDB in dir/state (CouchDB, or a fake in tests). The
	// ledger owns it from the call on: Close closes it, and so does an
	// OpenWithOptions that fails. Its savepoint must not be above the block
	// store's height (see ErrStateAhead).
	State statedb.DB
	// WrapState, when set, wraps the world state database (State, or the
	// LevelDB it opens) before the ledger uses it: instrumentation, or a
	// fault injected by a test. The optional capabilities of statedb
	// (BulkLoader, Querier, KeyValueChecker) are detected on the database
	// before it is wrapped, so a wrapper need not forward them; a wrapper
	// that does implement one is called instead of the database.
	WrapState func(statedb.DB) statedb.DB
	// Collections tells, for a collection of a namespace, whether this
	// peer's organisation is a member (only members store private values;
	// the others keep hashes only) and its blockToLive. The ledger calls it
	// with its own state database, as it is before the block being
	// committed, at commit and at replay (an error fails the commit), and
	// GetPrivateData calls it to explain private data the peer lacks. nil:
	// every collection is eligible and never expires.
	Collections func(state statedb.DB, ns, coll string) (CollectionRules, error)
}

// Ledger is one channel's ledger: a block store and the world state derived
// from it. Commits are serialised; reads may run concurrently with them.
type Ledger struct {
	blocks *BlockStore
	state  statedb.DB
	// base is the state database as opened or handed in, before WrapState:
	// its optional capabilities are the ones the ledger offers.
	base statedb.DB
	caps stateCaps
	// stateName names the state database in errors: "LevelDB" or its type.
	stateName string
	// external is set when the state was handed in (Options.State) rather
	// than opened in dir/state.
	external bool
	pvt      *pvtStore // the private data store (pvtstore.go)
	log      *slog.Logger
	// collections is Options.Collections.
	collections func(statedb.DB, string, string) (CollectionRules, error)
	// legacyPvt holds, during Open only, private write sets found in the
	// store's earlier layout, for replay.
	legacyPvt map[uint64]map[uint64]*rwset.TxPvtReadWriteSet

	history       *historyDB
	historyHeight uint64 // blocks indexed in history; guarded by commitMu
	// stateHeight is the number of blocks whose writes are in the state;
	// below the block store's height only after a failed state write, until
	// Recover or the next Commit applies the rest. Written under commitMu.
	stateHeight atomic.Uint64

	commitMu sync.Mutex // serialises Commit and Close
	closed   bool       // guarded by commitMu
	// commitHash is the COMMIT_HASH of the last block appended (nil when it
	// carries none); the next block's hash chains from it. Guarded by commitMu.
	commitHash []byte

	// afterAppend, when set (tests only), runs after a block is appended and
	// before its writes reach the state; an error aborts Commit there, which is
	// how tests simulate a crash between the two steps.
	afterAppend func(blockNum uint64) error
	// beforeHistory, when set (tests only), runs after the state update and
	// before the history update; an error aborts Commit there.
	beforeHistory func(blockNum uint64) error

	// observe, when set, is told the timings of every committed block;
	// guarded by commitMu.
	observe func(CommitTimes)

	// lastWrites is the state update Commit applied for block lastWritesOf
	// (nil when the last block's state came from Recover or a replay); a
	// pipelined committer asks it what the block changed (Writes).
	lastMu       sync.Mutex
	lastWrites   *statedb.Batch
	lastWritesOf uint64

	// decoded is the last block MissingIn decoded, which the commit path
	// hands to Commit next: Commit reuses it rather than decoding again.
	decodedMu sync.Mutex
	decoded   decodedBlock
}

// decodedBlock is decodeBlock's result for one block and filter.
type decodedBlock struct {
	block  *cb.Block
	filter []byte
	txs    []decodedTx
}

// decode is decodeBlock, reusing what MissingIn decoded of the same block
// (the same *cb.Block) under the same filter. The decoded read/write sets
// are only read, never changed, so they can be shared.
func (l *Ledger) decode(b *cb.Block, filter []byte, keep bool) []decodedTx {
	l.decodedMu.Lock()
	d := l.decoded
	if !keep {
		l.decoded = decodedBlock{}
	}
	l.decodedMu.Unlock()
	if d.block == b && bytes.Equal(d.filter, filter) {
		return d.txs
	}
	txs := decodeBlock(b, filter)
	if keep {
		l.decodedMu.Lock()
		l.decoded = decodedBlock{block: b, filter: bytes.Clone(filter), txs: txs}
		l.decodedMu.Unlock()
	}
	return txs
}

// Writes returns the state update Commit applied for block n: every key the
// block's valid transactions wrote (with its value and metadata as they are
// now) or deleted, and the private data its blockToLive removed. It is nil
// unless n is the last block this Ledger committed through Commit, so a
// caller that gets nil must assume any key may have changed. The batch must
// not be modified.
func (l *Ledger) Writes(n uint64) *statedb.Batch {
	l.lastMu.Lock()
	defer l.lastMu.Unlock()
	if l.lastWrites == nil || l.lastWritesOf != n {
		return nil
	}
	return l.lastWrites
}

func (l *Ledger) setWrites(n uint64, b *statedb.Batch) {
	l.lastMu.Lock()
	l.lastWrites, l.lastWritesOf = b, n
	l.lastMu.Unlock()
}

// CommitTimes are the stages of one Commit, measured where Fabric's ledger
// measures its ledger_* histograms.
type CommitTimes struct {
	// Processing is the MVCC validation and preparation of the state
	// update (ledger_block_processing_time).
	Processing time.Duration
	// BlockAndPvtdata is storing the private write sets and the block
	// (ledger_blockstorage_and_pvtdata_commit_time).
	BlockAndPvtdata time.Duration
	// StateDB is applying the update to the state database
	// (ledger_statedb_commit_time).
	StateDB time.Duration
}

// ObserveCommit makes every successful Commit call fn with its timings. nil
// stops it.
func (l *Ledger) ObserveCommit(fn func(CommitTimes)) {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	l.observe = fn
}

// Open opens (creating if needed) the ledger in dir: the block store in
// dir/chain, the LevelDB state in dir/state, the private data store in
// dir/pvtdata and the history index in dir/history. Blocks above the
// state's savepoint are replayed from the block store with their stored
// filters and their stored private write sets; blocks above the history
// savepoint are indexed again.
func Open(dir string) (*Ledger, error) { return OpenWithOptions(dir, Options{}) }

// OpenWithOptions is Open with explicit options.
func OpenWithOptions(dir string, opts Options) (*Ledger, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	blocks, err := OpenBlockStoreWithOptions(filepath.Join(dir, "chain"), BlockStoreOptions{MaxFileSize: opts.MaxBlockFileSize, Logger: log})
	if err != nil {
		if opts.State != nil {
			_ = opts.State.Close()
		}
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	base, stateName := opts.State, ""
	if base == nil {
		base, err = leveldb.Open(filepath.Join(dir, "state"))
		if err != nil {
			_ = blocks.Close()
			return nil, fmt.Errorf("open ledger %s: %w", dir, err)
		}
		stateName = "LevelDB"
	} else {
		stateName = fmt.Sprintf("%T", base)
	}
	state := base
	if opts.WrapState != nil {
		state = opts.WrapState(state)
	}
	pvt, err := openPvtStore(filepath.Join(dir, "pvtdata"))
	if err != nil {
		_ = errors.Join(state.Close(), blocks.Close())
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	history, err := openHistory(filepath.Join(dir, "history"))
	if err != nil {
		_ = errors.Join(pvt.close(), state.Close(), blocks.Close())
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	l := &Ledger{blocks: blocks, state: state, base: base, caps: detectCaps(base, state), stateName: stateName, external: opts.State != nil, pvt: pvt, history: history, log: log, collections: opts.Collections}
	if err := l.openPvt(); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	if err := l.replay(); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	if err := l.openHistory(); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	if err := l.loadCommitHash(); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	// The state now covers every block: what expired with them and is
	// still in the private data store (a crash came before its removal)
	// goes, and so does the earlier layout, now replayed.
	l.legacyPvt = nil
	if err := errors.Join(l.pvt.dropLegacy(), l.pvt.expireThrough(l.blocks.Height())); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("open ledger %s: %w", dir, err)
	}
	return l, nil
}

// openPvt readies the private data store for replay: records stored for a
// block whose append never completed belong to no block and are dropped,
// and sets in the layout of earlier versions are read for replay.
func (l *Ledger) openPvt() error {
	if err := l.pvt.dropFrom(l.blocks.Height()); err != nil {
		return err
	}
	legacy, err := l.pvt.legacy()
	if err != nil {
		return err
	}
	l.legacyPvt = legacy
	return nil
}

// replay applies the blocks the state has not seen yet, trusting their filters,
// with the private write sets Commit stored for them. Open and Recover run
// it; each block's writes and savepoint go to the state in one atomic step,
// so a block is never half applied.
func (l *Ledger) replay() error {
	sp, ok, err := l.state.Savepoint()
	if err != nil {
		return err
	}
	next := uint64(0)
	if ok {
		next = sp.BlockNum + 1
	}
	height := l.blocks.Height()
	if ok && sp.BlockNum >= height {
		if l.external {
			return fmt.Errorf("%w: the state database's savepoint is block %d but the block store holds only %d blocks, so the state database belongs to another ledger "+
				"(another peer, channel or ledger folder) or the block files were lost; give this ledger a state database of its own (for CouchDB, drop this channel's databases "+
				"or use another database name prefix) and it is rebuilt from the blocks, or restore the block files", ErrStateAhead, sp.BlockNum, height)
		}
		return fmt.Errorf("%w: state savepoint is block %d but the block store holds only %d blocks; the state folder belongs to another ledger or the block files were lost "+
			"(remove the state folder to rebuild it from the blocks, or restore the block files)", ErrStateAhead, sp.BlockNum, height)
	}
	l.stateHeight.Store(next)
	for n := next; n < height; n++ {
		b, err := l.blocks.Block(n)
		if err != nil {
			return fmt.Errorf("replay block %d: %w", n, err)
		}
		private, err := l.pvt.sets(n)
		if err != nil {
			return fmt.Errorf("replay block %d: %w", n, err)
		}
		if len(private) == 0 {
			private = l.legacyPvt[n]
		}
		p, err := l.prepare(b, protos.TxFilter(b), private, false)
		if err != nil {
			return fmt.Errorf("replay block %d: %w", n, err)
		}
		if _, err := l.addExpiries(p.batch, n); err != nil {
			return fmt.Errorf("replay block %d: %w", n, err)
		}
		// Commit stored these before the append; storing them again changes
		// nothing, and records what the earlier layout did not hold.
		if err := l.pvt.put(p.pvt, false); err != nil {
			return fmt.Errorf("replay block %d: %w", n, err)
		}
		if err := l.state.Apply(p.batch, statedb.Version{BlockNum: n}); err != nil {
			return fmt.Errorf("replay block %d: %w", n, err)
		}
		l.stateHeight.Store(n + 1)
		l.dropExpired(n)
		l.log.Info("replayed block into state", "block", n, "updates", p.batch.Len(), "private_txs", len(private))
	}
	return nil
}

// StateHeight returns the number of blocks whose writes are in the world
// state. It equals Blocks().Height() except after a Commit whose state
// write failed (its error wraps ErrStateBehind), until Recover or the next
// Commit applies the blocks it lacks.
func (l *Ledger) StateHeight() uint64 { return l.stateHeight.Load() }

// Recover finishes what failed Commits left undone: it applies to the state
// the blocks that are in the block store but not in the state (a state
// write failed after the append), with their stored filters and private
// write sets, exactly as Open replays them after a crash, and indexes the
// history of the blocks whose state is applied but whose history is not. It
// does nothing when the ledger is complete. Commit runs it first, so a
// ledger resumes by itself once the state database works again; a caller
// that must not move on before a block is applied (the peer publishes a
// block only then) calls Recover, with a backoff, until it returns nil or
// StateHeight covers the block.
func (l *Ledger) Recover() error {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.recover()
}

func (l *Ledger) recover() error {
	height := l.blocks.Height()
	if from := l.stateHeight.Load(); from < height {
		if err := l.replay(); err != nil {
			return fmt.Errorf("apply the writes of block %d: %w: %w", l.stateHeight.Load(), ErrStateBehind, err)
		}
		l.log.Info("applied to the state the blocks a failed state write had left out", "from_block", from, "to_block", height-1)
	}
	if l.historyHeight < height {
		if err := l.catchUpHistory(height); err != nil {
			return fmt.Errorf("index the history of block %d: %w", l.historyHeight, err)
		}
	}
	return nil
}

// openHistory indexes the stored blocks the history index lacks.
func (l *Ledger) openHistory() error {
	h, err := l.history.height()
	if err != nil {
		return err
	}
	if height := l.blocks.Height(); h > height {
		return fmt.Errorf("history savepoint is block %d but the block store holds only %d blocks; the history folder belongs to another ledger (remove it to rebuild the index)", h-1, height)
	}
	l.historyHeight = h
	return l.catchUpHistory(l.blocks.Height())
}

// loadCommitHash reads the commit hash of the last stored block, from which
// the next block's chains.
func (l *Ledger) loadCommitHash() error {
	h := l.blocks.Height()
	if h == 0 {
		return nil
	}
	b, err := l.blocks.Block(h - 1)
	if err != nil {
		return fmt.Errorf("read the commit hash of block %d: %w", h-1, err)
	}
	l.commitHash, err = CommitHash(b)
	return err
}

// Blocks returns the block store.
func (l *Ledger) Blocks() *BlockStore { return l.blocks }

// State returns the world state, as wrapped by Options.WrapState.
func (l *Ledger) State() statedb.DB { return l.state }

// StateBackend returns the world state database as opened (or handed in as
// Options.State), before Options.WrapState: the value on which to detect
// its optional capabilities, such as statedb.IndexCreator or
// statedb.HealthChecker, which a wrapper hides. Reads and writes go through
// State.
func (l *Ledger) StateBackend() statedb.DB { return l.base }

// Commit validates b (MVCC on the transactions its TRANSACTIONS_FILTER still
// marks VALID), records the final filter and the commit hash (as Fabric's
// COMMIT_HASH metadata, see commithash.go) in b, appends b and applies the
// valid transactions' writes. private holds this peer's private write sets by
// transaction index. Those of valid transactions, in collections this peer
// is a member of (Options.Collections) and matching the block's hashes, are
// applied and kept in the private data store (PrivateData); what such a
// collection lacks is recorded missing (MissingPrivateData). Both, and the
// blockToLive schedule of the block's private writes, are stored durably
// before the append, so a crash before the state update cannot lose them.
// The state update also removes the private data whose blockToLive ends
// with this block.
func (l *Ledger) Commit(b *cb.Block, private map[uint64]*rwset.TxPvtReadWriteSet) error {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if b.GetHeader() == nil || b.GetData() == nil {
		return fmt.Errorf("commit block: block has no header or no data")
	}
	n := b.Header.Number
	if h := l.blocks.Height(); n != h {
		return fmt.Errorf("commit block %d: ledger height is %d, next block must be %d: %w", n, h, h, ErrOutOfOrder)
	}
	// Blocks a failed state write left out are applied first: MVCC and
	// the new block's writes build on a complete state.
	if err := l.recover(); err != nil {
		return fmt.Errorf("commit block %d: %w", n, err)
	}
	l.setWrites(0, nil) // from here on, what the last block wrote is unknown
	start := time.Now()
	p, err := l.prepare(b, protos.TxFilter(b), private, true)
	if err != nil {
		return fmt.Errorf("commit block %d: %w", n, err)
	}
	batch, filter, history := p.batch, p.filter, p.history
	var times CommitTimes
	stored := time.Now()
	times.Processing = stored.Sub(start)
	protos.SetTxFilter(b, filter)
	// As Fabric: block 1 starts the chain of commit hashes, and it goes on
	// only from a block that has one.
	var commitHash []byte
	if n == 1 || len(l.commitHash) > 0 {
		commitHash = commitHashOf(filter, batch, l.commitHash)
		setCommitHash(b, commitHash)
	}
	// As in Fabric, expiry is not part of the commit hash: it is added to
	// the batch after the hash is taken.
	if _, err := l.addExpiries(batch, n); err != nil {
		return fmt.Errorf("commit block %d: %w", n, err)
	}
	if err := l.pvt.put(p.pvt, true); err != nil {
		return fmt.Errorf("commit block %d: %w", n, err)
	}
	if err := l.blocks.Append(b); err != nil {
		return fmt.Errorf("commit block %d: %w", n, err)
	}
	l.commitHash = commitHash
	applied := time.Now()
	times.BlockAndPvtdata = applied.Sub(stored)
	if l.afterAppend != nil {
		if err := l.afterAppend(n); err != nil {
			return fmt.Errorf("commit block %d: %w", n, err)
		}
	}
	if err := l.state.Apply(batch, statedb.Version{BlockNum: n}); err != nil {
		// The block is durable; Recover, the next Commit or Open applies it.
		return fmt.Errorf("commit block %d: block appended but its writes are not applied to the state (Recover or the next Commit applies them): %w: %w", n, ErrStateBehind, err)
	}
	l.stateHeight.Store(n + 1)
	l.setWrites(n, batch)
	times.StateDB = time.Since(applied)
	l.dropExpired(n)
	if l.beforeHistory != nil {
		if err := l.beforeHistory(n); err != nil {
			return fmt.Errorf("commit block %d: %w", n, err)
		}
	}
	// A history update that failed for an earlier block is redone first, so
	// the index never skips a block.
	if err := l.catchUpHistory(n); err != nil {
		return fmt.Errorf("commit block %d: block appended and state updated but history not indexed (Recover or the next Commit indexes it): %w", n, err)
	}
	if err := l.history.index(n, history); err != nil {
		return fmt.Errorf("commit block %d: block appended and state updated but history not indexed (Recover or the next Commit indexes it): %w", n, err)
	}
	l.historyHeight = n + 1
	if l.observe != nil {
		l.observe(times)
	}
	return nil
}

// decodedTx is one transaction of a block, decoded for prepare. sets is
// nil for a transaction that carries no read/write set (config, other
// types), that is not VALID in the filter handed in, or that failed to
// decode (then code and why say so).
type decodedTx struct {
	txID string
	sets []decodedNs
	code pb.TxValidationCode // VALID, or why decoding failed
	why  string
}

// decodeBlock decodes the read/write sets of the transactions filter still
// marks VALID.
func decodeBlock(b *cb.Block, filter []byte) []decodedTx {
	txs := make([]decodedTx, len(b.Data.Data))
	for i, raw := range b.Data.Data {
		tx := &txs[i]
		tx.code = pb.TxValidationCode_VALID
		if pb.TxValidationCode(filter[i]) != pb.TxValidationCode_VALID {
			continue
		}
		chdr, err := channelHeaderOf(raw)
		if err != nil {
			tx.code, tx.why = pb.TxValidationCode_BAD_PAYLOAD, err.Error()
			continue
		}
		if cb.HeaderType(chdr.Type) != cb.HeaderType_ENDORSER_TRANSACTION {
			continue // config and other transactions carry no read/write set
		}
		env, err := protos.UnmarshalEnvelope(raw)
		if err != nil {
			tx.code, tx.why = pb.TxValidationCode_BAD_PAYLOAD, err.Error()
			continue
		}
		tx.txID = env.ChannelHeader.TxId
		etx, err := protos.ParseEndorserTx(env)
		if err != nil {
			tx.code, tx.why = pb.TxValidationCode_BAD_PAYLOAD, err.Error()
			continue
		}
		sets, err := decodeRWSet(etx.ReadWriteSet)
		if err != nil {
			tx.code, tx.why = pb.TxValidationCode_BAD_RWSET, err.Error()
			continue
		}
		if sets == nil {
			sets = []decodedNs{}
		}
		tx.sets = sets
	}
	return txs
}

// prepared is what prepare computes for one block.
type prepared struct {
	batch   *statedb.Batch
	filter  []byte
	history []historyEntry
	pvt     *blockRecords // what the private data store keeps of the block
}

// prepare computes the state updates of b, its history entries and its
// private data records. With validate set it runs MVCC and returns the
// filter with conflicts marked; otherwise it trusts filter. Before MVCC, a
// state database that is a statedb.BulkLoader is handed every key the
// block's valid transactions read or write, in one Preload call.
func (l *Ledger) prepare(b *cb.Block, filter []byte, private map[uint64]*rwset.TxPvtReadWriteSet, validate bool) (*prepared, error) {
	n := b.Header.Number
	txs := l.decode(b, filter, false)
	mark := func(i int, code pb.TxValidationCode, why string) {
		if validate {
			filter[i] = byte(code)
			l.log.Info("transaction invalidated at commit", "block", n, "tx", i, "code", code.String(), "reason", why)
		}
	}
	for i := range txs {
		if txs[i].code != pb.TxValidationCode_VALID {
			mark(i, txs[i].code, txs[i].why)
		}
	}
	if validate {
		if err := l.preload(txs, filter); err != nil {
			return nil, err
		}
	}
	reads, release, err := l.blockReader()
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", n, err)
	}
	defer release()
	rules := l.rules()
	recs := newBlockRecords(n)
	batch := statedb.NewBatch()
	var history []historyEntry
	memo := &readMemo{}
	for i := range txs {
		sets := txs[i].sets
		if sets == nil || pb.TxValidationCode(filter[i]) != pb.TxValidationCode_VALID {
			continue
		}
		memo.reset(reads)
		if validate {
			code, why, err := validateTx(reads, batch, sets, memo)
			if err != nil {
				return nil, fmt.Errorf("validate tx %d (%s): %w", i, txs[i].txID, err)
			}
			if code != pb.TxValidationCode_VALID {
				mark(i, code, why)
				continue
			}
		}
		pvt, err := l.memberOnly(rules, n, i, private[uint64(i)])
		if err != nil {
			return nil, fmt.Errorf("tx %d (%s): %w", i, txs[i].txID, err)
		}
		skipped, applied, err := addWrites(memo, batch, sets, pvt, statedb.Version{BlockNum: n, TxNum: uint64(i)})
		if err != nil {
			return nil, fmt.Errorf("writes of tx %d (%s): %w", i, txs[i].txID, err)
		}
		if err := recs.record(rules, uint64(i), txs[i].txID, sets, applied); err != nil {
			return nil, fmt.Errorf("tx %d (%s): %w", i, txs[i].txID, err)
		}
		history = appendPublicWrites(history, sets, uint64(i))
		for _, s := range skipped {
			l.log.Warn("private data not applied", "block", n, "tx", i, "tx_id", txs[i].txID, "reason", s)
		}
	}
	return &prepared{batch: batch, filter: filter, history: history, pvt: recs}, nil
}

// blockReader returns what prepare reads the committed state through, and
// the function that frees it. A block's MVCC checks and current values must
// see the state as of the previous block. prepare runs with commitMu held
// (Commit, Recover, Open's replay), and every Apply to the state is made under
// commitMu after prepare returns, so the state does not change while prepare
// reads it: one snapshot taken here sees exactly what separate Gets would,
// more cheaply. Only a state that is a statedb.Snapshotter as wrapped
// (Options.WrapState) is read through a snapshot, so a wrapper that does not
// forward it still sees every read.
func (l *Ledger) blockReader() (statedb.Reader, func(), error) {
	s, ok := l.state.(statedb.Snapshotter)
	if !ok {
		return l.state, func() {}, nil
	}
	snap, err := s.Snapshot()
	if err != nil {
		return nil, nil, err
	}
	return snap, snap.Release, nil
}

// Close closes the history index, the private data store, the state and the
// block store.
func (l *Ledger) Close() error {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return errors.Join(l.history.close(), l.pvt.close(), l.state.Close(), l.blocks.Close())
}
