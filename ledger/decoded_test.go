package ledger

import (
	"slices"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
)

// TestUseDecoded checks that Commit applies the read/write sets handed to
// UseDecoded for the block and filter it commits, and decodes the block
// itself when the filter differs or the sets are for another block.
func TestUseDecoded(t *testing.T) {
	t.Parallel()
	write := func(key string) *kvrwset.KVRWSet {
		return &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: key, Value: []byte("v")}}}
	}
	env := func(txID string, kv *kvrwset.KVRWSet) []byte {
		return endorserEnvelope(txID, &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV,
			NsRwset: []*rwset.NsReadWriteSet{{Namespace: "cc", Rwset: protos.Marshal(kv)}}})
	}
	// handed is what a caller that decoded the block would hand on; here
	// it writes "other" where the block writes "inblock", so the state
	// shows which of the two Commit applied.
	handed := func(txID string) *TxRWSet {
		return &TxRWSet{TxID: txID, Namespaces: []NsRWSet{{Namespace: "cc", KV: write("other")}}}
	}
	valid := []byte{byte(pb.TxValidationCode_VALID)}
	cases := []struct {
		name string
		use  func(l *Ledger, b, other *cb.Block, txID string)
		want []string
	}{
		{"sets for this block and filter", func(l *Ledger, b, _ *cb.Block, txID string) {
			l.UseDecoded(b, valid, []*TxRWSet{handed(txID)})
		}, []string{`cc/"other"="v" meta= @1:0`}},
		{"another filter", func(l *Ledger, b, _ *cb.Block, txID string) {
			l.UseDecoded(b, []byte{byte(pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE)}, []*TxRWSet{nil})
		}, []string{`cc/"inblock"="v" meta= @1:0`}},
		{"another block", func(l *Ledger, _, other *cb.Block, txID string) {
			l.UseDecoded(other, valid, []*TxRWSet{handed(txID)})
		}, []string{`cc/"inblock"="v" meta= @1:0`}},
		{"none", func(*Ledger, *cb.Block, *cb.Block, string) {}, []string{`cc/"inblock"="v" meta= @1:0`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := openLedger(t, t.TempDir())
			defer l.Close()
			genesis := nextBlock(nil, endorserEnvelope(txIDFor(0, 0), &rwset.TxReadWriteSet{}))
			if err := l.Commit(genesis, nil); err != nil {
				t.Fatal(err)
			}
			txID := txIDFor(1, 0)
			b := nextBlock(genesis, env(txID, write("inblock")))
			other := nextBlock(genesis, env(txID, write("inblock")))
			protos.SetTxFilter(b, slices.Clone(valid))
			tc.use(l, b, other, txID)
			if _, err := l.MissingIn(b, nil); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(b, nil); err != nil {
				t.Fatal(err)
			}
			if got := dump(t, l.State(), "cc"); !slices.Equal(got, tc.want) {
				t.Fatalf("state after commit = %v, want %v", got, tc.want)
			}
		})
	}
}
