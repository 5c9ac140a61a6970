package ccpackage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// headerOnly is a tar.gz holding the header of hdr and none of its data: an
// archive whose header declares a size it never delivers.
func headerOnly(t *testing.T, hdr *tar.Header) []byte {
	t.Helper()
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dirSize is the total size of the files under dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func wantLimit(t *testing.T, err error, entry, key string, max int64) {
	t.Helper()
	var le *LimitError
	if !errors.As(err, &le) || le.Entry != entry || le.Limit != key || le.Max != max {
		t.Fatalf("err = %v, want a *LimitError at entry %q for %s = %d", err, entry, key, max)
	}
	for _, w := range []string{fmt.Sprintf("%q", entry), key, fmt.Sprint(max)} {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not name %s", err, w)
		}
	}
}

// A header declaring a terabyte is refused before a byte is read or written,
// with the default limits.
func TestDeclaredSizeBombRefused(t *testing.T) {
	raw := headerOnly(t, &tar.Header{Name: "src/huge.bin", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 40})
	dir := t.TempDir()
	err := Extract(raw, dir)
	wantLimit(t, err, "src/huge.bin", KeyMaxBytes, DefaultLimits.MaxBytes)
	if _, serr := os.Stat(filepath.Join(dir, "src", "huge.bin")); serr == nil {
		t.Fatal("the refused file was created")
	}
	wantLimit(t, DefaultLimits.Check(raw), "src/huge.bin", KeyMaxBytes, DefaultLimits.MaxBytes)
	_, rerr := ReadFiles(raw, "src/huge.bin")
	wantLimit(t, rerr, "src/huge.bin", KeyMaxBytes, DefaultLimits.MaxBytes)
}

// A compression bomb (files of zeros that compress a thousandfold) stops at
// the file that would take the archive over the limit: nothing of that file
// is written, and no more than the limit is ever on disk.
func TestCompressionBombRefusedBeforeFillingDisk(t *testing.T) {
	const limit = 512 << 10
	var entries []*tar.Header
	for i := range 20 {
		entries = append(entries, &tar.Header{Name: fmt.Sprintf("src/zeros%02d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: 64 << 10})
	}
	raw := tarGzZeros(t, entries...)
	if len(raw) > 32<<10 {
		t.Fatalf("the bomb is %d bytes compressed: not much of a bomb", len(raw))
	}
	dir := t.TempDir()
	err := Limits{MaxBytes: limit}.Extract(raw, dir)
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != KeyMaxBytes || !strings.HasPrefix(le.Entry, "src/zeros") {
		t.Fatalf("err = %v, want the size limit named at one of the files", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, filepath.FromSlash(le.Entry))); serr == nil {
		t.Fatalf("%s, the file over the limit, was created", le.Entry)
	}
	if n := dirSize(t, dir); n > limit {
		t.Fatalf("%d bytes written, over the %d-byte limit", n, limit)
	}
}

// tarGzZeros is a tar.gz of entries whose data are zeros.
func tarGzZeros(t *testing.T, entries ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, hdr := range entries {
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(make([]byte, hdr.Size)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Too many entries (a bomb of millions, scaled down): refused at the first
// one over the limit.
func TestEntryCountBombRefused(t *testing.T) {
	var entries []*tar.Header
	for i := range 101 {
		entries = append(entries, &tar.Header{Name: fmt.Sprintf("f%d", i), Typeflag: tar.TypeReg, Mode: 0o644})
	}
	raw := tarGz(t, entries...)
	wantLimit(t, Limits{MaxEntries: 100}.Extract(raw, t.TempDir()), "f100", KeyMaxEntries, 100)
	wantLimit(t, Limits{MaxEntries: 100}.Check(raw), "f100", KeyMaxEntries, 100)
	if err := (Limits{MaxEntries: 101}).Check(raw); err != nil {
		t.Fatalf("101 entries within a limit of 101: %v", err)
	}
}

// A path deeper than the default limit is refused, naming it.
func TestDeepPathRefused(t *testing.T) {
	name := strings.Repeat("d/", DefaultLimits.MaxPathDepth) + "f"
	raw := tarGz(t, &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	wantLimit(t, Extract(raw, t.TempDir()), name, KeyMaxPathDepth, int64(DefaultLimits.MaxPathDepth))
	ok := strings.Repeat("d/", DefaultLimits.MaxPathDepth-1) + "f"
	if err := Extract(tarGz(t, &tar.Header{Name: ok, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}), t.TempDir()); err != nil {
		t.Fatalf("a path at the depth limit: %v", err)
	}
}

// Entries that would leave the folder, and links of either kind, are refused
// naming the entry, by Extract and by Check alike, and nothing lands outside.
func TestTraversalAndLinksRefused(t *testing.T) {
	for name, hdr := range map[string]*tar.Header{
		"dot-dot":          {Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		"dot-dot inside":   {Name: "src/../../evil", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		"absolute":         {Name: "/tmp/evil", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		"symlink out":      {Name: "src/link", Typeflag: tar.TypeSymlink, Linkname: "../../../etc"},
		"hard link out":    {Name: "src/hard", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"},
		"hard link inside": {Name: "src/hard", Typeflag: tar.TypeLink, Linkname: "src/main.go"},
		"device":           {Name: "src/dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
		"fifo":             {Name: "src/fifo", Typeflag: tar.TypeFifo},
	} {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			out := filepath.Join(base, "out")
			raw := tarGz(t, &tar.Header{Name: "src/main.go", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, hdr)
			for _, err := range []error{Limits{}.Extract(raw, out), Limits{}.Check(raw)} {
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", hdr.Name)) {
					t.Fatalf("err = %v, want an error naming %q", err, hdr.Name)
				}
			}
			_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
				if p != base && p != out && !strings.HasPrefix(p, out+string(filepath.Separator)) {
					t.Fatalf("%s written outside %s", p, out)
				}
				if err == nil && d.Type()&fs.ModeSymlink != 0 {
					t.Fatalf("symbolic link %s written", p)
				}
				return nil
			})
		})
	}
}

// A file read into memory is refused past its own cap, never truncated.
func TestReadFilesRefusesHugeFile(t *testing.T) {
	raw := headerOnly(t, &tar.Header{Name: "metadata.json", Typeflag: tar.TypeReg, Mode: 0o644, Size: maxReadSize + 1})
	_, _, err := Split(raw)
	if err == nil || !strings.Contains(err.Error(), "metadata.json") || !strings.Contains(err.Error(), fmt.Sprint(maxReadSize)) {
		t.Fatalf("Split = %v, want metadata.json refused naming the cap", err)
	}
}
