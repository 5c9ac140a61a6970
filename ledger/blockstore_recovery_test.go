package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordStarts walks a block file and returns where each record starts.
func recordStarts(t *testing.T, raw []byte) []int64 {
	t.Helper()
	var offs []int64
	for off := 0; off+recordHeaderSize <= len(raw); {
		offs = append(offs, int64(off))
		off += recordHeaderSize + int(binary.BigEndian.Uint32(raw[off:]))
	}
	return offs
}

// snapshotFiles returns the contents of every file in dir (not the index).
func snapshotFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	nums, err := listBlockFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range nums {
		raw, err := os.ReadFile(blockFileName(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[blockFileName(dir, n)] = raw
	}
	return out
}

func wantBlockCorrupt(t *testing.T, err error, file string, offset int64, reason string) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want a *CorruptError", err)
	}
	if ce.File != file || ce.Offset != offset || !strings.Contains(ce.Reason, reason) {
		t.Fatalf("CorruptError{%s, %d, %q}, want %s at offset %d with %q", ce.File, ce.Offset, ce.Reason, file, offset, reason)
	}
	msg := err.Error()
	if !strings.Contains(msg, file) || !strings.Contains(msg, fmt.Sprintf("offset %d", offset)) || !strings.Contains(msg, "join it again") {
		t.Fatalf("error %q does not name the file, the offset and how to rebuild", msg)
	}
}

// Damage to a block record that intact records follow is corruption:
// opening refuses, names the file and offset, and neither truncates nor
// deletes anything. The index is removed first, so that recovery has to
// read the damaged record (as after a crash before the index was written).
func TestBlockStoreMidFileCorruptionRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(raw []byte, rec int64)
		reason string
	}{
		{"payload byte flipped", func(raw []byte, rec int64) { raw[rec+recordHeaderSize+40] ^= 0x08 }, "checksum mismatch"},
		{"length runs past EOF", func(raw []byte, rec int64) { raw[rec] = 0x7f }, "declares"},
		{"length zeroed", func(raw []byte, rec int64) { copy(raw[rec:rec+4], make([]byte, 4)) }, "length is 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			blocks := makeChain(6)
			s := openStore(t, dir, 0)
			appendAll(t, s, blocks)
			s.Close()
			path := lastBlockFile(t, dir)
			raw, _ := os.ReadFile(path)
			rec := recordStarts(t, raw)[2]
			tc.damage(raw, rec)
			os.WriteFile(path, raw, 0o644)
			os.RemoveAll(filepath.Join(dir, "index"))
			before := snapshotFiles(t, dir)

			_, err := OpenBlockStoreWithOptions(dir, BlockStoreOptions{Logger: quietLog})
			wantBlockCorrupt(t, err, path, rec, tc.reason)
			if !strings.Contains(err.Error(), "intact record follows") {
				t.Fatalf("error %q does not say why this is not a torn tail", err)
			}
			after := snapshotFiles(t, dir)
			if len(after) != len(before) || !bytes.Equal(after[path], before[path]) {
				t.Fatal("a refused open changed the block files")
			}
		})
	}
}

// With the index intact, damage to a block it covers is not met by recovery
// (which only reads what the index lacks) but by the read, which names the
// file and offset; the store is not repaired behind the reader's back.
func TestBlockStoreDamagedIndexedBlockRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	blocks := makeChain(6)
	s := openStore(t, dir, 0)
	appendAll(t, s, blocks)
	s.Close()
	path := lastBlockFile(t, dir)
	raw, _ := os.ReadFile(path)
	rec := recordStarts(t, raw)[2]
	raw[rec+recordHeaderSize+40] ^= 0x08
	os.WriteFile(path, raw, 0o644)

	s = openStore(t, dir, 0)
	defer s.Close()
	if h := s.Height(); h != 6 {
		t.Fatalf("height %d after opening, want 6", h)
	}
	_, err := s.Block(2)
	wantBlockCorrupt(t, err, path, rec, "checksum mismatch")
	if _, err := s.Block(3); err != nil {
		t.Fatalf("block 3: %v", err)
	}
}

// Damage in a block file that later files follow is refused, even where it
// looks like a torn tail (that file was synced before the next was
// started), and no later file is deleted.
func TestBlockStoreDamageBeforeLaterFileRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, raw []byte) (int64, string)
	}{
		{"cut short", func(t *testing.T, path string, raw []byte) (int64, string) {
			offs := recordStarts(t, raw)
			os.WriteFile(path, raw[:len(raw)-10], 0o644)
			return offs[len(offs)-1], "declares"
		}},
		{"checksum mismatch", func(t *testing.T, path string, raw []byte) (int64, string) {
			offs := recordStarts(t, raw)
			raw[len(raw)-1] ^= 0xff
			os.WriteFile(path, raw, 0o644)
			return offs[len(offs)-1], "checksum mismatch"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			blocks := makeChain(8)
			s := openStore(t, dir, 600)
			appendAll(t, s, blocks)
			s.Close()
			nums, _ := listBlockFiles(dir)
			if len(nums) < 3 {
				t.Fatalf("%d block files, want several", len(nums))
			}
			first := blockFileName(dir, nums[0])
			raw, _ := os.ReadFile(first)
			off, reason := tc.damage(t, first, raw)
			os.RemoveAll(filepath.Join(dir, "index"))
			before := snapshotFiles(t, dir)

			_, err := OpenBlockStoreWithOptions(dir, BlockStoreOptions{MaxFileSize: 600, Logger: quietLog})
			wantBlockCorrupt(t, err, first, off, reason)
			if !strings.Contains(err.Error(), "later block file") {
				t.Fatalf("error %q does not name the later file", err)
			}
			after := snapshotFiles(t, dir)
			if len(after) != len(before) {
				t.Fatalf("%d block files after a refused open, want %d", len(after), len(before))
			}
			for p, b := range before {
				if !bytes.Equal(after[p], b) {
					t.Fatalf("%s changed by a refused open", p)
				}
			}
		})
	}
}

// The index is ahead of damaged files (its last block does not read back):
// recovery checks the files before rebuilding the index, and a damaged
// record that later records follow is refused without touching the index.
func TestBlockStoreIndexAheadOfCorruptFilesRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	blocks := makeChain(6)
	s := openStore(t, dir, 0)
	appendAll(t, s, blocks)
	s.Close()
	path := lastBlockFile(t, dir)
	raw, _ := os.ReadFile(path)
	offs := recordStarts(t, raw)
	raw[offs[1]+recordHeaderSize+30] ^= 0x01 // block 1: intact ones follow
	raw[len(raw)-1] ^= 0x01                  // block 5, the last indexed one
	os.WriteFile(path, raw, 0o644)

	_, err := OpenBlockStoreWithOptions(dir, BlockStoreOptions{Logger: quietLog})
	wantBlockCorrupt(t, err, path, offs[1], "checksum mismatch")
	if _, err := os.Stat(filepath.Join(dir, "index")); err != nil {
		t.Fatalf("index removed by a refused open: %v", err)
	}
}

// A torn tail — the last record of the last file cut short or failing its
// checksum with nothing after it — is truncated and the blocks before it
// stay; the same block can then be appended again. (The index is removed,
// so recovery reads every record.)
func TestBlockStoreTornTailTruncated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(raw []byte) []byte
	}{
		{"declared length runs past EOF", func(raw []byte) []byte { return raw[:len(raw)-7] }},
		{"last record fails its checksum", func(raw []byte) []byte { raw[len(raw)-3] ^= 0x20; return raw }},
		{"zeros after the last record", func(raw []byte) []byte { return append(raw, make([]byte, 512)...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			blocks := makeChain(5)
			s := openStore(t, dir, 0)
			appendAll(t, s, blocks)
			s.Close()
			path := lastBlockFile(t, dir)
			raw, _ := os.ReadFile(path)
			offs := recordStarts(t, raw)
			os.WriteFile(path, tc.damage(raw), 0o644)
			os.RemoveAll(filepath.Join(dir, "index"))

			s = openStore(t, dir, 0)
			want := blocks[:4]
			size := offs[4]
			if tc.name == "zeros after the last record" {
				want, size = blocks, int64(len(raw))
			}
			checkReadable(t, s, want)
			if fi, _ := os.Stat(path); fi.Size() != size {
				t.Fatalf("block file is %d bytes after recovery, want %d", fi.Size(), size)
			}
			appendAll(t, s, blocks[len(want):])
			checkReadable(t, s, blocks)
			s.Close()
		})
	}
}

func TestBlockStoreMissingFileRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir, 600)
	appendAll(t, s, makeChain(8))
	s.Close()
	if err := os.Remove(blockFileName(dir, 1)); err != nil {
		t.Fatal(err)
	}
	_, err := OpenBlockStoreWithOptions(dir, BlockStoreOptions{MaxFileSize: 600, Logger: quietLog})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "blockfile_000001 is missing") {
		t.Fatalf("open = %v, want the missing file named", err)
	}
}
