package chaincode

import (
	"context"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// TxContext is everything a chaincode invocation may see of its transaction.
// System chaincodes and user chaincode share it.
type TxContext struct {
	ChannelID      string
	TxID           string
	SignedProposal *pb.SignedProposal
	Proposal       *protos.Proposal
	Creator        *msp.Identity
	// Simulator records reads and writes; nil when ChannelID == "".
	Simulator TxSimulator
	Transient map[string][]byte
	// Namespace is the state namespace of the invoked chaincode (its
	// definition name). Empty means Proposal.ChaincodeName().
	Namespace string
	// History answers GetHistoryForKey (GET_HISTORY_FOR_KEY); nil means the
	// channel keeps no history index and the request is refused.
	History HistoryReader
	// Invoker runs chaincode-to-chaincode calls (INVOKE_CHAINCODE); nil
	// refuses them.
	Invoker ChaincodeInvoker
	// ApplicationCapabilities are the channel's application capabilities
	// (channelconfig.ApplicationConfig.Capabilities, e.g. "V2_5"). Features
	// Fabric gates behind one, such as PurgePrivateData (V2_5), are refused
	// when it is missing.
	ApplicationCapabilities []string
	// Collection returns the rules of collection coll of chaincode ns for
	// the member-only access checks (memberOnlyRead, memberOnlyWrite); nil
	// means no checks. When the chaincode defines no such collection the
	// error must wrap ErrUnknownCollection: the request then fails as
	// Fabric's does ("collection <channel>/<ns>/<coll> could not be found").
	Collection func(ns, coll string) (CollectionAccess, error)
}

// hasApplicationCapability reports whether the channel enables capability name.
func (t *TxContext) hasApplicationCapability(name string) bool {
	for _, c := range t.ApplicationCapabilities {
		if c == name {
			return true
		}
	}
	return false
}

// Callee returns the context of chaincode ns called by t's chaincode on the
// same channel: the same transaction, simulator, creator, history, invoker
// and collection rules, with ns as its state namespace.
func (t *TxContext) Callee(ns string) *TxContext {
	return &TxContext{
		ChannelID: t.ChannelID, TxID: t.TxID, SignedProposal: t.SignedProposal, Proposal: t.Proposal,
		Creator: t.Creator, Simulator: t.Simulator, Transient: t.Transient, Namespace: ns,
		History: t.History, Invoker: t.Invoker, ApplicationCapabilities: t.ApplicationCapabilities,
		Collection: t.Collection,
	}
}

// namespace returns the state namespace chaincode requests are served in.
func (t *TxContext) namespace() string {
	if t.Namespace != "" {
		return t.Namespace
	}
	if t.Proposal != nil {
		return t.Proposal.ChaincodeName()
	}
	return ""
}

// TxSimulator is the part of the ledger's simulator chaincode needs; a
// *ledger.Simulator satisfies it.
type TxSimulator interface {
	GetState(ns, key string) ([]byte, error)
	GetStateRange(ns, start, end string) (statedb.Iterator, error)
	SetState(ns, key string, value []byte) error
	DeleteState(ns, key string) error
	GetPrivateDataHash(ns, coll, key string) ([]byte, error)
	PutPrivateData(ns, coll, key string, value []byte) error
}

// PrivateDataReader is an optional TxSimulator capability: reading this
// peer's copy of private data (GET_STATE with a collection).
type PrivateDataReader interface {
	GetPrivateData(ns, coll, key string) ([]byte, error)
}

// PrivateDataDeleter is an optional TxSimulator capability: DEL_STATE with a
// collection.
type PrivateDataDeleter interface {
	DeletePrivateData(ns, coll, key string) error
}

// StateMetadataAccessor is an optional TxSimulator capability: key-level
// metadata such as the state-based endorsement policy (GET_STATE_METADATA,
// PUT_STATE_METADATA). Without it metadata reads answer empty.
type StateMetadataAccessor interface {
	GetStateMetadata(ns, key string) (map[string][]byte, error)
	SetStateMetadata(ns, key string, metadata map[string][]byte) error
}

// PrivateMetadataAccessor is an optional TxSimulator capability: metadata
// of private keys, such as their key-level endorsement policy
// (GetPrivateDataValidationParameter and SetPrivateDataValidationParameter:
// GET_STATE_METADATA and PUT_STATE_METADATA with a collection). Without it
// those requests are refused.
type PrivateMetadataAccessor interface {
	GetPrivateDataMetadata(ns, coll, key string) (map[string][]byte, error)
	SetPrivateDataMetadata(ns, coll, key string, metadata map[string][]byte) error
}

// RangePager is an optional TxSimulator capability: one page of a range
// query (GetStateByRangeWithPagination and
// GetStateByPartialCompositeKeyWithPagination). It returns at most pageSize
// keys of ns in [startKey, endKey) and the bookmark to pass as startKey for
// the next page, "" when the range is exhausted. As in Fabric, the simulator
// allows paginated queries only in read-only transactions (a paginated query
// after a write fails, and so does a write after one); *ledger.Simulator
// enforces that, across every chaincode simulating on it.
type RangePager interface {
	GetStateRangePage(ns, startKey, endKey string, pageSize int32) ([]*statedb.KV, string, error)
}

// PrivateDataRangeReader is an optional TxSimulator capability: a range
// over this peer's copy of a collection (GetPrivateDataByRange and
// GetPrivateDataByPartialCompositeKey, i.e. GET_STATE_BY_RANGE with a
// collection). As in Fabric, *ledger.Simulator records nothing for it in the
// read/write set and allows it only in read-only transactions.
type PrivateDataRangeReader interface {
	GetPrivateDataRange(ns, coll, start, end string) (statedb.Iterator, error)
}

// PrivateDataPurger is an optional TxSimulator capability: PurgePrivateData
// (PURGE_PRIVATE_DATA). The handler allows it only on channels with the V2_5
// application capability, as Fabric does.
type PrivateDataPurger interface {
	PurgePrivateData(ns, coll, key string) error
}

// HistoryIterator walks the committed changes of one key.
type HistoryIterator interface {
	// Next returns the next change, or nil when there are no more.
	Next() (*queryresult.KeyModification, error)
	Close()
}

// HistoryReader reads a channel's history index.
type HistoryReader interface {
	GetHistoryForKey(ns, key string) (HistoryIterator, error)
}

// ChaincodeInvoker runs chaincode called by chaincode (INVOKE_CHAINCODE).
type ChaincodeInvoker interface {
	// InvokeChaincode runs chaincode name on channel (the caller's when
	// empty) within the caller's transaction and returns its response. A
	// failure the callee reported is a *TransactionError.
	InvokeChaincode(ctx context.Context, caller *TxContext, name, channel string, input *pb.ChaincodeInput) (*pb.Response, error)
}

// SystemChaincode is chaincode compiled into the peer (_lifecycle, cscc, qscc).
type SystemChaincode interface {
	Name() string
	Invoke(ctx context.Context, txc *TxContext, input *pb.ChaincodeInput) (*pb.Response, *pb.ChaincodeEvent)
}
