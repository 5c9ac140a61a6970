package ccpackage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tarGz(t *testing.T, entries ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, hdr := range entries {
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write(bytes.Repeat([]byte("x"), int(hdr.Size))); err != nil {
				t.Fatal(err)
			}
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

func TestExtract(t *testing.T) {
	dir := t.TempDir()
	raw := tarGz(t,
		// git archive starts with a pax global header (the commit id): skipped.
		&tar.Header{Name: "pax_global_header", Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "0123abcd"}},
		&tar.Header{Name: "./src/", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "src/main.go", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3},
		&tar.Header{Name: "bin/run", Typeflag: tar.TypeReg, Mode: 0o755, Size: 1},
	)
	if err := Extract(raw, dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "src", "main.go")); err != nil || string(b) != "xxx" {
		t.Fatalf("src/main.go = %q, %v", b, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "bin", "run"))
	if err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Fatalf("bin/run lost its executable bit: %v %v", fi, err)
	}
}

func TestExtractRefuses(t *testing.T) {
	for name, hdr := range map[string]*tar.Header{
		"escape":   {Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644},
		"absolute": {Name: "/evil", Typeflag: tar.TypeReg, Mode: 0o644},
		"symlink":  {Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			err := Extract(tarGz(t, hdr), filepath.Join(dir, "src"))
			if err == nil || !strings.Contains(err.Error(), hdr.Name) {
				t.Fatalf("extract = %v, want an error naming %q", err, hdr.Name)
			}
			if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
				t.Fatal("entry written outside the extraction folder")
			}
		})
	}
}

func TestSplit(t *testing.T) {
	md := &tar.Header{Name: "metadata.json", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2}
	code := &tar.Header{Name: "./code.tar.gz", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}
	if m, c, err := Split(tarGz(t, md, code)); err != nil || len(m) != 2 || len(c) != 1 {
		t.Fatalf("Split = %q, %q, %v", m, c, err)
	}
	for want, entries := range map[string][]*tar.Header{
		"metadata.json": {code},
		"code.tar.gz":   {md},
	} {
		if _, _, err := Split(tarGz(t, entries...)); err == nil || !strings.Contains(err.Error(), "no "+want) {
			t.Errorf("Split without %s: err = %v", want, err)
		}
	}
	if _, _, err := Split([]byte("not gzip")); err == nil || !strings.Contains(err.Error(), "gunzip") {
		t.Errorf("Split of garbage: err = %v", err)
	}
}
