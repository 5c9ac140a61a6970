package ledger

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// HashedNamespace is the state namespace of the hashes of collection coll of
// chaincode ns: key = string(SHA-256(key)), value = SHA-256(value).
func HashedNamespace(ns, coll string) string { return ns + "$$h" + coll }

// PrivateNamespace is the state namespace of this peer's copy of collection
// coll of chaincode ns.
func PrivateNamespace(ns, coll string) string { return ns + "$$p" + coll }

// decodedNs is one namespace of a transaction's read/write set, decoded.
type decodedNs struct {
	ns     string
	kv     *kvrwset.KVRWSet
	hashed []decodedColl
}

type decodedColl struct {
	name    string
	set     *kvrwset.HashedRWSet
	pvtHash []byte
}

func decodeRWSet(rws *rwset.TxReadWriteSet) ([]decodedNs, error) {
	out := make([]decodedNs, 0, len(rws.GetNsRwset()))
	for _, n := range rws.GetNsRwset() {
		d := decodedNs{ns: n.Namespace, kv: &kvrwset.KVRWSet{}}
		if err := proto.Unmarshal(n.Rwset, d.kv); err != nil {
			return nil, fmt.Errorf("namespace %s: decode kvrwset.KVRWSet: %w", n.Namespace, err)
		}
		for _, c := range n.CollectionHashedRwset {
			h := &kvrwset.HashedRWSet{}
			if err := proto.Unmarshal(c.HashedRwset, h); err != nil {
				return nil, fmt.Errorf("namespace %s collection %s: decode kvrwset.HashedRWSet: %w", n.Namespace, c.CollectionName, err)
			}
			d.hashed = append(d.hashed, decodedColl{name: c.CollectionName, set: h, pvtHash: c.PvtRwsetHash})
		}
		out = append(out, d)
	}
	return out, nil
}

func sameVersion(read *kvrwset.Version, committed *statedb.VersionedValue) bool {
	if read == nil || committed == nil {
		return read == nil && committed == nil
	}
	return read.BlockNum == committed.Version.BlockNum && read.TxNum == committed.Version.TxNum
}

// maxMemo bounds the reads a readMemo keeps: it is searched linearly, and
// most transactions read a handful of keys.
const maxMemo = 16

// readMemo is the committed state as one transaction's MVCC check read it. A
// transaction mostly writes keys it read, and adding its writes needs their
// committed values again (to keep their metadata): the memo answers those
// without reading the database twice. It serves one transaction at a time
// (reset) and is reused for the next, so it costs no allocation per block.
type readMemo struct {
	db   statedb.Reader
	keys []statedb.NsKey
	vals []*statedb.VersionedValue
}

// reset empties m and makes it read through db.
func (m *readMemo) reset(db statedb.Reader) {
	m.db = db
	m.keys = m.keys[:0]
	clear(m.vals) // drop the values for the collector
	m.vals = m.vals[:0]
}

// remember records that key of ns has committed value vv (nil: absent).
func (m *readMemo) remember(ns, key string, vv *statedb.VersionedValue) {
	if len(m.keys) < maxMemo {
		m.keys = append(m.keys, statedb.NsKey{Namespace: ns, Key: key})
		m.vals = append(m.vals, vv)
	}
}

// Get answers from the memo, or else reads the database. The memo holds
// committed values, and the committed state does not change while a block
// is prepared (see Ledger.blockReader), so both answers agree.
func (m *readMemo) Get(ns, key string) (*statedb.VersionedValue, error) {
	for i, k := range m.keys {
		if k.Key == key && k.Namespace == ns {
			return m.vals[i], nil
		}
	}
	return m.db.Get(ns, key)
}

func (m *readMemo) GetRange(ns, startKey, endKey string) (statedb.Iterator, error) {
	return m.db.GetRange(ns, startKey, endKey)
}

// validateTx runs Fabric's MVCC checks for one transaction against the
// committed state plus the updates of earlier valid transactions in the block.
// It returns VALID, MVCC_READ_CONFLICT or PHANTOM_READ_CONFLICT, with a reason.
// When memo is not nil, the committed values read are recorded in it.
func validateTx(db statedb.Reader, b *statedb.Batch, sets []decodedNs, memo *readMemo) (pb.TxValidationCode, string, error) {
	for _, n := range sets {
		for _, r := range n.kv.Reads {
			if _, _, ok := b.Get(n.ns, r.Key); ok {
				return pb.TxValidationCode_MVCC_READ_CONFLICT, fmt.Sprintf("key %s/%q was written by an earlier transaction of the block", n.ns, r.Key), nil
			}
			vv, err := db.Get(n.ns, r.Key)
			if err != nil {
				return 0, "", err
			}
			if memo != nil {
				memo.remember(n.ns, r.Key, vv)
			}
			if !sameVersion(r.Version, vv) {
				return pb.TxValidationCode_MVCC_READ_CONFLICT, fmt.Sprintf("key %s/%q read at version %s, committed %s", n.ns, r.Key, fmtReadVersion(r.Version), fmtCommitted(vv)), nil
			}
		}
		for _, q := range n.kv.RangeQueriesInfo {
			ok, why, err := validateRange(db, b, n.ns, q)
			if err != nil {
				return 0, "", err
			}
			if !ok {
				return pb.TxValidationCode_PHANTOM_READ_CONFLICT, why, nil
			}
		}
		for _, c := range n.hashed {
			hns := HashedNamespace(n.ns, c.name)
			for _, r := range c.set.HashedReads {
				if _, _, ok := b.Get(hns, string(r.KeyHash)); ok {
					return pb.TxValidationCode_MVCC_READ_CONFLICT, fmt.Sprintf("private key hash %x of %s/%s was written by an earlier transaction of the block", r.KeyHash, n.ns, c.name), nil
				}
				vv, err := db.Get(hns, string(r.KeyHash))
				if err != nil {
					return 0, "", err
				}
				if memo != nil {
					memo.remember(hns, string(r.KeyHash), vv)
				}
				if !sameVersion(r.Version, vv) {
					return pb.TxValidationCode_MVCC_READ_CONFLICT, fmt.Sprintf("private key hash %x of %s/%s read at version %s, committed %s", r.KeyHash, n.ns, c.name, fmtReadVersion(r.Version), fmtCommitted(vv)), nil
				}
			}
		}
	}
	return pb.TxValidationCode_VALID, "", nil
}

func fmtReadVersion(v *kvrwset.Version) string {
	if v == nil {
		return "absent"
	}
	return fmt.Sprintf("%d:%d", v.BlockNum, v.TxNum)
}

func fmtCommitted(vv *statedb.VersionedValue) string {
	if vv == nil {
		return "absent"
	}
	return vv.Version.String()
}

// validateRange re-executes a recorded range query and reports whether it
// still returns exactly the recorded keys at the recorded versions. A range the
// simulator did not exhaust ends at (and includes) the last key it read.
func validateRange(db statedb.Reader, b *statedb.Batch, ns string, q *kvrwset.RangeQueryInfo) (bool, string, error) {
	it, err := newMergedRange(db, b, ns, q.StartKey, q.EndKey, !q.ItrExhausted)
	if err != nil {
		return false, "", err
	}
	defer it.close()
	where := fmt.Sprintf("range [%q, %q] of %s", q.StartKey, q.EndKey, ns)
	if ms := q.GetReadsMerkleHashes(); ms != nil {
		if ms.MaxDegree < 2 {
			return false, where + ": merkle summary has max_degree < 2", nil
		}
		sum := newRangeSummary(ms.MaxDegree)
		for {
			k, v, ok, err := it.next()
			if err != nil {
				return false, "", err
			}
			if !ok {
				break
			}
			sum.add(&kvrwset.KVRead{Key: k, Version: &kvrwset.Version{BlockNum: v.BlockNum, TxNum: v.TxNum}})
		}
		raw, got := sum.done()
		if raw != nil || !sameSummary(got, ms) {
			return false, where + ": results changed since simulation (merkle summary differs)", nil
		}
		return true, "", nil
	}
	for _, r := range q.GetRawReads().GetKvReads() {
		k, v, ok, err := it.next()
		if err != nil {
			return false, "", err
		}
		if !ok {
			return false, fmt.Sprintf("%s: key %q is gone", where, r.Key), nil
		}
		if k != r.Key {
			return false, fmt.Sprintf("%s: found key %q where %q was read", where, k, r.Key), nil
		}
		if r.Version == nil || r.Version.BlockNum != v.BlockNum || r.Version.TxNum != v.TxNum {
			return false, fmt.Sprintf("%s: key %q changed version", where, k), nil
		}
	}
	if k, _, ok, err := it.next(); err != nil {
		return false, "", err
	} else if ok {
		return false, fmt.Sprintf("%s: phantom key %q appeared", where, k), nil
	}
	return true, "", nil
}

// currentValue is the value of key once b is applied over db.
func currentValue(db statedb.Reader, b *statedb.Batch, ns, key string) (*statedb.VersionedValue, error) {
	if vv, deleted, ok := b.Get(ns, key); ok {
		if deleted {
			return nil, nil
		}
		return vv, nil
	}
	return db.Get(ns, key)
}

// serializeMetadata stores metadata entries as Fabric does: a marshalled
// kvrwset.KVMetadataWrite holding only the entries.
func serializeMetadata(entries []*kvrwset.KVMetadataEntry) []byte {
	if len(entries) == 0 {
		return nil
	}
	return protos.Marshal(&kvrwset.KVMetadataWrite{Entries: entries})
}

// isDeleteWrite reports whether a public write deletes its key. As in Fabric
// since FAB-18386, an empty value counts as a delete: the Node shim sends a
// nil value as an empty one, where the Go and Java shims send nil.
func isDeleteWrite(isDelete bool, value []byte) bool { return isDelete || len(value) == 0 }

// addWrites adds the writes of one valid transaction to b at version v: public
// writes (a value write keeps the key's metadata), metadata writes, hashed
// writes, and the private writes of pvt whose hash matches the block. It
// returns a note for each private write set skipped and the ones applied.
func addWrites(db statedb.Reader, b *statedb.Batch, sets []decodedNs, pvt *rwset.TxPvtReadWriteSet, v statedb.Version) ([]string, map[string]appliedColl, error) {
	for _, n := range sets {
		for _, w := range n.kv.Writes {
			if isDeleteWrite(w.IsDelete, w.Value) {
				b.Delete(n.ns, w.Key, v)
				continue
			}
			var meta []byte
			cur, err := currentValue(db, b, n.ns, w.Key)
			if err != nil {
				return nil, nil, err
			}
			if cur != nil {
				meta = cur.Metadata
			}
			b.Put(n.ns, w.Key, w.Value, meta, v)
		}
		for _, mw := range n.kv.MetadataWrites {
			cur, err := currentValue(db, b, n.ns, mw.Key)
			if err != nil {
				return nil, nil, err
			}
			if cur == nil {
				continue
			}
			b.Put(n.ns, mw.Key, cur.Value, serializeMetadata(mw.Entries), v)
		}
		for _, c := range n.hashed {
			hns := HashedNamespace(n.ns, c.name)
			for _, w := range c.set.HashedWrites {
				if w.IsDelete || w.IsPurge {
					b.Delete(hns, string(w.KeyHash), v)
					continue
				}
				var meta []byte
				if cur, err := currentValue(db, b, hns, string(w.KeyHash)); err != nil {
					return nil, nil, err
				} else if cur != nil {
					meta = cur.Metadata
				}
				b.Put(hns, string(w.KeyHash), w.ValueHash, meta, v)
			}
			for _, mw := range c.set.MetadataWrites {
				cur, err := currentValue(db, b, hns, string(mw.KeyHash))
				if err != nil {
					return nil, nil, err
				}
				if cur == nil {
					continue
				}
				b.Put(hns, string(mw.KeyHash), cur.Value, serializeMetadata(mw.Entries), v)
			}
		}
	}
	skipped, applied := addPrivateWrites(b, sets, pvt, v)
	if err := renewPrivateVersions(db, b, applied, v); err != nil {
		return nil, nil, err
	}
	if err := purgeWithoutPrivateWrites(db, b, sets, applied, v); err != nil {
		return nil, nil, err
	}
	return skipped, applied, nil
}

// renewPrivateVersions moves this peer's private value of a key whose
// metadata alone the transaction changed (a private key-level endorsement
// policy) to the version its hash now has, as Fabric does: otherwise the
// value would look stale and GetPrivateData would refuse it. The value moves
// only if it is the one the hash stands for (a peer that committed with
// missing data may hold an older one).
func renewPrivateVersions(db statedb.Reader, b *statedb.Batch, applied map[string]appliedColl, v statedb.Version) error {
	for k, a := range applied {
		ns, coll, _ := strings.Cut(k, "\x00")
		for _, mw := range a.kv.GetMetadataWrites() {
			hv, err := currentValue(db, b, HashedNamespace(ns, coll), string(keyHash(mw.Key)))
			if err != nil {
				return err
			}
			if hv == nil || hv.Version != v {
				continue // the key does not exist, or a write of this transaction already set both
			}
			pns := PrivateNamespace(ns, coll)
			pv, err := currentValue(db, b, pns, mw.Key)
			if err != nil {
				return err
			}
			if pv == nil || pv.Version == v {
				continue
			}
			if sum := sha256.Sum256(pv.Value); bytes.Equal(sum[:], hv.Value) {
				b.Put(pns, mw.Key, pv.Value, pv.Metadata, v)
			}
		}
	}
	return nil
}

// appliedColl is a collection's private write set as applied: its bytes,
// which the private data store keeps, and their decoding.
type appliedColl struct {
	raw []byte
	kv  *kvrwset.KVRWSet
}

// addPrivateWrites applies the collections of pvt whose bytes hash to the
// pvt_rwset_hash the block carries; it returns a note for each one skipped
// and the collections applied (keyed by collKey).
func addPrivateWrites(b *statedb.Batch, sets []decodedNs, pvt *rwset.TxPvtReadWriteSet, v statedb.Version) ([]string, map[string]appliedColl) {
	var skipped []string
	// Made on the first collection applied: most transactions carry no
	// private data, and a nil map reads as an empty one.
	var applied map[string]appliedColl
	for _, pn := range pvt.GetNsPvtRwset() {
		for _, pc := range pn.CollectionPvtRwset {
			var want []byte
			found := false
			for _, n := range sets {
				if n.ns != pn.Namespace {
					continue
				}
				for _, c := range n.hashed {
					if c.name == pc.CollectionName {
						want, found = c.pvtHash, true
					}
				}
			}
			sum := sha256.Sum256(pc.Rwset)
			if !found || !bytes.Equal(want, sum[:]) {
				skipped = append(skipped, fmt.Sprintf("%s/%s: private write set does not match the hash in the block", pn.Namespace, pc.CollectionName))
				continue
			}
			kv := &kvrwset.KVRWSet{}
			if err := proto.Unmarshal(pc.Rwset, kv); err != nil {
				skipped = append(skipped, fmt.Sprintf("%s/%s: decode private write set: %v", pn.Namespace, pc.CollectionName, err))
				continue
			}
			pns := PrivateNamespace(pn.Namespace, pc.CollectionName)
			for _, w := range kv.Writes {
				if w.IsDelete {
					b.Delete(pns, w.Key, v)
				} else {
					b.Put(pns, w.Key, w.Value, nil, v)
				}
			}
			if applied == nil {
				applied = map[string]appliedColl{}
			}
			applied[collKey(pn.Namespace, pc.CollectionName)] = appliedColl{raw: pc.Rwset, kv: kv}
		}
	}
	return skipped, applied
}

func collKey(ns, coll string) string { return ns + "\x00" + coll }

// purgeWithoutPrivateWrites removes from this peer's private state the keys
// a transaction purges in collections whose private write set was not
// applied (the peer did not receive it, or it did not match the block).
// Fabric requires this so that a peer that still holds old private values,
// for instance one whose organisation left the collection, drops them too.
// Only the key's hash is known, so the collection is scanned; that happens
// only for a purge without its private write set.
func purgeWithoutPrivateWrites(db statedb.Reader, b *statedb.Batch, sets []decodedNs, applied map[string]appliedColl, v statedb.Version) error {
	for _, n := range sets {
		for _, c := range n.hashed {
			if _, ok := applied[collKey(n.ns, c.name)]; ok {
				continue
			}
			purged := map[string]bool{}
			for _, w := range c.set.HashedWrites {
				if w.IsPurge {
					purged[string(w.KeyHash)] = true
				}
			}
			if len(purged) == 0 {
				continue
			}
			pns := PrivateNamespace(n.ns, c.name)
			keys, err := keysWithHashes(db, b, pns, purged)
			if err != nil {
				return fmt.Errorf("purge private data of %s/%s: %w", n.ns, c.name, err)
			}
			for _, k := range keys {
				b.Delete(pns, k, v)
			}
		}
	}
	return nil
}

// keysWithHashes returns the live keys of ns (b applied over db) whose
// SHA-256 is in hashes.
func keysWithHashes(db statedb.Reader, b *statedb.Batch, ns string, hashes map[string]bool) ([]string, error) {
	it, err := newMergedRange(db, b, ns, "", "", false)
	if err != nil {
		return nil, err
	}
	defer it.close()
	var out []string
	for {
		k, _, ok, err := it.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		if hashes[string(keyHash(k))] {
			out = append(out, k)
		}
	}
}

func decodeKVRWSet(raw []byte) (*kvrwset.KVRWSet, error) {
	kv := &kvrwset.KVRWSet{}
	if err := proto.Unmarshal(raw, kv); err != nil {
		return nil, fmt.Errorf("decode kvrwset.KVRWSet: %w", err)
	}
	return kv, nil
}
