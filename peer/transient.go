package peer

import (
	"sync"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
)

// transientStore keeps the private write sets produced at endorsement until
// the transaction commits. It is bounded: past maxEntries the oldest entry is
// dropped (its transaction then commits without this peer's private copy, as
// with Fabric's transient store purge).
type transientStore struct {
	mu      sync.Mutex // guards the fields below
	entries map[string]*rwset.TxPvtReadWriteSet
	order   []string
	max     int
}

func newTransientStore(max int) *transientStore {
	return &transientStore{entries: map[string]*rwset.TxPvtReadWriteSet{}, max: max}
}

// Put records the private write set of a transaction. Empty sets are ignored.
func (t *transientStore) Put(txID string, pvt *rwset.TxPvtReadWriteSet) {
	if pvt == nil || len(pvt.NsPvtRwset) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.entries[txID]; !ok {
		t.order = append(t.order, txID)
	}
	t.entries[txID] = pvt
	for len(t.order) > t.max {
		delete(t.entries, t.order[0])
		t.order = t.order[1:]
	}
}

// Take removes and returns the private write sets of the given transactions,
// keyed by their index in the block.
func (t *transientStore) Take(txIDs []string) map[uint64]*rwset.TxPvtReadWriteSet {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[uint64]*rwset.TxPvtReadWriteSet{}
	for i, id := range txIDs {
		if pvt, ok := t.entries[id]; ok {
			out[uint64(i)] = pvt
			delete(t.entries, id)
		}
	}
	if len(out) > 0 {
		kept := t.order[:0]
		for _, id := range t.order {
			if _, ok := t.entries[id]; ok {
				kept = append(kept, id)
			}
		}
		t.order = kept
	}
	return out
}
