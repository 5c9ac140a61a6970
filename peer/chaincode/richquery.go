package chaincode

import (
	"errors"
	"fmt"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/statedb"
)

// RichQuerier is an optional TxSimulator capability: rich queries (JSON
// selectors in CouchDB's Mango syntax), GET_QUERY_RESULT. A simulator without
// it gets every rich query refused with a message naming CouchDB;
// *ledger.Simulator has it, and fails the queries itself when its state
// database cannot run them (LevelDB). As in Fabric, *ledger.Simulator
// records each public result as a read of its key (rich query results are
// not re-checked for phantoms at commit), records nothing for a query on
// private data, and allows paginated and private queries only in read-only
// transactions.
type RichQuerier interface {
	// ExecuteQuery iterates the results of query over ns (GetQueryResult).
	ExecuteQuery(ns, query string) (statedb.Iterator, error)
	// ExecuteQueryPage returns at most pageSize results of query over ns
	// from bookmark on, and the bookmark of the next page, "" when there is
	// none (GetQueryResultWithPagination).
	ExecuteQueryPage(ns, query, bookmark string, pageSize int32) ([]*statedb.KV, string, error)
	// ExecuteQueryOnPrivateData iterates the results of query over this
	// peer's copy of collection coll of ns, each in namespace ns
	// (GetPrivateDataQueryResult).
	ExecuteQueryOnPrivateData(ns, coll, query string) (statedb.Iterator, error)
}

// richQueryCall names the shim call behind a GET_QUERY_RESULT, for errors.
func richQueryCall(req *pb.GetQueryResult) string {
	switch {
	case req.Collection != "":
		return "GetPrivateDataQueryResult"
	case len(req.Metadata) > 0:
		return "GetQueryResultWithPagination"
	}
	return "GetQueryResult"
}

// getQueryResult serves GET_QUERY_RESULT as Fabric's handler does:
//   - with a collection it is GetPrivateDataQueryResult, never paginated
//     (QueryMetadata is ignored), answered in batches like a range query;
//   - with QueryMetadata that sets a page size or a bookmark it is one page
//     of GetQueryResultWithPagination, answered whole in one QueryResponse
//     (has_more false, nothing left open) whose metadata is a
//     QueryResponseMetadata with the number of results and the bookmark of
//     the next page; a page size that is not positive (or is above the
//     total query limit) means a page of totalQueryLimit;
//   - otherwise it is GetQueryResult, answered in batches of the runtime's
//     QueryBatchSize through QUERY_STATE_NEXT and QUERY_STATE_CLOSE, and
//     stopped silently after totalQueryLimit results.
func (h *handler) getQueryResult(tx *txState, msg *pb.ChaincodeMessage) ([]byte, error) {
	req := &pb.GetQueryResult{}
	if err := proto.Unmarshal(msg.Payload, req); err != nil {
		return nil, fmt.Errorf("decode peer.GetQueryResult: %w", err)
	}
	call := richQueryCall(req)
	if tx.txc.Simulator == nil {
		return nil, fmt.Errorf("%s: transaction %s has no channel, so chaincode has no state to query", call, msg.Txid)
	}
	rq, ok := tx.txc.Simulator.(RichQuerier)
	if !ok {
		return nil, errors.New(richQueryRefusal(msg))
	}
	var md *pb.QueryMetadata
	if len(req.Metadata) > 0 {
		md = &pb.QueryMetadata{}
		if err := proto.Unmarshal(req.Metadata, md); err != nil {
			return nil, fmt.Errorf("%s: decode peer.QueryMetadata: %w", call, err)
		}
	}
	switch {
	case req.Collection != "":
		if err := tx.checkPrivate(call, req.Collection, useRead); err != nil {
			return nil, err
		}
		it, err := rq.ExecuteQueryOnPrivateData(tx.ns, req.Collection, req.Query)
		if err != nil {
			return nil, fmt.Errorf("%s over collection %q of chaincode %s: %w", call, req.Collection, tx.ns, err)
		}
		return h.firstBatch(tx, kvResults{it})
	case md != nil && (md.PageSize != 0 || md.Bookmark != ""):
		return h.queryPage(tx, rq, req.Query, md)
	}
	it, err := rq.ExecuteQuery(tx.ns, req.Query)
	if err != nil {
		return nil, fmt.Errorf("GetQueryResult on chaincode %s: %w", tx.ns, err)
	}
	return h.firstBatch(tx, kvResults{it})
}

// queryPage answers one page of GetQueryResultWithPagination.
func (h *handler) queryPage(tx *txState, rq RichQuerier, query string, md *pb.QueryMetadata) ([]byte, error) {
	size := md.PageSize
	if limit := int32(h.queryLimit); size <= 0 || size > limit {
		size = limit
	}
	kvs, bookmark, err := rq.ExecuteQueryPage(tx.ns, query, md.Bookmark, size)
	if err != nil {
		return nil, fmt.Errorf("GetQueryResultWithPagination on chaincode %s: %w", tx.ns, err)
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
