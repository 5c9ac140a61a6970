package transientstore

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
	"google.golang.org/protobuf/proto"

	stateleveldb "github.com/weft-ledger/weft/statedb/leveldb"
)

// ErrClosed is returned by every method of a closed Store.
var ErrClosed = errors.New("transientstore: store closed")

const (
	txPrefix     = 't'
	heightPrefix = 'h'
	valueVersion = 1
	// suffixLen is the height and nonce after a txID in a "t" key.
	suffixLen = 16
)

// Store is the transient store of one channel.
type Store struct {
	dir string

	// mu serialises writers, so that two Takes of one transaction do not
	// both return it, and keeps Close from running while an iterator is
	// open (goleveldb forbids closing with iterators open).
	mu     sync.Mutex
	db     *leveldb.DB
	closed bool
}

// Open opens (creating it if needed) the store in dir.
func Open(dir string) (*Store, error) {
	db, err := stateleveldb.OpenFile(dir)
	if err != nil {
		return nil, fmt.Errorf("open transient store %s: %w", dir, err)
	}
	return &Store{dir: dir, db: db}, nil
}

// Dir is the folder the store lives in.
func (s *Store) Dir() string { return s.dir }

// Put records the private write set of txID, simulated at ledger height
// height. Empty sets are not stored. The write is synced to disk before Put
// returns: the endorsement that follows promises the set exists.
func (s *Store) Put(txID string, height uint64, pvt *rwset.TxPvtReadWriteSet) error {
	if len(pvt.GetNsPvtRwset()) == 0 {
		return nil
	}
	if err := checkTxID(txID); err != nil {
		return fmt.Errorf("transient store %s: put: %w", s.dir, err)
	}
	raw, err := proto.Marshal(pvt)
	if err != nil {
		return fmt.Errorf("transient store %s: encode the private write set of transaction %s: %w", s.dir, txID, err)
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand)
	b := new(leveldb.Batch)
	b.Put(txKey(txID, height, nonce[:]), append([]byte{valueVersion}, raw...))
	b.Put(heightKey(height, txID, nonce[:]), nil)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("transient store %s: put transaction %s: %w", s.dir, txID, ErrClosed)
	}
	if err := s.db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("transient store %s: put transaction %s: %w", s.dir, txID, err)
	}
	return nil
}

// Take removes every entry of the given transactions and returns one private
// write set per transaction found, keyed by its index in txIDs (its index in
// the block): the union of the collections of its entries. An entry that cannot be decoded is removed too and named in the
// error, which is returned along with the sets that could be read.
func (s *Store) Take(txIDs []string) (map[uint64]*rwset.TxPvtReadWriteSet, error) {
	return s.scan("take", txIDs, true, true)
}

// Get is Take without the removal: a committer that may have to commit the
// block again reads with Get and calls Remove once the block is committed.
func (s *Store) Get(txIDs []string) (map[uint64]*rwset.TxPvtReadWriteSet, error) {
	return s.scan("get", txIDs, true, false)
}

// Remove removes every entry of the given transactions.
func (s *Store) Remove(txIDs []string) error {
	_, err := s.scan("remove", txIDs, false, true)
	return err
}

// scan reads (decode) and/or removes the entries of txIDs.
func (s *Store) scan(op string, txIDs []string, decode, remove bool) (map[uint64]*rwset.TxPvtReadWriteSet, error) {
	out := map[uint64]*rwset.TxPvtReadWriteSet{}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return out, fmt.Errorf("transient store %s: %s: %w", s.dir, op, ErrClosed)
	}
	b := new(leveldb.Batch)
	var errs []error
	// One iterator over every transaction's entries, moved to each TxID in
	// turn: an iterator per TxID cost a snapshot and a merged iterator each,
	// on every block, even with nothing stored.
	all := util.BytesPrefix([]byte{txPrefix})
	it := s.db.NewIterator(all, nil)
	defer func() { it.Release() }()
	prefix := make([]byte, 0, 2+64)
	for i, txID := range txIDs {
		if checkTxID(txID) != nil {
			continue // never stored
		}
		prefix = append(append(append(prefix[:0], txPrefix), txID...), 0)
		for ok := it.Seek(prefix); ok && bytes.HasPrefix(it.Key(), prefix); ok = it.Next() {
			key := it.Key()
			suffix := key[len(prefix):]
			if len(suffix) != suffixLen {
				errs = append(errs, fmt.Errorf("transient store %s: transaction %s: key %q is not a transient store key (want %d bytes after the txID, got %d)", s.dir, txID, key, suffixLen, len(suffix)))
				b.Delete(bytes.Clone(key))
				continue
			}
			height := binary.BigEndian.Uint64(suffix[:8])
			b.Delete(bytes.Clone(key))
			b.Delete(heightKey(height, txID, suffix[8:]))
			if !decode {
				continue
			}
			pvt, err := decodeValue(it.Value())
			if err != nil {
				errs = append(errs, fmt.Errorf("transient store %s: transaction %s: key %q: %w", s.dir, txID, key, err))
				continue
			}
			out[uint64(i)] = merge(out[uint64(i)], pvt)
		}
		if err := it.Error(); err != nil {
			errs = append(errs, fmt.Errorf("transient store %s: %s transaction %s: %w", s.dir, op, txID, err))
			// The next transaction gets a fresh iterator, as each had before.
			it.Release()
			it = s.db.NewIterator(all, nil)
		}
	}
	if remove && b.Len() > 0 {
		// Not synced: entries a crash brings back are taken by no block and
		// purged by height.
		if err := s.db.Write(b, nil); err != nil {
			errs = append(errs, fmt.Errorf("transient store %s: %s: remove the entries of %d transactions: %w", s.dir, op, len(txIDs), err))
		}
	}
	return out, errors.Join(errs...)
}

// Entries returns every stored private write set of txID (several
// endorsements, or collections pushed by other peers one at a time), oldest
// height first. Nothing is removed.
func (s *Store) Entries(txID string) ([]*rwset.TxPvtReadWriteSet, error) {
	if checkTxID(txID) != nil {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("transient store %s: entries of %s: %w", s.dir, txID, ErrClosed)
	}
	prefix := append(append([]byte{txPrefix}, txID...), 0)
	it := s.db.NewIterator(util.BytesPrefix(prefix), nil)
	defer it.Release()
	var out []*rwset.TxPvtReadWriteSet
	var errs []error
	for it.Next() {
		pvt, err := decodeValue(it.Value())
		if err != nil {
			errs = append(errs, fmt.Errorf("transient store %s: transaction %s: key %q: %w", s.dir, txID, it.Key(), err))
			continue
		}
		out = append(out, pvt)
	}
	if err := it.Error(); err != nil {
		errs = append(errs, fmt.Errorf("transient store %s: entries of %s: %w", s.dir, txID, err))
	}
	return out, errors.Join(errs...)
}

// merge adds to into the collections of from it lacks: one transaction's
// entries may each hold some of its collections (other peers push one
// collection at a time), and entries of several endorsements hold the same
// collections, identical for a deterministic chaincode, of which the first
// is kept.
func merge(into, from *rwset.TxPvtReadWriteSet) *rwset.TxPvtReadWriteSet {
	if into == nil {
		return from
	}
	for _, fns := range from.NsPvtRwset {
		var ins *rwset.NsPvtReadWriteSet
		for _, n := range into.NsPvtRwset {
			if n.Namespace == fns.Namespace {
				ins = n
				break
			}
		}
		if ins == nil {
			into.NsPvtRwset = append(into.NsPvtRwset, fns)
			continue
		}
		for _, fc := range fns.CollectionPvtRwset {
			found := false
			for _, c := range ins.CollectionPvtRwset {
				if c.CollectionName == fc.CollectionName {
					found = true
					break
				}
			}
			if !found {
				ins.CollectionPvtRwset = append(ins.CollectionPvtRwset, fc)
			}
		}
	}
	return into
}

// PurgeBelow removes every entry simulated at a height below height and
// returns how many it removed.
func (s *Store) PurgeBelow(height uint64) (int, error) {
	if height == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("transient store %s: purge below height %d: %w", s.dir, height, ErrClosed)
	}
	limit := heightKey(height, "", nil)[:9]
	it := s.db.NewIterator(&util.Range{Start: []byte{heightPrefix}, Limit: limit}, nil)
	b := new(leveldb.Batch)
	var errs []error
	n := 0
	for it.Next() {
		key := it.Key()
		b.Delete(bytes.Clone(key))
		// "h" height(8) txID 0x00 nonce(8)
		rest := key[9:]
		if len(rest) < 1+8 || rest[len(rest)-9] != 0 {
			errs = append(errs, fmt.Errorf("transient store %s: key %q is not a transient store height key", s.dir, key))
			continue
		}
		h := binary.BigEndian.Uint64(key[1:9])
		txID := string(rest[:len(rest)-9])
		b.Delete(txKey(txID, h, rest[len(rest)-8:]))
		n++
	}
	err := it.Error()
	it.Release()
	if err != nil {
		return 0, fmt.Errorf("transient store %s: purge below height %d: %w", s.dir, height, err)
	}
	if b.Len() > 0 {
		if err := s.db.Write(b, nil); err != nil {
			return 0, fmt.Errorf("transient store %s: purge below height %d: %w", s.dir, height, err)
		}
	}
	return n, errors.Join(errs...)
}

// Close closes the store; later calls fail with ErrClosed. Closing twice is
// harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close transient store %s: %w", s.dir, err)
	}
	return nil
}

// checkTxID refuses txIDs the key layout cannot hold.
func checkTxID(txID string) error {
	if txID == "" {
		return errors.New("empty transaction ID")
	}
	if strings.IndexByte(txID, 0) >= 0 {
		return fmt.Errorf("transaction ID %q holds a NUL byte", txID)
	}
	return nil
}

func txKey(txID string, height uint64, nonce []byte) []byte {
	k := make([]byte, 0, 1+len(txID)+1+suffixLen)
	k = append(k, txPrefix)
	k = append(k, txID...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, height)
	return append(k, nonce...)
}

func heightKey(height uint64, txID string, nonce []byte) []byte {
	k := make([]byte, 0, 1+8+len(txID)+1+8)
	k = append(k, heightPrefix)
	k = binary.BigEndian.AppendUint64(k, height)
	k = append(k, txID...)
	k = append(k, 0)
	return append(k, nonce...)
}

// decodeValue reads a stored value: a version byte then the marshaled set.
func decodeValue(v []byte) (*rwset.TxPvtReadWriteSet, error) {
	if len(v) == 0 || v[0] != valueVersion {
		return nil, fmt.Errorf("value is not a transient store entry (want version byte %d, got %d bytes starting %x)", valueVersion, len(v), v[:min(len(v), 4)])
	}
	pvt := &rwset.TxPvtReadWriteSet{}
	if err := proto.Unmarshal(v[1:], pvt); err != nil {
		return nil, fmt.Errorf("decode the private write set: %w", err)
	}
	if len(pvt.NsPvtRwset) == 0 {
		return nil, errors.New("decode the private write set: it holds no namespace")
	}
	return pvt, nil
}
