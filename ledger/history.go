package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/weft-ledger/weft/protos"
	stateleveldb "github.com/weft-ledger/weft/statedb/leveldb"
)

// History index layout (a goleveldb in dir/history):
//
//	"s"                                                    -> uvarint number of the last indexed block
//	"k" ‖ uvarint len(ns) ‖ ns ‖ uvarint len(key) ‖ key ‖ be64(block) ‖ be64(tx) -> empty
//
// The length prefixes make the part before the height a unique prefix of one
// (ns, key), even for composite keys full of 0x00 bytes, and the big-endian
// height orders its versions by (block, tx). Values are never copied here:
// they are read back from the block store.
var historySavepointKey = []byte("s")

// historyEntry is one public write of a valid transaction.
type historyEntry struct {
	ns, key string
	tx      uint64
}

func historyPrefix(ns, key string) []byte {
	return appendHistoryPrefix(make([]byte, 0, 1+2*binary.MaxVarintLen64+len(ns)+len(key)+16), ns, key)
}

func appendHistoryPrefix(p []byte, ns, key string) []byte {
	p = append(p, 'k')
	p = binary.AppendUvarint(p, uint64(len(ns)))
	p = append(p, ns...)
	p = binary.AppendUvarint(p, uint64(len(key)))
	return append(p, key...)
}

func historyKey(ns, key string, block, tx uint64) []byte {
	return appendHistoryHeight(historyPrefix(ns, key), block, tx)
}

func appendHistoryHeight(k []byte, block, tx uint64) []byte {
	k = binary.BigEndian.AppendUint64(k, block)
	return binary.BigEndian.AppendUint64(k, tx)
}

// historyDB is the history index. mu keeps Close from running while a reader
// holds a LevelDB iterator (goleveldb forbids closing with iterators open);
// readers only hold one for a single seek.
type historyDB struct {
	mu     sync.RWMutex
	db     *leveldb.DB
	closed bool
}

func openHistory(dir string) (*historyDB, error) {
	db, err := stateleveldb.OpenFile(dir)
	if err != nil {
		return nil, fmt.Errorf("open history index %s: %w", dir, err)
	}
	return &historyDB{db: db}, nil
}

// height returns the number of blocks indexed: the savepoint plus one.
func (h *historyDB) height() (uint64, error) {
	v, err := h.db.Get(historySavepointKey, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read history savepoint: %w", err)
	}
	n, k := binary.Uvarint(v)
	if k <= 0 {
		return 0, fmt.Errorf("history savepoint %x is corrupt; remove the history folder and reopen the ledger to rebuild it", v)
	}
	return n + 1, nil
}

// index records the entries of block and moves the savepoint to it in one
// atomic write. It is not synced: a write lost in a crash takes its savepoint
// with it, and Open indexes the block again from the block store. Indexing a
// block twice writes the same keys, so history never holds duplicates.
func (h *historyDB) index(block uint64, entries []historyEntry) error {
	wb := new(leveldb.Batch)
	// The batch copies each key in: one buffer serves every entry.
	var k []byte
	for _, e := range entries {
		k = appendHistoryHeight(appendHistoryPrefix(k[:0], e.ns, e.key), block, e.tx)
		wb.Put(k, nil)
	}
	wb.Put(historySavepointKey, binary.AppendUvarint(nil, block))
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return ErrClosed
	}
	if err := h.db.Write(wb, nil); err != nil {
		return fmt.Errorf("write history of block %d: %w", block, err)
	}
	return nil
}

// newest returns the height of the newest version of the key whose history
// prefix is prefix, among entries below the key limit (nil: no limit).
func (h *historyDB) newest(prefix, limit []byte) (block, tx uint64, ok bool, err error) {
	r := util.BytesPrefix(prefix)
	if limit != nil {
		r.Limit = limit
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return 0, 0, false, ErrClosed
	}
	it := h.db.NewIterator(r, nil)
	defer it.Release()
	if !it.Last() {
		if err := it.Error(); err != nil {
			return 0, 0, false, fmt.Errorf("read history index: %w", err)
		}
		return 0, 0, false, nil
	}
	k := it.Key()
	if len(k) != len(prefix)+16 {
		return 0, 0, false, fmt.Errorf("history index entry %x has the wrong length; remove the history folder and reopen the ledger to rebuild it", k)
	}
	return binary.BigEndian.Uint64(k[len(prefix):]), binary.BigEndian.Uint64(k[len(prefix)+8:]), true, nil
}

func (h *historyDB) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	return h.db.Close()
}

// appendPublicWrites appends to out the public writes of one valid
// transaction, number tx: the entries Fabric's history database keeps, every
// namespace, no private or hashed writes, no metadata writes.
func appendPublicWrites(out []historyEntry, sets []decodedNs, tx uint64) []historyEntry {
	for _, n := range sets {
		for _, w := range n.kv.Writes {
			out = append(out, historyEntry{ns: n.ns, key: w.Key, tx: tx})
		}
	}
	return out
}

// blockHistory returns the history entries of a stored block, trusting its
// filter: the public writes of its VALID endorser transactions. A VALID
// transaction that does not decode carried no writes into the state either
// (see prepare), so it is skipped here too.
func blockHistory(b *cb.Block) []historyEntry {
	filter := protos.TxFilter(b)
	var out []historyEntry
	for i, raw := range b.GetData().GetData() {
		if pb.TxValidationCode(filter[i]) != pb.TxValidationCode_VALID {
			continue
		}
		chdr, err := channelHeaderOf(raw)
		if err != nil || cb.HeaderType(chdr.Type) != cb.HeaderType_ENDORSER_TRANSACTION {
			continue
		}
		sets, err := decodeEndorserRWSet(raw)
		if err != nil {
			continue
		}
		out = appendPublicWrites(out, sets, uint64(i))
	}
	return out
}

func decodeEndorserRWSet(raw []byte) ([]decodedNs, error) {
	env, err := protos.UnmarshalEnvelope(raw)
	if err != nil {
		return nil, err
	}
	etx, err := protos.ParseEndorserTx(env)
	if err != nil {
		return nil, err
	}
	return decodeRWSet(etx.ReadWriteSet)
}

// catchUpHistory indexes the stored blocks from the history height up to (not
// including) block end. commitMu must be held, or Open must be running.
func (l *Ledger) catchUpHistory(end uint64) error {
	for n := l.historyHeight; n < end; n++ {
		b, err := l.blocks.Block(n)
		if err != nil {
			return fmt.Errorf("index history of block %d: %w", n, err)
		}
		entries := blockHistory(b)
		if err := l.history.index(n, entries); err != nil {
			return err
		}
		l.historyHeight = n + 1
		l.log.Info("indexed block history from the block store", "block", n, "writes", len(entries))
	}
	return nil
}

// HistoryIterator walks the committed versions of one key.
type HistoryIterator interface {
	Next() (*queryresult.KeyModification, error) // nil, nil when done
	Close()
}

// GetHistoryForKey returns the committed versions of key in namespace ns,
// newest first by (block, transaction) as in Fabric v2: one per public write
// by a valid transaction, with the transaction's ID, the channel header
// timestamp, and the written value (nil and IsDelete for a delete).
// The versions are those committed when GetHistoryForKey is called; each Next
// reads one transaction from the block store, so commits may continue while
// the iterator is in use. Close is optional once Next has returned nil.
func (l *Ledger) GetHistoryForKey(ns, key string) (HistoryIterator, error) {
	prefix := historyPrefix(ns, key)
	block, tx, ok, err := l.history.newest(prefix, nil)
	if err != nil {
		return nil, fmt.Errorf("history of %s/%q: %w", ns, key, err)
	}
	it := &historyIterator{l: l, ns: ns, key: key, prefix: prefix, done: !ok}
	if ok {
		// Just above the newest entry: later commits stay out of view.
		it.limit = append(historyKey(ns, key, block, tx), 0)
	}
	return it, nil
}

type historyIterator struct {
	l       *Ledger
	ns, key string
	prefix  []byte

	mu     sync.Mutex // guards the fields below
	limit  []byte     // exclusive upper bound: the entry returned last
	done   bool
	cached *cb.Block // the block read last; versions of a key often share one
}

func (it *historyIterator) Next() (*queryresult.KeyModification, error) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.done {
		return nil, nil
	}
	block, tx, ok, err := it.l.history.newest(it.prefix, it.limit)
	if err != nil {
		return nil, fmt.Errorf("history of %s/%q: %w", it.ns, it.key, err)
	}
	if !ok {
		it.done = true
		it.cached = nil
		return nil, nil
	}
	it.limit = historyKey(it.ns, it.key, block, tx)
	return it.modification(block, tx)
}

// modification reads the write of the key by transaction tx of block.
func (it *historyIterator) modification(block, tx uint64) (*queryresult.KeyModification, error) {
	where := fmt.Sprintf("history of %s/%q: block %d tx %d", it.ns, it.key, block, tx)
	if it.cached == nil || it.cached.Header.Number != block {
		b, err := it.l.blocks.Block(block)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		it.cached = b
	}
	data := it.cached.Data.Data
	if tx >= uint64(len(data)) {
		return nil, fmt.Errorf("%s: the block has only %d transactions; the history index does not match the block store (remove the history folder and reopen the ledger to rebuild it)", where, len(data))
	}
	env, err := protos.UnmarshalEnvelope(data[tx])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	etx, err := protos.ParseEndorserTx(env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	sets, err := decodeRWSet(etx.ReadWriteSet)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	for _, n := range sets {
		if n.ns != it.ns {
			continue
		}
		for _, w := range n.kv.Writes {
			if w.Key != it.key {
				continue
			}
			km := &queryresult.KeyModification{TxId: env.ChannelHeader.TxId, Timestamp: env.ChannelHeader.Timestamp}
			if isDeleteWrite(w.IsDelete, w.Value) {
				km.IsDelete = true
			} else {
				km.Value = w.Value
			}
			return km, nil
		}
	}
	return nil, fmt.Errorf("%s: the transaction has no write of the key; the history index does not match the block store (remove the history folder and reopen the ledger to rebuild it)", where)
}

func (it *historyIterator) Close() {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.done = true
	it.cached = nil
}
