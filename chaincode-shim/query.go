package shim

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

const (
	// compositeKeyNamespace starts every composite key, so that composite keys
	// never collide with simple keys.
	compositeKeyNamespace = "\x00"
	// compositeKeySeparator ends every component of a composite key.
	compositeKeySeparator = "\x00"
	// maxRune (U+10FFFF) closes partial composite key ranges; it is forbidden in attributes.
	maxRune = utf8.MaxRune
	// emptyStartKey replaces an empty range start so that a range over simple
	// keys does not begin inside the composite-key namespace.
	emptyStartKey = "\x01"
)

// CreateCompositeKey joins objectType and attributes into a composite key:
// U+0000 objectType U+0000 attr1 U+0000 attr2 U+0000 ...
func CreateCompositeKey(objectType string, attributes []string) (string, error) {
	if err := validateCompositeKeyPart("object type", objectType); err != nil {
		return "", err
	}
	key := compositeKeyNamespace + objectType + compositeKeySeparator
	for i, a := range attributes {
		if err := validateCompositeKeyPart(fmt.Sprintf("attribute %d", i), a); err != nil {
			return "", err
		}
		key += a + compositeKeySeparator
	}
	return key, nil
}

// SplitCompositeKey returns the object type and attributes of a key made by
// CreateCompositeKey.
func SplitCompositeKey(compositeKey string) (string, []string, error) {
	if len(compositeKey) < 2 || compositeKey[:1] != compositeKeyNamespace || compositeKey[len(compositeKey)-1:] != compositeKeySeparator {
		return "", nil, fmt.Errorf("shim: %q is not a composite key; composite keys start and end with U+0000 (use CreateCompositeKey)", compositeKey)
	}
	var parts []string
	start := 1
	for i := 1; i < len(compositeKey); i++ {
		if compositeKey[i] == compositeKeySeparator[0] {
			parts = append(parts, compositeKey[start:i])
			start = i + 1
		}
	}
	return parts[0], parts[1:], nil
}

func validateCompositeKeyPart(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("shim: composite key %s [%x] is not valid UTF-8", what, s)
	}
	for i, r := range s {
		if r == 0 || r == maxRune {
			return fmt.Errorf("shim: composite key %s %q contains %U at byte %d; U+0000 and U+10FFFF are not allowed in composite key parts", what, s, r, i)
		}
	}
	return nil
}

// validateSimpleKeys rejects keys inside the composite-key namespace, so that
// a range over simple keys cannot reach composite keys.
func validateSimpleKeys(keys ...string) error {
	for _, k := range keys {
		if len(k) > 0 && k[:1] == compositeKeyNamespace {
			return fmt.Errorf("shim: key %q starts with U+0000, which is reserved for composite keys; use GetStateByPartialCompositeKey for composite keys", k)
		}
	}
	return nil
}

func partialCompositeRange(objectType string, attributes []string) (string, string, error) {
	prefix, err := CreateCompositeKey(objectType, attributes)
	if err != nil {
		return "", "", err
	}
	return prefix, prefix + string(maxRune), nil
}

func queryMetadata(pageSize int32, bookmark string) ([]byte, error) {
	return proto.Marshal(&pb.QueryMetadata{PageSize: pageSize, Bookmark: bookmark})
}

// CreateCompositeKey implements ChaincodeStubInterface.
func (s *ChaincodeStub) CreateCompositeKey(objectType string, attributes []string) (string, error) {
	return CreateCompositeKey(objectType, attributes)
}

// SplitCompositeKey implements ChaincodeStubInterface.
func (s *ChaincodeStub) SplitCompositeKey(compositeKey string) (string, []string, error) {
	return SplitCompositeKey(compositeKey)
}

// rangeQuery sends GET_STATE_BY_RANGE and wraps the first page in an iterator.
func (s *ChaincodeStub) rangeQuery(collection, startKey, endKey string, metadata []byte) (*StateQueryIterator, *pb.QueryResponseMetadata, error) {
	body, err := s.call(pb.ChaincodeMessage_GET_STATE_BY_RANGE, &pb.GetStateByRange{Collection: collection, StartKey: startKey, EndKey: endKey, Metadata: metadata})
	if err != nil {
		return nil, nil, err
	}
	return s.newStateIterator(body)
}

func (s *ChaincodeStub) richQuery(collection, query string, metadata []byte) (*StateQueryIterator, *pb.QueryResponseMetadata, error) {
	body, err := s.call(pb.ChaincodeMessage_GET_QUERY_RESULT, &pb.GetQueryResult{Collection: collection, Query: query, Metadata: metadata})
	if err != nil {
		return nil, nil, err
	}
	return s.newStateIterator(body)
}

func (s *ChaincodeStub) newStateIterator(body []byte) (*StateQueryIterator, *pb.QueryResponseMetadata, error) {
	resp := &pb.QueryResponse{}
	if err := proto.Unmarshal(body, resp); err != nil {
		return nil, nil, fmt.Errorf("shim: unmarshal QueryResponse: %w", err)
	}
	md := &pb.QueryResponseMetadata{}
	if err := proto.Unmarshal(resp.Metadata, md); err != nil {
		return nil, nil, fmt.Errorf("shim: unmarshal QueryResponseMetadata: %w", err)
	}
	return &StateQueryIterator{CommonIterator: &CommonIterator{stub: s, page: resp}}, md, nil
}

// GetStateByRange implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetStateByRange(startKey, endKey string) (StateQueryIteratorInterface, error) {
	if startKey == "" {
		startKey = emptyStartKey
	}
	if err := validateSimpleKeys(startKey, endKey); err != nil {
		return nil, err
	}
	it, _, err := s.rangeQuery("", startKey, endKey, nil)
	if err != nil {
		return nil, err
	}
	return it, nil
}

// GetStateByRangeWithPagination implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetStateByRangeWithPagination(startKey, endKey string, pageSize int32, bookmark string) (StateQueryIteratorInterface, *pb.QueryResponseMetadata, error) {
	if startKey == "" {
		startKey = emptyStartKey
	}
	if err := validateSimpleKeys(startKey, endKey); err != nil {
		return nil, nil, err
	}
	md, err := queryMetadata(pageSize, bookmark)
	if err != nil {
		return nil, nil, err
	}
	it, rmd, err := s.rangeQuery("", startKey, endKey, md)
	if err != nil {
		return nil, nil, err
	}
	return it, rmd, nil
}

// GetStateByPartialCompositeKey implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetStateByPartialCompositeKey(objectType string, keys []string) (StateQueryIteratorInterface, error) {
	start, end, err := partialCompositeRange(objectType, keys)
	if err != nil {
		return nil, err
	}
	it, _, err := s.rangeQuery("", start, end, nil)
	if err != nil {
		return nil, err
	}
	return it, nil
}

// GetStateByPartialCompositeKeyWithPagination implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetStateByPartialCompositeKeyWithPagination(objectType string, keys []string, pageSize int32, bookmark string) (StateQueryIteratorInterface, *pb.QueryResponseMetadata, error) {
	start, end, err := partialCompositeRange(objectType, keys)
	if err != nil {
		return nil, nil, err
	}
	md, err := queryMetadata(pageSize, bookmark)
	if err != nil {
		return nil, nil, err
	}
	it, rmd, err := s.rangeQuery("", start, end, md)
	if err != nil {
		return nil, nil, err
	}
	return it, rmd, nil
}

// GetAllStatesCompositeKeyWithPagination implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetAllStatesCompositeKeyWithPagination(pageSize int32, bookmark string) (StateQueryIteratorInterface, *pb.QueryResponseMetadata, error) {
	md, err := queryMetadata(pageSize, bookmark)
	if err != nil {
		return nil, nil, err
	}
	it, rmd, err := s.rangeQuery("", compositeKeyNamespace, compositeKeyNamespace+string(maxRune), md)
	if err != nil {
		return nil, nil, err
	}
	return it, rmd, nil
}

// GetQueryResult implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetQueryResult(query string) (StateQueryIteratorInterface, error) {
	it, _, err := s.richQuery("", query, nil)
	if err != nil {
		return nil, err
	}
	return it, nil
}

// GetQueryResultWithPagination implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetQueryResultWithPagination(query string, pageSize int32, bookmark string) (StateQueryIteratorInterface, *pb.QueryResponseMetadata, error) {
	md, err := queryMetadata(pageSize, bookmark)
	if err != nil {
		return nil, nil, err
	}
	it, rmd, err := s.richQuery("", query, md)
	if err != nil {
		return nil, nil, err
	}
	return it, rmd, nil
}

// GetHistoryForKey implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetHistoryForKey(key string) (HistoryQueryIteratorInterface, error) {
	body, err := s.call(pb.ChaincodeMessage_GET_HISTORY_FOR_KEY, &pb.GetHistoryForKey{Key: key})
	if err != nil {
		return nil, err
	}
	resp := &pb.QueryResponse{}
	if err := proto.Unmarshal(body, resp); err != nil {
		return nil, fmt.Errorf("shim: unmarshal history of key %q: %w", key, err)
	}
	return &HistoryQueryIterator{CommonIterator: &CommonIterator{stub: s, page: resp}}, nil
}

// GetPrivateDataByRange implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetPrivateDataByRange(collection, startKey, endKey string) (StateQueryIteratorInterface, error) {
	if err := requireCollection("GetPrivateDataByRange", collection); err != nil {
		return nil, err
	}
	if startKey == "" {
		startKey = emptyStartKey
	}
	if err := validateSimpleKeys(startKey, endKey); err != nil {
		return nil, err
	}
	it, _, err := s.rangeQuery(collection, startKey, endKey, nil)
	if err != nil {
		return nil, err
	}
	return it, nil
}

// GetPrivateDataByPartialCompositeKey implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetPrivateDataByPartialCompositeKey(collection, objectType string, keys []string) (StateQueryIteratorInterface, error) {
	if err := requireCollection("GetPrivateDataByPartialCompositeKey", collection); err != nil {
		return nil, err
	}
	start, end, err := partialCompositeRange(objectType, keys)
	if err != nil {
		return nil, err
	}
	it, _, err := s.rangeQuery(collection, start, end, nil)
	if err != nil {
		return nil, err
	}
	return it, nil
}

// GetPrivateDataQueryResult implements ChaincodeStubInterface.
func (s *ChaincodeStub) GetPrivateDataQueryResult(collection, query string) (StateQueryIteratorInterface, error) {
	if err := requireCollection("GetPrivateDataQueryResult", collection); err != nil {
		return nil, err
	}
	it, _, err := s.richQuery(collection, query, nil)
	if err != nil {
		return nil, err
	}
	return it, nil
}

// ErrNoMoreResults is returned by Next when the iterator is exhausted.
var ErrNoMoreResults = errors.New("shim: the iterator has no more results")

// CommonIterator walks the pages of one peer-side query. The peer holds the
// query open; each page after the first is fetched with QUERY_STATE_NEXT, and
// Close sends QUERY_STATE_CLOSE.
type CommonIterator struct {
	stub *ChaincodeStub
	page *pb.QueryResponse
	pos  int
}

// StateQueryIterator iterates key/value results.
type StateQueryIterator struct{ *CommonIterator }

// HistoryQueryIterator iterates the modifications of one key.
type HistoryQueryIterator struct{ *CommonIterator }

// HasNext implements CommonIteratorInterface.
func (it *CommonIterator) HasNext() bool {
	return it.pos < len(it.page.Results) || it.page.HasMore
}

// next returns the raw bytes of the next result. When it hands out the last
// result of a page that has more behind it, it fetches the next page so
// that HasNext stays exact.
func (it *CommonIterator) next() ([]byte, error) {
	if it.pos >= len(it.page.Results) {
		if it.page.HasMore {
			return nil, errors.New("shim: the peer sent an empty page that claims more results")
		}
		return nil, ErrNoMoreResults
	}
	r := it.page.Results[it.pos]
	it.pos++
	if it.pos == len(it.page.Results) && it.page.HasMore {
		body, err := it.stub.call(pb.ChaincodeMessage_QUERY_STATE_NEXT, &pb.QueryStateNext{Id: it.page.Id})
		if err != nil {
			return nil, err
		}
		next := &pb.QueryResponse{}
		if err := proto.Unmarshal(body, next); err != nil {
			return nil, fmt.Errorf("shim: unmarshal next page of query %s: %w", it.page.Id, err)
		}
		it.page, it.pos = next, 0
	}
	return r.ResultBytes, nil
}

// Close implements CommonIteratorInterface.
func (it *CommonIterator) Close() error {
	_, err := it.stub.call(pb.ChaincodeMessage_QUERY_STATE_CLOSE, &pb.QueryStateClose{Id: it.page.Id})
	return err
}

// Next implements StateQueryIteratorInterface.
func (it *StateQueryIterator) Next() (*queryresult.KV, error) {
	b, err := it.next()
	if err != nil {
		return nil, err
	}
	kv := &queryresult.KV{}
	if err := proto.Unmarshal(b, kv); err != nil {
		return nil, fmt.Errorf("shim: unmarshal query result: %w", err)
	}
	return kv, nil
}

// Next implements HistoryQueryIteratorInterface.
func (it *HistoryQueryIterator) Next() (*queryresult.KeyModification, error) {
	b, err := it.next()
	if err != nil {
		return nil, err
	}
	km := &queryresult.KeyModification{}
	if err := proto.Unmarshal(b, km); err != nil {
		return nil, fmt.Errorf("shim: unmarshal history result: %w", err)
	}
	return km, nil
}
