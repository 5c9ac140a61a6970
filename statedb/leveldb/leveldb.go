package leveldb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/weft-ledger/weft/statedb"
)

var savepointKey = []byte("s")

// DB is a statedb.DB stored in one LevelDB folder. It is safe for concurrent use.
type DB struct {
	db  *leveldb.DB
	dir string
	// observe, when set, is told how long each successful Apply took.
	observe atomic.Pointer[func(elapsed time.Duration, updates int)]
}

// ObserveApply makes every successful Apply call fn with its duration and
// the number of updates it wrote (for the state database timing metric);
// nil stops it. fn runs on the committing goroutine and must be quick.
func (d *DB) ObserveApply(fn func(elapsed time.Duration, updates int)) {
	if fn == nil {
		d.observe.Store(nil)
		return
	}
	d.observe.Store(&fn)
}

var _ statedb.DB = (*DB)(nil)

// Open opens (creating if needed) the state database in dir.
func Open(dir string) (*DB, error) { return open(dir, Options()) }

// Options are the LevelDB settings of Weft's databases: a Bloom filter of 10
// bits a key in every table, so that reading a key that is not there (a new
// key's existence check, the metadata of a key written for the first time,
// a TxID not yet on the ledger) costs one filter probe per table instead of
// reading a block of each. Without it every such read walks every level
// once the database outgrows its memtable. Tables written without a filter
// (by an older Weft) are still read, without one.
func Options() *opt.Options { return &opt.Options{Filter: filter.NewBloomFilter(10)} }

// OpenFile opens (creating if needed) a LevelDB of Weft's in dir with
// Options, recovering it if its manifest is corrupt: the state database,
// and the ledger's block index, history index and private data store and the
// transient store, which keep their own formats in it.
func OpenFile(dir string) (*leveldb.DB, error) { return openFile(dir, Options()) }

func openFile(dir string, o *opt.Options) (*leveldb.DB, error) {
	db, err := leveldb.OpenFile(dir, o)
	if lerrors.IsCorrupted(err) {
		db, err = leveldb.RecoverFile(dir, o)
	}
	return db, err
}

func open(dir string, o *opt.Options) (*DB, error) {
	db, err := openFile(dir, o)
	if err != nil {
		return nil, fmt.Errorf("open state leveldb %s: %w", dir, err)
	}
	return &DB{db: db, dir: dir}, nil
}

func nsPrefix(ns string) []byte {
	p := make([]byte, 0, 1+binary.MaxVarintLen64+len(ns))
	p = append(p, 'd')
	p = binary.AppendUvarint(p, uint64(len(ns)))
	return append(p, ns...)
}

// appendDataKey appends the LevelDB key of ns/key to b: nsPrefix(ns) ‖ key.
func appendDataKey(b []byte, ns, key string) []byte {
	b = append(b, 'd')
	b = binary.AppendUvarint(b, uint64(len(ns)))
	b = append(b, ns...)
	return append(b, key...)
}

// maxStackKey is the longest LevelDB key Get builds in a buffer of its own
// frame rather than on the heap; longer keys are allocated.
const maxStackKey = 128

func encodeValue(vv *statedb.VersionedValue) []byte {
	return appendValue(make([]byte, 0, 3*binary.MaxVarintLen64+len(vv.Metadata)+len(vv.Value)), vv)
}

// appendValue appends the stored form of vv to out.
func appendValue(out []byte, vv *statedb.VersionedValue) []byte {
	out = binary.AppendUvarint(out, vv.Version.BlockNum)
	out = binary.AppendUvarint(out, vv.Version.TxNum)
	out = binary.AppendUvarint(out, uint64(len(vv.Metadata)))
	out = append(out, vv.Metadata...)
	return append(out, vv.Value...)
}

// decodeValue decodes a stored value. owned says b belongs to the caller
// (LevelDB's Get returns its own copy): Metadata and Value are then slices of
// b instead of copies. Metadata's capacity ends where Value begins, so an
// append to it cannot write over Value.
func decodeValue(b []byte, owned bool) (*statedb.VersionedValue, error) {
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("corrupt state value: bad varint %d", i)
		}
		vals[i] = v
		b = b[n:]
	}
	if uint64(len(b)) < vals[2] {
		return nil, fmt.Errorf("corrupt state value: metadata length %d exceeds %d bytes", vals[2], len(b))
	}
	vv := &statedb.VersionedValue{Version: statedb.Version{BlockNum: vals[0], TxNum: vals[1]}}
	m := vals[2]
	if owned {
		if m > 0 {
			vv.Metadata = b[:m:m]
		}
		vv.Value = b[m:] // never nil: b is not nil, having held the varints
		return vv, nil
	}
	if m > 0 {
		vv.Metadata = append([]byte(nil), b[:m]...)
	}
	vv.Value = append([]byte{}, b[m:]...)
	return vv, nil
}

// Get implements statedb.DB.
func (d *DB) Get(ns, key string) (*statedb.VersionedValue, error) { return d.get(nil, ns, key) }

// get reads key of ns through snap, or straight from the database when snap
// is nil (LevelDB then pins a view for this one read).
func (d *DB) get(snap *leveldb.Snapshot, ns, key string) (*statedb.VersionedValue, error) {
	// Most keys fit the buffer, which LevelDB only reads during the call.
	var buf [maxStackKey]byte
	k := appendDataKey(buf[:0], ns, key)
	var raw []byte
	var err error
	if snap != nil {
		raw, err = snap.Get(k, nil)
	} else {
		raw, err = d.db.Get(k, nil)
	}
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s/%q: %w", ns, key, err)
	}
	vv, err := decodeValue(raw, true)
	if err != nil {
		return nil, fmt.Errorf("get %s/%q: %w", ns, key, err)
	}
	return vv, nil
}

// GetRange implements statedb.DB.
func (d *DB) GetRange(ns, startKey, endKey string) (statedb.Iterator, error) {
	return d.getRange(nil, ns, startKey, endKey), nil
}

// getRange scans through snap, or the database when snap is nil.
func (d *DB) getRange(snap *leveldb.Snapshot, ns, startKey, endKey string) statedb.Iterator {
	prefix := nsPrefix(ns)
	r := &util.Range{Start: append(append([]byte(nil), prefix...), startKey...)}
	if endKey == "" {
		r.Limit = util.BytesPrefix(prefix).Limit
	} else {
		r.Limit = append(append([]byte(nil), prefix...), endKey...)
	}
	var it iterator.Iterator
	if snap != nil {
		it = snap.NewIterator(r, nil)
	} else {
		it = d.db.NewIterator(r, nil)
	}
	return &rangeIter{it: it, ns: ns, prefixLen: len(prefix)}
}

var _ statedb.Snapshotter = (*DB)(nil)

// Snapshot implements statedb.Snapshotter with a LevelDB snapshot: its reads
// share one pinned view instead of pinning one each (two allocations and a
// lock per Get fewer).
func (d *DB) Snapshot() (statedb.Snapshot, error) {
	snap, err := d.db.GetSnapshot()
	if err != nil {
		return nil, fmt.Errorf("snapshot state leveldb %s: %w", d.dir, err)
	}
	return &snapshot{d: d, snap: snap}, nil
}

type snapshot struct {
	d    *DB
	snap *leveldb.Snapshot
}

func (s *snapshot) Get(ns, key string) (*statedb.VersionedValue, error) {
	return s.d.get(s.snap, ns, key)
}

func (s *snapshot) GetRange(ns, startKey, endKey string) (statedb.Iterator, error) {
	return s.d.getRange(s.snap, ns, startKey, endKey), nil
}

// Release implements statedb.Snapshot; LevelDB's Release may be repeated.
func (s *snapshot) Release() { s.snap.Release() }

type rangeIter struct {
	it        iterator.Iterator
	ns        string
	prefixLen int
	closed    bool
}

func (r *rangeIter) Next() (*statedb.KV, error) {
	if r.closed {
		return nil, nil
	}
	if !r.it.Next() {
		if err := r.it.Error(); err != nil {
			return nil, fmt.Errorf("range scan of %s: %w", r.ns, err)
		}
		return nil, nil
	}
	vv, err := decodeValue(r.it.Value(), false)
	if err != nil {
		return nil, fmt.Errorf("range scan of %s: %w", r.ns, err)
	}
	return &statedb.KV{Namespace: r.ns, Key: string(r.it.Key()[r.prefixLen:]), VersionedValue: *vv}, nil
}

func (r *rangeIter) Close() {
	if !r.closed {
		r.closed = true
		r.it.Release()
	}
}

// Apply implements statedb.DB.
func (d *DB) Apply(b *statedb.Batch, savepoint statedb.Version) error {
	start := time.Now()
	lb := new(leveldb.Batch)
	// The batch copies each key and value in, so one buffer for each serves
	// every update.
	var kbuf, vbuf []byte
	_ = b.ForEach(func(ns, key string, vv *statedb.VersionedValue, deleted bool, _ statedb.Version) error {
		kbuf = appendDataKey(kbuf[:0], ns, key)
		if deleted {
			lb.Delete(kbuf)
		} else {
			vbuf = appendValue(vbuf[:0], vv)
			lb.Put(kbuf, vbuf)
		}
		return nil
	})
	lb.Put(savepointKey, encodeValue(&statedb.VersionedValue{Version: savepoint}))
	// Not synced: the state is derived from the block store, which is
	// synced before the state is applied. A write the machine's crash
	// loses leaves the savepoint behind the blocks, and the ledger replays
	// them at open. One fsync a block fewer on the commit path.
	if err := d.db.Write(lb, nil); err != nil {
		return fmt.Errorf("apply %d state updates at savepoint %s: %w", b.Len(), savepoint, err)
	}
	if fn := d.observe.Load(); fn != nil {
		(*fn)(time.Since(start), b.Len())
	}
	return nil
}

// Savepoint implements statedb.DB.
func (d *DB) Savepoint() (statedb.Version, bool, error) {
	raw, err := d.db.Get(savepointKey, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return statedb.Version{}, false, nil
	}
	if err != nil {
		return statedb.Version{}, false, fmt.Errorf("read state savepoint: %w", err)
	}
	vv, err := decodeValue(raw, true)
	if err != nil {
		return statedb.Version{}, false, fmt.Errorf("read state savepoint: %w", err)
	}
	return vv.Version, true, nil
}

// Close implements statedb.DB.
func (d *DB) Close() error {
	if err := d.db.Close(); err != nil && !errors.Is(err, leveldb.ErrClosed) {
		return fmt.Errorf("close state leveldb %s: %w", d.dir, err)
	}
	return nil
}
