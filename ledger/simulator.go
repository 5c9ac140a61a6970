package ledger

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// ErrSimulationDone is returned by a Simulator used after Done.
var ErrSimulationDone = errors.New("ledger: simulator used after Done")

// Simulator runs one transaction's chaincode calls against the current world
// state without changing it, recording what it reads and writes. As in
// Fabric, reads always see committed state, never the simulator's own writes.
// Each read sees a consistent snapshot of one key or range; a commit landing
// mid-simulation is caught by MVCC when the transaction commits.
// A Simulator is safe for concurrent use.
type Simulator struct {
	state statedb.DB
	caps  stateCaps
	// stateName names the state database in errors ("LevelDB", or its type).
	stateName string
	txID      string
	// rules is Options.Collections, to explain private data this peer
	// does not hold.
	rules func(statedb.DB, string, string) (CollectionRules, error)

	mu         sync.Mutex // guards all fields below
	done       bool
	namespaces map[string]bool
	reads      map[string]map[string]*kvrwset.KVRead
	// writes, metaWrites, ranges, hashedReads, collections and pvtReads are
	// nil until their first entry (lazy); pvtWrites, pvtPurges and
	// pvtMetaWrites until the first private write, which every writer of
	// them begins with beginPrivateWriteLocked.
	writes      map[string]map[string][]byte // nil value = delete
	metaWrites  map[string]map[string]map[string][]byte
	ranges      map[string][]*simRange
	hashedReads map[string]map[string]map[string]*kvrwset.Version // ns, coll, key; nil version = absent
	pvtWrites   map[string]map[string]map[string][]byte           // ns, coll, key; nil value = delete
	pvtPurges   map[string]map[string]map[string]bool             // ns, coll, key: the delete in pvtWrites is a purge
	// pvtMetaWrites holds private key metadata writes (pvtmeta.go); touchColl
	// must be called for their collection so that it appears in both sets.
	pvtMetaWrites map[string]map[string]map[string]map[string][]byte // ns, coll, key -> metadata
	collections   map[string]map[string]bool                         // ns -> collections touched
	pvtReads      map[string]map[string]bool                         // ns -> collections GetPrivateData read
	open          []*simRange
	wrote         bool // a write was recorded (or refused by the state database's key check)
	// paginated names the first paginated query served (a range read or a
	// rich query), "" for none; pvtQueried likewise for queries on private
	// data. As in Fabric, either makes the transaction read-only.
	paginated  string
	pvtQueried string
}

type simRange struct {
	it        statedb.Iterator
	start     string
	end       string // as asked
	lastKey   string
	exhausted bool
	reads     []*kvrwset.KVRead
	closed    bool
}

// NewSimulator starts a simulation for transaction txID on the current state.
func (l *Ledger) NewSimulator(txID string) *Simulator {
	return &Simulator{
		state:      l.state,
		caps:       l.caps,
		stateName:  l.stateName,
		txID:       txID,
		rules:      l.collections,
		namespaces: map[string]bool{},
		reads:      map[string]map[string]*kvrwset.KVRead{},
	}
}

// lazy returns the map *m, made on first use: most simulations never write
// metadata, read ranges or touch private data, and a map made for nothing
// is an allocation a proposal. Only the maps recorded in this file are made
// lazily; reading a nil map is reading an empty one.
func lazy[V any](m *map[string]V) map[string]V {
	if *m == nil {
		*m = map[string]V{}
	}
	return *m
}

// TxID returns the transaction being simulated.
func (s *Simulator) TxID() string { return s.txID }

func protoVersion(vv *statedb.VersionedValue) *kvrwset.Version {
	if vv == nil {
		return nil
	}
	return &kvrwset.Version{BlockNum: vv.Version.BlockNum, TxNum: vv.Version.TxNum}
}

func inner[V any](m map[string]map[string]V, k string) map[string]V {
	x := m[k]
	if x == nil {
		x = map[string]V{}
		m[k] = x
	}
	return x
}

func (s *Simulator) touchColl(ns, coll string) {
	s.namespaces[ns] = true
	inner(lazy(&s.collections), ns)[coll] = true
}

// readLocked returns the committed value of key (nil if absent) and records
// the read with the committed version. s.mu must be held.
func (s *Simulator) readLocked(ns, key string) (*statedb.VersionedValue, error) {
	if s.done {
		return nil, ErrSimulationDone
	}
	vv, err := s.state.Get(ns, key)
	if err != nil {
		return nil, fmt.Errorf("simulate %s: %w", s.txID, err)
	}
	s.namespaces[ns] = true
	inner(s.reads, ns)[key] = newRead(key, vv)
	return vv, nil
}

// recordedRead holds a recorded read and its version in one allocation.
type recordedRead struct {
	read    kvrwset.KVRead
	version kvrwset.Version
}

// newRead records a read of key at vv's version (nil: the key is absent),
// as &kvrwset.KVRead{Key: key, Version: protoVersion(vv)} would, in one
// allocation instead of two.
func newRead(key string, vv *statedb.VersionedValue) *kvrwset.KVRead {
	r := &recordedRead{read: kvrwset.KVRead{Key: key}}
	if vv != nil {
		r.version.BlockNum, r.version.TxNum = vv.Version.BlockNum, vv.Version.TxNum
		r.read.Version = &r.version
	}
	return &r.read
}

// GetState returns the committed value of key (nil if absent) and records the
// read with the committed version.
func (s *Simulator) GetState(ns, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vv, err := s.readLocked(ns, key)
	if err != nil {
		return nil, err
	}
	if vv == nil {
		return nil, nil
	}
	return vv.Value, nil
}

// GetStateMetadata returns the committed metadata entries of key, recording a
// read of key as Fabric does.
func (s *Simulator) GetStateMetadata(ns, key string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vv, err := s.readLocked(ns, key)
	if err != nil {
		return nil, err
	}
	if vv == nil || len(vv.Metadata) == 0 {
		return nil, nil
	}
	return DecodeMetadata(vv.Metadata)
}

// GetStateRange iterates committed keys of ns in [start, end) ("" end = to the
// end of ns). What the caller consumes is recorded as a range query for
// phantom detection, as Fabric records it: the end key is the last key
// returned until the iterator reports the end.
func (s *Simulator) GetStateRange(ns, start, end string) (statedb.Iterator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, ErrSimulationDone
	}
	it, err := s.state.GetRange(ns, start, end)
	if err != nil {
		return nil, fmt.Errorf("simulate %s: %w", s.txID, err)
	}
	r := &simRange{it: it, start: start, end: end}
	s.namespaces[ns] = true
	ranges := lazy(&s.ranges)
	ranges[ns] = append(ranges[ns], r)
	s.open = append(s.open, r)
	return &simIterator{s: s, r: r}, nil
}

type simIterator struct {
	s *Simulator
	r *simRange
}

func (it *simIterator) Next() (*statedb.KV, error) {
	it.s.mu.Lock()
	defer it.s.mu.Unlock()
	r := it.r
	if r.closed || it.s.done {
		return nil, nil
	}
	kv, err := r.it.Next()
	if err != nil {
		return nil, err
	}
	if kv == nil {
		r.exhausted = true
		return nil, nil
	}
	r.reads = append(r.reads, newRead(kv.Key, &kv.VersionedValue))
	r.lastKey = kv.Key
	return kv, nil
}

func (it *simIterator) Close() {
	it.s.mu.Lock()
	defer it.s.mu.Unlock()
	if !it.r.closed {
		it.r.closed = true
		it.r.it.Close()
	}
}

// TotalQueryLimit caps the entries one paginated range read returns: the
// default of Fabric's ledger.state.totalQueryLimit.
const TotalQueryLimit = 100000

// GetStateRangePage returns up to pageSize entries of ns in [startKey, endKey) and the bookmark
// (the key to start the next page from; "" when the range is exhausted).
//
// It follows Fabric's paginated range query (the caller substitutes a
// client's bookmark for startKey, as Fabric's handler does):
//   - a pageSize <= 0 or above TotalQueryLimit reads up to TotalQueryLimit
//     entries (Fabric's handler treats page size 0 without a bookmark as an
//     unpaginated query; that choice is the caller's);
//   - a page shorter than its limit exhausted the range: the range read is
//     recorded with the end key as asked and itr_exhausted set, and the
//     bookmark is "";
//   - a full page is recorded with the last returned key as end key and
//     itr_exhausted unset, so MVCC checks [startKey, last key] inclusive; the
//     bookmark is the next key in the range, read without recording it, and
//     is "" when the page ends exactly at the last key of the range;
//   - as in Fabric, paginated reads are allowed only in read-only
//     transactions: a paginated read after a write fails, and so does any
//     write after a paginated read.
func (s *Simulator) GetStateRangePage(ns, startKey, endKey string, pageSize int32) ([]*statedb.KV, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, "", ErrSimulationDone
	}
	if s.wrote {
		return nil, "", fmt.Errorf("simulate %s: paginated range read of %s after a write; as in Fabric, paginated queries are supported only in read-only transactions (read without pagination, or write in another transaction)", s.txID, ns)
	}
	limit := pageSize
	if limit <= 0 || limit > TotalQueryLimit {
		limit = TotalQueryLimit
	}
	it, err := s.state.GetRange(ns, startKey, endKey)
	if err != nil {
		return nil, "", fmt.Errorf("simulate %s: %w", s.txID, err)
	}
	defer it.Close()
	if s.paginated == "" {
		s.paginated = "paginated range read"
	}
	r := &simRange{start: startKey, end: endKey, closed: true}
	var page []*statedb.KV
	for int32(len(page)) < limit {
		kv, err := it.Next()
		if err != nil {
			return nil, "", fmt.Errorf("simulate %s: range of %s: %w", s.txID, ns, err)
		}
		if kv == nil {
			r.exhausted = true
			break
		}
		r.reads = append(r.reads, newRead(kv.Key, &kv.VersionedValue))
		r.lastKey = kv.Key
		page = append(page, kv)
	}
	bookmark := ""
	if !r.exhausted {
		next, err := it.Next()
		if err != nil {
			return nil, "", fmt.Errorf("simulate %s: range of %s: %w", s.txID, ns, err)
		}
		if next != nil {
			bookmark = next.Key
		}
	}
	s.namespaces[ns] = true
	ranges := lazy(&s.ranges)
	ranges[ns] = append(ranges[ns], r)
	return page, bookmark, nil
}

// beginWriteLocked checks that a write may be recorded and notes that one
// was; what describes the write for the error. s.mu must be held.
func (s *Simulator) beginWriteLocked(what func() string) error {
	if s.done {
		return ErrSimulationDone
	}
	if s.paginated != "" {
		return fmt.Errorf("simulate %s: %s after a %s; as in Fabric, a transaction that ran a paginated query cannot write (read without pagination, or write in another transaction)", s.txID, what(), s.paginated)
	}
	if s.pvtQueried != "" {
		return fmt.Errorf("simulate %s: %s after a %s; as in Fabric, queries on private data are supported only in read-only transactions (write in another transaction)", s.txID, what(), s.pvtQueried)
	}
	s.wrote = true
	return nil
}

// checkKeyValueLocked asks a state database that cannot store every key or
// value (statedb.KeyValueChecker, e.g. CouchDB) whether it can store this
// one, so that the chaincode learns it at endorsement rather than the
// transaction failing at commit. As in Fabric, every write is checked
// (deletes, purges and metadata writes with a nil value), and a refused
// write still counts as a write for the read-only rules. s.mu must be held.
func (s *Simulator) checkKeyValueLocked(what func() string, key string, value []byte) error {
	if s.caps.checker == nil {
		return nil
	}
	if err := s.caps.checker.CheckKeyValue(key, value); err != nil {
		return fmt.Errorf("simulate %s: %s refused by the state database: %w", s.txID, what(), err)
	}
	return nil
}

// SetState records a write of key. As in Fabric, a nil value records a delete.
func (s *Simulator) SetState(ns, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	what := func() string { return fmt.Sprintf("write of %s/%q", ns, key) }
	if err := s.beginWriteLocked(what); err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("simulate %s: SetState in %s with an empty key", s.txID, ns)
	}
	if err := s.checkKeyValueLocked(what, key, value); err != nil {
		return err
	}
	s.namespaces[ns] = true
	inner(lazy(&s.writes), ns)[key] = value
	return nil
}

// DeleteState records a delete of key.
func (s *Simulator) DeleteState(ns, key string) error { return s.SetState(ns, key, nil) }

// SetStateMetadata records a metadata write of key; an empty map removes the
// key's metadata.
func (s *Simulator) SetStateMetadata(ns, key string, metadata map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	what := func() string { return fmt.Sprintf("metadata write of %s/%q", ns, key) }
	if err := s.beginWriteLocked(what); err != nil {
		return err
	}
	if err := s.checkKeyValueLocked(what, key, nil); err != nil {
		return err
	}
	s.namespaces[ns] = true
	cp := make(map[string][]byte, len(metadata))
	for k, v := range metadata {
		cp[k] = v
	}
	inner(lazy(&s.metaWrites), ns)[key] = cp
	return nil
}

func keyHash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

func (s *Simulator) recordHashedRead(ns, coll, key string, v *kvrwset.Version) {
	s.touchColl(ns, coll)
	inner(inner(lazy(&s.hashedReads), ns), coll)[key] = v
}

// GetPrivateDataHash returns the committed hash of a private value (nil if
// absent) and records a hashed read.
func (s *Simulator) GetPrivateDataHash(ns, coll, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, ErrSimulationDone
	}
	vv, err := s.state.Get(HashedNamespace(ns, coll), string(keyHash(key)))
	if err != nil {
		return nil, fmt.Errorf("simulate %s: %w", s.txID, err)
	}
	s.recordHashedRead(ns, coll, key, protoVersion(vv))
	if vv == nil {
		return nil, nil
	}
	return vv.Value, nil
}

// GetPrivateData returns this peer's committed private value (nil if absent)
// and records a hashed read. When the peer's private copy is not the version
// the hashed state says is current (the peer's organisation is not a member
// of the collection, or the data has not reached the peer yet), it fails
// with an error wrapping ErrPrivateDataNotAvailable that says which.
func (s *Simulator) GetPrivateData(ns, coll, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, ErrSimulationDone
	}
	pv, err := s.state.Get(PrivateNamespace(ns, coll), key)
	if err != nil {
		return nil, fmt.Errorf("simulate %s: %w", s.txID, err)
	}
	hv, err := s.state.Get(HashedNamespace(ns, coll), string(keyHash(key)))
	if err != nil {
		return nil, fmt.Errorf("simulate %s: %w", s.txID, err)
	}
	if (pv == nil) != (hv == nil) || (pv != nil && pv.Version != hv.Version) {
		return nil, fmt.Errorf("simulate %s: %w (private data matching public hash version is not available): %s/%s key %q: the hashed state holds version %s, this peer's private copy %s; %s", s.txID, ErrPrivateDataNotAvailable, ns, coll, key, fmtCommitted(hv), fmtCommitted(pv), s.whyNotAvailable(ns, coll))
	}
	s.recordHashedRead(ns, coll, key, protoVersion(pv))
	inner(lazy(&s.pvtReads), ns)[coll] = true
	if pv == nil {
		return nil, nil
	}
	return pv.Value, nil
}

// whyNotAvailable explains why this peer lacks private data of ns/coll and
// what the user can do.
func (s *Simulator) whyNotAvailable(ns, coll string) string {
	r := CollectionRules{Member: true}
	var err error
	if s.rules != nil {
		r, err = s.rules(s.state, ns, coll)
	}
	switch {
	case err != nil:
		return fmt.Sprintf("either this peer's organisation is not a member of collection %s, so the peer keeps only hashes (read it through a peer of a member organisation), "+
			"or the data has not reached this peer yet (reconciliation fetches it from other member peers; retry later); the collection's rules could not be read: %v", coll, err)
	case !r.Member:
		return fmt.Sprintf("this peer's organisation is not a member of collection %s, so the peer keeps only the hashes of its private data; read it through a peer of a member organisation", coll)
	default:
		return fmt.Sprintf("this peer's organisation is a member of collection %s but the data has not reached this peer yet (it was missing when its block was committed); "+
			"reconciliation fetches it from other member peers, retry later", coll)
	}
}

// PrivateReads lists, by namespace, the collections the transaction read
// private values from with GetPrivateData. Reads of private data hashes are
// not among them: as in Fabric, only a private read needs endorsers that
// hold the collection (the chaincode interest, peer/endorser). It is nil
// when there are none (most transactions), an empty map to read.
func (s *Simulator) PrivateReads() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pvtReads) == 0 {
		return nil
	}
	out := make(map[string][]string, len(s.pvtReads))
	for ns, colls := range s.pvtReads {
		for c := range colls {
			out[ns] = append(out[ns], c)
		}
		sort.Strings(out[ns])
	}
	return out
}

// PutPrivateData records a private write: the value goes to the private
// write set, its hashes to the public one. A nil value records a delete.
func (s *Simulator) PutPrivateData(ns, coll, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.beginPrivateWriteLocked("PutPrivateData", "private write of", ns, coll, key, value); err != nil {
		return err
	}
	inner(inner(s.pvtWrites, ns), coll)[key] = value
	delete(inner(inner(s.pvtPurges, ns), coll), key) // the last operation on a key wins, as in Fabric
	return nil
}

// beginPrivateWriteLocked runs the checks every write to a collection
// passes (a write is allowed now, the key is not empty, the state database
// takes key and value), marks the collection touched and makes the maps of
// private writes on the first; op names the call and what the kind of
// write, for errors. s.mu must be held.
func (s *Simulator) beginPrivateWriteLocked(op, what, ns, coll, key string, value []byte) error {
	describe := func() string { return fmt.Sprintf("%s %s/%s key %q", what, ns, coll, key) }
	if err := s.beginWriteLocked(describe); err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("simulate %s: %s in %s/%s with an empty key", s.txID, op, ns, coll)
	}
	if err := s.checkKeyValueLocked(describe, key, value); err != nil {
		return err
	}
	s.touchColl(ns, coll)
	if s.pvtWrites == nil {
		s.pvtWrites = map[string]map[string]map[string][]byte{}
		s.pvtPurges = map[string]map[string]map[string]bool{}
		s.pvtMetaWrites = map[string]map[string]map[string]map[string][]byte{}
	}
	return nil
}

// DeletePrivateData records a private delete.
func (s *Simulator) DeletePrivateData(ns, coll, key string) error {
	return s.PutPrivateData(ns, coll, key, nil)
}

// Done ends the simulation and releases open iterators. Results stays usable.
func (s *Simulator) Done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.done = true
	for _, r := range s.open {
		if !r.closed {
			r.closed = true
			r.it.Close()
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func metadataEntries(m map[string][]byte) []*kvrwset.KVMetadataEntry {
	var out []*kvrwset.KVMetadataEntry
	for _, name := range sortedKeys(m) {
		out = append(out, &kvrwset.KVMetadataEntry{Name: name, Value: m[name]})
	}
	return out
}

// DecodeMetadata decodes key metadata as stored in state (see SetStateMetadata).
func DecodeMetadata(b []byte) (map[string][]byte, error) {
	w := &kvrwset.KVMetadataWrite{}
	if err := proto.Unmarshal(b, w); err != nil {
		return nil, fmt.Errorf("decode key metadata: %w", err)
	}
	m := make(map[string][]byte, len(w.Entries))
	for _, e := range w.Entries {
		m[e.Name] = e.Value
	}
	return m, nil
}

// Results returns the public read/write set (with hashes of private writes)
// and the private write set (nil when there is none), laid out as Fabric's
// builder lays them out: namespaces, collections, keys sorted; range queries
// in the order they were opened, repeats dropped.
func (s *Simulator) Results() (*rwset.TxReadWriteSet, *rwset.TxPvtReadWriteSet, error) {
	pub, pvt, _ := s.results(false)
	return pub, pvt, nil
}

// SimResults are a simulation's results (those of Results) with the
// messages the public set's namespaces were marshalled from, so that a
// reader of the written keys (the endorser's chaincode interest) need not
// decode again the bytes just marshalled.
type SimResults struct {
	Public  *rwset.TxReadWriteSet
	Private *rwset.TxPvtReadWriteSet
	// Namespaces[i] holds what Public.NsRwset[i] was marshalled from.
	Namespaces []DecodedNamespace
}

// DecodedNamespace is what one namespace of a public read/write set was
// marshalled from: KV is its Rwset, Hashed[j] its CollectionHashedRwset[j]'s
// HashedRwset. They are the caller's to read, not to change.
type DecodedNamespace struct {
	KV     *kvrwset.KVRWSet
	Hashed []*kvrwset.HashedRWSet
}

// DecodedResults is Results with the messages the public set was marshalled
// from.
func (s *Simulator) DecodedResults() (*SimResults, error) {
	pub, pvt, decoded := s.results(true)
	return &SimResults{Public: pub, Private: pvt, Namespaces: decoded}, nil
}

// results builds the sets of Results and, when decode is set, the messages
// of DecodedResults (nil otherwise).
func (s *Simulator) results(decode bool) (*rwset.TxReadWriteSet, *rwset.TxPvtReadWriteSet, []DecodedNamespace) {
	s.mu.Lock()
	defer s.mu.Unlock()

	pvtHashes := map[string]map[string][]byte{}
	var pvt *rwset.TxPvtReadWriteSet
	// A collection is in the private set when it has private writes or
	// private metadata writes (Fabric puts metadata writes in both sets).
	pvtColls := map[string]map[string]bool{}
	for ns, colls := range s.pvtWrites {
		for coll, keys := range colls {
			if len(keys) > 0 {
				inner(pvtColls, ns)[coll] = true
			}
		}
	}
	for ns, colls := range s.pvtMetaWrites {
		for coll, keys := range colls {
			if len(keys) > 0 {
				inner(pvtColls, ns)[coll] = true
			}
		}
	}
	for _, ns := range sortedKeys(pvtColls) {
		nsSet := &rwset.NsPvtReadWriteSet{Namespace: ns}
		for _, coll := range sortedKeys(pvtColls[ns]) {
			kv := &kvrwset.KVRWSet{}
			for _, key := range sortedKeys(s.pvtWrites[ns][coll]) {
				v := s.pvtWrites[ns][coll][key]
				kv.Writes = append(kv.Writes, &kvrwset.KVWrite{Key: key, IsDelete: v == nil, Value: v})
			}
			for _, key := range sortedKeys(s.pvtMetaWrites[ns][coll]) {
				kv.MetadataWrites = append(kv.MetadataWrites, &kvrwset.KVMetadataWrite{Key: key, Entries: metadataEntries(s.pvtMetaWrites[ns][coll][key])})
			}
			raw := protos.Marshal(kv)
			sum := sha256.Sum256(raw)
			inner(pvtHashes, ns)[coll] = sum[:]
			nsSet.CollectionPvtRwset = append(nsSet.CollectionPvtRwset, &rwset.CollectionPvtReadWriteSet{CollectionName: coll, Rwset: raw})
		}
		if pvt == nil {
			pvt = &rwset.TxPvtReadWriteSet{DataModel: rwset.TxReadWriteSet_KV}
		}
		pvt.NsPvtRwset = append(pvt.NsPvtRwset, nsSet)
	}

	// The messages of all namespaces, and those of each namespace's writes,
	// are allocated together: one allocation each rather than one a message.
	names := sortedKeys(s.namespaces)
	pub := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: make([]*rwset.NsReadWriteSet, 0, len(names))}
	kvs := make([]kvrwset.KVRWSet, len(names))
	nsSets := make([]rwset.NsReadWriteSet, len(names))
	var decoded []DecodedNamespace
	if decode {
		decoded = make([]DecodedNamespace, 0, len(names))
	}
	for i, ns := range names {
		kv := &kvs[i]
		dec := DecodedNamespace{KV: kv}
		if reads := s.reads[ns]; len(reads) > 0 {
			kv.Reads = make([]*kvrwset.KVRead, 0, len(reads))
			for _, key := range sortedKeys(reads) {
				kv.Reads = append(kv.Reads, reads[key])
			}
		}
		if writes := s.writes[ns]; len(writes) > 0 {
			ws := make([]kvrwset.KVWrite, len(writes))
			kv.Writes = make([]*kvrwset.KVWrite, len(writes))
			for j, key := range sortedKeys(writes) {
				v := writes[key]
				ws[j].Key, ws[j].IsDelete, ws[j].Value = key, v == nil, v
				kv.Writes[j] = &ws[j]
			}
		}
		for _, key := range sortedKeys(s.metaWrites[ns]) {
			kv.MetadataWrites = append(kv.MetadataWrites, &kvrwset.KVMetadataWrite{Key: key, Entries: metadataEntries(s.metaWrites[ns][key])})
		}
		type rangeID struct {
			start, end string
			exhausted  bool
		}
		seen := map[rangeID]bool{}
		for _, r := range s.ranges[ns] {
			info := &kvrwset.RangeQueryInfo{StartKey: r.start, EndKey: r.lastKey, ItrExhausted: r.exhausted}
			if r.exhausted {
				info.EndKey = r.end
			}
			id := rangeID{info.StartKey, info.EndKey, info.ItrExhausted}
			if seen[id] {
				continue
			}
			seen[id] = true
			sum := newRangeSummary(rangeMaxDegree)
			for _, rd := range r.reads {
				sum.add(rd)
			}
			raw, ms := sum.done()
			if raw != nil {
				info.ReadsInfo = &kvrwset.RangeQueryInfo_RawReads{RawReads: &kvrwset.QueryReads{KvReads: raw}}
			}
			if ms != nil {
				info.ReadsInfo = &kvrwset.RangeQueryInfo_ReadsMerkleHashes{ReadsMerkleHashes: ms}
			}
			kv.RangeQueriesInfo = append(kv.RangeQueriesInfo, info)
		}
		nsSet := &nsSets[i]
		nsSet.Namespace, nsSet.Rwset = ns, protos.Marshal(kv)
		for _, coll := range sortedKeys(s.collections[ns]) {
			h := &kvrwset.HashedRWSet{}
			reads := s.hashedReads[ns][coll]
			for _, key := range sortedKeys(reads) {
				h.HashedReads = append(h.HashedReads, &kvrwset.KVReadHash{KeyHash: keyHash(key), Version: reads[key]})
			}
			writes := s.pvtWrites[ns][coll]
			for _, key := range sortedKeys(writes) {
				w := &kvrwset.KVWriteHash{KeyHash: keyHash(key), IsDelete: writes[key] == nil, IsPurge: s.pvtPurges[ns][coll][key]}
				if !w.IsDelete {
					vh := sha256.Sum256(writes[key])
					w.ValueHash = vh[:]
				}
				h.HashedWrites = append(h.HashedWrites, w)
			}
			metas := s.pvtMetaWrites[ns][coll]
			for _, key := range sortedKeys(metas) {
				h.MetadataWrites = append(h.MetadataWrites, &kvrwset.KVMetadataWriteHash{KeyHash: keyHash(key), Entries: metadataEntries(metas[key])})
			}
			nsSet.CollectionHashedRwset = append(nsSet.CollectionHashedRwset, &rwset.CollectionHashedReadWriteSet{
				CollectionName: coll,
				HashedRwset:    protos.Marshal(h),
				PvtRwsetHash:   pvtHashes[ns][coll],
			})
			if decode {
				dec.Hashed = append(dec.Hashed, h)
			}
		}
		pub.NsRwset = append(pub.NsRwset, nsSet)
		if decode {
			decoded = append(decoded, dec)
		}
	}
	return pub, pvt, decoded
}
