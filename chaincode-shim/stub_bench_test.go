package shim

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// BenchmarkNewStub prices what the shim does with each TRANSACTION's signed
// proposal before the chaincode runs: decoding its headers and payload and
// computing the binding. The creator is the size of an X.509 certificate.
func BenchmarkNewStub(b *testing.B) {
	creator := bytes.Repeat([]byte{'c'}, 850)
	sp := signedProposal(b, "mychannel", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", creator,
		bytes.Repeat([]byte{'n'}, 24), 0, time.Now(), nil)
	input := &pb.ChaincodeInput{Args: [][]byte{[]byte("CreateAsset"), []byte("asset1")}}
	b.ReportAllocs()
	for b.Loop() {
		s, err := newStub(nil, "mychannel", "tx", input, sp)
		if err != nil || len(s.creator) != len(creator) {
			b.Fatal(err)
		}
	}
}

// stubFieldsByProto is what newStub read from a signed proposal before it
// read the proposal and its header in place: each message decoded with
// proto.Unmarshal. FuzzNewStub compares the two.
func stubFieldsByProto(sp *pb.SignedProposal) (chdr *cb.ChannelHeader, shdr *cb.SignatureHeader, cpp *pb.ChaincodeProposalPayload, err error) {
	prop := &pb.Proposal{}
	if err := proto.Unmarshal(sp.ProposalBytes, prop); err != nil {
		return nil, nil, nil, fmt.Errorf("unmarshal Proposal from SignedProposal: %w", err)
	}
	if len(prop.Header) == 0 {
		return nil, nil, nil, errors.New("the proposal has no header")
	}
	hdr := &cb.Header{}
	if err := proto.Unmarshal(prop.Header, hdr); err != nil {
		return nil, nil, nil, fmt.Errorf("unmarshal proposal Header: %w", err)
	}
	chdr = &cb.ChannelHeader{}
	if err := proto.Unmarshal(hdr.ChannelHeader, chdr); err != nil {
		return nil, nil, nil, fmt.Errorf("unmarshal proposal ChannelHeader: %w", err)
	}
	if t := cb.HeaderType(chdr.Type); t != cb.HeaderType_ENDORSER_TRANSACTION && t != cb.HeaderType_CONFIG {
		return nil, nil, nil, fmt.Errorf("proposal channel header type is %s; expected %s or %s", t, cb.HeaderType_ENDORSER_TRANSACTION, cb.HeaderType_CONFIG)
	}
	shdr = &cb.SignatureHeader{}
	if err := proto.Unmarshal(hdr.SignatureHeader, shdr); err != nil {
		return nil, nil, nil, fmt.Errorf("unmarshal proposal SignatureHeader: %w", err)
	}
	cpp = &pb.ChaincodeProposalPayload{}
	if err := proto.Unmarshal(prop.Payload, cpp); err != nil {
		return nil, nil, nil, fmt.Errorf("unmarshal ChaincodeProposalPayload: %w", err)
	}
	return chdr, shdr, cpp, nil
}

// FuzzNewStub checks that newStub accepts and refuses the proposals that
// decoding each message with proto.Unmarshal does, with the same error, and
// reads the same fields from them.
func FuzzNewStub(f *testing.F) {
	sp := signedProposal(f, "mychannel", "tx1", []byte("creator"), []byte("nonce"), 3, time.Unix(1700000000, 5), map[string][]byte{"k": []byte("v")})
	f.Add(sp.ProposalBytes)
	prop := &pb.Proposal{}
	if err := proto.Unmarshal(sp.ProposalBytes, prop); err != nil {
		f.Fatal(err)
	}
	f.Add(prop.Header)
	f.Add(append(append([]byte{}, sp.ProposalBytes...), sp.ProposalBytes...))
	input := &pb.ChaincodeInput{}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sp := &pb.SignedProposal{ProposalBytes: raw}
		s, err := newStub(nil, "ch", "tx", input, sp)
		chdr, shdr, cpp, wantErr := stubFieldsByProto(sp)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("newStub error %v, decoding error %v", err, wantErr)
		}
		if err != nil {
			return
		}
		if !proto.Equal(s.channelHeader, chdr) || !bytes.Equal(s.creator, shdr.Creator) ||
			!proto.Equal(&pb.ChaincodeProposalPayload{TransientMap: s.transient}, &pb.ChaincodeProposalPayload{TransientMap: cpp.TransientMap}) {
			t.Fatalf("newStub read %v %x %v, decoding gives %v %x %v", s.channelHeader, s.creator, s.transient, chdr, shdr.Creator, cpp.TransientMap)
		}
	})
}

// BenchmarkInvoke prices the shim's side of one CreateAsset-like
// transaction, without gRPC: TRANSACTION in, GET_STATE out, RESPONSE in,
// PUT_STATE out, RESPONSE in, COMPLETED out, over a stream of channels.
// The peer's messages are built once, so what is counted is the shim's.
func BenchmarkInvoke(b *testing.B) {
	cc := funcCC(func(stub ChaincodeStubInterface) *pb.Response {
		_, args := stub.GetFunctionAndParameters()
		if v, err := stub.GetState(args[0]); err != nil || v != nil {
			return Error("exists")
		}
		if err := stub.PutState(args[0], []byte(args[1])); err != nil {
			return Error(err.Error())
		}
		return Success(nil)
	})
	s, _, _ := startChat(b, cc)
	tx := transaction(b, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "CreateAsset", "asset1", `{"ID":"asset1","Color":"blue","Size":5}`)
	resp := &pb.ChaincodeMessage{Type: pb.ChaincodeMessage_RESPONSE, Txid: tx.Txid, ChannelId: tx.ChannelId}
	expect := func(typ pb.ChaincodeMessage_Type) {
		if m := s.next(b); m.Type != typ {
			b.Fatalf("shim sent %s %q, want %s", m.Type, m.Payload, typ)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		s.in <- tx
		expect(pb.ChaincodeMessage_GET_STATE)
		s.in <- resp
		expect(pb.ChaincodeMessage_PUT_STATE)
		s.in <- resp
		expect(pb.ChaincodeMessage_COMPLETED)
	}
}

// FuzzDecodeInput checks that decodeInput, which reads a plainly encoded
// ChaincodeInput in place, accepts and refuses what proto.Unmarshal does,
// with the same error, and gives the same arguments (empty ones too) and
// decorations; and that appending to an argument leaves the payload alone.
func FuzzDecodeInput(f *testing.F) {
	for _, in := range []*pb.ChaincodeInput{
		{Args: [][]byte{[]byte("CreateAsset"), []byte("asset1"), {}}},
		{Args: [][]byte{[]byte("init")}, IsInit: true},
		{Args: [][]byte{[]byte("f")}, Decorations: map[string][]byte{"k": []byte("v")}},
		{},
	} {
		b, err := proto.Marshal(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		orig := bytes.Clone(payload)
		got, err := decodeInput(payload)
		want := &pb.ChaincodeInput{}
		wantErr := proto.Unmarshal(orig, want)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("decodeInput(%x) error %v, proto.Unmarshal error %v", orig, err, wantErr)
		}
		if err != nil {
			return
		}
		if len(got.Args) != len(want.Args) || (got.Args == nil) != (want.Args == nil) {
			t.Fatalf("decodeInput(%x) args %q, proto.Unmarshal %q", orig, got.Args, want.Args)
		}
		for i := range got.Args {
			if !bytes.Equal(got.Args[i], want.Args[i]) || (got.Args[i] == nil) != (want.Args[i] == nil) {
				t.Fatalf("decodeInput(%x) arg %d %q, proto.Unmarshal %q", orig, i, got.Args[i], want.Args[i])
			}
		}
		if !proto.Equal(&pb.ChaincodeInput{Decorations: got.Decorations}, &pb.ChaincodeInput{Decorations: want.Decorations}) {
			t.Fatalf("decodeInput(%x) decorations %v, proto.Unmarshal %v", orig, got.Decorations, want.Decorations)
		}
		for i := range got.Args {
			_ = append(got.Args[i], 'x')
		}
		if !bytes.Equal(payload, orig) {
			t.Fatalf("appending to the arguments of %x changed the payload to %x", orig, payload)
		}
	})
}
