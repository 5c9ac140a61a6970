package ledger

import (
	"fmt"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"

	"github.com/weft-ledger/weft/statedb"
)

// Rich queries run JSON selector queries (CouchDB's Mango syntax) on a state
// database that implements statedb.Querier. They follow Fabric v2.5's
// transaction simulator (core/ledger/kvledger/txmgmt/txmgr: query_executor.go
// and tx_simulator.go):
//   - every result the caller takes from a public query, paginated or not,
//     is recorded as a plain read of its key at the version returned, exactly
//     as GetState records one; a query that returns nothing records nothing;
//   - no range or query info is recorded, so MVCC at commit checks only that
//     the keys returned are unchanged: a key that starts (or stops) matching
//     the selector after simulation is not detected. Rich query results are
//     not re-checked for phantoms at commit;
//   - a paginated query is allowed only in a read-only transaction, like a
//     paginated range read: it fails after a write, and any write after it
//     fails;
//   - a query on private data records nothing at all (no hashed reads) and,
//     like a private range query, is allowed only in a read-only
//     transaction;
//   - on a state database that is not a statedb.Querier (LevelDB) every rich
//     query fails with an error wrapping ErrNoRichQueries.

// querierLocked returns the state database's query engine, or the error
// that says there is none. s.mu must be held.
func (s *Simulator) querierLocked() (statedb.Querier, error) {
	if s.caps.querier != nil {
		return s.caps.querier, nil
	}
	if s.stateName == "LevelDB" {
		return nil, fmt.Errorf("simulate %s: %w; this peer uses LevelDB (ledger.state.stateDatabase: goleveldb). "+
			"Use key or range queries (GetState, GetStateByRange, GetStateByPartialCompositeKey) instead", s.txID, ErrNoRichQueries)
	}
	return nil, fmt.Errorf("simulate %s: %w; this peer's state database (%s) does not run them", s.txID, ErrNoRichQueries, s.stateName)
}

// recordQueryReadLocked records a rich query result as a read of its key,
// as Fabric's query results iterator does. s.mu must be held.
func (s *Simulator) recordQueryReadLocked(ns string, kv *statedb.KV) *statedb.KV {
	s.namespaces[ns] = true
	inner(s.reads, ns)[kv.Key] = &kvrwset.KVRead{Key: kv.Key, Version: protoVersion(&kv.VersionedValue)}
	out := *kv
	out.Namespace = ns
	return &out
}

// ExecuteQuery runs the rich query query over the committed values of ns
// and iterates its results in the order the query asks for, up to the state
// database's total query limit. Each result taken from the iterator is
// recorded as a read of its key (see the rules above). Done closes the
// iterator if the caller has not.
func (s *Simulator) ExecuteQuery(ns, query string) (statedb.Iterator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, ErrSimulationDone
	}
	q, err := s.querierLocked()
	if err != nil {
		return nil, err
	}
	it, err := q.ExecuteQuery(ns, query)
	if err != nil {
		return nil, fmt.Errorf("simulate %s: rich query of %s: %w", s.txID, ns, err)
	}
	r := &simRange{it: it}
	s.open = append(s.open, r) // closed by Done; never added to s.ranges
	return &queryIterator{s: s, r: r, ns: ns}, nil
}

type queryIterator struct {
	s  *Simulator
	r  *simRange
	ns string
}

func (it *queryIterator) Next() (*statedb.KV, error) {
	it.s.mu.Lock()
	defer it.s.mu.Unlock()
	if it.r.closed || it.s.done {
		return nil, nil
	}
	kv, err := it.r.it.Next()
	if err != nil || kv == nil {
		return nil, err
	}
	return it.s.recordQueryReadLocked(it.ns, kv), nil
}

func (it *queryIterator) Close() {
	it.s.mu.Lock()
	defer it.s.mu.Unlock()
	if !it.r.closed {
		it.r.closed = true
		it.r.it.Close()
	}
}

// ExecuteQueryPage returns one page of the rich query query over ns: at
// most pageSize results (TotalQueryLimit when pageSize is not positive or is
// larger) starting where bookmark, returned by the previous page of the same
// query ("" for the first page), left off, and the bookmark of the next page
// ("" when there is none). Every result is recorded as a read of its key.
// As in Fabric, it fails after a write, and makes every later write fail.
func (s *Simulator) ExecuteQueryPage(ns, query, bookmark string, pageSize int32) ([]*statedb.KV, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, "", ErrSimulationDone
	}
	if s.wrote {
		return nil, "", fmt.Errorf("simulate %s: paginated rich query of %s after a write; as in Fabric, paginated queries are supported only in read-only transactions (query without pagination, or write in another transaction)", s.txID, ns)
	}
	// As in Fabric, the transaction is read-only from here on, even if the
	// query fails.
	if s.paginated == "" {
		s.paginated = "paginated rich query"
	}
	q, err := s.querierLocked()
	if err != nil {
		return nil, "", err
	}
	limit := pageSize
	if limit <= 0 || limit > TotalQueryLimit {
		limit = TotalQueryLimit
	}
	kvs, next, err := q.ExecuteQueryPage(ns, query, bookmark, limit)
	if err != nil {
		return nil, "", fmt.Errorf("simulate %s: paginated rich query of %s: %w", s.txID, ns, err)
	}
	if int32(len(kvs)) > limit {
		return nil, "", fmt.Errorf("simulate %s: paginated rich query of %s: the state database returned %d results for a page of %d", s.txID, ns, len(kvs), limit)
	}
	page := make([]*statedb.KV, len(kvs))
	for i, kv := range kvs {
		page[i] = s.recordQueryReadLocked(ns, kv)
	}
	return page, next, nil
}

// ExecuteQueryOnPrivateData runs the rich query query over this peer's copy
// of collection coll of chaincode ns; each entry's Namespace is ns. As in
// Fabric, nothing is recorded in the read/write set, and the query is
// allowed only in a read-only transaction: it fails after a write, and makes
// every later write fail.
func (s *Simulator) ExecuteQueryOnPrivateData(ns, coll, query string) (statedb.Iterator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, ErrSimulationDone
	}
	if s.wrote {
		return nil, fmt.Errorf("simulate %s: private data rich query of %s/%s after a write; as in Fabric, queries on private data are supported only in read-only transactions (query first in a separate transaction, or read keys one at a time with GetPrivateData)", s.txID, ns, coll)
	}
	if s.pvtQueried == "" {
		s.pvtQueried = "private data rich query"
	}
	q, err := s.querierLocked()
	if err != nil {
		return nil, err
	}
	it, err := q.ExecuteQuery(PrivateNamespace(ns, coll), query)
	if err != nil {
		return nil, fmt.Errorf("simulate %s: private data rich query of %s/%s: %w", s.txID, ns, coll, err)
	}
	r := &simRange{it: it}
	s.open = append(s.open, r) // closed by Done; never added to s.ranges
	return &pvtIterator{s: s, r: r, ns: ns}, nil
}
