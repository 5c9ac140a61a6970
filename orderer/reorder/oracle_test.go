package reorder

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/protos"
)

// oracle is a real ledger (LevelDB) whose MVCC validation judges blocks:
// the peer's own checks, not a model of them.
type oracle struct {
	l    *ledger.Ledger
	last *cb.Block
}

// newOracle opens a ledger and commits two blocks that each write every key
// of setup (a spec as for tx), so those keys are current at version 1.0 and
// a read at 0.0 is stale.
func newOracle(t testing.TB, setup string) *oracle {
	t.Helper()
	l, err := ledger.OpenWithOptions(t.TempDir(), ledger.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	o := &oracle{l: l}
	o.commit(t, [][]byte{tx(t, -1, setup)})
	o.commit(t, [][]byte{tx(t, -2, setup)})
	return o
}

// commit commits envs as the next block and returns each one's verdict.
func (o *oracle) commit(t testing.TB, envs [][]byte) []pb.TxValidationCode {
	t.Helper()
	var b *cb.Block
	if o.last == nil {
		b = protos.NewBlock(0, nil, envs)
	} else {
		b = protos.NewBlock(o.last.Header.Number+1, protos.BlockHeaderHash(o.last.Header), envs)
	}
	if err := o.l.Commit(b, nil); err != nil {
		t.Fatalf("commit block %d: %v", b.Header.Number, err)
	}
	o.last = b
	flags := protos.TxFilter(b)
	out := make([]pb.TxValidationCode, len(flags))
	for i, f := range flags {
		out[i] = pb.TxValidationCode(f)
	}
	return out
}

func countValid(codes []pb.TxValidationCode) int {
	n := 0
	for _, c := range codes {
		if c == pb.TxValidationCode_VALID {
			n++
		}
	}
	return n
}

// verdicts renders codes in the order of the original envelopes, given the
// permutation that produced the committed order: "V" valid, "x" invalid.
func verdicts(codes []pb.TxValidationCode, perm []int) string {
	out := make([]byte, len(codes))
	for i, c := range codes {
		at := i
		if perm != nil {
			at = perm[i]
		}
		out[at] = 'x'
		if c == pb.TxValidationCode_VALID {
			out[at] = 'V'
		}
	}
	return string(out)
}

// setupKeys writes the public keys a–f and k0–k9 of namespace cc, a of
// namespace other, and the private keys a and b of collections c1 and c2.
var setupKeys = strings.Join([]string{
	"w:a w:b w:c w:d w:e w:f",
	"w:k0 w:k1 w:k2 w:k3 w:k4 w:k5 w:k6 w:k7 w:k8 w:k9",
	"w:other:a pw:c1/a pw:c1/b pw:c2/a pw:c2/b",
}, " ")
