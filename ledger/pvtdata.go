package ledger

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/syndtr/goleveldb/leveldb"

	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// CollectionRules is what the ledger needs to know of a private data
// collection (see Options.Collections).
type CollectionRules struct {
	// Member is true when this peer's organisation is a member of the
	// collection: only members store private values, the others keep the
	// hashes only.
	Member bool
	// BlockToLive is the collection's blockToLive: data committed at block N
	// is readable through block N+BlockToLive and purged when block
	// N+BlockToLive+1 commits. 0 keeps it forever.
	BlockToLive uint64
}

// MissingPrivateData names the private write set of one collection of one
// valid transaction that this peer, a member of the collection, did not
// receive.
type MissingPrivateData struct {
	Block, Tx  uint64
	TxID       string
	Namespace  string
	Collection string
}

// ReconciledPrivateData is a private write set of a committed block fetched
// from another peer, handed to CommitPrivateData.
type ReconciledPrivateData struct {
	Block, Tx  uint64
	Namespace  string
	Collection string
	Rwset      []byte // a marshalled kvrwset.KVRWSet
}

// ruleCache asks Options.Collections once per collection for one block, with
// the state as it is before the block.
type ruleCache struct {
	state statedb.DB
	fn    func(statedb.DB, string, string) (CollectionRules, error)
	m     map[string]CollectionRules
}

func (l *Ledger) rules() *ruleCache {
	return &ruleCache{state: l.state, fn: l.collections, m: map[string]CollectionRules{}}
}

func (c *ruleCache) get(ns, coll string) (CollectionRules, error) {
	if c.fn == nil {
		return CollectionRules{Member: true}, nil
	}
	k := collKey(ns, coll)
	if r, ok := c.m[k]; ok {
		return r, nil
	}
	r, err := c.fn(c.state, ns, coll)
	if err != nil {
		return r, fmt.Errorf("rules of private data collection %s/%s (membership, blockToLive): %w", ns, coll, err)
	}
	c.m[k] = r
	return r, nil
}

// expiryBlock is the block whose commit removes data written at block n
// under r; 0 for never.
func expiryBlock(n uint64, r CollectionRules) uint64 {
	if r.BlockToLive == 0 || r.BlockToLive >= math.MaxUint64-n-1 {
		return 0
	}
	return n + r.BlockToLive + 1
}

// memberOnly returns pvt without the collections this peer is not a member
// of: their private writes are neither applied nor stored.
func (l *Ledger) memberOnly(rules *ruleCache, n uint64, tx int, pvt *rwset.TxPvtReadWriteSet) (*rwset.TxPvtReadWriteSet, error) {
	if pvt == nil {
		return nil, nil
	}
	out := &rwset.TxPvtReadWriteSet{DataModel: pvt.DataModel}
	for _, ns := range pvt.NsPvtRwset {
		keep := &rwset.NsPvtReadWriteSet{Namespace: ns.Namespace}
		for _, c := range ns.CollectionPvtRwset {
			r, err := rules.get(ns.Namespace, c.CollectionName)
			if err != nil {
				return nil, err
			}
			if !r.Member {
				l.log.Debug("private data of a collection this peer is not a member of not stored (hashes only)", "block", n, "tx", tx, "namespace", ns.Namespace, "collection", c.CollectionName)
				continue
			}
			keep.CollectionPvtRwset = append(keep.CollectionPvtRwset, c)
		}
		if len(keep.CollectionPvtRwset) > 0 {
			out.NsPvtRwset = append(out.NsPvtRwset, keep)
		}
	}
	return out, nil
}

// record adds to r what the private data store keeps for valid transaction
// tx of block n: its applied sets, the member collections it lacks, the
// expiry of its writes and its purges.
func (r *blockRecords) record(rules *ruleCache, tx uint64, txID string, sets []decodedNs, applied map[string]appliedColl) error {
	n := r.block
	v := statedb.Version{BlockNum: n, TxNum: tx}
	for _, ns := range sets {
		for _, c := range ns.hashed {
			rule, err := rules.get(ns.ns, c.name)
			if err != nil {
				return err
			}
			id := pvtID{block: n, tx: tx, ns: ns.ns, coll: c.name}
			exp := expiryBlock(n, rule)
			keys := map[string]string{} // key hash -> key, where known
			held := false
			if a, ok := applied[collKey(ns.ns, c.name)]; ok {
				r.sets[id] = a.raw
				for _, w := range a.kv.Writes {
					keys[string(keyHash(w.Key))] = w.Key
				}
				held = true
			} else if rule.Member && len(c.pvtHash) > 0 {
				r.missing[id] = missingInfo{expiry: exp, txID: txID}
				held = true
			}
			if exp != 0 {
				if held {
					r.addDataExpiry(dataExpiry{expiry: exp, block: n, ns: ns.ns, coll: c.name})
				}
				for _, w := range c.set.HashedWrites {
					if w.IsDelete || w.IsPurge {
						continue
					}
					r.schedules = append(r.schedules, scheduled{expiry: exp, version: v, ns: ns.ns, coll: c.name, keyHash: w.KeyHash, key: keys[string(w.KeyHash)]})
				}
			}
			for _, w := range c.set.HashedWrites {
				if w.IsPurge {
					r.purges = append(r.purges, purgeMark{ns: ns.ns, coll: c.name, keyHash: w.KeyHash, version: v})
				}
			}
		}
	}
	return nil
}

func (r *blockRecords) addDataExpiry(d dataExpiry) {
	for _, x := range r.dataExp {
		if x == d {
			return
		}
	}
	r.dataExp = append(r.dataExp, d)
}

func newBlockRecords(n uint64) *blockRecords {
	return &blockRecords{block: n, sets: map[pvtID][]byte{}, missing: map[pvtID]missingInfo{}}
}

// addExpiries adds to batch, which holds block n's writes, the removal of the
// hashed and private entries whose blockToLive ends with block n: those whose
// current version is still the one scheduled (a later write has its own
// schedule and must survive this one).
func (l *Ledger) addExpiries(batch *statedb.Batch, n uint64) (int, error) {
	due, _, err := l.pvt.due(n)
	if err != nil {
		return 0, fmt.Errorf("read the private data expiring at block %d: %w", n, err)
	}
	removed := 0
	expire := func(ns, key string, v statedb.Version) error {
		cur, err := currentValue(l.state, batch, ns, key)
		if err != nil {
			return err
		}
		if cur != nil && cur.Version == v {
			batch.Delete(ns, key, statedb.Version{BlockNum: n})
			removed++
		}
		return nil
	}
	for _, x := range due {
		if err := expire(HashedNamespace(x.ns, x.coll), string(x.keyHash), x.version); err != nil {
			return 0, fmt.Errorf("expire private data of %s/%s written at %s: %w", x.ns, x.coll, x.version, err)
		}
		if x.key != "" {
			if err := expire(PrivateNamespace(x.ns, x.coll), x.key, x.version); err != nil {
				return 0, fmt.Errorf("expire private data of %s/%s written at %s: %w", x.ns, x.coll, x.version, err)
			}
		}
	}
	return removed, nil
}

// dropExpired removes from the store what expired with block n, once n's
// state is applied. Not synced: Open removes it again if this is lost.
func (l *Ledger) dropExpired(n uint64) {
	wb := new(leveldb.Batch)
	err := l.pvt.expireInto(wb, n, n+1)
	if err == nil {
		err = l.pvt.write(wb, false, "remove expired private data")
	}
	if err != nil {
		l.log.Warn("expired private data left in the private data store until the next start", "block", n, "err", err)
	}
}

// PrivateData returns the private write sets this peer holds for committed
// block n, by transaction index: those of its valid transactions, for the
// collections this peer is a member of, received at commit or reconciled
// since, without what blockToLive expired or a purge removed. A block
// without any yields an empty map.
func (l *Ledger) PrivateData(n uint64) (map[uint64]*rwset.TxPvtReadWriteSet, error) {
	if h := l.blocks.Height(); n >= h {
		return nil, fmt.Errorf("private data of block %d: the ledger holds %d blocks: %w", n, h, ErrBlockNotFound)
	}
	return l.pvt.sets(n)
}

// MissingPrivateData lists up to max missing entries, newest block first:
// private write sets of valid transactions, in collections this peer is a
// member of, that it did not receive at commit and has not reconciled
// since (CommitPrivateData). Expired data is not listed.
func (l *Ledger) MissingPrivateData(max int) ([]MissingPrivateData, error) {
	if max <= 0 {
		return nil, nil
	}
	return l.pvt.listMissing(max)
}

// MissingIn lists what Commit would record missing for block b (its
// TRANSACTIONS_FILTER as set by validation) given private: for each
// transaction the filter marks valid, each collection of its hashed
// write set that has a private write set, that this peer is a member of,
// and for which private holds no set matching the block's hash. The peer
// calls it before Commit to pull the missing sets from other peers first.
// Commit's own MVCC checks may invalidate more transactions, so Commit may
// record fewer.
func (l *Ledger) MissingIn(b *cb.Block, private map[uint64]*rwset.TxPvtReadWriteSet) ([]MissingPrivateData, error) {
	if b.GetHeader() == nil || b.GetData() == nil {
		return nil, fmt.Errorf("missing private data: block has no header or no data")
	}
	n := b.Header.Number
	rules := l.rules()
	var out []MissingPrivateData
	for i, tx := range l.decode(b, protos.TxFilter(b), true) {
		if tx.sets == nil {
			continue
		}
		for _, ns := range tx.sets {
			for _, c := range ns.hashed {
				if len(c.pvtHash) == 0 || hasPrivateSet(private[uint64(i)], ns.ns, c.name, c.pvtHash) {
					continue
				}
				r, err := rules.get(ns.ns, c.name)
				if err != nil {
					return nil, fmt.Errorf("missing private data of block %d tx %d: %w", n, i, err)
				}
				if r.Member {
					out = append(out, MissingPrivateData{Block: n, Tx: uint64(i), TxID: tx.txID, Namespace: ns.ns, Collection: c.name})
				}
			}
		}
	}
	return out, nil
}

// hasPrivateSet reports whether pvt holds a set of ns/coll whose bytes hash
// to want, as Commit requires to apply it.
func hasPrivateSet(pvt *rwset.TxPvtReadWriteSet, ns, coll string, want []byte) bool {
	for _, n := range pvt.GetNsPvtRwset() {
		if n.Namespace != ns {
			continue
		}
		for _, c := range n.CollectionPvtRwset {
			if c.CollectionName != coll {
				continue
			}
			if sum := sha256.Sum256(c.Rwset); bytes.Equal(sum[:], want) {
				return true
			}
		}
	}
	return false
}

// CommitPrivateData stores private write sets fetched from other peers for
// committed blocks. Each is checked against the block's hashed write set:
// its bytes must hash to the collection's pvt_rwset_hash, or else every
// write's key and value (and every metadata write's key) must match the
// hashed writes, so that a set from which a purge removed keys still
// verifies. A set that fails is refused with an error in rejected naming
// block, transaction and collection. Sets for data not recorded missing
// (never missing, already reconciled, expired) are ignored.
//
// An accepted set is stored (PrivateData returns it), its missing entry is
// removed, and each of its keys is applied to the private state only if
// the hashed state's current version of that key is still the set's
// (Block, Tx): a later write or delete wins, as in Fabric. Keys purged
// since are left out. stored counts the sets accepted. err reports a
// failure of the ledger itself; the sets not yet stored are then still
// missing. It is serialised with Commit.
func (l *Ledger) CommitPrivateData(sets []ReconciledPrivateData) (stored int, rejected []error, err error) {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	if l.closed {
		return 0, nil, ErrClosed
	}
	// The hashed state must cover every block, or the version checks
	// below would refuse data of a block whose writes are not applied.
	if err := l.recover(); err != nil {
		return 0, nil, fmt.Errorf("commit reconciled private data: %w", err)
	}
	height := l.blocks.Height()
	sp, ok, err := l.state.Savepoint()
	if err != nil {
		return 0, nil, fmt.Errorf("commit reconciled private data: %w", err)
	}
	if !ok {
		return 0, nil, nil
	}
	blocks := map[uint64][]decodedTx{}
	store := new(leveldb.Batch)    // the sets and their expiry, before the state
	resolved := new(leveldb.Batch) // the missing entries, after it
	batch := statedb.NewBatch()
	seen := map[pvtID]bool{}
	for _, s := range sets {
		id := pvtID{block: s.Block, tx: s.Tx, ns: s.Namespace, coll: s.Collection}
		if seen[id] {
			continue
		}
		seen[id] = true
		expiry, _, missing, err := l.pvt.missing(id)
		if err != nil {
			return 0, rejected, fmt.Errorf("commit reconciled private data: %w", err)
		}
		if !missing {
			continue
		}
		if expiry != 0 && expiry < height {
			l.log.Debug("reconciled private data already expired, dropped", "data", id.String(), "expired_at", expiry)
			resolved.Delete(idKey(recMissing, id))
			continue
		}
		txs, ok := blocks[s.Block]
		if !ok {
			b, err := l.blocks.Block(s.Block)
			if err != nil {
				return 0, rejected, fmt.Errorf("commit reconciled private data of %s: %w", id, err)
			}
			txs = decodeBlock(b, protos.TxFilter(b))
			blocks[s.Block] = txs
		}
		kv, why := verifyReconciled(txs, s)
		if why != "" {
			rejected = append(rejected, fmt.Errorf("private data of %s refused: %s", id, why))
			continue
		}
		raw, err := l.withoutPurged(id, s.Rwset, kv)
		if err != nil {
			return 0, rejected, fmt.Errorf("commit reconciled private data: %w", err)
		}
		if raw != nil {
			store.Put(idKey(recSet, id), raw)
		}
		v := statedb.Version{BlockNum: s.Block, TxNum: s.Tx}
		hns, pns := HashedNamespace(s.Namespace, s.Collection), PrivateNamespace(s.Namespace, s.Collection)
		for _, w := range kv.Writes {
			kh := keyHash(w.Key)
			if raw != nil && expiry != 0 && !w.IsDelete {
				store.Put(scheduled{expiry: expiry, version: v, ns: s.Namespace, coll: s.Collection, keyHash: kh, key: w.Key}.dbKey(), []byte(w.Key))
			}
			hv, err := l.state.Get(hns, string(kh))
			if err != nil {
				return 0, rejected, fmt.Errorf("commit reconciled private data of %s: %w", id, err)
			}
			if hv == nil || hv.Version != v {
				continue // written, deleted or purged since: the later write wins
			}
			if w.IsDelete {
				batch.Delete(pns, w.Key, v)
			} else {
				batch.Put(pns, w.Key, w.Value, nil, v)
			}
		}
		resolved.Delete(idKey(recMissing, id))
		stored++
	}
	// Stored first, missing entry removed last: a crash in between leaves
	// the data missing, so it is fetched and applied again, which changes
	// nothing that was already done.
	if err := l.pvt.write(store, true, "store reconciled private data"); err != nil {
		return 0, rejected, err
	}
	if batch.Len() > 0 {
		if err := l.state.Apply(batch, sp); err != nil {
			return 0, rejected, fmt.Errorf("commit reconciled private data: apply it to the private state: %w", err)
		}
	}
	if err := l.pvt.write(resolved, false, "remove reconciled missing entries"); err != nil {
		return 0, rejected, err
	}
	if stored > 0 || len(rejected) > 0 {
		l.log.Info("reconciled private data committed", "stored", stored, "rejected", len(rejected))
	}
	return stored, rejected, nil
}

// verifyReconciled checks s against the hashed write set its block holds;
// it returns the decoded set, or why it is refused.
func verifyReconciled(txs []decodedTx, s ReconciledPrivateData) (*kvrwset.KVRWSet, string) {
	if s.Tx >= uint64(len(txs)) {
		return nil, fmt.Sprintf("the block holds %d transactions", len(txs))
	}
	var coll *decodedColl
	for _, ns := range txs[s.Tx].sets {
		if ns.ns != s.Namespace {
			continue
		}
		for i := range ns.hashed {
			if ns.hashed[i].name == s.Collection {
				coll = &ns.hashed[i]
			}
		}
	}
	if coll == nil {
		return nil, "the transaction is not valid or has no hashed write set for the collection"
	}
	kv, err := decodeKVRWSet(s.Rwset)
	if err != nil {
		return nil, err.Error()
	}
	if sum := sha256.Sum256(s.Rwset); bytes.Equal(sum[:], coll.pvtHash) {
		return kv, ""
	}
	// Not the set as endorsed: accept it only if every write in it is one
	// the block's hashes commit to (a purge may have cut keys out of it).
	writes := map[string]*kvrwset.KVWriteHash{}
	for _, w := range coll.set.HashedWrites {
		writes[string(w.KeyHash)] = w
	}
	for _, w := range kv.Writes {
		h, ok := writes[string(keyHash(w.Key))]
		if !ok {
			return nil, fmt.Sprintf("key %q is not among the transaction's hashed writes", w.Key)
		}
		if w.IsDelete != (h.IsDelete || h.IsPurge) {
			return nil, fmt.Sprintf("key %q: delete flag does not match the hashed write", w.Key)
		}
		if !w.IsDelete {
			if vh := sha256.Sum256(w.Value); !bytes.Equal(vh[:], h.ValueHash) {
				return nil, fmt.Sprintf("key %q: value does not match the hash in the block", w.Key)
			}
		}
	}
	metas := map[string]bool{}
	for _, w := range coll.set.MetadataWrites {
		metas[string(w.KeyHash)] = true
	}
	for _, w := range kv.MetadataWrites {
		if !metas[string(keyHash(w.Key))] {
			return nil, fmt.Sprintf("metadata write of key %q is not among the transaction's hashed metadata writes", w.Key)
		}
	}
	if len(kv.Writes) == 0 && len(kv.MetadataWrites) == 0 {
		return nil, "the set is empty and does not match the hash in the block"
	}
	return kv, ""
}

// withoutPurged returns raw without the keys a purge after (block, tx)
// removed (nil when nothing is left), and cuts them from kv too.
func (l *Ledger) withoutPurged(id pvtID, raw []byte, kv *kvrwset.KVRWSet) ([]byte, error) {
	v := statedb.Version{BlockNum: id.block, TxNum: id.tx}
	purged := map[string]bool{}
	check := func(key string) error {
		kh := keyHash(key)
		at, ok, err := l.pvt.purgedAt(id.ns, id.coll, kh)
		if err != nil {
			return err
		}
		if ok && v.Compare(at) < 0 {
			purged[string(kh)] = true
		}
		return nil
	}
	for _, w := range kv.Writes {
		if err := check(w.Key); err != nil {
			return nil, err
		}
	}
	for _, w := range kv.MetadataWrites {
		if err := check(w.Key); err != nil {
			return nil, err
		}
	}
	if len(purged) == 0 {
		return raw, nil
	}
	out, _, err := withoutKeys(raw, purged)
	if err != nil {
		return nil, err
	}
	keep := kv.Writes[:0]
	for _, w := range kv.Writes {
		if !purged[string(keyHash(w.Key))] {
			keep = append(keep, w)
		}
	}
	kv.Writes = keep
	return out, nil
}
