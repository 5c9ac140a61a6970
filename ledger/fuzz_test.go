package ledger

import (
	"bytes"
	"errors"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// fuzzChain opens a block store in a fresh folder holding three chained
// blocks and returns it with its last block.
func fuzzChain(t *testing.T, dir string) (*BlockStore, *cb.Block) {
	t.Helper()
	s, err := OpenBlockStoreWithOptions(dir, BlockStoreOptions{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	var prev *cb.Block
	for i := 0; i < 3; i++ {
		b := nextBlock(prev, endorserEnvelope(txIDFor(uint64(i), 0), &rwset.TxReadWriteSet{}))
		if err := s.Append(b); err != nil {
			t.Fatal(err)
		}
		prev = b
	}
	return s, prev
}

// FuzzBlockStoreRefusesGarbage decodes random bytes as a block (or wraps them
// as its only envelope) and appends it as the next block with a previous hash
// that does not chain. The store must refuse it and, reopened, hold exactly
// the blocks it held before, still ready to take the right next block.
func FuzzBlockStoreRefusesGarbage(f *testing.F) {
	f.Add([]byte{}, uint64(3))
	f.Add(protos.Marshal(protos.NewBlock(3, []byte("wrong"), [][]byte{[]byte("tx")})), uint64(3))
	f.Add(protos.Marshal(protos.NewBlock(7, nil, nil)), uint64(7))
	f.Add([]byte("\x0a\x02\x08\x03"), uint64(2))
	f.Fuzz(func(t *testing.T, raw []byte, number uint64) {
		dir := t.TempDir()
		s, last := fuzzChain(t, dir)
		before := s.Info()

		b := &cb.Block{}
		if proto.Unmarshal(raw, b) != nil || b.Header == nil || b.Data == nil {
			b = protos.NewBlock(number, raw, [][]byte{raw})
		}
		b.Header.Number = number
		wantHash := protos.BlockHeaderHash(last.Header)
		if bytes.Equal(b.Header.PreviousHash, wantHash) {
			b.Header.PreviousHash = append([]byte{0}, wantHash...)
		}
		err := s.Append(b)
		switch {
		case err == nil:
			t.Fatalf("the store appended block %d whose previous hash %x does not chain", number, b.Header.PreviousHash)
		case number != 3 && !errors.Is(err, ErrOutOfOrder):
			t.Fatalf("block %d at height 3: %v, want ErrOutOfOrder", number, err)
		case number == 3 && !errors.Is(err, ErrBadChain):
			t.Fatalf("unchained block 3: %v, want ErrBadChain", err)
		}
		if !proto.Equal(s.Info(), before) {
			t.Fatalf("a refused append changed the store: %v -> %v", before, s.Info())
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s, err = OpenBlockStoreWithOptions(dir, BlockStoreOptions{Logger: quietLog})
		if err != nil {
			t.Fatalf("reopen after a refused append: %v", err)
		}
		defer s.Close()
		if !proto.Equal(s.Info(), before) {
			t.Fatalf("after reopen: %v, want %v", s.Info(), before)
		}
		got, err := s.Block(2)
		if err != nil || !proto.Equal(got, last) {
			t.Fatalf("block 2 after reopen = %v, %v", got, err)
		}
		if err := s.Append(nextBlock(last)); err != nil {
			t.Fatalf("the right next block is refused after a garbage append: %v", err)
		}
	})
}

// FuzzLedgerCommitGarbageTx commits a correctly chained block whose only
// envelope is random bytes (seeded with real write sets). The ledger must not
// panic; whatever it decides, a reopen must agree with what it reported.
func FuzzLedgerCommitGarbageTx(f *testing.F) {
	write := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{{
		Namespace: "cc", Rwset: protos.Marshal(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "k", Value: []byte("v")}}}),
	}}}
	f.Add(endorserEnvelope(txIDFor(1, 0), write))
	f.Add(endorserEnvelope(txIDFor(0, 0), write)) // duplicate of block 0's TxID
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, env []byte) {
		dir := t.TempDir()
		l := openLedger(t, dir)
		genesis := nextBlock(nil, endorserEnvelope(txIDFor(0, 0), &rwset.TxReadWriteSet{}))
		if err := l.Commit(genesis, nil); err != nil {
			t.Fatal(err)
		}
		b := nextBlock(genesis, env)
		err := l.Commit(b, nil)
		wantHeight := uint64(1)
		if err == nil {
			wantHeight = 2
			if n := len(protos.TxFilter(b)); n != 1 {
				t.Fatalf("committed block has a filter of %d entries for 1 envelope", n)
			}
		}
		if h := l.Blocks().Height(); h != wantHeight {
			t.Fatalf("height %d after Commit returned %v", h, err)
		}
		before := dump(t, l.State(), "cc")
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openLedger(t, dir)
		defer l.Close()
		if h := l.Blocks().Height(); h != wantHeight {
			t.Fatalf("height %d after reopen, want %d", h, wantHeight)
		}
		after := dump(t, l.State(), "cc")
		if len(before) != len(after) {
			t.Fatalf("state changed across reopen: %v -> %v", before, after)
		}
		for i := range before {
			if before[i] != after[i] {
				t.Fatalf("state changed across reopen: %v -> %v", before, after)
			}
		}
	})
}
