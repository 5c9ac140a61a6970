package ledger

import (
	"fmt"

	"github.com/weft-ledger/weft/statedb"
)

// GetPrivateDataRange iterates this peer's committed copy of collection coll
// of chaincode ns over keys in [start, end) ("" end = to the end of the
// collection); each entry's Namespace is ns.
//
// It follows Fabric's private range query (GetPrivateDataByRange,
// GetPrivateDataByPartialCompositeKey):
//   - nothing is recorded in the read/write set: no hashed reads and no range
//     query info, so MVCC cannot detect a change to what was read and the
//     results are only trustworthy in a query;
//   - to keep such reads out of transactions that update the ledger, a
//     private range query after any write fails, and so does any write after
//     one (Fabric: "queries on pvt data is supported only in a read-only
//     transaction");
//   - entries are returned as stored, without checking them against the
//     hashed state (GetPrivateData does check).
func (s *Simulator) GetPrivateDataRange(ns, coll, start, end string) (statedb.Iterator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, ErrSimulationDone
	}
	if s.wrote {
		return nil, fmt.Errorf("simulate %s: private data range query of %s/%s after a write; as in Fabric, queries on private data are supported only in read-only transactions (query first in a separate transaction, or read keys one at a time with GetPrivateData)", s.txID, ns, coll)
	}
	it, err := s.state.GetRange(PrivateNamespace(ns, coll), start, end)
	if err != nil {
		return nil, fmt.Errorf("simulate %s: private range of %s/%s: %w", s.txID, ns, coll, err)
	}
	if s.pvtQueried == "" {
		s.pvtQueried = "private data range query"
	}
	r := &simRange{it: it, start: start, end: end}
	s.open = append(s.open, r) // closed by Done; never added to s.ranges
	return &pvtIterator{s: s, r: r, ns: ns}, nil
}

type pvtIterator struct {
	s  *Simulator
	r  *simRange
	ns string
}

func (it *pvtIterator) Next() (*statedb.KV, error) {
	it.s.mu.Lock()
	defer it.s.mu.Unlock()
	if it.r.closed || it.s.done {
		return nil, nil
	}
	kv, err := it.r.it.Next()
	if err != nil || kv == nil {
		return nil, err
	}
	out := *kv
	out.Namespace = it.ns
	return &out, nil
}

func (it *pvtIterator) Close() {
	it.s.mu.Lock()
	defer it.s.mu.Unlock()
	if !it.r.closed {
		it.r.closed = true
		it.r.it.Close()
	}
}

// PurgePrivateData records a purge of key in collection coll (Fabric v2.5
// PurgePrivateData): a delete in the private write set, and a hashed write
// with both is_delete and is_purge set. At commit the key leaves the hashed
// and the private state, like a delete; the purge also removes the private
// value on a peer that did not receive the private write set (see addWrites).
// The private data store keeps the private write sets of earlier blocks
// (PrivateData), so the commit also rewrites those of the collection
// without the purged key, and a set of an earlier transaction reconciled
// after the purge (CommitPrivateData) is stored and applied without it.
// Whether the channel allows purging (application capability V2_5) is the
// caller's check.
func (s *Simulator) PurgePrivateData(ns, coll, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.beginPrivateWriteLocked("PurgePrivateData", "purge of private data", ns, coll, key, nil); err != nil {
		return err
	}
	inner(inner(s.pvtWrites, ns), coll)[key] = nil
	inner(inner(s.pvtPurges, ns), coll)[key] = true
	return nil
}
