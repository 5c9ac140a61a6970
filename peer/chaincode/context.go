package chaincode

import (
	"context"

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

// SystemChaincode is chaincode compiled into the peer (_lifecycle, cscc, qscc).
type SystemChaincode interface {
	Name() string
	Invoke(ctx context.Context, txc *TxContext, input *pb.ChaincodeInput) (*pb.Response, *pb.ChaincodeEvent)
}
