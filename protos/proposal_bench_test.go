package protos

import (
	"testing"
)

// benchProposal is a CreateAsset-like proposal of the `basic` chaincode, as
// the devnet benchmark sends: no transient map.
func benchProposal(b *testing.B) *Proposal {
	b.Helper()
	args := [][]byte{[]byte("CreateAsset"), []byte("asset-000001"), []byte("blue"), []byte("5"), []byte("Tomoko"), []byte("300")}
	sp, _, err := NewProposal(fuzzSignerB{}, "mychannel", "basic", args, nil)
	if err != nil {
		b.Fatal(err)
	}
	p, err := ParseProposal(sp)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// fuzzSignerB is fuzzSigner with a creator of a realistic size (a PEM
// certificate is about 800 bytes).
type fuzzSignerB struct{}

func (fuzzSignerB) Sign(msg []byte) ([]byte, error) { return make([]byte, 71), nil }
func (fuzzSignerB) Serialize() ([]byte, error)      { return make([]byte, 830), nil }

// BenchmarkParseProposal measures decoding a signed proposal and its nested
// messages, as the endorser does first for every proposal.
func BenchmarkParseProposal(b *testing.B) {
	sp := benchProposal(b).Signed
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseProposal(sp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProposalHash measures the proposal hash an endorser puts in its
// response payload.
func BenchmarkProposalHash(b *testing.B) {
	p := benchProposal(b)
	b.ReportAllocs()
	for b.Loop() {
		if len(p.Hash()) != 32 {
			b.Fatal("short hash")
		}
	}
}
