package chaincode

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
)

// fuzzEntry is one entry of an archive built by a fuzz target.
type fuzzEntry struct {
	name string
	typ  byte
	body []byte
}

// fuzzTarGz builds a tar.gz of entries; ok is false when the tar writer
// refuses an entry (a name it cannot encode, say).
func fuzzTarGz(entries ...fuzzEntry) (raw []byte, ok bool) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if tw.WriteHeader(hdr) != nil {
			return nil, false
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				return nil, false
			}
		}
	}
	if tw.Close() != nil || zw.Close() != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

func gzipBytes(raw []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	return buf.Bytes()
}

// checkExtractStaysInside extracts code under a fresh folder and fails if
// anything appears outside it.
func checkExtractStaysInside(t *testing.T, code []byte) {
	t.Helper()
	base := t.TempDir()
	out := filepath.Join(base, "out")
	_ = ccpackage.Extract(code, out)
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != base && p != out && !strings.HasPrefix(p, out+string(filepath.Separator)) {
			t.Fatalf("extraction wrote %s outside %s", p, out)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			t.Fatalf("extraction created a symbolic link %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzParsePackageArchive builds well-formed packages from fuzzed
// metadata.json, connection.json and one extra code entry, so the fuzzer
// reaches the JSON decoding and extraction rather than gzip checksums.
func FuzzParsePackageArchive(f *testing.F) {
	f.Add([]byte(`{"type":"ccaas","label":"basic_1.0"}`), []byte(`{"address":"basic:9999","dial_timeout":"10s"}`), "src/main.go", byte(tar.TypeReg))
	f.Add([]byte(`{"type":"GOLANG","label":"x","path":"github.com/x"}`), []byte(`{}`), "../escape", byte(tar.TypeReg))
	f.Add([]byte(`{"type":""}`), []byte(`{"address":""}`), "/abs/path", byte(tar.TypeDir))
	f.Add([]byte(`not json`), []byte(`{"address":"a:1","dial_timeout":"forever"}`), "link", byte(tar.TypeSymlink))
	f.Add([]byte(`{"type":"ccaas"}`), []byte(`{"address":"a:1"}`), "./connection.json", byte(tar.TypeReg))
	f.Fuzz(func(t *testing.T, meta, conn []byte, extraName string, extraType byte) {
		code, ok := fuzzTarGz(fuzzEntry{"connection.json", tar.TypeReg, conn}, fuzzEntry{extraName, extraType, []byte("extra")})
		if !ok {
			return
		}
		raw, ok := fuzzTarGz(fuzzEntry{"metadata.json", tar.TypeReg, meta}, fuzzEntry{"code.tar.gz", tar.TypeReg, code})
		if !ok {
			return
		}
		checkExtractStaysInside(t, code)

		pkg, err := ParsePackage(raw)
		var md struct {
			Type  string `json:"type"`
			Label string `json:"label"`
			Path  string `json:"path"`
		}
		metaOK := json.Unmarshal(meta, &md) == nil && md.Type != ""
		if (err == nil) != metaOK {
			t.Fatalf("ParsePackage error %v for metadata.json %q (valid: %t)", err, meta, metaOK)
		}
		if err != nil {
			return
		}
		if pkg.Type != strings.ToLower(md.Type) || pkg.Label != md.Label || pkg.Path != md.Path || !bytes.Equal(pkg.Code, code) {
			t.Fatalf("package %+v does not match metadata.json %q", pkg, meta)
		}
		ci, err := pkg.Connection()
		if err != nil {
			return
		}
		if ci.Address == "" {
			t.Fatal("Connection accepted a connection.json without address")
		}
		// The extra entry may replace connection.json; otherwise the fuzzed one is what we read.
		if extraType != tar.TypeReg || path.Clean(strings.TrimPrefix(extraName, "./")) != "connection.json" {
			var want ConnectionInfo
			if json.Unmarshal(conn, &want) != nil || want != *ci {
				t.Fatalf("Connection = %+v, connection.json was %q", ci, conn)
			}
		}
		if d, err := ci.Timeout(); err == nil && ci.DialTimeout == "" && d <= 0 {
			t.Fatalf("default dial timeout %s", d)
		}
	})
}

// FuzzParsePackageTar gzips random bytes, so that the tar reader (and not
// the gzip checksum) sees them, and parses and extracts the result.
func FuzzParsePackageTar(f *testing.F) {
	if raw, ok := fuzzTarGz(fuzzEntry{"metadata.json", tar.TypeReg, []byte(`{"type":"golang","label":"x"}`)}, fuzzEntry{"code.tar.gz", tar.TypeReg, []byte("x")}); ok {
		var buf bytes.Buffer
		zr, _ := gzip.NewReader(bytes.NewReader(raw))
		_, _ = buf.ReadFrom(zr)
		f.Add(buf.Bytes())
	}
	if raw, ok := fuzzTarGz(fuzzEntry{"a/b/", tar.TypeDir, nil}, fuzzEntry{"a/b/../../../x", tar.TypeReg, []byte("x")}); ok {
		var buf bytes.Buffer
		zr, _ := gzip.NewReader(bytes.NewReader(raw))
		_, _ = buf.ReadFrom(zr)
		f.Add(buf.Bytes())
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, tarBytes []byte) {
		raw := gzipBytes(tarBytes)
		checkExtractStaysInside(t, raw)
		pkg, err := ParsePackage(raw)
		if err != nil {
			if pkg != nil {
				t.Fatal("ParsePackage returned a package with its error")
			}
			return
		}
		if pkg.Type == "" || pkg.Type != strings.ToLower(pkg.Type) {
			t.Fatalf("package type %q is empty or not lower case", pkg.Type)
		}
		if ci, err := pkg.Connection(); err == nil && ci.Address == "" {
			t.Fatal("Connection accepted a connection.json without address")
		}
	})
}
