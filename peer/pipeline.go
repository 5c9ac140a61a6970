package peer

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"sync"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/peer/validator"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// The commit path is pipelined: while block n is written to the ledger
// (MVCC, block store, state), block n+1 is already checked: the orderers'
// signatures, every transaction's signatures and endorsement policies. That
// check reads the state before n is applied, so its verdicts are used only
// when nothing it read was changed by n (compared with the writes the ledger
// applied for n, Ledger.Writes); otherwise n+1 is checked again. MVCC is not
// part of the early check: the ledger runs it on n+1 after n is applied.
//
// The deliver puller reads the stream one block ahead and hands each block
// to aheadReceived as it arrives; the early check of n+1 starts as soon as
// both n+1 has arrived and n has passed its own check.

// maxAhead bounds the blocks kept for an early check.
const maxAhead = 4

// pipeline is a channel's early-check state, guarded by mu.
type pipeline struct {
	mu       sync.Mutex
	received map[uint64]*cb.Block // blocks the puller read ahead, by number
	// applying is the block whose ledger commit is running (valid when
	// isApplying), with the bundle and the TxIDs of its transactions.
	applying   uint64
	isApplying bool
	bundle     *channelconfig.Bundle
	txIDs      map[string]struct{}
	// early is the early check of block applying+1, nil when none ran.
	early *earlyCheck
	wg    sync.WaitGroup // early checks running
}

// earlyCheck is block after+1 checked while block after was being applied.
type earlyCheck struct {
	block  *cb.Block
	after  uint64
	bundle *channelconfig.Bundle
	// txIDs are those of block after, which the ledger's TxID index may not
	// have held yet when this check looked for duplicates.
	txIDs map[string]struct{}
	reads *readLog
	done  chan struct{}
	// set before done is closed
	verdicts []validator.Verdict
	err      error
}

// aheadReceived is the puller's Ahead: it keeps b for an early check, and
// starts it if the block before b is being applied.
func (c *channel) aheadReceived(b *cb.Block) {
	n := b.GetHeader().GetNumber()
	p := &c.pipe
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.received == nil {
		p.received = map[uint64]*cb.Block{}
	}
	h := c.ledger.Blocks().Height()
	for k := range p.received {
		if k < h {
			delete(p.received, k)
		}
	}
	if n < h || len(p.received) >= maxAhead {
		return
	}
	p.received[n] = b
	if p.isApplying && n == p.applying+1 && p.early == nil {
		p.early = c.startEarly(b)
	}
}

// applyingBlock records that block n, checked against bundle, enters its
// ledger commit, and starts the early check of n+1 if it arrived.
func (c *channel) applyingBlock(n uint64, bundle *channelconfig.Bundle, txIDs []string, startNext bool) {
	p := &c.pipe
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applying, p.isApplying, p.bundle, p.early = n, true, bundle, nil
	if !startNext {
		p.bundle = nil // aheadReceived must not start one either
		p.isApplying = false
		return
	}
	p.txIDs = make(map[string]struct{}, len(txIDs))
	for _, id := range txIDs {
		if id != "" {
			p.txIDs[id] = struct{}{}
		}
	}
	if b := p.received[n+1]; b != nil {
		p.early = c.startEarly(b)
	}
}

// appliedBlock records that the ledger commit of the block applyingBlock
// named has ended, whether it succeeded or not.
func (c *channel) appliedBlock() {
	p := &c.pipe
	p.mu.Lock()
	p.isApplying = false
	p.mu.Unlock()
}

// startEarly starts checking b against the state as it is before the block
// being applied; p.mu is held.
func (c *channel) startEarly(b *cb.Block) *earlyCheck {
	p := &c.pipe
	e := &earlyCheck{block: b, after: p.applying, bundle: p.bundle, txIDs: p.txIDs,
		reads: &readLog{db: c.ledger.State()}, done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(e.done)
		defer func() {
			// The commit path checks the block again and handles the panic.
			if r := recover(); r != nil {
				e.err = fmt.Errorf("early check of block %d panicked: %v\n%s", b.GetHeader().GetNumber(), r, debug.Stack())
			}
		}()
		if err := validator.VerifyBlock(b, nil, e.bundle); err != nil {
			e.err = err
			return
		}
		protos.EnsureMetadata(b)
		e.verdicts, e.err = c.validator.Validate(b, e.bundle, e.reads, c.ledger.Blocks().TxExists)
	}()
	return e
}

// takeEarly returns the verdicts of block's early check when there is one
// and it still holds: it checked this very block against bundle, the block
// extends prevHash, the block before it committed through Ledger.Commit and
// changed nothing the check read, and no transaction the check found valid
// reuses a TxID of that block. ok is false otherwise; the caller then
// checks the block itself.
func (c *channel) takeEarly(block *cb.Block, prevHash []byte, bundle *channelconfig.Bundle) (verdicts []validator.Verdict, ok bool) {
	p := &c.pipe
	p.mu.Lock()
	e := p.early
	if e != nil && e.block == block {
		p.early = nil
		delete(p.received, block.Header.Number)
	}
	p.mu.Unlock()
	if e == nil || e.block != block {
		return nil, false
	}
	<-e.done
	if e.err != nil || e.bundle != bundle || !bytes.Equal(block.Header.PreviousHash, prevHash) {
		return nil, false
	}
	writes := c.ledger.Writes(e.after)
	if writes == nil || e.after+1 != block.Header.Number || e.reads.changedBy(writes) {
		c.node.log.Debug("block checked again: the block before it changed what its early check read", "channel", c.id, "block", block.Header.Number)
		return nil, false
	}
	for _, v := range e.verdicts {
		if v.Code != pb.TxValidationCode_VALID {
			continue
		}
		if _, dup := e.txIDs[v.TxID]; dup {
			return nil, false
		}
	}
	return e.verdicts, true
}

// readLog is the state as validation reads it, recording each read: what
// the value and the metadata were, and whether only the metadata was used.
type readLog struct {
	db    statedb.DB
	mu    sync.Mutex
	reads []stateRead
}

type stateRead struct {
	ns, key     string
	value, meta []byte
	metaOnly    bool
}

func (r *readLog) Get(ns, key string) (*statedb.VersionedValue, error) {
	vv, err := r.db.Get(ns, key)
	if err == nil {
		sr := stateRead{ns: ns, key: key}
		if vv != nil {
			sr.value, sr.meta = vv.Value, vv.Metadata
		}
		r.record(sr)
	}
	return vv, err
}

// GetMetadata makes readLog a validator.MetadataReader.
func (r *readLog) GetMetadata(ns, key string) ([]byte, error) {
	vv, err := r.db.Get(ns, key)
	if err != nil {
		return nil, err
	}
	sr := stateRead{ns: ns, key: key, metaOnly: true}
	if vv != nil {
		sr.meta = vv.Metadata
	}
	r.record(sr)
	return sr.meta, nil
}

func (r *readLog) record(sr stateRead) {
	r.mu.Lock()
	r.reads = append(r.reads, sr)
	r.mu.Unlock()
}

// changedBy reports whether writes gives a key read a different value (for
// a read that used it) or metadata than the read saw.
func (r *readLog) changedBy(writes *statedb.Batch) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sr := range r.reads {
		vv, deleted, ok := writes.Get(sr.ns, sr.key)
		if !ok {
			continue
		}
		var value, meta []byte
		if !deleted && vv != nil {
			value, meta = vv.Value, vv.Metadata
		}
		if !bytes.Equal(meta, sr.meta) || (!sr.metaOnly && !bytes.Equal(value, sr.value)) {
			return true
		}
	}
	return false
}
