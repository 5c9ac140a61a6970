package chaincode

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/statedb"
)

// totalQueryLimit is Fabric's default ledger.state.totalQueryLimit
// (Config.TotalQueryLimit sets a handler's queryLimit): the most
// results one query returns. A paginated query whose page size is not
// positive (or larger) gets a page of this size; a plain range, private
// range or history query stops silently after this many results, as
// Fabric's handler does (the last response has has_more false, and the
// range read recorded ends at the last key returned).
const totalQueryLimit = 100000

// resultIter yields marshalled query results (queryresult.KV or
// queryresult.KeyModification); nil at the end.
type resultIter interface {
	next() (*pb.QueryResultBytes, error)
	close()
}

// queryIter is an open query of a transaction, served batch by batch.
type queryIter struct {
	it      resultIter
	pending *pb.QueryResultBytes // read ahead to learn has_more
	limit   int                  // results the query may return in all
	fetched int                  // results taken from it, pending included
}

type kvResults struct{ it statedb.Iterator }

func (r kvResults) next() (*pb.QueryResultBytes, error) {
	kv, err := r.it.Next()
	if err != nil || kv == nil {
		return nil, err
	}
	return marshalKV(kv.Namespace, kv)
}

func (r kvResults) close() { r.it.Close() }

func marshalKV(ns string, kv *statedb.KV) (*pb.QueryResultBytes, error) {
	b, err := proto.Marshal(&queryresult.KV{Namespace: ns, Key: kv.Key, Value: kv.Value})
	if err != nil {
		return nil, fmt.Errorf("marshal query result for key %q: %w", kv.Key, err)
	}
	return &pb.QueryResultBytes{ResultBytes: b}, nil
}

type historyResults struct{ it HistoryIterator }

func (r historyResults) next() (*pb.QueryResultBytes, error) {
	km, err := r.it.Next()
	if err != nil || km == nil {
		return nil, err
	}
	b, err := proto.Marshal(km)
	if err != nil {
		return nil, fmt.Errorf("marshal history entry of transaction %s: %w", km.TxId, err)
	}
	return &pb.QueryResultBytes{ResultBytes: b}, nil
}

func (r historyResults) close() { r.it.Close() }

// getStateByRange serves GET_STATE_BY_RANGE: a plain range query answered in
// batches, or, when the request carries QueryMetadata, one page.
func (h *handler) getStateByRange(tx *txState, msg *pb.ChaincodeMessage) ([]byte, error) {
	req := &pb.GetStateByRange{}
	if err := proto.Unmarshal(msg.Payload, req); err != nil {
		return nil, fmt.Errorf("decode peer.GetStateByRange: %w", err)
	}
	var md *pb.QueryMetadata
	if len(req.Metadata) > 0 {
		md = &pb.QueryMetadata{}
		if err := proto.Unmarshal(req.Metadata, md); err != nil {
			return nil, fmt.Errorf("decode the QueryMetadata of a paginated range query: %w", err)
		}
	}
	if req.Collection != "" {
		// As in Fabric, a collection makes it a private range query, never
		// paginated (the shim has no paginated private range call).
		if err := tx.checkPrivate("GetPrivateDataByRange", req.Collection, useRead); err != nil {
			return nil, err
		}
		pr, ok := tx.txc.Simulator.(PrivateDataRangeReader)
		if !ok {
			return nil, fmt.Errorf("GetPrivateDataByRange over collection %q of chaincode %s is not supported by this peer; read private keys one at a time with GetPrivateData", req.Collection, tx.ns)
		}
		it, err := pr.GetPrivateDataRange(tx.ns, req.Collection, req.StartKey, req.EndKey)
		if err != nil {
			return nil, err
		}
		return h.firstBatch(tx, kvResults{it})
	}
	// As in Fabric, metadata with neither a page size nor a bookmark is a
	// plain range query.
	if md == nil || (md.PageSize == 0 && md.Bookmark == "") {
		it, err := tx.txc.Simulator.GetStateRange(tx.ns, req.StartKey, req.EndKey)
		if err != nil {
			return nil, err
		}
		return h.firstBatch(tx, kvResults{it})
	}
	return h.rangePage(tx, req, md)
}

// rangePage answers a paginated range query as Fabric does: the whole page in
// one QueryResponse (has_more false, nothing left open), with a
// QueryResponseMetadata giving the count and the bookmark of the next page.
func (h *handler) rangePage(tx *txState, req *pb.GetStateByRange, md *pb.QueryMetadata) ([]byte, error) {
	pager, ok := tx.txc.Simulator.(RangePager)
	if !ok {
		return nil, errors.New("paginated range queries (GetStateByRangeWithPagination, GetStateByPartialCompositeKeyWithPagination) are not supported by this peer's state simulator; use GetStateByRange")
	}
	start := req.StartKey
	if md.Bookmark != "" {
		start = md.Bookmark
	}
	size := md.PageSize
	if limit := int32(h.queryLimit); size <= 0 || size > limit {
		size = limit
	}
	kvs, bookmark, err := pager.GetStateRangePage(tx.ns, start, req.EndKey, size)
	if err != nil {
		return nil, err
	}
	resp := &pb.QueryResponse{Id: tx.newIterID()}
	for _, kv := range kvs {
		r, err := marshalKV(tx.ns, kv)
		if err != nil {
			return nil, err
		}
		resp.Results = append(resp.Results, r)
	}
	if resp.Metadata, err = proto.Marshal(&pb.QueryResponseMetadata{FetchedRecordsCount: int32(len(kvs)), Bookmark: bookmark}); err != nil {
		return nil, fmt.Errorf("marshal QueryResponseMetadata: %w", err)
	}
	return proto.Marshal(resp)
}

// getHistoryForKey serves GET_HISTORY_FOR_KEY with the same batching as a
// range query.
func (h *handler) getHistoryForKey(tx *txState, msg *pb.ChaincodeMessage) ([]byte, error) {
	req := &pb.GetHistoryForKey{}
	if err := proto.Unmarshal(msg.Payload, req); err != nil {
		return nil, fmt.Errorf("decode peer.GetHistoryForKey: %w", err)
	}
	if tx.txc.History == nil {
		return nil, fmt.Errorf("GetHistoryForKey(%q) of chaincode %s: channel %q has no history database on this peer", req.Key, tx.ns, tx.txc.ChannelID)
	}
	it, err := tx.txc.History.GetHistoryForKey(tx.ns, req.Key)
	if err != nil {
		return nil, fmt.Errorf("history of key %q of chaincode %s: %w", req.Key, tx.ns, err)
	}
	return h.firstBatch(tx, historyResults{it})
}

func (tx *txState) newIterID() string {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.nextID++
	return strconv.Itoa(tx.nextID)
}

func (h *handler) firstBatch(tx *txState, it resultIter) ([]byte, error) {
	id := tx.newIterID()
	qi := &queryIter{it: it, limit: h.queryLimit}
	tx.mu.Lock()
	if tx.iters == nil {
		tx.iters = map[string]*queryIter{}
	}
	tx.iters[id] = qi
	tx.mu.Unlock()
	return h.nextBatch(tx, id, qi)
}

// nextBatch returns up to batchSize results; has_more is exact because one
// result is read ahead. An exhausted iterator, or one that reached its
// limit, is closed and forgotten.
func (h *handler) nextBatch(tx *txState, id string, qi *queryIter) ([]byte, error) {
	resp := &pb.QueryResponse{Id: id}
	for len(resp.Results) < h.batchSize {
		r, err := qi.next()
		if err != nil {
			tx.closeIter(id)
			return nil, err
		}
		if r == nil {
			break
		}
		resp.Results = append(resp.Results, r)
	}
	if len(resp.Results) == h.batchSize {
		r, err := qi.next()
		if err != nil {
			tx.closeIter(id)
			return nil, err
		}
		qi.pending = r
		resp.HasMore = r != nil
	}
	if !resp.HasMore {
		tx.closeIter(id)
	}
	return proto.Marshal(resp)
}

func (q *queryIter) next() (*pb.QueryResultBytes, error) {
	if q.pending != nil {
		r := q.pending
		q.pending = nil
		return r, nil
	}
	if q.limit > 0 && q.fetched >= q.limit {
		// Like Fabric, stop without asking the iterator for more, so the
		// range read recorded ends at the last result returned.
		return nil, nil
	}
	r, err := q.it.next()
	if r != nil {
		q.fetched++
	}
	return r, err
}

func (tx *txState) closeIter(id string) {
	tx.mu.Lock()
	qi := tx.iters[id]
	delete(tx.iters, id)
	tx.mu.Unlock()
	if qi != nil {
		qi.it.close()
	}
}

func (tx *txState) closeAll() {
	tx.mu.Lock()
	iters := tx.iters
	tx.iters = nil
	tx.mu.Unlock()
	for _, qi := range iters {
		qi.it.close()
	}
}
