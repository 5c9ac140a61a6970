package protos

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Proposal is a decoded pb.SignedProposal with everything an endorser needs.
type Proposal struct {
	Signed          *pb.SignedProposal
	Proposal        *pb.Proposal
	Header          *cb.Header
	ChannelHeader   *cb.ChannelHeader
	SignatureHeader *cb.SignatureHeader
	Extension       *pb.ChaincodeHeaderExtension
	Payload         *pb.ChaincodeProposalPayload
	Invocation      *pb.ChaincodeInvocationSpec
}

// SignedData returns the creator's signature over the proposal bytes.
func (p *Proposal) SignedData() SignedData {
	return SignedData{Data: p.Signed.ProposalBytes, Identity: p.SignatureHeader.Creator, Signature: p.Signed.Signature}
}

// ChaincodeName returns the name of the invoked chaincode.
func (p *Proposal) ChaincodeName() string {
	return p.Invocation.GetChaincodeSpec().GetChaincodeId().GetName()
}

// Args returns the invocation arguments (function name first).
func (p *Proposal) Args() [][]byte {
	return p.Invocation.GetChaincodeSpec().GetInput().GetArgs()
}

// Hash returns the proposal hash endorsers put in a ProposalResponsePayload:
// SHA-256 over channel header ‖ signature header ‖ the proposal payload with its
// transient map removed.
func (p *Proposal) Hash() []byte {
	payload := p.Proposal.GetPayload()
	if !isInputOnly(payload, p.Payload.GetInput()) {
		payload = PayloadWithoutTransient(p.Payload)
	}
	return ProposalHash(p.Header.ChannelHeader, p.Header.SignatureHeader, payload)
}

// isInputOnly reports whether raw is exactly what PayloadWithoutTransient
// marshals for a payload of this input: the input field alone. It is for a
// proposal without a transient map (most are), whose payload bytes are then
// hashed as they came instead of being marshalled again.
func isInputOnly(raw, input []byte) bool {
	if len(input) == 0 {
		return false // marshalled as nothing: rare, left to PayloadWithoutTransient
	}
	var prefix [1 + binary.MaxVarintLen64]byte
	head := protowire.AppendVarint(protowire.AppendTag(prefix[:0], payloadInputField, protowire.BytesType), uint64(len(input)))
	return len(raw) == len(head)+len(input) && bytes.Equal(raw[:len(head)], head) && bytes.Equal(raw[len(head):], input)
}

// payloadInputField is ChaincodeProposalPayload.input.
const payloadInputField = 1

// PayloadWithoutTransient returns the marshalled ChaincodeProposalPayload without
// its transient map, as it is written to the ledger.
func PayloadWithoutTransient(p *pb.ChaincodeProposalPayload) []byte {
	return Marshal(&pb.ChaincodeProposalPayload{Input: p.GetInput()})
}

// ProposalHash hashes the three parts of a proposal as ProposalResponsePayload
// does.
func ProposalHash(channelHeader, signatureHeader, payloadNoTransient []byte) []byte {
	h := sha256.New()
	h.Write(channelHeader)
	h.Write(signatureHeader)
	h.Write(payloadNoTransient)
	return h.Sum(nil)
}

// ParseProposal decodes a signed proposal and all of its nested messages.
// It does not verify any signature. The decoded bytes fields share
// sp.ProposalBytes (proposal_decode.go), and the messages decoded in place
// share one allocation (proposalBlock); each message an in-place decoder
// declines is decoded with proto.Unmarshal, whose errors are reported.
func ParseProposal(sp *pb.SignedProposal) (*Proposal, error) {
	if sp == nil || len(sp.ProposalBytes) == 0 {
		return nil, fmt.Errorf("signed proposal has no proposal_bytes")
	}
	b := &proposalBlock{}
	prop := &b.prop
	if !decodeProposalMsg(sp.ProposalBytes, prop) {
		prop = &pb.Proposal{}
		if err := proto.Unmarshal(sp.ProposalBytes, prop); err != nil {
			return nil, fmt.Errorf("decode peer.Proposal: %w", err)
		}
	}
	hdr := &b.hdr
	if !decodeHeader(prop.Header, hdr) {
		hdr = &cb.Header{}
		if err := proto.Unmarshal(prop.Header, hdr); err != nil {
			return nil, fmt.Errorf("decode proposal header: %w", err)
		}
	}
	chdr := &b.chdr
	if !decodeChannelHeader(hdr.ChannelHeader, chdr, &b.timestamp) || len(hdr.ChannelHeader) == 0 {
		var err error
		if chdr, err = UnmarshalChannelHeader(hdr.ChannelHeader); err != nil {
			return nil, err
		}
	}
	shdr := &b.shdr
	if !decodeSignatureHeader(hdr.SignatureHeader, shdr) || len(shdr.Creator) == 0 {
		var err error
		if shdr, err = UnmarshalSignatureHeader(hdr.SignatureHeader); err != nil {
			return nil, err
		}
	}
	ext := &b.ext
	if !decodeHeaderExtension(chdr.Extension, ext, &b.extID) {
		ext = &pb.ChaincodeHeaderExtension{}
		if err := proto.Unmarshal(chdr.Extension, ext); err != nil {
			return nil, fmt.Errorf("decode peer.ChaincodeHeaderExtension: %w", err)
		}
	}
	payload := &b.payload
	if !decodeProposalPayload(prop.Payload, payload) {
		payload = &pb.ChaincodeProposalPayload{}
		if err := proto.Unmarshal(prop.Payload, payload); err != nil {
			return nil, fmt.Errorf("decode peer.ChaincodeProposalPayload: %w", err)
		}
	}
	cis := &b.cis
	if !decodeInvocationSpec(payload.Input, cis, &b.spec, &b.specID, &b.input) {
		cis = &pb.ChaincodeInvocationSpec{}
		if err := proto.Unmarshal(payload.Input, cis); err != nil {
			return nil, fmt.Errorf("decode peer.ChaincodeInvocationSpec: %w", err)
		}
	}
	if cis.GetChaincodeSpec().GetChaincodeId().GetName() == "" {
		return nil, fmt.Errorf("proposal names no chaincode (chaincode_spec.chaincode_id.name is empty)")
	}
	b.proposal = Proposal{
		Signed: sp, Proposal: prop, Header: hdr, ChannelHeader: chdr, SignatureHeader: shdr,
		Extension: ext, Payload: payload, Invocation: cis,
	}
	return &b.proposal, nil
}

// proposalBlock holds a Proposal and the messages ParseProposal decodes in
// place, in one allocation instead of one a message (a dozen a proposal).
// A message left to proto.Unmarshal is allocated on its own; its place in
// the block goes unused.
type proposalBlock struct {
	proposal  Proposal
	prop      pb.Proposal
	hdr       cb.Header
	chdr      cb.ChannelHeader
	timestamp timestamppb.Timestamp
	shdr      cb.SignatureHeader
	ext       pb.ChaincodeHeaderExtension
	extID     pb.ChaincodeID
	payload   pb.ChaincodeProposalPayload
	cis       pb.ChaincodeInvocationSpec
	spec      pb.ChaincodeSpec
	specID    pb.ChaincodeID
	input     pb.ChaincodeInput
}

// NewProposal builds and signs a chaincode proposal as Fabric's clients do and
// returns it with its transaction ID.
func NewProposal(signer Signer, channelID, chaincode string, args [][]byte, transient map[string][]byte) (*pb.SignedProposal, string, error) {
	shdr, err := NewSignatureHeader(signer)
	if err != nil {
		return nil, "", err
	}
	txID := ComputeTxID(shdr.Nonce, shdr.Creator)
	chdr := NewChannelHeader(cb.HeaderType_ENDORSER_TRANSACTION, channelID, txID)
	chdr.Extension = Marshal(&pb.ChaincodeHeaderExtension{ChaincodeId: &pb.ChaincodeID{Name: chaincode}})
	cis := &pb.ChaincodeInvocationSpec{ChaincodeSpec: &pb.ChaincodeSpec{
		Type:        pb.ChaincodeSpec_GOLANG,
		ChaincodeId: &pb.ChaincodeID{Name: chaincode},
		Input:       &pb.ChaincodeInput{Args: args},
	}}
	prop := &pb.Proposal{
		Header:  Marshal(&cb.Header{ChannelHeader: Marshal(chdr), SignatureHeader: Marshal(shdr)}),
		Payload: Marshal(&pb.ChaincodeProposalPayload{Input: Marshal(cis), TransientMap: transient}),
	}
	raw := Marshal(prop)
	sig, err := signer.Sign(raw)
	if err != nil {
		return nil, "", fmt.Errorf("sign proposal: %w", err)
	}
	return &pb.SignedProposal{ProposalBytes: raw, Signature: sig}, txID, nil
}

// NewTransaction assembles endorsed proposal responses into an unsigned
// transaction payload, as a client (or the gateway) does before signing it.
// All responses must carry the same proposal_response_payload.
func NewTransaction(p *Proposal, responses []*pb.ProposalResponse) (*cb.Payload, error) {
	if len(responses) == 0 {
		return nil, fmt.Errorf("no proposal responses to assemble")
	}
	first := responses[0].GetPayload()
	var endorsements []*pb.Endorsement
	for i, r := range responses {
		if r.GetResponse().GetStatus() < 200 || r.GetResponse().GetStatus() >= 400 {
			return nil, fmt.Errorf("proposal response %d failed with status %d: %s", i, r.GetResponse().GetStatus(), r.GetResponse().GetMessage())
		}
		if !proto.Equal(&pb.ProposalResponse{Payload: r.GetPayload()}, &pb.ProposalResponse{Payload: first}) {
			return nil, fmt.Errorf("proposal response %d has a different payload from response 0", i)
		}
		if r.GetEndorsement() == nil {
			return nil, fmt.Errorf("proposal response %d has no endorsement", i)
		}
		endorsements = append(endorsements, r.Endorsement)
	}
	cap := &pb.ChaincodeActionPayload{
		ChaincodeProposalPayload: PayloadWithoutTransient(p.Payload),
		Action:                   &pb.ChaincodeEndorsedAction{ProposalResponsePayload: first, Endorsements: endorsements},
	}
	tx := &pb.Transaction{Actions: []*pb.TransactionAction{{Header: p.Header.SignatureHeader, Payload: Marshal(cap)}}}
	return &cb.Payload{Header: p.Header, Data: Marshal(tx)}, nil
}
