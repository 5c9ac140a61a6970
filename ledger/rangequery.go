package ledger

import (
	"bytes"
	"crypto/sha256"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"

	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// Fabric summarises the results of a range query in a merkle tree once they
// exceed this many reads; below it the raw reads are recorded.
const rangeMaxDegree = 50

// rangeSummary accumulates range query results the way Fabric does: reads are
// buffered; whenever more than maxDegree are pending, they are hashed (SHA-256
// of a marshalled kvrwset.QueryReads) into a leaf of a tree in which every
// level collapses into one hash of the next level up once it holds more than
// maxDegree hashes.
type rangeSummary struct {
	maxDegree uint32
	pending   []*kvrwset.KVRead
	levels    map[uint32][][]byte
	maxLevel  uint32
}

func newRangeSummary(maxDegree uint32) *rangeSummary {
	return &rangeSummary{maxDegree: maxDegree, levels: map[uint32][][]byte{}, maxLevel: 1}
}

func hashConcat(hs [][]byte) []byte {
	h := sha256.New()
	for _, x := range hs {
		h.Write(x)
	}
	return h.Sum(nil)
}

func (r *rangeSummary) add(read *kvrwset.KVRead) {
	r.pending = append(r.pending, read)
	if uint32(len(r.pending)) > r.maxDegree {
		r.flush()
	}
}

func (r *rangeSummary) flush() {
	sum := sha256.Sum256(protos.Marshal(&kvrwset.QueryReads{KvReads: r.pending}))
	r.pending = nil
	level := uint32(1)
	r.levels[level] = append(r.levels[level], sum[:])
	for uint32(len(r.levels[level])) > r.maxDegree {
		up := hashConcat(r.levels[level])
		delete(r.levels, level)
		level++
		r.levels[level] = append(r.levels[level], up)
		if level > r.maxLevel {
			r.maxLevel = level
		}
	}
}

func (r *rangeSummary) treeEmpty() bool { return r.maxLevel == 1 && len(r.levels[1]) == 0 }

// done returns either the raw reads (nil if there were none) or, once hashing
// kicked in, the merkle summary.
func (r *rangeSummary) done() ([]*kvrwset.KVRead, *kvrwset.QueryReadsMerkleSummary) {
	if r.treeEmpty() {
		return r.pending, nil
	}
	if len(r.pending) > 0 {
		r.flush()
	}
	for level := uint32(1); level < r.maxLevel; level++ {
		hs := r.levels[level]
		if len(hs) == 0 {
			continue
		}
		h := hs[0]
		if len(hs) > 1 {
			h = hashConcat(hs)
		}
		delete(r.levels, level)
		r.levels[level+1] = append(r.levels[level+1], h)
	}
	if top := r.levels[r.maxLevel]; uint32(len(top)) > r.maxDegree {
		delete(r.levels, r.maxLevel)
		r.maxLevel++
		r.levels[r.maxLevel] = [][]byte{hashConcat(top)}
	}
	return nil, &kvrwset.QueryReadsMerkleSummary{
		MaxDegree:      r.maxDegree,
		MaxLevel:       r.maxLevel,
		MaxLevelHashes: append([][]byte{}, r.levels[r.maxLevel]...),
	}
}

func sameSummary(a, b *kvrwset.QueryReadsMerkleSummary) bool {
	if a.GetMaxDegree() != b.GetMaxDegree() || a.GetMaxLevel() != b.GetMaxLevel() || len(a.GetMaxLevelHashes()) != len(b.GetMaxLevelHashes()) {
		return false
	}
	for i := range a.MaxLevelHashes {
		if !bytes.Equal(a.MaxLevelHashes[i], b.MaxLevelHashes[i]) {
			return false
		}
	}
	return true
}

// mergedRange iterates the keys of one namespace in a range as they will be
// once the pending batch is applied over the committed state.
type mergedRange struct {
	db      statedb.Iterator
	dbNext  *statedb.KV
	dbDone  bool
	ns      string
	keys    []string
	batch   *statedb.Batch
	pos     int
	inRange func(string) bool
}

// newMergedRange scans ns from start; end is exclusive unless inclusive is set,
// and "" means to the end of the namespace.
func newMergedRange(db statedb.Reader, b *statedb.Batch, ns, start, end string, inclusive bool) (*mergedRange, error) {
	dbEnd := end
	if inclusive && end != "" {
		dbEnd = end + "\x00"
	}
	it, err := db.GetRange(ns, start, dbEnd)
	if err != nil {
		return nil, err
	}
	in := func(k string) bool {
		if k < start {
			return false
		}
		if end == "" {
			return true
		}
		if inclusive {
			return k <= end
		}
		return k < end
	}
	var keys []string
	for _, k := range b.Keys(ns) {
		if in(k) {
			keys = append(keys, k)
		}
	}
	return &mergedRange{db: it, ns: ns, keys: keys, batch: b, inRange: in}, nil
}

func (m *mergedRange) peekDB() (*statedb.KV, error) {
	if m.dbNext == nil && !m.dbDone {
		kv, err := m.db.Next()
		if err != nil {
			return nil, err
		}
		if kv == nil {
			m.dbDone = true
		}
		m.dbNext = kv
	}
	return m.dbNext, nil
}

// next returns the next live key with its version, or "", nil, false at the end.
func (m *mergedRange) next() (string, *statedb.Version, bool, error) {
	for {
		d, err := m.peekDB()
		if err != nil {
			return "", nil, false, err
		}
		var bk string
		haveB := m.pos < len(m.keys)
		if haveB {
			bk = m.keys[m.pos]
		}
		switch {
		case d == nil && !haveB:
			return "", nil, false, nil
		case haveB && (d == nil || bk <= d.Key):
			m.pos++
			if d != nil && d.Key == bk {
				m.dbNext = nil // the batch overrides the committed entry
			}
			vv, deleted, _ := m.batch.Get(m.ns, bk)
			if deleted {
				continue
			}
			v := vv.Version
			return bk, &v, true, nil
		default:
			m.dbNext = nil
			v := d.Version
			return d.Key, &v, true, nil
		}
	}
}

func (m *mergedRange) close() { m.db.Close() }
