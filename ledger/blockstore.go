package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/syndtr/goleveldb/leveldb"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// DefaultMaxBlockFileSize is the size at which the store starts a new block file.
const DefaultMaxBlockFileSize = 64 << 20

// BlockStoreOptions tunes a block store; the zero value uses the defaults.
type BlockStoreOptions struct {
	// MaxFileSize is the size past which appends go to a new file (a block
	// larger than this gets a file of its own).
	MaxFileSize int64
	// Logger receives recovery events; nil means slog.Default().
	Logger *slog.Logger
	// NoTxIndex keeps only the block number and hash indexes: for an
	// orderer, which never looks a transaction up by its ID (Fabric's orderer
	// indexes block numbers only). It saves a LevelDB read and write per
	// transaction appended; BlockByTxID, TxByID and TxExists then fail.
	NoTxIndex bool
}

// BlockStore is an append-only, hash-chained store of one channel's blocks,
// indexed by number, header hash and TxID. It is safe for concurrent use: one
// appender at a time, any number of readers.
type BlockStore struct {
	dir  string
	opts BlockStoreOptions
	log  *slog.Logger

	mu       sync.RWMutex // guards every field below
	ix       *index
	cur      *os.File // file receiving appends
	curNum   uint64
	curSize  int64
	height   uint64
	last     *cb.BlockHeader // header of block height-1, nil when empty
	appended chan struct{}   // closed and replaced on every append and on Close
	closed   bool
	// observeAppend, when set, is told how long each append took.
	observeAppend func(elapsed time.Duration)
	// rec is the record buffer Append reuses (up to maxKeptRecord bytes).
	rec []byte
}

// maxKeptRecord bounds the record buffer a block store keeps between
// appends: blocks up to this size reuse it, a larger one is encoded into a
// buffer dropped afterwards.
const maxKeptRecord = 16 << 20

// OpenBlockStore opens (creating if needed) the block store in dir. It drops a
// torn last record left by a crash, refuses any other damage with an error
// wrapping ErrCorrupt (see recover), and rebuilds index entries missing for
// blocks present in the files.
func OpenBlockStore(dir string) (*BlockStore, error) {
	return OpenBlockStoreWithOptions(dir, BlockStoreOptions{})
}

// OpenBlockStoreWithOptions is OpenBlockStore with explicit options.
func OpenBlockStoreWithOptions(dir string, opts BlockStoreOptions) (*BlockStore, error) {
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxBlockFileSize
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create block store folder: %w", err)
	}
	s := &BlockStore{dir: dir, opts: opts, log: log, appended: make(chan struct{})}
	if err := s.recover(); err != nil {
		if s.ix != nil {
			_ = s.ix.close()
		}
		if s.cur != nil {
			_ = s.cur.Close()
		}
		return nil, fmt.Errorf("open block store %s: %w", dir, err)
	}
	s.ix.startTxFilter()
	return s, nil
}

func (s *BlockStore) indexDir() string { return filepath.Join(s.dir, "index") }

// recover brings index and files into agreement: it finds where the index
// ends in the files and indexes every complete record after it. A damaged
// record is a torn tail, and is truncated, only when it is in the last block
// file and no intact record starts anywhere after it; any other damage is
// refused with a *CorruptError and nothing is truncated or deleted.
func (s *BlockStore) recover() error {
	ix, err := openIndex(s.indexDir(), s.opts.NoTxIndex)
	if err != nil {
		return err
	}
	s.ix = ix
	files, err := listBlockFiles(s.dir)
	if err != nil {
		return err
	}
	for i, fn := range files {
		if fn != uint64(i) {
			return fmt.Errorf("%w: %s is missing (the block files run from %s to %s)", ErrCorrupt, blockFileName(s.dir, uint64(i)), filepath.Base(blockFileName(s.dir, files[0])), filepath.Base(blockFileName(s.dir, files[len(files)-1])))
		}
	}
	height, err := ix.height()
	if err != nil {
		return err
	}
	startFile, startOff := uint64(0), int64(0)
	if height > 0 {
		loc, ok, err := ix.location(height - 1)
		if err == nil && ok && s.recordIntact(loc, height-1) {
			startFile, startOff = loc.file, int64(loc.offset+loc.length)
		} else {
			// The index claims a block the files do not hold intact: start
			// over, unless the files are damaged beyond a torn tail (then
			// refuse before touching anything).
			if err := s.checkFiles(files); err != nil {
				return err
			}
			s.log.Warn("block index ahead of block files; rebuilding it", "dir", s.dir, "index_height", height)
			if err := s.resetIndex(); err != nil {
				return err
			}
			height = 0
			ix = s.ix
		}
	}
	if len(files) == 0 {
		files = []uint64{0}
	}
	wb := new(leveldb.Batch)
	pending := map[string]txLoc{}
	var lastHdr *cb.BlockHeader
	rebuilt := 0
scan:
	for i, fn := range files {
		if fn < startFile {
			continue
		}
		f, err := os.OpenFile(blockFileName(s.dir, fn), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("open block file: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("stat block file: %w", err)
		}
		size := st.Size()
		off := int64(0)
		if fn == startFile {
			off = startOff
		}
		for {
			payload, err := readRecord(f, off, size)
			if err == io.EOF {
				break
			}
			var damage *recordDamage
			if errors.As(err, &damage) {
				if err := s.tornTail(f, files[i+1:], off, size, damage); err != nil {
					f.Close()
					return err
				}
				// A torn tail: the last write a crash interrupted.
				s.log.Warn("dropping torn block record left by a crash", "file", f.Name(), "offset", off, "bytes", size-off, "reason", damage.reason, "height", height)
				if err := f.Truncate(off); err != nil {
					f.Close()
					return fmt.Errorf("truncate torn record in %s at offset %d: %w", f.Name(), off, err)
				}
				if err := f.Sync(); err != nil {
					f.Close()
					return fmt.Errorf("sync %s: %w", f.Name(), err)
				}
				s.cur, s.curNum, s.curSize = f, fn, off
				break scan
			}
			if err != nil {
				f.Close()
				return err
			}
			b, err := protos.UnmarshalBlock(payload)
			if err != nil {
				f.Close()
				return &CorruptError{File: f.Name(), Offset: off, Reason: fmt.Sprintf("the record passes its checksum but is not a block: %v", err)}
			}
			if b.Header.Number != height {
				f.Close()
				return &CorruptError{File: f.Name(), Offset: off, Reason: fmt.Sprintf("the record holds block %d where block %d was expected", b.Header.Number, height)}
			}
			loc := location{file: fn, offset: uint64(off), length: uint64(recordHeaderSize + len(payload))}
			if err := ix.add(wb, b, loc, pending); err != nil {
				f.Close()
				return err
			}
			rebuilt++
			height++
			lastHdr = b.Header
			off += int64(loc.length)
		}
		if i == len(files)-1 {
			s.cur, s.curNum, s.curSize = f, fn, size
		} else {
			f.Close()
		}
	}
	if s.cur == nil {
		return fmt.Errorf("no writable block file in %s", s.dir)
	}
	if rebuilt > 0 {
		s.log.Info("indexed blocks missing from the block index", "dir", s.dir, "blocks", rebuilt, "height", height)
		if err := ix.write(wb); err != nil {
			return err
		}
	}
	s.height = height
	if lastHdr == nil && height > 0 {
		b, err := s.readBlock(height - 1)
		if err != nil {
			return err
		}
		lastHdr = b.Header
	}
	s.last = lastHdr
	return nil
}

// tornTail decides about the damaged record at off in f, size bytes long,
// which later block files follow: nil when it is a torn tail (f is the last
// file and no intact record starts after off), else a *CorruptError.
func (s *BlockStore) tornTail(f *os.File, later []uint64, off, size int64, damage *recordDamage) error {
	if len(later) > 0 {
		return &CorruptError{File: f.Name(), Offset: off, Reason: damage.reason + fmt.Sprintf(", and a later block file (%s) exists: this file was complete and synced before that one was started", filepath.Base(blockFileName(s.dir, later[len(later)-1])))}
	}
	next, found, err := intactRecordAfter(f, off+1, size)
	switch {
	case err != nil:
		return err
	case found && next < 0:
		return &CorruptError{File: f.Name(), Offset: off, Reason: fmt.Sprintf("%s, and the %d bytes after it could not all be checked for intact records", damage.reason, size-off)}
	case found:
		return &CorruptError{File: f.Name(), Offset: off, Reason: fmt.Sprintf("%s, and an intact record follows at offset %d", damage.reason, next)}
	}
	return nil
}

// checkFiles walks every record of the block files and refuses damage that
// is not a torn tail, changing nothing.
func (s *BlockStore) checkFiles(files []uint64) error {
	for i, fn := range files {
		f, err := os.Open(blockFileName(s.dir, fn))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("open block file: %w", err)
		}
		err = func() error {
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("stat block file: %w", err)
			}
			for off := int64(0); ; {
				payload, err := readRecord(f, off, st.Size())
				var damage *recordDamage
				switch {
				case err == io.EOF:
					return nil
				case errors.As(err, &damage):
					return s.tornTail(f, files[i+1:], off, st.Size(), damage)
				case err != nil:
					return err
				}
				off += recordHeaderSize + int64(len(payload))
			}
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *BlockStore) recordIntact(loc location, n uint64) bool {
	f, err := os.Open(blockFileName(s.dir, loc.file))
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false
	}
	payload, err := readRecord(f, int64(loc.offset), st.Size())
	if err != nil || uint64(recordHeaderSize+len(payload)) != loc.length {
		return false
	}
	b, err := protos.UnmarshalBlock(payload)
	return err == nil && b.Header.Number == n
}

func (s *BlockStore) resetIndex() error {
	if err := s.ix.close(); err != nil {
		return fmt.Errorf("close block index: %w", err)
	}
	s.ix = nil
	if err := os.RemoveAll(s.indexDir()); err != nil {
		return fmt.Errorf("remove block index: %w", err)
	}
	ix, err := openIndex(s.indexDir(), s.opts.NoTxIndex)
	if err != nil {
		return err
	}
	s.ix = ix
	return nil
}

// Append adds b at the top of the chain. b's number must equal Height() and
// its previous_hash must be the header hash of the current last block.
func (s *BlockStore) Append(b *cb.Block) error {
	if b.GetHeader() == nil || b.GetData() == nil {
		return fmt.Errorf("append block: block has no header or no data")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	start := time.Now()
	n := b.Header.Number
	if n != s.height {
		return fmt.Errorf("append block %d: store height is %d, next block must be %d: %w", n, s.height, s.height, ErrOutOfOrder)
	}
	if s.last != nil {
		want := protos.BlockHeaderHash(s.last)
		if !bytes.Equal(b.Header.PreviousHash, want) {
			return fmt.Errorf("append block %d: previous_hash %x, want %x (header hash of block %d): %w", n, b.Header.PreviousHash, want, n-1, ErrBadChain)
		}
	}
	rec, err := appendBlockRecord(s.rec[:0], b)
	if err != nil {
		return fmt.Errorf("append block %d: %w", n, err)
	}
	if cap(rec) <= maxKeptRecord {
		s.rec = rec
	}
	if s.curSize > 0 && s.curSize+int64(len(rec)) > s.opts.MaxFileSize {
		if err := s.roll(); err != nil {
			return fmt.Errorf("append block %d: %w", n, err)
		}
	}
	if _, err := s.cur.WriteAt(rec, s.curSize); err != nil {
		_ = s.cur.Truncate(s.curSize)
		return fmt.Errorf("append block %d: write block file: %w", n, err)
	}
	if err := s.cur.Sync(); err != nil {
		_ = s.cur.Truncate(s.curSize)
		return fmt.Errorf("append block %d: sync block file: %w", n, err)
	}
	loc := location{file: s.curNum, offset: uint64(s.curSize), length: uint64(len(rec))}
	wb := new(leveldb.Batch)
	ids := map[string]txLoc{}
	if err := s.ix.add(wb, b, loc, ids); err != nil {
		return fmt.Errorf("append block %d: %w", n, err)
	}
	if err := s.ix.write(wb); err != nil {
		// The record is durable; the next open re-indexes it.
		return fmt.Errorf("append block %d: %w", n, err)
	}
	s.ix.written(ids)
	s.curSize += int64(len(rec))
	s.height = n + 1
	s.last = proto.Clone(b.Header).(*cb.BlockHeader)
	close(s.appended)
	s.appended = make(chan struct{})
	if s.observeAppend != nil {
		s.observeAppend(time.Since(start))
	}
	return nil
}

// ObserveAppend makes every successful Append call fn with its duration
// (writing, syncing and indexing the block): the peer's and orderer's
// ledger_blockstorage_commit_time. nil stops it.
func (s *BlockStore) ObserveAppend(fn func(elapsed time.Duration)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observeAppend = fn
}

func (s *BlockStore) roll() error {
	if err := s.cur.Sync(); err != nil {
		return fmt.Errorf("sync block file: %w", err)
	}
	next := s.curNum + 1
	f, err := os.OpenFile(blockFileName(s.dir, next), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create block file: %w", err)
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	_ = s.cur.Close()
	s.cur, s.curNum, s.curSize = f, next, 0
	return nil
}

// Height returns the number of blocks in the store.
func (s *BlockStore) Height() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.height
}

// Info returns the height and the hashes of the last block and its predecessor.
func (s *BlockStore) Info() *cb.BlockchainInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	info := &cb.BlockchainInfo{Height: s.height}
	if s.last != nil {
		info.CurrentBlockHash = protos.BlockHeaderHash(s.last)
		info.PreviousBlockHash = append([]byte(nil), s.last.PreviousHash...)
	}
	return info
}

// Block returns block n, or ErrBlockNotFound.
func (s *BlockStore) Block(n uint64) (*cb.Block, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	if n >= s.height {
		return nil, fmt.Errorf("block %d (height is %d): %w", n, s.height, ErrBlockNotFound)
	}
	return s.readBlock(n)
}

func (s *BlockStore) readBlock(n uint64) (*cb.Block, error) {
	loc, ok, err := s.ix.location(n)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("block %d: %w", n, ErrBlockNotFound)
	}
	f, err := os.Open(blockFileName(s.dir, loc.file))
	if err != nil {
		return nil, fmt.Errorf("read block %d: %w", n, err)
	}
	defer f.Close()
	payload, err := readRecord(f, int64(loc.offset), int64(loc.offset+loc.length))
	if damage := (*recordDamage)(nil); errors.As(err, &damage) || errors.Is(err, io.EOF) {
		reason := "the record is missing"
		if damage != nil {
			reason = damage.reason
		}
		return nil, fmt.Errorf("read block %d: %w", n, &CorruptError{File: f.Name(), Offset: int64(loc.offset), Reason: reason})
	}
	if err != nil {
		return nil, fmt.Errorf("read block %d from %s at %d: %w", n, f.Name(), loc.offset, err)
	}
	// The record must be the one the index points to: a damaged or replaced
	// file may hold another intact record at that offset.
	b, err := protos.UnmarshalBlock(payload)
	switch {
	case uint64(recordHeaderSize+len(payload)) != loc.length:
		err = fmt.Errorf("the record is %d bytes long, the index recorded %d", recordHeaderSize+len(payload), loc.length)
	case err != nil:
		err = fmt.Errorf("the record passes its checksum but is not a block: %v", err)
	case b.GetHeader().GetNumber() != n:
		err = fmt.Errorf("the record holds block %d", b.GetHeader().GetNumber())
	}
	if err != nil {
		return nil, fmt.Errorf("read block %d: %w", n, &CorruptError{File: f.Name(), Offset: int64(loc.offset), Reason: err.Error()})
	}
	return b, nil
}

// BlockByHash returns the block whose header hash is h.
func (s *BlockStore) BlockByHash(h []byte) (*cb.Block, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	n, ok, err := s.ix.blockByHash(h)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("block with hash %x: %w", h, ErrBlockNotFound)
	}
	return s.readBlock(n)
}

func (s *BlockStore) txLocation(txID string) (txLoc, error) {
	if s.closed {
		return txLoc{}, ErrClosed
	}
	loc, ok, err := s.ix.tx(txID)
	if err != nil {
		return txLoc{}, err
	}
	if !ok {
		return txLoc{}, fmt.Errorf("transaction %s: %w", txID, ErrTxNotFound)
	}
	return loc, nil
}

// BlockByTxID returns the block holding transaction txID (ErrBlockNotFound if none).
func (s *BlockStore) BlockByTxID(txID string) (*cb.Block, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	loc, err := s.txLocation(txID)
	if errors.Is(err, ErrTxNotFound) {
		return nil, fmt.Errorf("block with transaction %s: %w", txID, ErrBlockNotFound)
	}
	if err != nil {
		return nil, err
	}
	return s.readBlock(loc.block)
}

// TxByID returns the envelope of transaction txID with its validation code.
func (s *BlockStore) TxByID(txID string) (*pb.ProcessedTransaction, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	loc, err := s.txLocation(txID)
	if err != nil {
		return nil, err
	}
	b, err := s.readBlock(loc.block)
	if err != nil {
		return nil, err
	}
	data := b.GetData().GetData()
	if loc.index >= uint64(len(data)) {
		return nil, fmt.Errorf("transaction %s: index points at tx %d of block %d, which has %d", txID, loc.index, loc.block, len(data))
	}
	env := &cb.Envelope{}
	if err := proto.Unmarshal(data[loc.index], env); err != nil {
		return nil, fmt.Errorf("transaction %s: decode envelope: %w", txID, err)
	}
	return &pb.ProcessedTransaction{TransactionEnvelope: env, ValidationCode: int32(loc.code)}, nil
}

// TxExists reports whether any block in the store carries txID.
func (s *BlockStore) TxExists(txID string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, ErrClosed
	}
	// Asked for every proposal and transaction: answer "no" without building
	// the not-found error txLocation would.
	_, ok, err := s.ix.tx(txID)
	if err != nil {
		return false, err
	}
	return ok, nil
}

// WaitHeight blocks until Height() >= h, ctx is done, or the store closes.
func (s *BlockStore) WaitHeight(ctx context.Context, h uint64) error {
	for {
		s.mu.RLock()
		height, ch, closed := s.height, s.appended, s.closed
		s.mu.RUnlock()
		if height >= h {
			return nil
		}
		if closed {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close releases the files; waiters in WaitHeight return ErrClosed.
func (s *BlockStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.appended)
	err1 := s.cur.Close()
	err2 := s.ix.close()
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("close block store %s: %w", s.dir, err)
	}
	return nil
}
