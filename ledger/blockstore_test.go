package ledger

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

func openStore(t *testing.T, dir string, maxFile int64) *BlockStore {
	t.Helper()
	s, err := OpenBlockStoreWithOptions(dir, BlockStoreOptions{MaxFileSize: maxFile, Logger: quietLog})
	if err != nil {
		t.Fatalf("OpenBlockStore: %v", err)
	}
	return s
}

// makeChain builds n chained blocks, each with two transactions; the second
// tx of every block is marked invalid in the filter.
func makeChain(n int) []*cb.Block {
	var out []*cb.Block
	var prev *cb.Block
	for i := 0; i < n; i++ {
		num := uint64(i)
		b := nextBlock(prev,
			endorserEnvelope(txIDFor(num, 0), &rwset.TxReadWriteSet{}),
			endorserEnvelope(txIDFor(num, 1), &rwset.TxReadWriteSet{}))
		protos.SetTxFilter(b, []byte{byte(pb.TxValidationCode_VALID), byte(pb.TxValidationCode_MVCC_READ_CONFLICT)})
		out = append(out, b)
		prev = b
	}
	return out
}

func appendAll(t *testing.T, s *BlockStore, blocks []*cb.Block) {
	t.Helper()
	for _, b := range blocks {
		if err := s.Append(b); err != nil {
			t.Fatalf("Append block %d: %v", b.Header.Number, err)
		}
	}
}

func checkReadable(t *testing.T, s *BlockStore, blocks []*cb.Block) {
	t.Helper()
	if h := s.Height(); h != uint64(len(blocks)) {
		t.Fatalf("Height = %d, want %d", h, len(blocks))
	}
	for _, want := range blocks {
		n := want.Header.Number
		got, err := s.Block(n)
		if err != nil {
			t.Fatalf("Block(%d): %v", n, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("Block(%d) differs from the appended block", n)
		}
		byHash, err := s.BlockByHash(protos.BlockHeaderHash(want.Header))
		if err != nil || byHash.Header.Number != n {
			t.Fatalf("BlockByHash(block %d) = %v, %v", n, byHash.GetHeader().GetNumber(), err)
		}
		byTx, err := s.BlockByTxID(txIDFor(n, 1))
		if err != nil || byTx.Header.Number != n {
			t.Fatalf("BlockByTxID(block %d) = %v, %v", n, byTx.GetHeader().GetNumber(), err)
		}
		ptx, err := s.TxByID(txIDFor(n, 1))
		if err != nil {
			t.Fatalf("TxByID: %v", err)
		}
		if ptx.ValidationCode != int32(pb.TxValidationCode_MVCC_READ_CONFLICT) {
			t.Fatalf("TxByID code = %d, want MVCC_READ_CONFLICT", ptx.ValidationCode)
		}
		wantEnv := &cb.Envelope{}
		if err := proto.Unmarshal(want.Data.Data[1], wantEnv); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(ptx.TransactionEnvelope, wantEnv) {
			t.Fatal("TxByID returned the wrong envelope")
		}
		if ok, err := s.TxExists(txIDFor(n, 0)); !ok || err != nil {
			t.Fatalf("TxExists(block %d tx 0) = %v, %v", n, ok, err)
		}
	}
	if len(blocks) > 0 {
		last := blocks[len(blocks)-1]
		info := s.Info()
		if info.Height != uint64(len(blocks)) || !bytes.Equal(info.CurrentBlockHash, protos.BlockHeaderHash(last.Header)) || !bytes.Equal(info.PreviousBlockHash, last.Header.PreviousHash) {
			t.Fatalf("Info = %v, want height %d and the hashes of block %d", info, len(blocks), last.Header.Number)
		}
	}
}

func TestBlockStoreAppendAndRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir, 0)
	if info := s.Info(); info.Height != 0 || info.CurrentBlockHash != nil {
		t.Fatalf("fresh Info = %v", info)
	}
	blocks := makeChain(5)
	appendAll(t, s, blocks)
	checkReadable(t, s, blocks)

	if _, err := s.Block(5); !errors.Is(err, ErrBlockNotFound) {
		t.Fatalf("Block(5) err = %v, want ErrBlockNotFound", err)
	}
	if _, err := s.BlockByHash([]byte("nope")); !errors.Is(err, ErrBlockNotFound) {
		t.Fatalf("BlockByHash err = %v, want ErrBlockNotFound", err)
	}
	if _, err := s.TxByID("nope"); !errors.Is(err, ErrTxNotFound) {
		t.Fatalf("TxByID err = %v, want ErrTxNotFound", err)
	}
	if _, err := s.BlockByTxID("nope"); !errors.Is(err, ErrBlockNotFound) {
		t.Fatalf("BlockByTxID err = %v, want ErrBlockNotFound", err)
	}
	if ok, err := s.TxExists("nope"); ok || err != nil {
		t.Fatalf("TxExists(nope) = %v, %v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, 0)
	defer s.Close()
	checkReadable(t, s, blocks)
}

func TestBlockStoreChainCheck(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), 0)
	defer s.Close()
	blocks := makeChain(3)
	appendAll(t, s, blocks[:2])

	if err := s.Append(blocks[1]); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("re-append block 1: err = %v, want ErrOutOfOrder", err)
	}
	skip := nextBlock(blocks[2])
	if err := s.Append(skip); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("append block 3 at height 2: err = %v, want ErrOutOfOrder", err)
	}
	bad := proto.Clone(blocks[2]).(*cb.Block)
	bad.Header.PreviousHash = protos.BlockHeaderHash(blocks[0].Header)
	err := s.Append(bad)
	if !errors.Is(err, ErrBadChain) {
		t.Fatalf("append with wrong previous_hash: err = %v, want ErrBadChain", err)
	}
	t.Logf("refusal reads: %v", err)
	if s.Height() != 2 {
		t.Fatalf("Height = %d after refused appends, want 2", s.Height())
	}
	appendAll(t, s, blocks[2:])
}

func lastBlockFile(t *testing.T, dir string) string {
	t.Helper()
	nums, err := listBlockFiles(dir)
	if err != nil || len(nums) == 0 {
		t.Fatalf("no block files: %v", err)
	}
	return blockFileName(dir, nums[len(nums)-1])
}

func TestBlockStoreTornWriteRecovery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		maxFile int64
		damage  func(t *testing.T, path string)
	}{
		{"cut mid record", 0, func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			if err := os.Truncate(path, st.Size()-10); err != nil {
				t.Fatal(err)
			}
		}},
		{"cut inside header", 0, func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			f, _ := os.Open(path)
			defer f.Close()
			// Find the start of the last record by walking the file.
			off := int64(0)
			last := int64(0)
			for {
				p, err := readRecord(f, off, st.Size())
				if err != nil {
					break
				}
				last = off
				off += recordHeaderSize + int64(len(p))
			}
			if err := os.Truncate(path, last+3); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage tail", 0, func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Flip a byte in the last record's payload: checksum mismatch.
			buf := []byte{0}
			f.ReadAt(buf, st.Size()-1)
			buf[0] ^= 0xff
			f.WriteAt(buf, st.Size()-1)
		}},
		{"cut mid record after roll", 600, func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			if err := os.Truncate(path, st.Size()-10); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			blocks := makeChain(6)
			s := openStore(t, dir, tc.maxFile)
			appendAll(t, s, blocks[:5])
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if nums, _ := listBlockFiles(dir); tc.maxFile > 0 && len(nums) < 2 {
				t.Fatalf("expected several block files with MaxFileSize %d, got %d", tc.maxFile, len(nums))
			}
			tc.damage(t, lastBlockFile(t, dir))

			s = openStore(t, dir, tc.maxFile)
			checkReadable(t, s, blocks[:4])
			if _, err := s.BlockByHash(protos.BlockHeaderHash(blocks[4].Header)); !errors.Is(err, ErrBlockNotFound) {
				t.Fatalf("dropped block still found by hash: %v", err)
			}
			appendAll(t, s, blocks[4:])
			checkReadable(t, s, blocks)
			s.Close()
			s = openStore(t, dir, tc.maxFile)
			defer s.Close()
			checkReadable(t, s, blocks)
		})
	}
}

func TestBlockStoreIndexRebuild(t *testing.T) {
	t.Parallel()
	t.Run("deleted", func(t *testing.T) {
		dir := t.TempDir()
		blocks := makeChain(4)
		s := openStore(t, dir, 500)
		appendAll(t, s, blocks)
		s.Close()
		if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
			t.Fatal(err)
		}
		s = openStore(t, dir, 500)
		defer s.Close()
		checkReadable(t, s, blocks)
	})
	t.Run("behind", func(t *testing.T) {
		dir := t.TempDir()
		blocks := makeChain(5)
		s := openStore(t, dir, 500)
		appendAll(t, s, blocks[:2])
		s.Close()
		saved := filepath.Join(t.TempDir(), "index")
		copyDir(t, filepath.Join(dir, "index"), saved)
		s = openStore(t, dir, 500)
		appendAll(t, s, blocks[2:])
		s.Close()
		// Put back the index as it was at height 2: it is now behind the files.
		os.RemoveAll(filepath.Join(dir, "index"))
		copyDir(t, saved, filepath.Join(dir, "index"))
		s = openStore(t, dir, 500)
		defer s.Close()
		checkReadable(t, s, blocks)
	})
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBlockStoreWaitHeight(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), 0)
	blocks := makeChain(3)
	done := make(chan error, 1)
	go func() { done <- s.WaitHeight(context.Background(), 3) }()
	appendAll(t, s, blocks[:2])
	select {
	case err := <-done:
		t.Fatalf("WaitHeight(3) returned at height 2: %v", err)
	default:
	}
	appendAll(t, s, blocks[2:])
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitHeight: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitHeight(3) did not return after block 2 was appended")
	}
	if err := s.WaitHeight(context.Background(), 1); err != nil {
		t.Fatalf("WaitHeight below height: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- s.WaitHeight(ctx, 10) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitHeight after cancel = %v, want context.Canceled", err)
	}

	go func() { done <- s.WaitHeight(context.Background(), 10) }()
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitHeight after Close = %v, want ErrClosed", err)
	}
}

// A crash in the middle of writing a record, before the index was updated:
// the partial record is dropped and the same block can be appended again.
func TestBlockStorePartialAppendRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	blocks := makeChain(4)
	s := openStore(t, dir, 0)
	appendAll(t, s, blocks[:3])
	s.Close()
	rec := encodeRecord(protos.Marshal(blocks[3]))
	f, err := os.OpenFile(lastBlockFile(t, dir), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(rec[:len(rec)/2]); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s = openStore(t, dir, 0)
	checkReadable(t, s, blocks[:3])
	appendAll(t, s, blocks[3:])
	s.Close()
	s = openStore(t, dir, 0)
	defer s.Close()
	checkReadable(t, s, blocks)
}

// Append encodes each block into the buffer it kept from the last one; the
// record must be the same bytes as a fresh encoding, whatever the buffer
// held before and however the blocks' sizes go up and down.
func TestAppendBlockRecordReusesBuffer(t *testing.T) {
	t.Parallel()
	blocks := makeChain(6)
	blocks[2].Data.Data = append(blocks[2].Data.Data, bytes.Repeat([]byte{7}, 64<<10))
	var buf []byte
	for _, b := range blocks {
		prefix := []byte("kept")
		got, err := appendBlockRecord(append(prefix, buf...)[:len(prefix)], b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:len(prefix)], []byte("kept")) {
			t.Fatalf("block %d: the bytes before the record changed to %q", b.Header.Number, got[:len(prefix)])
		}
		if want := encodeRecord(protos.Marshal(b)); !bytes.Equal(got[len(prefix):], want) {
			t.Fatalf("block %d: record of %d bytes differs from a fresh encoding of %d bytes", b.Header.Number, len(got)-len(prefix), len(want))
		}
		buf = got[len(prefix):]
	}

	// Through the store: every block reads back after appends that reused
	// the buffer (larger, then smaller blocks).
	s := openStore(t, t.TempDir(), 0)
	defer s.Close()
	appendAll(t, s, blocks)
	checkReadable(t, s, blocks)
}
