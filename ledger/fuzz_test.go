package ledger

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// fuzzWorker reports whether this process is a fuzzing worker of go test
// -fuzz, which runs one input after the other for as long as the fuzzing
// lasts. A plain go test runs the seed corpus and testdata/fuzz instead,
// once each.
func fuzzWorker() bool {
	fl := flag.Lookup("test.fuzzworker")
	return fl != nil && fl.Value.String() == "true"
}

// fuzzReopenEvery is how many inputs a fuzz target that keeps one block
// store or ledger per process runs between two reopens of it when fuzzing.
// An Open costs as much as a hundred inputs or more: LevelDB allocates and
// clears a 4 MiB write buffer twice per database (a ledger has four), and
// replays and compacts its journal. Plain go test reopens after every
// input, so that each seed and each input kept in testdata/fuzz is checked
// through a reopen on its own.
const fuzzReopenEvery = 128

// fuzzReopenInterval is fuzzReopenEvery when fuzzing, else 1.
func fuzzReopenInterval() int {
	if fuzzWorker() {
		return fuzzReopenEvery
	}
	return 1
}

// fuzzWorkerGC makes a fuzzing worker collect garbage less often (as
// GOGC=400, not 100) while the fuzz target runs. Every Open of a block store
// allocates and clears LevelDB write buffers of 4 MiB; at the default
// setting that starts a collection at nearly every input, which then costs
// more than the input.
func fuzzWorkerGC(f *testing.F) {
	if !fuzzWorker() {
		return
	}
	was := debug.SetGCPercent(400)
	f.Cleanup(func() { debug.SetGCPercent(was) })
}

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
			s.Close()
			t.Fatal(err)
		}
		prev = b
	}
	return s, prev
}

// blockFilesSize is the number of bytes in the block files of dir.
func blockFilesSize(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := listBlockFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, fn := range files {
		st, err := os.Stat(blockFileName(dir, fn))
		if err != nil {
			t.Fatal(err)
		}
		n += st.Size()
	}
	return n
}

// FuzzBlockStoreRefusesGarbage decodes random bytes as a block (or wraps them
// as its only envelope) and appends it as the next block with a previous hash
// that does not chain. The store must refuse it, keep its height and last
// hashes and leave its block files as they were, and take the right next
// block. Reopened, it must hold exactly the blocks it held before the
// refused append, the last of them as written.
//
// One store serves every input of a process: it starts with three blocks
// and grows by the right next block after each input, and a fresh one
// replaces it at fuzzStoreMaxHeight. The fuzzed number is relative to a
// store of three blocks, as in the seeds: 3 is the next block, whatever the
// store's height, and any other number is out of order. The store is
// closed and reopened after a refused append every fuzzReopenInterval()
// inputs (after every input under plain go test), before the right next
// block is appended.
func FuzzBlockStoreRefusesGarbage(f *testing.F) {
	fuzzWorkerGC(f)
	f.Add([]byte{}, uint64(3))
	f.Add(protos.Marshal(protos.NewBlock(3, []byte("wrong"), [][]byte{[]byte("tx")})), uint64(3))
	f.Add(protos.Marshal(protos.NewBlock(7, nil, nil)), uint64(7))
	f.Add([]byte("\x0a\x02\x08\x03"), uint64(2))
	const fuzzStoreMaxHeight = 1024
	every := fuzzReopenInterval()
	root := f.TempDir()
	var (
		s     *BlockStore
		dir   string
		last  *cb.Block // the store's last block, as appended
		since []string  // the inputs since the last reopen
		fresh int       // stores made so far
	)
	f.Cleanup(func() {
		if s != nil {
			s.Close()
		}
	})
	f.Fuzz(func(t *testing.T, raw []byte, number uint64) {
		if s == nil || last.Header.Number+1 >= fuzzStoreMaxHeight {
			if s != nil {
				s.Close()
				s = nil
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
			}
			fresh++
			dir = filepath.Join(root, strconv.Itoa(fresh))
			s, last = fuzzChain(t, dir)
			since = nil
		}
		ok := false
		defer func() {
			if !ok && s != nil { // a failed input leaves a store nobody trusts
				s.Close()
				s = nil
			}
		}()
		before := s.Info()
		size := blockFilesSize(t, dir)
		height := before.Height
		n := number + (height - 3)

		b := &cb.Block{}
		if proto.Unmarshal(raw, b) != nil || b.Header == nil || b.Data == nil {
			b = protos.NewBlock(n, raw, [][]byte{raw})
		}
		b.Header.Number = n
		wantHash := protos.BlockHeaderHash(last.Header)
		if bytes.Equal(b.Header.PreviousHash, wantHash) {
			b.Header.PreviousHash = append([]byte{0}, wantHash...)
		}
		err := s.Append(b)
		switch {
		case err == nil:
			t.Fatalf("the store appended block %d whose previous hash %x does not chain", n, b.Header.PreviousHash)
		case n != height && !errors.Is(err, ErrOutOfOrder):
			t.Fatalf("block %d at height %d: %v, want ErrOutOfOrder", n, height, err)
		case n == height && !errors.Is(err, ErrBadChain):
			t.Fatalf("unchained block %d: %v, want ErrBadChain", n, err)
		}
		if !proto.Equal(s.Info(), before) {
			t.Fatalf("a refused append changed the store: %v -> %v", before, s.Info())
		}
		if now := blockFilesSize(t, dir); now != size {
			t.Fatalf("a refused append changed the block files: %d bytes, were %d", now, size)
		}

		if since = append(since, fmt.Sprintf("(%q, %d)", raw, number)); len(since) >= every {
			inputs := ""
			if len(since) > 1 {
				inputs = fmt.Sprintf(" (the inputs since the last reopen, at height %d, in order: %s)", height-uint64(len(since))+1, strings.Join(since, ", "))
			}
			since = since[:0]
			err := s.Close()
			s = nil
			if err != nil {
				t.Fatal(err)
			}
			s, err = OpenBlockStoreWithOptions(dir, BlockStoreOptions{Logger: quietLog})
			if err != nil {
				t.Fatalf("reopen after a refused append: %v%s", err, inputs)
			}
			if !proto.Equal(s.Info(), before) {
				t.Fatalf("after reopen: %v, want %v%s", s.Info(), before, inputs)
			}
			got, err := s.Block(height - 1)
			if err != nil || !proto.Equal(got, last) {
				t.Fatalf("block %d after reopen = %v, %v%s", height-1, got, err, inputs)
			}
		}
		next := nextBlock(last)
		if err := s.Append(next); err != nil {
			t.Fatalf("the right next block is refused after a garbage append: %v", err)
		}
		last = next
		ok = true
	})
}

// FuzzLedgerCommitGarbageTx commits a correctly chained block whose only
// envelope is random bytes (seeded with real write sets). The ledger must not
// panic, and must report a height that agrees with what Commit returned;
// whatever it decides, a reopen must agree with what it reported: the same
// height and the same state.
//
// One ledger serves every input of a process: it starts with a genesis
// block whose transaction is txIDFor(0, 0), each input's block goes on top
// of the last one committed, and a fresh ledger replaces it at
// fuzzLedgerMaxHeight. It is closed and reopened every
// fuzzReopenInterval() inputs (after every input under plain go test), and
// must then hold what the commits since the last reopen reported, which a
// failure lists.
func FuzzLedgerCommitGarbageTx(f *testing.F) {
	fuzzWorkerGC(f)
	write := &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{{
		Namespace: "cc", Rwset: protos.Marshal(&kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "k", Value: []byte("v")}}}),
	}}}
	f.Add(endorserEnvelope(txIDFor(1, 0), write))
	f.Add(endorserEnvelope(txIDFor(0, 0), write)) // duplicate of block 0's TxID
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	const fuzzLedgerMaxHeight = 1024
	every := fuzzReopenInterval()
	root := f.TempDir()
	var (
		l      *Ledger
		dir    string
		last   *cb.Block // the last block committed
		height uint64    // the height the commits reported
		since  [][]byte  // the envelopes since the last reopen
		base   uint64    // the height at the last reopen
		fresh  int       // ledgers made so far
	)
	f.Cleanup(func() {
		if l != nil {
			l.Close()
		}
	})
	f.Fuzz(func(t *testing.T, env []byte) {
		if l == nil || height >= fuzzLedgerMaxHeight {
			if l != nil {
				l.Close()
				l = nil
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
			}
			fresh++
			dir = filepath.Join(root, strconv.Itoa(fresh))
			fl := openLedger(t, dir)
			genesis := nextBlock(nil, endorserEnvelope(txIDFor(0, 0), &rwset.TxReadWriteSet{}))
			if err := fl.Commit(genesis, nil); err != nil {
				fl.Close()
				t.Fatal(err)
			}
			l, last, height, since, base = fl, genesis, 1, nil, 1
		}
		ok := false
		defer func() {
			if !ok && l != nil { // a failed input leaves a ledger nobody trusts
				l.Close()
				l = nil
			}
		}()
		sinceReopen := func() string {
			if len(since) <= 1 {
				return ""
			}
			return fmt.Sprintf(" (the envelopes committed since the last reopen, at height %d, in order: %q)", base, since)
		}

		b := nextBlock(last, env)
		err := l.Commit(b, nil)
		want := height
		if err == nil {
			want++
			if n := len(protos.TxFilter(b)); n != 1 {
				t.Fatalf("committed block has a filter of %d entries for 1 envelope", n)
			}
		}
		if h := l.Blocks().Height(); h != want {
			t.Fatalf("height %d after Commit of block %d returned %v", h, b.Header.Number, err)
		}
		if err == nil {
			last = b
		}
		height = want
		since = append(since, append([]byte(nil), env...))
		if len(since) < every {
			ok = true
			return
		}

		before := dump(t, l.State(), "cc")
		err = l.Close()
		l = nil
		if err != nil {
			t.Fatal(err)
		}
		if l, err = OpenWithOptions(dir, Options{Logger: quietLog}); err != nil {
			t.Fatalf("reopen: %v%s", err, sinceReopen())
		}
		if h := l.Blocks().Height(); h != height {
			t.Fatalf("height %d after reopen, want %d%s", h, height, sinceReopen())
		}
		after := dump(t, l.State(), "cc")
		if len(before) != len(after) {
			t.Fatalf("state changed across reopen: %v -> %v%s", before, after, sinceReopen())
		}
		for i := range before {
			if before[i] != after[i] {
				t.Fatalf("state changed across reopen: %v -> %v%s", before, after, sinceReopen())
			}
		}
		since, base = since[:0], height
		ok = true
	})
}

// readTree reads every file under dir, by path relative to dir.
func readTree(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[rel], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

// writeTree writes files (by path relative to dir) under dir.
func writeTree(tb testing.TB, dir string, files map[string][]byte) {
	tb.Helper()
	for rel, raw := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			tb.Fatal(err)
		}
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
//
// The store of six blocks is written once per process and kept in memory,
// file by file; each input gets its own folder, written from that copy with
// the damage applied.
func FuzzBlockFileRecovery(f *testing.F) {
	fuzzWorkerGC(f)
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
	pristine := readTree(f, base)
	blockFiles := make([]string, len(files)) // relative paths, in order
	for i, n := range files {
		blockFiles[i], _ = filepath.Rel(base, blockFileName(base, n))
	}
	index := map[string][]byte{} // the files of the index, by relative path
	for rel, raw := range pristine {
		if strings.HasPrefix(rel, "index"+string(filepath.Separator)) {
			index[rel] = raw
		} else if !slices.Contains(blockFiles, rel) {
			f.Fatalf("the block store wrote %s, neither a block file nor in its index", rel)
		}
	}
	file0 := pristine[blockFiles[0]]
	f.Add(uint32(0), byte(0), uint32(0), []byte{}, uint8(0))
	f.Add(uint32(20), byte(0xff), uint32(0), []byte{}, uint8(0x10))
	f.Add(uint32(20), byte(0xff), uint32(0), []byte{}, uint8(0x12))
	f.Add(uint32(3), byte(0x00), uint32(0), []byte{}, uint8(0x22))
	f.Add(uint32(0), byte(0), uint32(7), []byte{0, 0, 0, 9}, uint8(0x24))
	f.Add(uint32(0), byte(0), uint32(7), []byte{0, 0, 0, 9}, uint8(0x16))
	f.Add(uint32(0), byte(0), uint32(0), file0[:200], uint8(0x24))
	f.Add(uint32(0), byte(0), uint32(0), file0, uint8(0x18))
	f.Add(uint32(0), byte(0), uint32(0), []byte{}, uint8(0x0a))

	root := f.TempDir()
	inputs := 0
	f.Fuzz(func(t *testing.T, pos uint32, val byte, cut uint32, tail []byte, mode uint8) {
		inputs++
		dir := filepath.Join(root, strconv.Itoa(inputs))
		defer os.RemoveAll(dir)
		victim := blockFiles[int(mode>>4)%len(blockFiles)]
		raw := slices.Clone(pristine[victim])
		raw[int(pos)%len(raw)] = val
		if mode&4 != 0 {
			raw = append(raw[:len(raw)-int(cut)%len(raw)], tail...)
		}
		if mode&8 != 0 {
			raw = tail
		}
		before := map[string][]byte{} // the block files as Open finds them
		for _, rel := range blockFiles {
			before[rel] = pristine[rel]
		}
		before[victim] = raw
		writeTree(t, dir, before)
		if mode&2 == 0 {
			writeTree(t, dir, index)
		}
		lastFile := blockFiles[len(blockFiles)-1]

		s, err := OpenBlockStoreWithOptions(dir, opts)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open refused with %v, which does not wrap ErrCorrupt", err)
			}
			for rel, was := range before {
				if now, _ := os.ReadFile(filepath.Join(dir, rel)); !bytes.Equal(now, was) {
					t.Fatalf("a refused Open changed %s", rel)
				}
			}
			return
		}
		for rel, was := range before {
			now, _ := os.ReadFile(filepath.Join(dir, rel))
			if rel != lastFile && !bytes.Equal(now, was) {
				t.Fatalf("Open changed %s, which is not the last block file", rel)
			}
			if rel == lastFile && !bytes.HasPrefix(was, now) {
				t.Fatalf("Open rewrote the last block file instead of truncating a tail")
			}
		}
		h := s.Height()
		if h > uint64(len(written)) {
			s.Close()
			t.Fatalf("height %d after recovery; %d blocks were written", h, len(written))
		}
		for n := uint64(0); n < h; n++ {
			b, err := s.Block(n)
			if err != nil && (mode&2 != 0 || !errors.Is(err, ErrCorrupt)) {
				s.Close()
				t.Fatalf("block %d of %d after recovery: %v", n, h, err)
			}
			if err == nil && !proto.Equal(b, written[n]) {
				s.Close()
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
