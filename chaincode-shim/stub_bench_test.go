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
