package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
	stateleveldb "github.com/weft-ledger/weft/statedb/leveldb"
)

// pvtStore is the ledger's private data store (a goleveldb in dir/pvtdata).
// It keeps, for every committed block, this peer's private write sets of the
// block's valid transactions (one entry per collection), what the peer was
// entitled to but did not receive, and the bookkeeping of blockToLive expiry
// and purges. Records are kept apart by the first byte of their key:
//
//	's' block tx ns coll       → the collection's private write set (a marshalled kvrwset.KVRWSet)
//	'm' block tx ns coll       → missing: expiry block (0 = never) ‖ txID
//	'x' E block tx ns coll kh  → a key written at (block, tx) expires when block E commits:
//	                             the key itself, or nothing when this peer does not know it
//	'd' E block ns coll        → the stored sets and missing entries of (block, ns, coll) expire at E
//	'p' ns coll kh             → the height (block ‖ tx) of the last purge of the key with hash kh
//
// Numbers are big-endian uint64, so each record kind sorts by block; strings
// are length-prefixed (uvarint). Keys of 16 bytes are the layout of earlier
// versions (block ‖ tx → a whole rwset.TxPvtReadWriteSet, kept only until the
// block's state was applied); Open replays and then drops them.
type pvtStore struct {
	db *leveldb.DB
}

const (
	recSet     = 's'
	recMissing = 'm'
	recExpiry  = 'x'
	recDataExp = 'd'
	recPurge   = 'p'
)

func openPvtStore(dir string) (*pvtStore, error) {
	db, err := stateleveldb.OpenFile(dir)
	if err != nil {
		return nil, fmt.Errorf("open private data store %s: %w", dir, err)
	}
	return &pvtStore{db: db}, nil
}

func (s *pvtStore) close() error { return s.db.Close() }

// pvtID names one collection's private data of one transaction.
type pvtID struct {
	block, tx uint64
	ns, coll  string
}

func (id pvtID) String() string {
	return fmt.Sprintf("block %d tx %d collection %s/%s", id.block, id.tx, id.ns, id.coll)
}

func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// keyReader decodes the fields of a record key in order; the first error
// sticks.
type keyReader struct {
	b   []byte
	err error
}

func (r *keyReader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errors.New("short number")
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *keyReader) str() string {
	if r.err != nil {
		return ""
	}
	n, k := binary.Uvarint(r.b)
	if k <= 0 || uint64(len(r.b)-k) < n {
		r.err = errors.New("bad string")
		return ""
	}
	s := string(r.b[k : k+int(n)])
	r.b = r.b[k+int(n):]
	return s
}

func (r *keyReader) rest() []byte {
	out := r.b
	r.b = nil
	return out
}

func (r *keyReader) done(key []byte) error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New("trailing bytes")
	}
	if r.err != nil {
		return fmt.Errorf("private data store: malformed key %x (%v); the pvtdata folder is damaged", key, r.err)
	}
	return nil
}

func idKey(kind byte, id pvtID) []byte {
	k := appendU64(appendU64([]byte{kind}, id.block), id.tx)
	return appendStr(appendStr(k, id.ns), id.coll)
}

func parseIDKey(key []byte) (pvtID, error) {
	r := &keyReader{b: key[1:]}
	id := pvtID{block: r.u64(), tx: r.u64(), ns: r.str(), coll: r.str()}
	return id, r.done(key)
}

// kindBlocks is the key range of records of kind whose first number is in
// [from, to).
func kindBlocks(kind byte, from, to uint64) *util.Range {
	return &util.Range{Start: appendU64([]byte{kind}, from), Limit: appendU64([]byte{kind}, to)}
}

func kindFrom(kind byte, from uint64) *util.Range {
	return &util.Range{Start: appendU64([]byte{kind}, from), Limit: []byte{kind + 1}}
}

// scheduled is one key's expiry: written at version, removed when block
// expiry commits unless rewritten since.
type scheduled struct {
	expiry  uint64
	version statedb.Version
	ns      string
	coll    string
	keyHash []byte
	key     string // "" when unknown (this peer holds only the hash)
}

func (e scheduled) dbKey() []byte {
	k := appendU64(appendU64(appendU64([]byte{recExpiry}, e.expiry), e.version.BlockNum), e.version.TxNum)
	k = appendStr(appendStr(k, e.ns), e.coll)
	return append(k, e.keyHash...)
}

func parseScheduled(key, value []byte) (scheduled, error) {
	r := &keyReader{b: key[1:]}
	e := scheduled{expiry: r.u64(), version: statedb.Version{BlockNum: r.u64(), TxNum: r.u64()}, ns: r.str(), coll: r.str()}
	e.keyHash = append([]byte(nil), r.rest()...)
	e.key = string(value)
	return e, r.done(key)
}

// dataExpiry says that the stored sets and missing entries of (block, ns,
// coll) expire when block expiry commits.
type dataExpiry struct {
	expiry, block uint64
	ns, coll      string
}

func (d dataExpiry) dbKey() []byte {
	k := appendU64(appendU64([]byte{recDataExp}, d.expiry), d.block)
	return appendStr(appendStr(k, d.ns), d.coll)
}

func parseDataExpiry(key []byte) (dataExpiry, error) {
	r := &keyReader{b: key[1:]}
	d := dataExpiry{expiry: r.u64(), block: r.u64(), ns: r.str(), coll: r.str()}
	return d, r.done(key)
}

func purgeKey(ns, coll string, keyHash []byte) []byte {
	return append(appendStr(appendStr([]byte{recPurge}, ns), coll), keyHash...)
}

func missingValue(expiry uint64, txID string) []byte {
	return append(appendU64(nil, expiry), txID...)
}

func parseMissingValue(v []byte) (expiry uint64, txID string, err error) {
	if len(v) < 8 {
		return 0, "", fmt.Errorf("private data store: malformed missing entry %x; the pvtdata folder is damaged", v)
	}
	return binary.BigEndian.Uint64(v), string(v[8:]), nil
}

// write applies wb; sync makes it durable before returning.
func (s *pvtStore) write(wb *leveldb.Batch, sync bool, what string) error {
	if wb.Len() == 0 {
		return nil
	}
	if err := s.db.Write(wb, &opt.WriteOptions{Sync: sync}); err != nil {
		return fmt.Errorf("private data store: %s: %w", what, err)
	}
	return nil
}

// each calls fn for every record in r, stopping at the first error.
func (s *pvtStore) each(r *util.Range, fn func(k, v []byte) error) error {
	it := s.db.NewIterator(r, nil)
	defer it.Release()
	for it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("private data store: scan: %w", err)
	}
	return nil
}

// sets returns the stored private write sets of block, assembled by
// transaction as Fabric hands them out: namespaces and collections in name
// order.
func (s *pvtStore) sets(block uint64) (map[uint64]*rwset.TxPvtReadWriteSet, error) {
	out := map[uint64]*rwset.TxPvtReadWriteSet{}
	err := s.each(kindBlocks(recSet, block, block+1), func(k, v []byte) error {
		id, err := parseIDKey(k)
		if err != nil {
			return err
		}
		addCollSet(out, id, append([]byte(nil), v...))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read private data of block %d: %w", block, err)
	}
	for _, tx := range out {
		sortTxPvt(tx)
	}
	return out, nil
}

func addCollSet(out map[uint64]*rwset.TxPvtReadWriteSet, id pvtID, raw []byte) {
	tx := out[id.tx]
	if tx == nil {
		tx = &rwset.TxPvtReadWriteSet{DataModel: rwset.TxReadWriteSet_KV}
		out[id.tx] = tx
	}
	var ns *rwset.NsPvtReadWriteSet
	for _, n := range tx.NsPvtRwset {
		if n.Namespace == id.ns {
			ns = n
		}
	}
	if ns == nil {
		ns = &rwset.NsPvtReadWriteSet{Namespace: id.ns}
		tx.NsPvtRwset = append(tx.NsPvtRwset, ns)
	}
	ns.CollectionPvtRwset = append(ns.CollectionPvtRwset, &rwset.CollectionPvtReadWriteSet{CollectionName: id.coll, Rwset: raw})
}

func sortTxPvt(tx *rwset.TxPvtReadWriteSet) {
	sort.Slice(tx.NsPvtRwset, func(i, j int) bool { return tx.NsPvtRwset[i].Namespace < tx.NsPvtRwset[j].Namespace })
	for _, n := range tx.NsPvtRwset {
		c := n.CollectionPvtRwset
		sort.Slice(c, func(i, j int) bool { return c[i].CollectionName < c[j].CollectionName })
	}
}

// missing returns the missing entry of id; ok is false when there is none.
func (s *pvtStore) missing(id pvtID) (expiry uint64, txID string, ok bool, err error) {
	v, err := s.db.Get(idKey(recMissing, id), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("private data store: read missing entry of %s: %w", id, err)
	}
	expiry, txID, err = parseMissingValue(v)
	return expiry, txID, err == nil, err
}

// listMissing returns up to max missing entries, newest block first.
func (s *pvtStore) listMissing(max int) ([]MissingPrivateData, error) {
	it := s.db.NewIterator(util.BytesPrefix([]byte{recMissing}), nil)
	defer it.Release()
	var out []MissingPrivateData
	for ok := it.Last(); ok && len(out) < max; ok = it.Prev() {
		id, err := parseIDKey(it.Key())
		if err != nil {
			return nil, err
		}
		_, txID, err := parseMissingValue(it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, MissingPrivateData{Block: id.block, Tx: id.tx, TxID: txID, Namespace: id.ns, Collection: id.coll})
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("private data store: list missing data: %w", err)
	}
	return out, nil
}

// purgedAt returns the height of the last purge of the key with hash kh in
// ns/coll; ok is false when it was never purged.
func (s *pvtStore) purgedAt(ns, coll string, kh []byte) (v statedb.Version, ok bool, err error) {
	raw, err := s.db.Get(purgeKey(ns, coll, kh), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return v, false, nil
	}
	if err != nil || len(raw) != 16 {
		return v, false, fmt.Errorf("private data store: read the purge marker of a key of %s/%s: %v", ns, coll, err)
	}
	return statedb.Version{BlockNum: binary.BigEndian.Uint64(raw), TxNum: binary.BigEndian.Uint64(raw[8:])}, true, nil
}

// due returns the key expiries and data expiries scheduled for block e.
func (s *pvtStore) due(e uint64) ([]scheduled, []dataExpiry, error) {
	var keys []scheduled
	var data []dataExpiry
	err := s.each(kindBlocks(recExpiry, e, e+1), func(k, v []byte) error {
		x, err := parseScheduled(k, v)
		keys = append(keys, x)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	err = s.each(kindBlocks(recDataExp, e, e+1), func(k, _ []byte) error {
		d, err := parseDataExpiry(k)
		data = append(data, d)
		return err
	})
	return keys, data, err
}

// expireInto adds to wb the removal of every record that expires at a block
// in [from, to): the schedules themselves and the stored sets and missing
// entries they name.
func (s *pvtStore) expireInto(wb *leveldb.Batch, from, to uint64) error {
	err := s.each(kindBlocks(recExpiry, from, to), func(k, _ []byte) error {
		wb.Delete(append([]byte(nil), k...))
		return nil
	})
	if err != nil {
		return err
	}
	var expired []dataExpiry
	err = s.each(kindBlocks(recDataExp, from, to), func(k, _ []byte) error {
		d, err := parseDataExpiry(k)
		if err != nil {
			return err
		}
		expired = append(expired, d)
		wb.Delete(append([]byte(nil), k...))
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range expired {
		for _, kind := range []byte{recSet, recMissing} {
			err := s.each(kindBlocks(kind, d.block, d.block+1), func(k, _ []byte) error {
				id, err := parseIDKey(k)
				if err != nil {
					return err
				}
				if id.ns == d.ns && id.coll == d.coll {
					wb.Delete(append([]byte(nil), k...))
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// expireThrough removes what expired at blocks below height; Commit does it
// block by block, this catches up on what a crash left.
func (s *pvtStore) expireThrough(height uint64) error {
	wb := new(leveldb.Batch)
	if err := s.expireInto(wb, 0, height); err != nil {
		return err
	}
	return s.write(wb, false, "remove expired private data")
}

// dropFrom removes the records written for blocks at or above height: they
// were stored for a block whose append never completed.
func (s *pvtStore) dropFrom(height uint64) error {
	wb := new(leveldb.Batch)
	del := func(k, _ []byte) error {
		wb.Delete(append([]byte(nil), k...))
		return nil
	}
	for _, kind := range []byte{recSet, recMissing} {
		if err := s.each(kindFrom(kind, height), del); err != nil {
			return err
		}
	}
	// Schedules expire after the block that wrote them, so only those
	// expiring above height can be from such a block.
	err := s.each(kindFrom(recExpiry, height+1), func(k, v []byte) error {
		x, err := parseScheduled(k, v)
		if err == nil && x.version.BlockNum >= height {
			wb.Delete(append([]byte(nil), k...))
		}
		return err
	})
	if err != nil {
		return err
	}
	err = s.each(kindFrom(recDataExp, height+1), func(k, _ []byte) error {
		d, err := parseDataExpiry(k)
		if err == nil && d.block >= height {
			wb.Delete(append([]byte(nil), k...))
		}
		return err
	})
	if err != nil {
		return err
	}
	err = s.each(util.BytesPrefix([]byte{recPurge}), func(k, v []byte) error {
		if len(v) == 16 && binary.BigEndian.Uint64(v) >= height {
			wb.Delete(append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.write(wb, true, fmt.Sprintf("drop private data of blocks from %d on, which the block store does not hold", height))
}

// legacy returns the entries in the layout of earlier versions, by block.
func (s *pvtStore) legacy() (map[uint64]map[uint64]*rwset.TxPvtReadWriteSet, error) {
	out := map[uint64]map[uint64]*rwset.TxPvtReadWriteSet{}
	// Their first byte is the top byte of a block number: 0 in practice.
	err := s.each(util.BytesPrefix([]byte{0}), func(k, v []byte) error {
		if len(k) != 16 {
			return nil
		}
		block, tx := binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k[8:])
		set := &rwset.TxPvtReadWriteSet{}
		if err := proto.Unmarshal(v, set); err != nil {
			return fmt.Errorf("private data of block %d tx %d (earlier layout): %w", block, tx, err)
		}
		if out[block] == nil {
			out[block] = map[uint64]*rwset.TxPvtReadWriteSet{}
		}
		out[block][tx] = set
		return nil
	})
	return out, err
}

// dropLegacy removes the entries in the layout of earlier versions.
func (s *pvtStore) dropLegacy() error {
	wb := new(leveldb.Batch)
	err := s.each(util.BytesPrefix([]byte{0}), func(k, _ []byte) error {
		if len(k) == 16 {
			wb.Delete(append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.write(wb, true, "drop private data in the earlier layout")
}

// blockRecords is what one committed block adds to the store.
type blockRecords struct {
	block     uint64
	sets      map[pvtID][]byte // the applied private write sets
	missing   map[pvtID]missingInfo
	schedules []scheduled
	dataExp   []dataExpiry
	purges    []purgeMark
}

type missingInfo struct {
	expiry uint64
	txID   string
}

// purgeMark is a purge of the key with hash keyHash in ns/coll at version.
type purgeMark struct {
	ns, coll string
	keyHash  []byte
	version  statedb.Version
}

func (r *blockRecords) empty() bool {
	return len(r.sets) == 0 && len(r.missing) == 0 && len(r.schedules) == 0 && len(r.dataExp) == 0 && len(r.purges) == 0
}

// put durably records r: its block's sets, missing entries and schedules,
// and the removal of its purged keys from the stored sets of earlier
// transactions. With replace, the sets and missing entries an earlier
// attempt to commit the block left are removed first (schedules and purge
// markers derive from the block alone, so a retry writes the same ones).
func (s *pvtStore) put(r *blockRecords, replace bool) error {
	wb := new(leveldb.Batch)
	if replace {
		for _, kind := range []byte{recSet, recMissing} {
			err := s.each(kindBlocks(kind, r.block, r.block+1), func(k, _ []byte) error {
				wb.Delete(append([]byte(nil), k...))
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	if r.empty() {
		return s.write(wb, true, fmt.Sprintf("store private data of block %d", r.block))
	}
	for id, raw := range r.sets {
		wb.Put(idKey(recSet, id), raw)
	}
	for id, m := range r.missing {
		wb.Put(idKey(recMissing, id), missingValue(m.expiry, m.txID))
	}
	for _, x := range r.schedules {
		wb.Put(x.dbKey(), []byte(x.key))
	}
	for _, d := range r.dataExp {
		wb.Put(d.dbKey(), nil)
	}
	if len(r.purges) > 0 {
		if err := s.purgeInto(wb, r); err != nil {
			return err
		}
	}
	return s.write(wb, true, fmt.Sprintf("store private data of block %d", r.block))
}

// purgeInto adds to wb the purge markers of r and the rewrite, without the
// purged keys, of every stored set of an earlier transaction (r's own sets
// are cut in place). Sets left with nothing are removed.
func (s *pvtStore) purgeInto(wb *leveldb.Batch, r *blockRecords) error {
	for _, p := range r.purges {
		wb.Put(purgeKey(p.ns, p.coll, p.keyHash), appendU64(appendU64(nil, p.version.BlockNum), p.version.TxNum))
	}
	purgedBefore := func(id pvtID) map[string]bool {
		out := map[string]bool{}
		for _, p := range r.purges {
			if p.ns == id.ns && p.coll == id.coll && (statedb.Version{BlockNum: id.block, TxNum: id.tx}).Compare(p.version) < 0 {
				out[string(p.keyHash)] = true
			}
		}
		return out
	}
	for id, raw := range r.sets {
		if out, changed, err := withoutKeys(raw, purgedBefore(id)); err != nil {
			return fmt.Errorf("purge from the private data of %s: %w", id, err)
		} else if changed {
			if out == nil {
				delete(r.sets, id)
				wb.Delete(idKey(recSet, id))
			} else {
				r.sets[id] = out
				wb.Put(idKey(recSet, id), out)
			}
		}
	}
	// Earlier blocks: the sets are keyed by block, so every stored set's key
	// is looked at, and only those of a purged collection decoded.
	colls := map[string]bool{}
	for _, p := range r.purges {
		colls[collKey(p.ns, p.coll)] = true
	}
	return s.each(kindBlocks(recSet, 0, r.block), func(k, v []byte) error {
		id, err := parseIDKey(k)
		if err != nil {
			return err
		}
		if !colls[collKey(id.ns, id.coll)] {
			return nil
		}
		out, changed, err := withoutKeys(v, purgedBefore(id))
		if err != nil {
			return fmt.Errorf("purge from the private data of %s: %w", id, err)
		}
		switch {
		case !changed:
		case out == nil:
			wb.Delete(append([]byte(nil), k...))
		default:
			wb.Put(append([]byte(nil), k...), out)
		}
		return nil
	})
}

// withoutKeys returns the private write set raw without the writes and
// metadata writes of keys whose hash is in hashes; out is nil when nothing
// is left.
func withoutKeys(raw []byte, hashes map[string]bool) (out []byte, changed bool, err error) {
	if len(hashes) == 0 {
		return raw, false, nil
	}
	kv, err := decodeKVRWSet(raw)
	if err != nil {
		return nil, false, err
	}
	keep := kv.Writes[:0]
	for _, w := range kv.Writes {
		if hashes[string(keyHash(w.Key))] {
			changed = true
			continue
		}
		keep = append(keep, w)
	}
	kv.Writes = keep
	keepMeta := kv.MetadataWrites[:0]
	for _, w := range kv.MetadataWrites {
		if hashes[string(keyHash(w.Key))] {
			changed = true
			continue
		}
		keepMeta = append(keepMeta, w)
	}
	kv.MetadataWrites = keepMeta
	if !changed {
		return raw, false, nil
	}
	if len(kv.Writes) == 0 && len(kv.MetadataWrites) == 0 {
		return nil, true, nil
	}
	return protos.Marshal(kv), true, nil
}
