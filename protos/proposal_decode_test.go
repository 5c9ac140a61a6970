package protos

import (
	"bytes"
	"fmt"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// parseProposalProto is ParseProposal as it was before the in-place
// decoders: every message decoded with proto.Unmarshal. The tests hold
// ParseProposal to it.
func parseProposalProto(sp *pb.SignedProposal) (*Proposal, error) {
	if sp == nil || len(sp.ProposalBytes) == 0 {
		return nil, fmt.Errorf("signed proposal has no proposal_bytes")
	}
	prop := &pb.Proposal{}
	if err := proto.Unmarshal(sp.ProposalBytes, prop); err != nil {
		return nil, fmt.Errorf("decode peer.Proposal: %w", err)
	}
	hdr := &cb.Header{}
	if err := proto.Unmarshal(prop.Header, hdr); err != nil {
		return nil, fmt.Errorf("decode proposal header: %w", err)
	}
	chdr, err := UnmarshalChannelHeader(hdr.ChannelHeader)
	if err != nil {
		return nil, err
	}
	shdr, err := UnmarshalSignatureHeader(hdr.SignatureHeader)
	if err != nil {
		return nil, err
	}
	ext := &pb.ChaincodeHeaderExtension{}
	if err := proto.Unmarshal(chdr.Extension, ext); err != nil {
		return nil, fmt.Errorf("decode peer.ChaincodeHeaderExtension: %w", err)
	}
	payload := &pb.ChaincodeProposalPayload{}
	if err := proto.Unmarshal(prop.Payload, payload); err != nil {
		return nil, fmt.Errorf("decode peer.ChaincodeProposalPayload: %w", err)
	}
	cis := &pb.ChaincodeInvocationSpec{}
	if err := proto.Unmarshal(payload.Input, cis); err != nil {
		return nil, fmt.Errorf("decode peer.ChaincodeInvocationSpec: %w", err)
	}
	if cis.GetChaincodeSpec().GetChaincodeId().GetName() == "" {
		return nil, fmt.Errorf("proposal names no chaincode (chaincode_spec.chaincode_id.name is empty)")
	}
	return &Proposal{
		Signed: sp, Proposal: prop, Header: hdr, ChannelHeader: chdr, SignatureHeader: shdr,
		Extension: ext, Payload: payload, Invocation: cis,
	}, nil
}

// checkParseAgrees fails t unless ParseProposal and parseProposalProto give
// the same error, or equal proposals.
func checkParseAgrees(t *testing.T, raw []byte) {
	t.Helper()
	sp := &pb.SignedProposal{ProposalBytes: raw, Signature: []byte("sig")}
	got, gotErr := ParseProposal(sp)
	want, wantErr := parseProposalProto(sp)
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("ParseProposal error %v, proto.Unmarshal's %v", gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	parts := []struct {
		name      string
		got, want proto.Message
	}{
		{"proposal", got.Proposal, want.Proposal}, {"header", got.Header, want.Header},
		{"channel header", got.ChannelHeader, want.ChannelHeader}, {"signature header", got.SignatureHeader, want.SignatureHeader},
		{"extension", got.Extension, want.Extension}, {"payload", got.Payload, want.Payload},
		{"invocation", got.Invocation, want.Invocation},
	}
	for _, p := range parts {
		if !proto.Equal(p.got, p.want) {
			t.Fatalf("%s decoded as %v, proto.Unmarshal gives %v", p.name, p.got, p.want)
		}
	}
	if !bytes.Equal(got.Hash(), want.Hash()) {
		t.Fatal("proposal hashes differ")
	}
	// proto.Equal does not tell nil from empty; callers might.
	if (got.ChannelHeader.Extension == nil) != (want.ChannelHeader.Extension == nil) ||
		(got.SignatureHeader.Nonce == nil) != (want.SignatureHeader.Nonce == nil) ||
		(got.Payload.Input == nil) != (want.Payload.Input == nil) {
		t.Fatal("a bytes field is nil in one decoding and empty in the other")
	}
	gotArgs, wantArgs := got.Args(), want.Args()
	for i := range gotArgs {
		if (gotArgs[i] == nil) != (wantArgs[i] == nil) {
			t.Fatalf("argument %d is nil in one decoding and empty in the other", i)
		}
	}
}

// bytesField encodes a bytes field.
func bytesField(num protowire.Number, b []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), b)
}

// proposalVariants are proposals the in-place decoders take, and ones they
// must leave to proto.Unmarshal.
func proposalVariants(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	add := func(name string, channel, cc string, args [][]byte, transient map[string][]byte) {
		sp, _, err := NewProposal(fuzzSigner{}, channel, cc, args, transient)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = sp.ProposalBytes
	}
	add("plain", "mychannel", "basic", [][]byte{[]byte("CreateAsset"), []byte("a1"), {}}, nil)
	add("transient", "mychannel", "basic", [][]byte{[]byte("put")}, map[string][]byte{"k": []byte("secret")})
	add("channel-less", "", "qscc", [][]byte{[]byte("GetChainInfo"), []byte("mychannel")}, nil)
	add("no args", "mychannel", "basic", nil, nil)

	shdr := Marshal(&cb.SignatureHeader{Creator: []byte("creator"), Nonce: []byte("nonce")})
	chdr := &cb.ChannelHeader{Type: 3, ChannelId: "mychannel", TxId: "tx", Timestamp: timestamppb.Now(), TlsCertHash: []byte{1},
		Extension: Marshal(&pb.ChaincodeHeaderExtension{ChaincodeId: &pb.ChaincodeID{Name: "basic", Path: "p", Version: "v"}})}
	spec := &pb.ChaincodeSpec{Type: pb.ChaincodeSpec_GOLANG, ChaincodeId: &pb.ChaincodeID{Name: "basic"}, Timeout: 5,
		Input: &pb.ChaincodeInput{Args: [][]byte{[]byte("f")}, IsInit: true}}
	build := func(chdr, shdr, payload []byte, extra []byte) []byte {
		hdr := append(bytesField(1, chdr), bytesField(2, shdr)...)
		return append(append(bytesField(1, hdr), bytesField(2, payload)...), extra...)
	}
	payloadOf := func(spec *pb.ChaincodeSpec) []byte {
		return Marshal(&pb.ChaincodeProposalPayload{Input: Marshal(&pb.ChaincodeInvocationSpec{ChaincodeSpec: spec})})
	}
	out["every field"] = build(Marshal(chdr), shdr, payloadOf(spec), bytesField(3, []byte("ext")))
	decorated := proto.Clone(spec).(*pb.ChaincodeSpec)
	decorated.Input.Decorations = map[string][]byte{"d": []byte("x")}
	out["decorations"] = build(Marshal(chdr), shdr, payloadOf(decorated), nil)
	out["unknown proposal field"] = build(Marshal(chdr), shdr, payloadOf(spec), bytesField(9, []byte("x")))
	out["channel header twice"] = build(append(Marshal(chdr), Marshal(&cb.ChannelHeader{ChannelId: "other"})...), shdr, payloadOf(spec), nil)
	out["no creator"] = build(Marshal(chdr), Marshal(&cb.SignatureHeader{Nonce: []byte("n")}), payloadOf(spec), nil)
	out["no channel header"] = build(nil, shdr, payloadOf(spec), nil)
	out["invalid UTF-8 channel"] = build(append(Marshal(chdr), bytesField(4, []byte{0xff})...), shdr, payloadOf(spec), nil)
	out["truncated"] = build(Marshal(chdr), shdr, payloadOf(spec), nil)[:40]
	out["no chaincode name"] = build(Marshal(chdr), shdr, payloadOf(&pb.ChaincodeSpec{}), nil)
	out["args twice merged"] = build(Marshal(chdr), shdr, Marshal(&pb.ChaincodeProposalPayload{Input: append(
		Marshal(&pb.ChaincodeInvocationSpec{ChaincodeSpec: spec}),
		Marshal(&pb.ChaincodeInvocationSpec{ChaincodeSpec: &pb.ChaincodeSpec{Input: &pb.ChaincodeInput{Args: [][]byte{[]byte("g")}}}})...)}), nil)
	return out
}

func TestParseProposalAgreesWithProtoUnmarshal(t *testing.T) {
	for name, raw := range proposalVariants(t) {
		t.Run(name, func(t *testing.T) { checkParseAgrees(t, raw) })
	}
}

// TestParseProposalSharesWithoutCapacity checks that appending to a decoded
// bytes field cannot write into the proposal bytes it shares.
func TestParseProposalSharesWithoutCapacity(t *testing.T) {
	raw := proposalVariants(t)["every field"]
	orig := bytes.Clone(raw)
	p, err := ParseProposal(&pb.SignedProposal{ProposalBytes: raw})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{p.Proposal.Header, p.Proposal.Payload, p.Header.ChannelHeader, p.Header.SignatureHeader,
		p.SignatureHeader.Creator, p.SignatureHeader.Nonce, p.ChannelHeader.Extension, p.ChannelHeader.TlsCertHash, p.Payload.Input, p.Args()[0]} {
		_ = append(b, 0xee)
	}
	if !bytes.Equal(raw, orig) {
		t.Fatal("an append to a decoded field changed the proposal bytes")
	}
}

// FuzzParseProposalAgrees checks that ParseProposal, with its in-place
// decoders, agrees with proto.Unmarshal at every level: same error, or
// equal messages.
func FuzzParseProposalAgrees(f *testing.F) {
	for _, raw := range proposalVariants(f) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkParseAgrees(t, raw) })
}

// FuzzDecodeProposalPart checks each in-place decoder on its own: whatever
// it accepts, proto.Unmarshal decodes to an equal message.
func FuzzDecodeProposalPart(f *testing.F) {
	for _, raw := range proposalVariants(f) {
		p, err := parseProposalProto(&pb.SignedProposal{ProposalBytes: raw})
		if err != nil {
			continue
		}
		f.Add(uint8(0), raw)
		f.Add(uint8(1), p.Proposal.Header)
		f.Add(uint8(2), p.Header.ChannelHeader)
		f.Add(uint8(3), p.Header.SignatureHeader)
		f.Add(uint8(4), p.ChannelHeader.Extension)
		f.Add(uint8(5), p.Proposal.Payload)
		f.Add(uint8(6), p.Payload.Input)
		f.Add(uint8(7), Marshal(p.Invocation.GetChaincodeSpec()))
		f.Add(uint8(8), Marshal(p.Invocation.GetChaincodeSpec().GetInput()))
	}
	f.Fuzz(func(t *testing.T, level uint8, raw []byte) {
		var got, want proto.Message
		var ok bool
		b := &proposalBlock{}
		switch level % 9 {
		case 0:
			got, ok = &b.prop, decodeProposalMsg(raw, &b.prop)
			want = &pb.Proposal{}
		case 1:
			got, ok = &b.hdr, decodeHeader(raw, &b.hdr)
			want = &cb.Header{}
		case 2:
			got, ok = &b.chdr, decodeChannelHeader(raw, &b.chdr, &b.timestamp)
			want = &cb.ChannelHeader{}
		case 3:
			got, ok = &b.shdr, decodeSignatureHeader(raw, &b.shdr)
			want = &cb.SignatureHeader{}
		case 4:
			got, ok = &b.ext, decodeHeaderExtension(raw, &b.ext, &b.extID)
			want = &pb.ChaincodeHeaderExtension{}
		case 5:
			got, ok = &b.payload, decodeProposalPayload(raw, &b.payload)
			want = &pb.ChaincodeProposalPayload{}
		case 6:
			got, ok = &b.cis, decodeInvocationSpec(raw, &b.cis, &b.spec, &b.specID, &b.input)
			want = &pb.ChaincodeInvocationSpec{}
		case 7:
			got, ok = &b.spec, decodeChaincodeSpec(raw, &b.spec, &b.specID, &b.input)
			want = &pb.ChaincodeSpec{}
		case 8:
			got, ok = &b.input, decodeChaincodeInput(raw, &b.input)
			want = &pb.ChaincodeInput{}
		}
		if !ok {
			return
		}
		if err := proto.Unmarshal(raw, want); err != nil {
			t.Fatalf("in-place decoder accepted what proto.Unmarshal refuses: %v", err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("decoded %v, proto.Unmarshal gives %v", got, want)
		}
	})
}
