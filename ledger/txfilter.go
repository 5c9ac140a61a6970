package ledger

import (
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/syndtr/goleveldb/leveldb/util"
)

// txFilter answers "is this TxID certainly not in the index?" from memory.
// Every proposal, every transaction validated and every transaction appended
// asks whether its TxID is already on the ledger, and the answer is almost
// always no; without the filter each question is a LevelDB lookup through the
// memtable and every table level.
//
// It is a Bloom filter over every TxID of the index: it never says "absent"
// for a TxID the index holds, and says "maybe" for about one absent TxID in a
// hundred, which the index then answers. It is built in the background when
// the block store opens (until then every lookup goes to the index) and
// rebuilt, larger, when the ledger outgrows it; every TxID appended while a
// build runs goes into both the live filter and the one being built, so the
// new one is complete when it replaces the old.
type txFilter struct {
	seed maphash.Seed
	live atomic.Pointer[bloom] // nil until the first build finishes

	mu       sync.Mutex // guards building and stopped
	building *bloom     // the filter a build is filling, nil when none runs
	stopped  bool
	wg       sync.WaitGroup // the running build

	// scan lists every TxID of the index, as of a moment after it is called.
	scan func(stop func() bool, add func(id []byte)) error
	// minBits is the size of the first filter (minFilterBits but in tests).
	minBits uint64
}

const (
	// bitsPerTx gives about 0.8% false "maybe" answers with bloomHashes.
	bitsPerTx   = 10
	bloomHashes = 6
	// minFilterBits and maxFilterBits bound a filter's size: 1 MiB to start,
	// at most 128 MiB (a ledger of about 100 million transactions, past which
	// the filter answers "maybe" more and more often, and lookups fall back
	// to the index as they did without it).
	minFilterBits = 1 << 23
	maxFilterBits = 1 << 30
)

func newTxFilter(scan func(stop func() bool, add func(id []byte)) error, minBits uint64) *txFilter {
	return &txFilter{seed: maphash.MakeSeed(), scan: scan, minBits: minBits}
}

// start builds the first filter in the background.
func (f *txFilter) start() { f.rebuild(f.minBits) }

// mayContain reports false only when id is certainly not in the index.
func (f *txFilter) mayContain(id string) bool {
	b := f.live.Load()
	return b == nil || b.has(maphash.String(f.seed, id))
}

// add records TxIDs just written to the index. The caller holds the block
// store's lock, so no lookup runs between the index write and this.
func (f *txFilter) add(ids map[string]txLoc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	live := f.live.Load()
	for id := range ids {
		h := maphash.String(f.seed, id)
		if live != nil {
			live.add(h)
		}
		if f.building != nil {
			f.building.add(h)
		}
	}
	if live != nil && f.building == nil && live.full() && live.bits() < maxFilterBits {
		f.rebuildLocked(live.bits() * 4)
	}
}

func (f *txFilter) rebuild(bits uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rebuildLocked(bits)
}

// rebuildLocked starts filling a filter of the given size (f.mu held): from
// now on every added TxID goes into it, and a scan of the index, begun after
// this, adds the rest. A TxID written to the index before the scan began is
// in the scan; one written after is added to the new filter by add.
func (f *txFilter) rebuildLocked(bits uint64) {
	if f.stopped || f.building != nil {
		return
	}
	b := newBloom(max(f.minBits, min(bits, maxFilterBits)))
	f.building = b
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		stop := func() bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.stopped
		}
		err := f.scan(stop, func(id []byte) { b.add(maphash.Bytes(f.seed, id)) })
		f.mu.Lock()
		defer f.mu.Unlock()
		f.building = nil
		if err != nil || f.stopped {
			// The live filter, if any, stays: it holds every TxID too.
			return
		}
		f.live.Store(b)
		if b.full() && b.bits() < maxFilterBits {
			f.rebuildLocked(b.bits() * 4)
		}
	}()
}

// stop ends a running build and waits for it.
func (f *txFilter) stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	f.wg.Wait()
}

// bloom is a Bloom filter of 64-bit hashes, safe for concurrent use.
type bloom struct {
	words []atomic.Uint64
	mask  uint64 // bits - 1 (bits is a power of two)
	n     atomic.Uint64
}

func newBloom(bits uint64) *bloom {
	size := uint64(64)
	for size < bits {
		size <<= 1
	}
	return &bloom{words: make([]atomic.Uint64, size/64), mask: size - 1}
}

func (b *bloom) bits() uint64 { return b.mask + 1 }

// full is true once the filter holds more entries than its size is for.
func (b *bloom) full() bool { return b.n.Load() > b.bits()/bitsPerTx }

// positions are the bit indexes of h: h1 + i·h2 (double hashing).
func (b *bloom) add(h uint64) {
	h1, h2 := h&0xffffffff, h>>32|1
	for i := range uint64(bloomHashes) {
		p := (h1 + i*h2) & b.mask
		b.words[p/64].Or(1 << (p % 64))
	}
	b.n.Add(1)
}

func (b *bloom) has(h uint64) bool {
	h1, h2 := h&0xffffffff, h>>32|1
	for i := range uint64(bloomHashes) {
		p := (h1 + i*h2) & b.mask
		if b.words[p/64].Load()&(1<<(p%64)) == 0 {
			return false
		}
	}
	return true
}

var errFilterStopped = errors.New("block store closed")

// scanTxIDs lists the TxIDs of the index ("t" keys) through one snapshot.
func (ix *index) scanTxIDs(stop func() bool, add func(id []byte)) error {
	snap, err := ix.db.GetSnapshot()
	if err != nil {
		return err
	}
	defer snap.Release()
	it := snap.NewIterator(util.BytesPrefix([]byte{'t'}), nil)
	defer it.Release()
	for i := 0; it.Next(); i++ {
		if i%4096 == 0 && stop() {
			return errFilterStopped
		}
		add(it.Key()[1:])
	}
	return it.Error()
}
