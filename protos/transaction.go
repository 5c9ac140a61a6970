package protos

import (
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// EndorserTx is a decoded ENDORSER_TRANSACTION with its single action.
type EndorserTx struct {
	Envelope        *Envelope
	Transaction     *pb.Transaction
	ActionPayload   *pb.ChaincodeActionPayload
	ResponsePayload *pb.ProposalResponsePayload
	ChaincodeAction *pb.ChaincodeAction
	ProposalPayload *pb.ChaincodeProposalPayload
	ReadWriteSet    *rwset.TxReadWriteSet
	ChaincodeName   string
}

// Endorsements returns the signed data of each endorsement: the endorser's
// signature over proposal_response_payload ‖ endorser.
func (t *EndorserTx) Endorsements() []SignedData {
	prp := t.ActionPayload.GetAction().GetProposalResponsePayload()
	var out []SignedData
	for _, e := range t.ActionPayload.GetAction().GetEndorsements() {
		data := make([]byte, 0, len(prp)+len(e.Endorser))
		data = append(append(data, prp...), e.Endorser...)
		out = append(out, SignedData{Data: data, Identity: e.Endorser, Signature: e.Signature})
	}
	return out
}

// ParseEndorserTx decodes the transaction inside an ENDORSER_TRANSACTION
// envelope. Fabric allows exactly one action per transaction.
func ParseEndorserTx(env *Envelope) (*EndorserTx, error) {
	if cb.HeaderType(env.ChannelHeader.GetType()) != cb.HeaderType_ENDORSER_TRANSACTION {
		return nil, fmt.Errorf("envelope type is %s, not ENDORSER_TRANSACTION", cb.HeaderType(env.ChannelHeader.GetType()))
	}
	tx := &pb.Transaction{}
	if err := proto.Unmarshal(env.Payload.Data, tx); err != nil {
		return nil, fmt.Errorf("decode peer.Transaction: %w", err)
	}
	if len(tx.Actions) != 1 {
		return nil, fmt.Errorf("transaction has %d actions, want exactly 1", len(tx.Actions))
	}
	cap := &pb.ChaincodeActionPayload{}
	if err := proto.Unmarshal(tx.Actions[0].Payload, cap); err != nil {
		return nil, fmt.Errorf("decode peer.ChaincodeActionPayload: %w", err)
	}
	if cap.Action == nil {
		return nil, fmt.Errorf("chaincode action payload has no endorsed action")
	}
	prp := &pb.ProposalResponsePayload{}
	if err := proto.Unmarshal(cap.Action.ProposalResponsePayload, prp); err != nil {
		return nil, fmt.Errorf("decode peer.ProposalResponsePayload: %w", err)
	}
	act := &pb.ChaincodeAction{}
	if err := proto.Unmarshal(prp.Extension, act); err != nil {
		return nil, fmt.Errorf("decode peer.ChaincodeAction: %w", err)
	}
	cpp := &pb.ChaincodeProposalPayload{}
	if err := proto.Unmarshal(cap.ChaincodeProposalPayload, cpp); err != nil {
		return nil, fmt.Errorf("decode peer.ChaincodeProposalPayload: %w", err)
	}
	rws := &rwset.TxReadWriteSet{}
	if err := proto.Unmarshal(act.Results, rws); err != nil {
		return nil, fmt.Errorf("decode rwset.TxReadWriteSet: %w", err)
	}
	name := act.GetChaincodeId().GetName()
	if name == "" {
		return nil, fmt.Errorf("chaincode action names no chaincode")
	}
	return &EndorserTx{
		Envelope: env, Transaction: tx, ActionPayload: cap, ResponsePayload: prp,
		ChaincodeAction: act, ProposalPayload: cpp, ReadWriteSet: rws, ChaincodeName: name,
	}, nil
}
