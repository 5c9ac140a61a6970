package ledger

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/protos"
)

// A store opened with NoTxIndex (an orderer's) serves blocks by number and
// hash, also after its index is rebuilt from the files at open, and refuses
// lookups by TxID with an error that says why.
func TestBlockStoreNoTxIndex(t *testing.T) {
	dir := t.TempDir()
	opts := BlockStoreOptions{NoTxIndex: true, Logger: quietLog}
	s, err := OpenBlockStoreWithOptions(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	blocks := makeChain(4)
	appendAll(t, s, blocks)
	check := func(s *BlockStore) {
		t.Helper()
		if h := s.Height(); h != 4 {
			t.Fatalf("Height = %d, want 4", h)
		}
		for _, want := range blocks {
			for _, get := range []func() (*cb.Block, error){
				func() (*cb.Block, error) { return s.Block(want.Header.Number) },
				func() (*cb.Block, error) { return s.BlockByHash(protos.BlockHeaderHash(want.Header)) },
			} {
				got, err := get()
				if err != nil {
					t.Fatalf("block %d: %v", want.Header.Number, err)
				}
				if !bytes.Equal(protos.Marshal(got), protos.Marshal(want)) {
					t.Fatalf("block %d read back differs", want.Header.Number)
				}
			}
		}
		if _, err := s.TxExists(txIDFor(1, 0)); err == nil {
			t.Fatal("TxExists answered on a store without the TxID index")
		}
		if _, err := s.TxByID(txIDFor(1, 0)); err == nil {
			t.Fatal("TxByID answered on a store without the TxID index")
		}
	}
	check(s)
	s.Close()

	// The index is rebuilt from the block files, still without TxIDs.
	if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	s, err = OpenBlockStoreWithOptions(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
	appendAll(t, s, makeChain(5)[4:])
	if s.Height() != 5 {
		t.Fatalf("Height after one more append = %d, want 5", s.Height())
	}
}
