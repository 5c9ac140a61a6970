package raftchain

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"

	"github.com/weft-ledger/weft/protos"
)

// blockWriter is the goroutine that signs committed blocks and appends them
// to the store, in order, so that the store's fsyncs do not hold up
// proposals. The loop hands it jobs (write) and learns of its progress from
// the signal channel, written and failure; after a failure it only drains
// its queue.
type blockWriter struct {
	store     BlockStore
	signer    protos.Signer
	log       *slog.Logger
	onWritten func(*cb.Block) // Config.OnBlockWritten

	jobs    chan blockJob
	signal  chan struct{} // a job is done (capacity 1: signals coalesce)
	done    chan struct{} // closed when the goroutine exits
	written atomic.Uint64 // blocks appended (or found written before a restart)
	failure atomic.Pointer[error]
	handed  uint64 // jobs handed so far; the loop's, like write and caughtUp
}

type blockJob struct {
	blk        *cb.Block
	raftIndex  uint64
	pulled     bool // signed by another orderer: written as is
	lastConfig uint64
	md         *etcdraft.BlockMetadata
}

func newBlockWriter(store BlockStore, signer protos.Signer, log *slog.Logger, onWritten func(*cb.Block)) *blockWriter {
	return &blockWriter{
		store: store, signer: signer, log: log, onWritten: onWritten,
		jobs:   make(chan blockJob, 16),
		signal: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
}

// handBlock passes a committed block to the writer (waiting while its queue
// is full). A block below the next number was written before a restart. A
// pulled block was signed by the orderer it came from and is written as is.
func (c *Chain) handBlock(blk *cb.Block, raftIndex uint64, pulled bool) error {
	job, ok, err := c.bk.blockCommitted(blk, raftIndex, pulled)
	if !ok {
		return err
	}
	c.snaps.handed(blk)
	if isConfigBlock(blk) {
		c.maxBytes.Store(c.bk.batchConfig().AbsoluteMaxBytes)
	}
	return c.writer.write(job)
}

// write hands a job to the writer, waiting while its queue is full.
func (w *blockWriter) write(j blockJob) error {
	select {
	case w.jobs <- j:
		w.handed++
		return nil
	case <-w.done:
		return w.err()
	}
}

// run is the writer goroutine: it writes every block handed to it, in
// order, until stop; after a failure it only drains the queue.
func (w *blockWriter) run() {
	defer close(w.done)
	failed := false
	for j := range w.jobs {
		if failed {
			continue
		}
		if err := w.writeBlock(j); err != nil {
			failed = true
			w.failure.Store(&err)
		} else {
			w.written.Add(1)
		}
		select {
		case w.signal <- struct{}{}:
		default:
		}
	}
}

// stop lets the writer finish the blocks handed to it and waits for it.
func (w *blockWriter) stop() {
	close(w.jobs)
	<-w.done
}

// failed returns the error that stopped the writer, nil while it works.
func (w *blockWriter) failed() error {
	if p := w.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// err is why the writer stopped: its failure, or ErrHalted.
func (w *blockWriter) err() error {
	if err := w.failed(); err != nil {
		return err
	}
	return ErrHalted
}

// caughtUp reports whether every block handed to the writer is in the store.
func (w *blockWriter) caughtUp() bool { return w.written.Load() == w.handed }

// wait waits until the writer appended every block handed to it.
func (w *blockWriter) wait() error {
	for w.written.Load() < w.handed {
		select {
		case <-w.signal:
		case <-w.done:
			return w.err()
		}
		if err := w.failed(); err != nil {
			return err
		}
	}
	return nil
}

// stopWriter lets the writer finish the blocks handed to it, then takes the
// snapshot they may complete.
func (c *Chain) stopWriter() {
	c.writer.stop()
	if c.Err() == nil {
		if err := c.blocksWritten(); err != nil {
			c.fail(err)
		}
	}
}

// writeBlock signs the job's block (unless pulled) and appends it to the
// store, then tells Config.OnBlockWritten.
func (w *blockWriter) writeBlock(j blockJob) error {
	h := w.store.Height()
	num := j.blk.GetHeader().GetNumber()
	switch {
	case num < h:
		return nil // written before a restart
	case num > h:
		return fmt.Errorf("raft entry %d holds block %d but the store height is %d", j.raftIndex, num, h)
	}
	if !j.pulled {
		if err := SignBlock(j.blk, w.signer, j.lastConfig, j.md); err != nil {
			return err
		}
	}
	if err := w.store.Append(j.blk); err != nil {
		return fmt.Errorf("append block %d: %w", num, err)
	}
	w.log.Debug("wrote block", "block", num, "txs", len(j.blk.Data.Data), "raft_index", j.raftIndex, "pulled", j.pulled)
	if w.onWritten != nil {
		w.onWritten(j.blk)
	}
	return nil
}
