package protos

import (
	"bytes"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// hashOfPayload is Proposal.Hash of a proposal whose payload bytes are raw,
// and the hash as it was always computed (the payload marshalled again
// without its transient map); ok is false when raw does not decode.
func hashOfPayload(raw []byte) (got, want []byte, ok bool) {
	payload := &pb.ChaincodeProposalPayload{}
	if err := proto.Unmarshal(raw, payload); err != nil {
		return nil, nil, false
	}
	hdr := &cb.Header{ChannelHeader: []byte("channel header"), SignatureHeader: []byte("signature header")}
	p := &Proposal{Proposal: &pb.Proposal{Payload: raw}, Header: hdr, Payload: payload}
	return p.Hash(), ProposalHash(hdr.ChannelHeader, hdr.SignatureHeader, PayloadWithoutTransient(payload)), true
}

// TestProposalHashOfPayloadBytes checks that hashing the payload bytes as
// they came gives the hash of the payload marshalled again, for payloads
// that are the input alone and for every kind that is not.
func TestProposalHashOfPayloadBytes(t *testing.T) {
	input := Marshal(&pb.ChaincodeInvocationSpec{ChaincodeSpec: &pb.ChaincodeSpec{ChaincodeId: &pb.ChaincodeID{Name: "basic"}}})
	field := func(num protowire.Number, b []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), b)
	}
	cases := map[string][]byte{
		"input only":        Marshal(&pb.ChaincodeProposalPayload{Input: input}),
		"with transient":    Marshal(&pb.ChaincodeProposalPayload{Input: input, TransientMap: map[string][]byte{"k": []byte("secret")}}),
		"transient first":   append(Marshal(&pb.ChaincodeProposalPayload{TransientMap: map[string][]byte{"k": nil}}), field(1, input)...),
		"empty":             nil,
		"empty input field": field(1, nil),
		"input twice":       append(field(1, []byte("first")), field(1, input)...),
		"unknown field":     append(field(1, input), field(9, []byte("x"))...),
		"long varint":       append([]byte{0x0a, 0x80 | byte(len(input)), 0x00}, input...),
		"large input":       Marshal(&pb.ChaincodeProposalPayload{Input: bytes.Repeat([]byte{7}, 70000)}),
	}
	for name, raw := range cases {
		got, want, ok := hashOfPayload(raw)
		if !ok {
			t.Fatalf("%s: payload does not decode", name)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: hash %x, want %x", name, got, want)
		}
	}
}

// FuzzProposalHash checks that Proposal.Hash agrees with the payload
// marshalled again without its transient map, whatever the payload bytes.
func FuzzProposalHash(f *testing.F) {
	f.Add(Marshal(&pb.ChaincodeProposalPayload{Input: []byte("input")}))
	f.Add(Marshal(&pb.ChaincodeProposalPayload{Input: []byte("input"), TransientMap: map[string][]byte{"k": []byte("v")}}))
	f.Add([]byte{0x0a, 0x00})
	f.Add([]byte{0x0a, 0x81, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, want, ok := hashOfPayload(raw)
		if ok && !bytes.Equal(got, want) {
			t.Fatalf("hash %x, want %x", got, want)
		}
	})
}
