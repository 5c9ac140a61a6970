package protos

import (
	"bytes"
	"os"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/fabricfixture"
)

// Seeds come from Fabric's own blocks (block 9 is left out: at 2 MB it would
// slow every fuzzing run for no new structure).
var seedBlocks = []int{0, 1, 3, 7, 8, 171}

func fixtureBytes(f *testing.F, n int) []byte {
	f.Helper()
	raw, err := os.ReadFile(fabricfixture.BlockPath(uint64(n)))
	if err != nil {
		f.Fatalf("Fabric fixtures: %v", err)
	}
	return raw
}

// fixtureEnvelopes returns the first envelope of each seed block.
func fixtureEnvelopes(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	for _, n := range seedBlocks {
		b, err := UnmarshalBlock(fixtureBytes(f, n))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b.Data.Data[0])
	}
	return out
}

// fuzzSigner signs with a fixed identity; signatures are never checked here.
type fuzzSigner struct{}

func (fuzzSigner) Sign(msg []byte) ([]byte, error) { return []byte("sig"), nil }
func (fuzzSigner) Serialize() ([]byte, error)      { return []byte("creator"), nil }

func FuzzUnmarshalEnvelope(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	for _, env := range fixtureEnvelopes(f) {
		f.Add(env)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		chdr, chdrErr := EnvelopeChannelHeader(raw)
		env, err := UnmarshalEnvelope(raw)
		if err != nil {
			return
		}
		// EnvelopeChannelHeader is the lenient reader of the same header.
		if chdrErr != nil || !proto.Equal(chdr, env.ChannelHeader) {
			t.Fatalf("EnvelopeChannelHeader = %v, %v; UnmarshalEnvelope read %v", chdr, chdrErr, env.ChannelHeader)
		}
		if env.ChannelHeader == nil || env.SignatureHeader == nil || env.Payload == nil || env.Payload.Header == nil {
			t.Fatal("parsed envelope without headers")
		}
		if len(env.SignatureHeader.Creator) == 0 {
			t.Fatal("parsed envelope without a creator")
		}
		sd := env.SignedData()
		if !bytes.Equal(sd.Data, env.Envelope.Payload) || !bytes.Equal(sd.Identity, env.SignatureHeader.Creator) {
			t.Fatal("signed data is not the payload signed by the creator")
		}
		if _, err := ParseEndorserTx(env); err == nil && len(env.Payload.Data) == 0 {
			// an empty transaction cannot have exactly one action
			t.Fatal("empty transaction parsed")
		}
	})
}

func FuzzUnmarshalBlock(f *testing.F) {
	f.Add([]byte{})
	f.Add(Marshal(NewBlock(3, []byte("prev"), [][]byte{[]byte("tx")})))
	for _, n := range seedBlocks {
		f.Add(fixtureBytes(f, n))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := UnmarshalBlock(raw)
		if err != nil {
			if b != nil {
				t.Fatal("UnmarshalBlock returned a block with its error")
			}
			return
		}
		if b.Header == nil || b.Data == nil || b.Metadata == nil {
			t.Fatal("decoded block lacks header, data or metadata")
		}
		if len(b.Metadata.Metadata) < len(cb.BlockMetadataIndex_name) {
			t.Fatalf("decoded block has %d metadata slots, want at least %d", len(b.Metadata.Metadata), len(cb.BlockMetadataIndex_name))
		}
		if got := len(TxFilter(b)); got != len(b.Data.Data) {
			t.Fatalf("TxFilter has %d entries for %d envelopes", got, len(b.Data.Data))
		}
		if h := BlockHeaderHash(b.Header); len(h) != 32 {
			t.Fatalf("header hash of %d bytes", len(h))
		}
		// What we decode, we can store and decode again to the same block.
		again, err := UnmarshalBlock(Marshal(b))
		if err != nil {
			t.Fatalf("re-decoding a decoded block: %v", err)
		}
		if !proto.Equal(again, b) || !bytes.Equal(BlockHeaderHash(again.Header), BlockHeaderHash(b.Header)) {
			t.Fatal("block changed across a marshal round trip")
		}
	})
}

func FuzzParseProposal(f *testing.F) {
	sp, _, err := NewProposal(fuzzSigner{}, "mychannel", "basic", [][]byte{[]byte("ReadAsset"), []byte("asset1")}, map[string][]byte{"k": []byte("secret")})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sp.ProposalBytes)
	sp, _, _ = NewProposal(fuzzSigner{}, "", "qscc", [][]byte{[]byte("GetChainInfo"), []byte("mychannel")}, nil)
	f.Add(sp.ProposalBytes)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		signed := &pb.SignedProposal{ProposalBytes: raw, Signature: []byte("sig")}
		p, err := ParseProposal(signed)
		if err != nil {
			if p != nil {
				t.Fatal("ParseProposal returned a proposal with its error")
			}
			return
		}
		if p.Proposal == nil || p.Header == nil || p.ChannelHeader == nil || p.SignatureHeader == nil ||
			p.Extension == nil || p.Payload == nil || p.Invocation == nil {
			t.Fatal("parsed proposal with a nil part")
		}
		if len(p.SignatureHeader.Creator) == 0 || p.ChaincodeName() == "" {
			t.Fatal("parsed proposal without creator or chaincode name")
		}
		sd := p.SignedData()
		if !bytes.Equal(sd.Data, raw) || !bytes.Equal(sd.Identity, p.SignatureHeader.Creator) || string(sd.Signature) != "sig" {
			t.Fatal("signed data is not the proposal bytes signed by the creator")
		}
		_ = p.Args()
		// The hash ignores the transient map: changing it must not change the hash.
		h := p.Hash()
		if len(h) != 32 {
			t.Fatalf("proposal hash of %d bytes", len(h))
		}
		other := *p
		other.Payload = &pb.ChaincodeProposalPayload{Input: p.Payload.Input, TransientMap: map[string][]byte{"added": []byte("secret")}}
		if !bytes.Equal(other.Hash(), h) {
			t.Fatal("proposal hash depends on the transient map")
		}
	})
}

// FuzzParseEndorserTx feeds random transaction bytes inside a well-formed
// ENDORSER_TRANSACTION envelope, so the fuzzer spends its time below the
// envelope headers.
func FuzzParseEndorserTx(f *testing.F) {
	for _, raw := range fixtureEnvelopes(f) {
		env, err := UnmarshalEnvelope(raw)
		if err != nil {
			continue // the genesis config envelope has no creator
		}
		f.Add(env.Payload.Data)
	}
	f.Add([]byte{})
	f.Add(Marshal(&pb.Transaction{Actions: []*pb.TransactionAction{{}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		shdr := &cb.SignatureHeader{Creator: []byte("creator"), Nonce: []byte("nonce")}
		chdr := NewChannelHeader(cb.HeaderType_ENDORSER_TRANSACTION, "mychannel", ComputeTxID(shdr.Nonce, shdr.Creator))
		payload := &cb.Payload{Header: &cb.Header{ChannelHeader: Marshal(chdr), SignatureHeader: Marshal(shdr)}, Data: data}
		env, err := ParseEnvelope(&cb.Envelope{Payload: Marshal(payload), Signature: []byte("sig")})
		if err != nil {
			t.Fatalf("well-formed envelope refused: %v", err)
		}
		tx, err := ParseEndorserTx(env)
		if err != nil {
			if tx != nil {
				t.Fatal("ParseEndorserTx returned a transaction with its error")
			}
			return
		}
		if len(tx.Transaction.Actions) != 1 || tx.ActionPayload.GetAction() == nil || tx.ResponsePayload == nil ||
			tx.ChaincodeAction == nil || tx.ProposalPayload == nil || tx.ReadWriteSet == nil {
			t.Fatal("parsed transaction with a missing part")
		}
		if tx.ChaincodeName == "" || tx.ChaincodeName != tx.ChaincodeAction.GetChaincodeId().GetName() {
			t.Fatalf("chaincode name %q does not come from the chaincode action", tx.ChaincodeName)
		}
		endorsements := tx.ActionPayload.Action.Endorsements
		sds := tx.Endorsements()
		if len(sds) != len(endorsements) {
			t.Fatalf("%d signed data for %d endorsements", len(sds), len(endorsements))
		}
		prp := tx.ActionPayload.Action.ProposalResponsePayload
		for i, sd := range sds {
			want := append(append([]byte{}, prp...), endorsements[i].Endorser...)
			if !bytes.Equal(sd.Data, want) || !bytes.Equal(sd.Identity, endorsements[i].Endorser) || !bytes.Equal(sd.Signature, endorsements[i].Signature) {
				t.Fatalf("endorsement %d: signed data is not proposal_response_payload ‖ endorser", i)
			}
		}
	})
}
