package ledger

import (
	"errors"
	"fmt"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
)

var errSimulatedCrash = errors.New("simulated crash after append")

// crashWorkload builds a chain whose txs read, write, delete, and conflict, so
// the replayed filter (not a re-validation) decides what reaches state.
func crashWorkload() []*cb.Block {
	rws := func(ns string, kv *kvrwset.KVRWSet) *rwset.TxReadWriteSet {
		return &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{{Namespace: ns, Rwset: protos.Marshal(kv)}}}
	}
	var blocks []*cb.Block
	var prev *cb.Block
	for n := uint64(0); n < 5; n++ {
		var envs [][]byte
		for i := 0; i < 3; i++ {
			kv := &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{
				{Key: fmt.Sprintf("k%d", i), Value: []byte(fmt.Sprintf("v%d-%d", n, i))},
				{Key: fmt.Sprintf("b%d", n), Value: []byte("x")},
			}}
			if n > 0 {
				// Every tx reads k0 at the version block n-1 left: the first
				// tx of each block is valid, the others conflict with it.
				kv.Reads = []*kvrwset.KVRead{{Key: "k0", Version: &kvrwset.Version{BlockNum: n - 1}}}
			}
			if n == 3 {
				kv.Writes = append(kv.Writes, &kvrwset.KVWrite{Key: "b1", IsDelete: true})
			}
			envs = append(envs, endorserEnvelope(txIDFor(n, i), rws("basic", kv)))
		}
		b := nextBlock(prev, envs...)
		if n == 2 {
			protos.SetTxFilter(b, []byte{byte(pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE), 0, 0})
		}
		blocks = append(blocks, b)
		prev = b
	}
	return blocks
}

func TestCrashBetweenAppendAndApplyReplays(t *testing.T) {
	t.Parallel()
	blocks := crashWorkload()

	refDir := t.TempDir()
	ref := openLedger(t, refDir)
	for _, b := range crashWorkload() {
		if err := ref.Commit(b, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := dump(t, ref.State(), "basic")
	ref.Close()
	if len(want) == 0 {
		t.Fatal("reference ledger has no state; the workload is broken")
	}

	for _, crashAt := range []uint64{0, 2, 4} {
		t.Run(fmt.Sprintf("crash at block %d", crashAt), func(t *testing.T) {
			dir := t.TempDir()
			l := openLedger(t, dir)
			l.afterAppend = func(n uint64) error {
				if n == crashAt {
					return errSimulatedCrash
				}
				return nil
			}
			for _, b := range blocks[:crashAt+1] {
				err := l.Commit(cloneBlock(b), nil)
				if b.Header.Number == crashAt {
					if !errors.Is(err, errSimulatedCrash) {
						t.Fatalf("Commit block %d: err = %v, want the simulated crash", crashAt, err)
					}
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if sp, ok, _ := l.State().Savepoint(); crashAt > 0 && (!ok || sp.BlockNum != crashAt-1) {
				t.Fatalf("before reopen savepoint = %v %v, want block %d (crash left state behind)", sp, ok, crashAt-1)
			}
			l.Close()

			l = openLedger(t, dir)
			defer l.Close()
			if sp, ok, _ := l.State().Savepoint(); !ok || sp.BlockNum != crashAt {
				t.Fatalf("after reopen savepoint = %v %v, want block %d", sp, ok, crashAt)
			}
			for _, b := range blocks[crashAt+1:] {
				if err := l.Commit(cloneBlock(b), nil); err != nil {
					t.Fatal(err)
				}
			}
			got := dump(t, l.State(), "basic")
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("state after crash and replay differs:\n got %q\nwant %q", got, want)
			}
			for n := range blocks {
				ref, err := l.Blocks().Block(uint64(n))
				if err != nil {
					t.Fatal(err)
				}
				f := protos.TxFilter(ref)
				if n > 0 && (f[1] != byte(pb.TxValidationCode_MVCC_READ_CONFLICT) || f[2] != byte(pb.TxValidationCode_MVCC_READ_CONFLICT)) && n != 2 {
					t.Fatalf("block %d filter %v: txs 1 and 2 should conflict", n, f)
				}
			}
		})
	}
}

func cloneBlock(b *cb.Block) *cb.Block {
	raw := protos.Marshal(b)
	c, err := protos.UnmarshalBlock(raw)
	if err != nil {
		panic(err)
	}
	return c
}
