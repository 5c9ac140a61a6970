package shimtest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	shim "github.com/weft-ledger/weft/chaincode-shim"
)

// write is a pending change of one key: a value write (a nil or empty value
// deletes the key, as on a peer), a validation parameter write, or both.
type write struct {
	value    []byte
	hasValue bool
	ep       []byte
	hasEP    bool
}

// writeSet holds the pending writes of one chaincode in a transaction, by
// collection ("" for public state) and key.
type writeSet map[string]map[string]*write

func (ws writeSet) at(collection, key string) *write {
	keys := ws[collection]
	if keys == nil {
		keys = map[string]*write{}
		ws[collection] = keys
	}
	w := keys[key]
	if w == nil {
		w = &write{}
		keys[key] = w
	}
	return w
}

// store returns the committed values of a collection ("" for public state).
func (s *MockStub) store(collection string) map[string][]byte {
	if collection == "" {
		return s.State
	}
	return s.PvtState[collection]
}

// commit applies this chaincode's writes in tx to its committed state.
func (s *MockStub) commit(tx *mockTx) {
	for _, collection := range slices.Sorted(maps.Keys(s.writes)) {
		keys := s.writes[collection]
		for _, key := range slices.Sorted(maps.Keys(keys)) {
			w := keys[key]
			if w.hasValue {
				s.commitValue(tx, collection, key, w.value)
			}
			// Like a peer, keep a key-level policy only on a key that exists.
			if _, exists := s.store(collection)[key]; w.hasEP && exists {
				if s.EndorsementPolicies[collection] == nil {
					s.EndorsementPolicies[collection] = map[string][]byte{}
				}
				s.EndorsementPolicies[collection][key] = w.ep
			}
		}
	}
}

func (s *MockStub) commitValue(tx *mockTx, collection, key string, value []byte) {
	isDelete := len(value) == 0
	if isDelete {
		delete(s.store(collection), key)
		delete(s.EndorsementPolicies[collection], key)
	} else {
		if collection != "" && s.PvtState[collection] == nil {
			s.PvtState[collection] = map[string][]byte{}
		}
		s.store(collection)[key] = value
	}
	if collection == "" {
		s.history[key] = append(s.history[key], &queryresult.KeyModification{
			TxId: tx.id, Value: value, Timestamp: tx.timestamp, IsDelete: isDelete,
		})
	}
}

// checkWrite reports why op on key cannot be written now, as a peer would.
func (s *MockStub) checkWrite(op, collection, key string) error {
	if s.tx == nil {
		return s.noTx(fmt.Sprintf("%s(%q)", op, key))
	}
	if key == "" {
		return fmt.Errorf("shimtest: %s: the key must not be an empty string", op)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("shimtest: %s: key [%x] is not valid UTF-8; state keys must be UTF-8 strings", op, key)
	}
	switch {
	case s.tx.paginated:
		return fmt.Errorf("shimtest: %s(%q) in txid [%s]: the transaction has already run a paginated query, so it may not write (the peer refuses this); query in a separate, read-only transaction", op, key, s.tx.id)
	case s.tx.pvtQueried:
		return fmt.Errorf("shimtest: %s(%q) in txid [%s]: the transaction has already run a private data range query, so it may not write (the peer refuses this); query in a separate, read-only transaction", op, key, s.tx.id)
	}
	s.tx.wrote = true
	return nil
}

func (s *MockStub) putValue(op, collection, key string, value []byte) error {
	if err := s.checkWrite(op, collection, key); err != nil {
		return err
	}
	w := s.writes.at(collection, key)
	w.value, w.hasValue = bytes.Clone(value), true
	return nil
}

func (s *MockStub) putEP(op, collection, key string, ep []byte) error {
	if err := s.checkWrite(op, collection, key); err != nil {
		return err
	}
	w := s.writes.at(collection, key)
	w.ep, w.hasEP = bytes.Clone(ep), true
	return nil
}

func requireCollection(op, collection string) error {
	if collection == "" {
		return fmt.Errorf("shimtest: %s: the collection must not be an empty string", op)
	}
	return nil
}

// GetState implements shim.ChaincodeStubInterface: the committed value, or
// nil. Writes of the running transaction are not visible, as on a peer.
func (s *MockStub) GetState(key string) ([]byte, error) {
	return bytes.Clone(s.State[key]), nil
}

// GetMultipleStates implements shim.ChaincodeStubInterface.
func (s *MockStub) GetMultipleStates(keys ...string) ([][]byte, error) {
	return s.getMultiple("", keys), nil
}

func (s *MockStub) getMultiple(collection string, keys []string) [][]byte {
	if len(keys) == 0 {
		return nil
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = bytes.Clone(s.store(collection)[k])
	}
	return out
}

// PutState implements shim.ChaincodeStubInterface. The write becomes visible
// when the transaction ends successfully; a nil or empty value deletes key.
func (s *MockStub) PutState(key string, value []byte) error {
	return s.putValue("PutState", "", key, value)
}

// DelState implements shim.ChaincodeStubInterface.
func (s *MockStub) DelState(key string) error {
	return s.putValue("DelState", "", key, nil)
}

// SetStateValidationParameter implements shim.ChaincodeStubInterface. The
// policy is committed with the transaction, and only if key exists then.
func (s *MockStub) SetStateValidationParameter(key string, ep []byte) error {
	return s.putEP("SetStateValidationParameter", "", key, ep)
}

// GetStateValidationParameter implements shim.ChaincodeStubInterface.
func (s *MockStub) GetStateValidationParameter(key string) ([]byte, error) {
	return bytes.Clone(s.EndorsementPolicies[""][key]), nil
}

// GetPrivateData implements shim.ChaincodeStubInterface.
func (s *MockStub) GetPrivateData(collection, key string) ([]byte, error) {
	if err := requireCollection("GetPrivateData", collection); err != nil {
		return nil, err
	}
	return bytes.Clone(s.PvtState[collection][key]), nil
}

// GetMultiplePrivateData implements shim.ChaincodeStubInterface.
func (s *MockStub) GetMultiplePrivateData(collection string, keys ...string) ([][]byte, error) {
	if err := requireCollection("GetMultiplePrivateData", collection); err != nil {
		return nil, err
	}
	return s.getMultiple(collection, keys), nil
}

// GetPrivateDataHash implements shim.ChaincodeStubInterface: the SHA-256 of
// the committed value, or nil.
func (s *MockStub) GetPrivateDataHash(collection, key string) ([]byte, error) {
	if err := requireCollection("GetPrivateDataHash", collection); err != nil {
		return nil, err
	}
	v, ok := s.PvtState[collection][key]
	if !ok {
		return nil, nil
	}
	h := sha256.Sum256(v)
	return h[:], nil
}

// PutPrivateData implements shim.ChaincodeStubInterface.
func (s *MockStub) PutPrivateData(collection, key string, value []byte) error {
	if err := requireCollection("PutPrivateData", collection); err != nil {
		return err
	}
	return s.putValue("PutPrivateData", collection, key, value)
}

// DelPrivateData implements shim.ChaincodeStubInterface.
func (s *MockStub) DelPrivateData(collection, key string) error {
	if err := requireCollection("DelPrivateData", collection); err != nil {
		return err
	}
	return s.putValue("DelPrivateData", collection, key, nil)
}

// PurgePrivateData implements shim.ChaincodeStubInterface; MockStub keeps no
// private data history, so it is DelPrivateData.
func (s *MockStub) PurgePrivateData(collection, key string) error {
	if err := requireCollection("PurgePrivateData", collection); err != nil {
		return err
	}
	return s.putValue("PurgePrivateData", collection, key, nil)
}

// SetPrivateDataValidationParameter implements shim.ChaincodeStubInterface.
func (s *MockStub) SetPrivateDataValidationParameter(collection, key string, ep []byte) error {
	if err := requireCollection("SetPrivateDataValidationParameter", collection); err != nil {
		return err
	}
	return s.putEP("SetPrivateDataValidationParameter", collection, key, ep)
}

// GetPrivateDataValidationParameter implements shim.ChaincodeStubInterface.
func (s *MockStub) GetPrivateDataValidationParameter(collection, key string) ([]byte, error) {
	if err := requireCollection("GetPrivateDataValidationParameter", collection); err != nil {
		return nil, err
	}
	return bytes.Clone(s.EndorsementPolicies[collection][key]), nil
}

// CreateCompositeKey implements shim.ChaincodeStubInterface with shim.CreateCompositeKey.
func (s *MockStub) CreateCompositeKey(objectType string, attributes []string) (string, error) {
	return shim.CreateCompositeKey(objectType, attributes)
}

// SplitCompositeKey implements shim.ChaincodeStubInterface with shim.SplitCompositeKey.
func (s *MockStub) SplitCompositeKey(compositeKey string) (string, []string, error) {
	return shim.SplitCompositeKey(compositeKey)
}

const (
	compositeKeyNamespace = "\x00"
	// emptyStartKey replaces an empty range start, so that a range over simple
	// keys does not reach the composite keys (which start with U+0000).
	emptyStartKey = "\x01"
)

func simpleRange(op, startKey, endKey string) (string, error) {
	for _, k := range []string{startKey, endKey} {
		if strings.HasPrefix(k, compositeKeyNamespace) {
			return "", fmt.Errorf("shimtest: %s: key %q starts with U+0000, which is reserved for composite keys; use the partial composite key queries for those", op, k)
		}
	}
	if startKey == "" {
		startKey = emptyStartKey
	}
	return startKey, nil
}

func compositeRange(objectType string, attributes []string) (string, string, error) {
	prefix, err := shim.CreateCompositeKey(objectType, attributes)
	if err != nil {
		return "", "", err
	}
	return prefix, prefix + string(utf8.MaxRune), nil
}

// scan returns the committed keys of a collection in [startKey, endKey) in
// key order (an empty endKey is open), at most limit of them if limit > 0,
// and the key the next page starts at ("" when there is none).
func (s *MockStub) scan(collection, startKey, endKey string, limit int32) ([]*queryresult.KV, string) {
	store := s.store(collection)
	var keys []string
	for k := range store {
		if k >= startKey && (endKey == "" || k < endKey) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	next := ""
	if limit > 0 && len(keys) > int(limit) {
		next = keys[limit]
		keys = keys[:limit]
	}
	kvs := make([]*queryresult.KV, len(keys))
	for i, k := range keys {
		kvs[i] = &queryresult.KV{Namespace: s.Name, Key: k, Value: bytes.Clone(store[k])}
	}
	return kvs, next
}

// paged runs one page of a public range query, as a LevelDB peer does: the
// page starts at bookmark if set, holds at most pageSize results (all if
// pageSize <= 0), and its bookmark is the key the next page starts at.
func (s *MockStub) paged(op, startKey, endKey string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *pb.QueryResponseMetadata, error) {
	if s.tx != nil {
		if s.tx.wrote {
			return nil, nil, fmt.Errorf("shimtest: %s in txid [%s]: paginated queries are only allowed in a read-only transaction and this one has written (the peer refuses this); query in a separate transaction", op, s.tx.id)
		}
		s.tx.paginated = true
	}
	if bookmark != "" {
		startKey = bookmark
	}
	kvs, next := s.scan("", startKey, endKey, pageSize)
	return &mockIterator[*queryresult.KV]{items: kvs}, &pb.QueryResponseMetadata{FetchedRecordsCount: int32(len(kvs)), Bookmark: next}, nil
}

// pvtQuery notes a private data range query, which a peer allows only in a
// transaction that has not written.
func (s *MockStub) pvtQuery(op, collection string) error {
	if err := requireCollection(op, collection); err != nil {
		return err
	}
	if s.tx != nil {
		if s.tx.wrote {
			return fmt.Errorf("shimtest: %s in txid [%s]: private data range queries are only allowed in a read-only transaction and this one has written (the peer refuses this); query in a separate transaction", op, s.tx.id)
		}
		s.tx.pvtQueried = true
	}
	return nil
}

// GetStateByRange implements shim.ChaincodeStubInterface over committed state.
func (s *MockStub) GetStateByRange(startKey, endKey string) (shim.StateQueryIteratorInterface, error) {
	startKey, err := simpleRange("GetStateByRange", startKey, endKey)
	if err != nil {
		return nil, err
	}
	kvs, _ := s.scan("", startKey, endKey, 0)
	return &mockIterator[*queryresult.KV]{items: kvs}, nil
}

// GetStateByRangeWithPagination implements shim.ChaincodeStubInterface.
func (s *MockStub) GetStateByRangeWithPagination(startKey, endKey string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *pb.QueryResponseMetadata, error) {
	startKey, err := simpleRange("GetStateByRangeWithPagination", startKey, endKey)
	if err != nil {
		return nil, nil, err
	}
	return s.paged("GetStateByRangeWithPagination", startKey, endKey, pageSize, bookmark)
}

// GetStateByPartialCompositeKey implements shim.ChaincodeStubInterface.
func (s *MockStub) GetStateByPartialCompositeKey(objectType string, keys []string) (shim.StateQueryIteratorInterface, error) {
	start, end, err := compositeRange(objectType, keys)
	if err != nil {
		return nil, err
	}
	kvs, _ := s.scan("", start, end, 0)
	return &mockIterator[*queryresult.KV]{items: kvs}, nil
}

// GetStateByPartialCompositeKeyWithPagination implements shim.ChaincodeStubInterface.
func (s *MockStub) GetStateByPartialCompositeKeyWithPagination(objectType string, keys []string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *pb.QueryResponseMetadata, error) {
	start, end, err := compositeRange(objectType, keys)
	if err != nil {
		return nil, nil, err
	}
	return s.paged("GetStateByPartialCompositeKeyWithPagination", start, end, pageSize, bookmark)
}

// GetAllStatesCompositeKeyWithPagination implements shim.ChaincodeStubInterface.
func (s *MockStub) GetAllStatesCompositeKeyWithPagination(pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *pb.QueryResponseMetadata, error) {
	return s.paged("GetAllStatesCompositeKeyWithPagination", compositeKeyNamespace, compositeKeyNamespace+string(utf8.MaxRune), pageSize, bookmark)
}

// GetPrivateDataByRange implements shim.ChaincodeStubInterface.
func (s *MockStub) GetPrivateDataByRange(collection, startKey, endKey string) (shim.StateQueryIteratorInterface, error) {
	startKey, err := simpleRange("GetPrivateDataByRange", startKey, endKey)
	if err != nil {
		return nil, err
	}
	if err := s.pvtQuery("GetPrivateDataByRange", collection); err != nil {
		return nil, err
	}
	kvs, _ := s.scan(collection, startKey, endKey, 0)
	return &mockIterator[*queryresult.KV]{items: kvs}, nil
}

// GetPrivateDataByPartialCompositeKey implements shim.ChaincodeStubInterface.
func (s *MockStub) GetPrivateDataByPartialCompositeKey(collection, objectType string, keys []string) (shim.StateQueryIteratorInterface, error) {
	start, end, err := compositeRange(objectType, keys)
	if err != nil {
		return nil, err
	}
	if err := s.pvtQuery("GetPrivateDataByPartialCompositeKey", collection); err != nil {
		return nil, err
	}
	kvs, _ := s.scan(collection, start, end, 0)
	return &mockIterator[*queryresult.KV]{items: kvs}, nil
}

// richQueryRefusal is what a LevelDB peer answers to a rich query.
func richQueryRefusal(op string) error {
	return fmt.Errorf("%s: rich queries (JSON selectors) need a CouchDB state database; MockStub, like a peer with LevelDB, has none. "+
		"Use key or range queries (GetState, GetStateByRange, GetStateByPartialCompositeKey) instead, or test the query against a peer with CouchDB", op)
}

// GetQueryResult implements shim.ChaincodeStubInterface; it always fails,
// as on a peer with LevelDB.
func (s *MockStub) GetQueryResult(query string) (shim.StateQueryIteratorInterface, error) {
	return nil, richQueryRefusal("GetQueryResult")
}

// GetQueryResultWithPagination implements shim.ChaincodeStubInterface; it
// always fails, as on a peer with LevelDB.
func (s *MockStub) GetQueryResultWithPagination(query string, pageSize int32, bookmark string) (shim.StateQueryIteratorInterface, *pb.QueryResponseMetadata, error) {
	return nil, nil, richQueryRefusal("GetQueryResultWithPagination")
}

// GetPrivateDataQueryResult implements shim.ChaincodeStubInterface; it
// always fails, as on a peer with LevelDB.
func (s *MockStub) GetPrivateDataQueryResult(collection, query string) (shim.StateQueryIteratorInterface, error) {
	if err := requireCollection("GetPrivateDataQueryResult", collection); err != nil {
		return nil, err
	}
	return nil, richQueryRefusal("GetPrivateDataQueryResult")
}

// GetHistoryForKey implements shim.ChaincodeStubInterface: every committed
// write of key, newest first, as Fabric v2 orders it. Values seeded directly
// into State have no history.
func (s *MockStub) GetHistoryForKey(key string) (shim.HistoryQueryIteratorInterface, error) {
	h := s.history[key]
	items := make([]*queryresult.KeyModification, len(h))
	for i, m := range h {
		items[len(h)-1-i] = &queryresult.KeyModification{TxId: m.TxId, Value: bytes.Clone(m.Value), Timestamp: m.Timestamp, IsDelete: m.IsDelete}
	}
	return &mockIterator[*queryresult.KeyModification]{items: items}, nil
}

// mockIterator walks the results of a query, taken when the query ran.
type mockIterator[T any] struct {
	items  []T
	pos    int
	closed bool
}

// HasNext implements shim.CommonIteratorInterface.
func (it *mockIterator[T]) HasNext() bool { return !it.closed && it.pos < len(it.items) }

// Next implements shim.StateQueryIteratorInterface and shim.HistoryQueryIteratorInterface.
func (it *mockIterator[T]) Next() (T, error) {
	var zero T
	if it.closed {
		return zero, errors.New("shimtest: Next on a closed iterator")
	}
	if it.pos >= len(it.items) {
		return zero, shim.ErrNoMoreResults
	}
	it.pos++
	return it.items[it.pos-1], nil
}

// Close implements shim.CommonIteratorInterface.
func (it *mockIterator[T]) Close() error {
	it.closed = true
	return nil
}
