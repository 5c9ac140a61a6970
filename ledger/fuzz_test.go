package ledger

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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

// copyTree copies the files of src (one level of subfolders) to dst.
func copyTree(tb testing.TB, src, dst string) {
	tb.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), raw, 0o644)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// FuzzBlockFileRecovery opens a block store whose block files hold damaged
// bytes, as a restarted peer or orderer finds it after a crash or a bad
// disk. The store held blocks 0-5 in three files; one of them (mode bits 4
// and 5 pick which) gets one byte changed at a fuzzed offset, is cut short
// with fuzzed bytes appended (bit 2) or is replaced by fuzzed bytes (bit
// 3); with bit 1 the index is lost too, so recovery rescans every file.
// Open must refuse with an error wrapping ErrCorrupt and leave the block
// files as they were, or recover by truncating only a tail of the last
// file. A recovered store holds a prefix of the blocks written: every block
// it returns is the block of that number as written, and a block it cannot
// return is an error wrapping ErrCorrupt (a damaged block the index still
// points to is found when read, not at Open; after a rescan there is none).
// A second Open finds the same height, and the right next block is taken.
func FuzzBlockFileRecovery(f *testing.F) {
	const maxFile = 1500
	opts := BlockStoreOptions{MaxFileSize: maxFile, Logger: quietLog}
	base := f.TempDir()
	s, err := OpenBlockStoreWithOptions(base, opts)
	if err != nil {
		f.Fatal(err)
	}
	var written []*cb.Block
	var prev *cb.Block
	for i := 0; i < 6; i++ {
		b := nextBlock(prev, endorserEnvelope(txIDFor(uint64(i), 0), &rwset.TxReadWriteSet{}), endorserEnvelope(txIDFor(uint64(i), 1), &rwset.TxReadWriteSet{}))
		if err := s.Append(b); err != nil {
			f.Fatal(err)
		}
		written, prev = append(written, b), b
	}
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	files, err := listBlockFiles(base)
	if err != nil || len(files) != 3 {
		f.Fatalf("block files %v, %v: want three", files, err)
	}
	file0, err := os.ReadFile(blockFileName(base, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(0), byte(0), uint32(0), []byte{}, uint8(0))
	f.Add(uint32(20), byte(0xff), uint32(0), []byte{}, uint8(0x10))
	f.Add(uint32(20), byte(0xff), uint32(0), []byte{}, uint8(0x12))
	f.Add(uint32(3), byte(0x00), uint32(0), []byte{}, uint8(0x22))
	f.Add(uint32(0), byte(0), uint32(7), []byte{0, 0, 0, 9}, uint8(0x24))
	f.Add(uint32(0), byte(0), uint32(7), []byte{0, 0, 0, 9}, uint8(0x16))
	f.Add(uint32(0), byte(0), uint32(0), file0[:200], uint8(0x24))
	f.Add(uint32(0), byte(0), uint32(0), file0, uint8(0x18))
	f.Add(uint32(0), byte(0), uint32(0), []byte{}, uint8(0x0a))

	f.Fuzz(func(t *testing.T, pos uint32, val byte, cut uint32, tail []byte, mode uint8) {
		dir := t.TempDir()
		copyTree(t, base, dir)
		lastFile := blockFileName(dir, files[len(files)-1])
		victim := blockFileName(dir, files[int(mode>>4)%len(files)])
		raw, err := os.ReadFile(victim)
		if err != nil {
			t.Fatal(err)
		}
		raw[int(pos)%len(raw)] = val
		if mode&4 != 0 {
			raw = append(raw[:len(raw)-int(cut)%len(raw)], tail...)
		}
		if mode&8 != 0 {
			raw = tail
		}
		if err := os.WriteFile(victim, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if mode&2 != 0 {
			if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
				t.Fatal(err)
			}
		}
		before := map[string][]byte{}
		for _, n := range files {
			p := blockFileName(dir, n)
			before[p], _ = os.ReadFile(p)
		}

		s, err := OpenBlockStoreWithOptions(dir, opts)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open refused with %v, which does not wrap ErrCorrupt", err)
			}
			for p, was := range before {
				if now, _ := os.ReadFile(p); !bytes.Equal(now, was) {
					t.Fatalf("a refused Open changed %s", filepath.Base(p))
				}
			}
			return
		}
		for p, was := range before {
			now, _ := os.ReadFile(p)
			if p != lastFile && !bytes.Equal(now, was) {
				t.Fatalf("Open changed %s, which is not the last block file", filepath.Base(p))
			}
			if p == lastFile && !bytes.HasPrefix(was, now) {
				t.Fatalf("Open rewrote the last block file instead of truncating a tail")
			}
		}
		h := s.Height()
		if h > uint64(len(written)) {
			t.Fatalf("height %d after recovery; %d blocks were written", h, len(written))
		}
		for n := uint64(0); n < h; n++ {
			b, err := s.Block(n)
			if err != nil && (mode&2 != 0 || !errors.Is(err, ErrCorrupt)) {
				t.Fatalf("block %d of %d after recovery: %v", n, h, err)
			}
			if err == nil && !proto.Equal(b, written[n]) {
				t.Fatalf("Block(%d) after recovery returned block %d, not the block written", n, b.GetHeader().GetNumber())
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = OpenBlockStoreWithOptions(dir, opts)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer s.Close()
		if s.Height() != h {
			t.Fatalf("second Open: height %d, was %d", s.Height(), h)
		}
		var last *cb.Block
		if h > 0 {
			last = written[h-1]
		}
		if err := s.Append(nextBlock(last, endorserEnvelope(txIDFor(h, 7), &rwset.TxReadWriteSet{}))); err != nil {
			t.Fatalf("the next block after recovery to height %d is refused: %v", h, err)
		}
	})
}
