package shim

import (
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Chaincode is what a chaincode author implements. The shim calls Init for an
// INIT message and Invoke for a TRANSACTION message, each in its own
// goroutine, so both must be safe for concurrent use.
type Chaincode interface {
	// Init runs when the chaincode definition requires initialisation.
	// A response with status >= ERROR is reported to the peer as an ERROR.
	Init(stub ChaincodeStubInterface) *pb.Response
	// Invoke runs one transaction proposal. Its writes only reach the ledger
	// if the transaction is endorsed, ordered and validated.
	Invoke(stub ChaincodeStubInterface) *pb.Response
}

// ChaincodeStubInterface is the transaction context handed to Init and
// Invoke: arguments, proposal data, and state access through the peer. A stub
// is valid only during the call it was passed to, and its methods must not be
// called concurrently (the peer answers one request per transaction at a time).
type ChaincodeStubInterface interface {
	// GetArgs returns the invocation arguments as raw bytes.
	GetArgs() [][]byte
	// GetStringArgs returns the invocation arguments as strings.
	GetStringArgs() []string
	// GetFunctionAndParameters returns the first argument as the function name
	// and the others as its parameters ("" and an empty slice when there are none).
	GetFunctionAndParameters() (string, []string)
	// GetArgsSlice returns all arguments concatenated.
	GetArgsSlice() ([]byte, error)
	// GetTxID returns the transaction ID of the proposal.
	GetTxID() string
	// GetChannelID returns the channel the proposal was sent to.
	GetChannelID() string

	// InvokeChaincode calls another chaincode within this transaction. An empty
	// channel means this channel; on another channel the call is read-only.
	InvokeChaincode(chaincodeName string, args [][]byte, channel string) *pb.Response

	// GetState returns the committed value of key, or nil, nil if it does not
	// exist. Writes of this transaction are not visible.
	GetState(key string) ([]byte, error)
	// GetMultipleStates returns the committed values of keys in order, nil
	// for absent keys.
	GetMultipleStates(keys ...string) ([][]byte, error)
	// PutState records a write of key in the transaction's write set. The key
	// must not be empty and must not start with U+0000 (the composite-key
	// namespace).
	PutState(key string, value []byte) error
	// DelState records a delete of key in the transaction's write set.
	DelState(key string) error
	// SetStateValidationParameter sets the key-level endorsement policy of key.
	SetStateValidationParameter(key string, ep []byte) error
	// GetStateValidationParameter returns the key-level endorsement policy of key.
	GetStateValidationParameter(key string) ([]byte, error)

	// GetStateByRange iterates keys in [startKey, endKey) in key order; empty
	// bounds are open. Results are paged from the peer as the iterator advances.
	// Close the iterator when done.
	GetStateByRange(startKey, endKey string) (StateQueryIteratorInterface, error)
	// GetStateByRangeWithPagination returns one page of at most pageSize keys,
	// starting at bookmark (a bookmark from an earlier page, or "").
	GetStateByRangeWithPagination(startKey, endKey string, pageSize int32, bookmark string) (StateQueryIteratorInterface, *pb.QueryResponseMetadata, error)
	// GetStateByPartialCompositeKey iterates the composite keys that start with
	// objectType and the given leading attributes.
	GetStateByPartialCompositeKey(objectType string, keys []string) (StateQueryIteratorInterface, error)
	// GetStateByPartialCompositeKeyWithPagination is the paged form of
	// GetStateByPartialCompositeKey.
	GetStateByPartialCompositeKeyWithPagination(objectType string, keys []string, pageSize int32, bookmark string) (StateQueryIteratorInterface, *pb.QueryResponseMetadata, error)
	// GetAllStatesCompositeKeyWithPagination pages over every composite key.
	GetAllStatesCompositeKeyWithPagination(pageSize int32, bookmark string) (StateQueryIteratorInterface, *pb.QueryResponseMetadata, error)
	// CreateCompositeKey joins objectType and attributes into one key. None of
	// them may contain U+0000 or U+10FFFF, and all must be valid UTF-8.
	CreateCompositeKey(objectType string, attributes []string) (string, error)
	// SplitCompositeKey is the inverse of CreateCompositeKey.
	SplitCompositeKey(compositeKey string) (string, []string, error)
	// GetQueryResult runs a rich query (CouchDB only). Not re-checked at
	// validation time.
	GetQueryResult(query string) (StateQueryIteratorInterface, error)
	// GetQueryResultWithPagination is the paged form of GetQueryResult.
	GetQueryResultWithPagination(query string, pageSize int32, bookmark string) (StateQueryIteratorInterface, *pb.QueryResponseMetadata, error)
	// GetHistoryForKey iterates the committed history of key, newest first.
	GetHistoryForKey(key string) (HistoryQueryIteratorInterface, error)

	// GetPrivateData returns the value of key in a private data collection.
	GetPrivateData(collection, key string) ([]byte, error)
	// GetMultiplePrivateData returns the values of keys in a collection, in order.
	GetMultiplePrivateData(collection string, keys ...string) ([][]byte, error)
	// GetPrivateDataHash returns the hash of the value of key in a collection;
	// it works on peers that are not members of the collection.
	GetPrivateDataHash(collection, key string) ([]byte, error)
	// PutPrivateData records a private write (only its hash reaches the ledger).
	PutPrivateData(collection string, key string, value []byte) error
	// DelPrivateData records a private delete.
	DelPrivateData(collection, key string) error
	// PurgePrivateData records a private delete that also removes history.
	PurgePrivateData(collection, key string) error
	// SetPrivateDataValidationParameter sets the key-level endorsement policy of a private key.
	SetPrivateDataValidationParameter(collection, key string, ep []byte) error
	// GetPrivateDataValidationParameter returns the key-level endorsement policy of a private key.
	GetPrivateDataValidationParameter(collection, key string) ([]byte, error)
	// GetPrivateDataByRange iterates keys of a collection in [startKey, endKey).
	GetPrivateDataByRange(collection, startKey, endKey string) (StateQueryIteratorInterface, error)
	// GetPrivateDataByPartialCompositeKey iterates composite keys of a collection by prefix.
	GetPrivateDataByPartialCompositeKey(collection, objectType string, keys []string) (StateQueryIteratorInterface, error)
	// GetPrivateDataQueryResult runs a rich query on a collection (CouchDB only).
	GetPrivateDataQueryResult(collection, query string) (StateQueryIteratorInterface, error)

	// GetCreator returns the serialized identity that signed the proposal.
	GetCreator() ([]byte, error)
	// GetTransient returns the proposal's transient map (never stored on the ledger).
	GetTransient() (map[string][]byte, error)
	// GetBinding returns SHA-256(nonce ‖ creator ‖ epoch as 8 little-endian bytes).
	GetBinding() ([]byte, error)
	// GetDecorations returns the decorations the peer added to the input (may be nil).
	GetDecorations() map[string][]byte
	// GetSignedProposal returns the signed proposal of this invocation (nil for
	// invocations without one).
	GetSignedProposal() (*pb.SignedProposal, error)
	// GetTxTimestamp returns the client's timestamp from the channel header.
	GetTxTimestamp() (*timestamppb.Timestamp, error)
	// SetEvent sets the transaction's chaincode event; a later call replaces
	// an earlier one. The name must not be empty.
	SetEvent(name string, payload []byte) error

	// StartWriteBatch is accepted for API compatibility; Weft's shim always
	// sends writes immediately, so it has no effect.
	StartWriteBatch()
	// FinishWriteBatch has no effect and returns nil (see StartWriteBatch).
	FinishWriteBatch() error
}

// CommonIteratorInterface is the part shared by state and history iterators.
type CommonIteratorInterface interface {
	// HasNext reports whether Next will return another result.
	HasNext() bool
	// Close releases the query on the peer.
	Close() error
}

// StateQueryIteratorInterface iterates key/value results.
type StateQueryIteratorInterface interface {
	CommonIteratorInterface
	// Next returns the next key and value.
	Next() (*queryresult.KV, error)
}

// HistoryQueryIteratorInterface iterates the history of one key.
type HistoryQueryIteratorInterface interface {
	CommonIteratorInterface
	// Next returns the next modification.
	Next() (*queryresult.KeyModification, error)
}
