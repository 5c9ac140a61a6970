package lifecycle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// fuzzPackage builds a gzipped tar of (name, body) entries; extra, when not
// empty, is one more regular file named extra.
func fuzzPackage(meta []byte, code bool, extra string) ([]byte, bool) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(name string, body []byte) bool {
		if tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}) != nil {
			return false
		}
		_, err := tw.Write(body)
		return err == nil
	}
	if meta != nil && !add("metadata.json", meta) {
		return nil, false
	}
	if code && !add("code.tar.gz", []byte("\x1f\x8b code")) {
		return nil, false
	}
	if extra != "" && !add(extra, []byte("x")) {
		return nil, false
	}
	if tw.Close() != nil || zw.Close() != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

// tarNames lists the entry names of a gzipped tar; ok is false when it
// does not read to the end.
func tarNames(pkg []byte) (names []string, ok bool) {
	zr, err := gzip.NewReader(bytes.NewReader(pkg))
	if err != nil {
		return nil, false
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, true
		}
		if err != nil {
			return names, false
		}
		names = append(names, hdr.Name)
	}
}

// FuzzLifecycleParsePackage parses chaincode install packages as the peer's
// _lifecycle InstallChaincode receives them from an admin: built from a
// fuzzed metadata.json, with or without code.tar.gz and an extra entry
// (mode bits 0 and 1 clear), a fuzzed tar gzipped by the harness (bit 0),
// or fuzzed bytes as they are (bit 1). An accepted package must hold
// exactly metadata.json and code.tar.gz, a label Fabric accepts and a
// type, give a package ID the package store can file it under, and parse
// again to the same metadata when rebuilt from it; a refused one returns
// no metadata.
func FuzzLifecycleParsePackage(f *testing.F) {
	f.Add([]byte(`{"type":"golang","label":"basic_1.0","path":"github.com/x/basic"}`), "", uint8(0))
	f.Add([]byte(`{"type":"ccaas","label":"basic_1.0"}`), "", uint8(0))
	f.Add([]byte(`{"type":"ccaas","label":"bad:label"}`), "", uint8(0))
	f.Add([]byte(`{"type":"","label":"x"}`), "", uint8(0))
	f.Add([]byte(`{"type":"golang","label":"x"}`), "src/main.go", uint8(0))
	f.Add([]byte(`{"type":"golang","label":"x"}`), "metadata.json", uint8(0))
	f.Add([]byte(`{"type":"golang","label":"x"}`), "", uint8(4)) // no code.tar.gz
	f.Add([]byte(`not json`), "", uint8(0))
	if raw, ok := fuzzPackage([]byte(`{"type":"golang","label":"x"}`), true, ""); ok {
		f.Add(raw, "", uint8(2))
		zr, _ := gzip.NewReader(bytes.NewReader(raw))
		tarBytes, _ := io.ReadAll(zr)
		f.Add(tarBytes, "", uint8(1))
	}
	f.Add([]byte{0x1f, 0x8b}, "", uint8(2))

	store := &packageStore{dir: f.TempDir()}
	f.Fuzz(func(t *testing.T, data []byte, extra string, mode uint8) {
		var raw []byte
		switch {
		case mode&1 != 0:
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(data)
			zw.Close()
			raw = buf.Bytes()
		case mode&2 != 0:
			raw = data
		default:
			var ok bool
			if raw, ok = fuzzPackage(data, mode&4 == 0, extra); !ok {
				return
			}
		}
		md, err := ParsePackage(raw)
		if err != nil {
			if md != nil {
				t.Fatal("ParsePackage returned metadata with its error")
			}
			return
		}
		names, ok := tarNames(raw)
		meta, code := 0, 0
		for _, n := range names {
			switch n {
			case "metadata.json":
				meta++
			case "code.tar.gz":
				code++
			default:
				t.Fatalf("accepted a package holding %q", n)
			}
		}
		if !ok || meta == 0 || code == 0 {
			t.Fatalf("accepted a package with entries %q (reads to the end: %t)", names, ok)
		}
		if !labelRegexp.MatchString(md.Label) || md.Type == "" {
			t.Fatalf("accepted metadata %+v", md)
		}
		if _, err := store.path(PackageID(md.Label, raw)); err != nil {
			t.Fatalf("the package ID of an accepted package is refused by the store: %v", err)
		}
		again, err := json.Marshal(md)
		if err != nil {
			t.Fatal(err)
		}
		rebuilt, ok := fuzzPackage(again, true, "")
		if !ok {
			t.Fatal("cannot rebuild the package")
		}
		md2, err := ParsePackage(rebuilt)
		if err != nil || *md2 != *md {
			t.Fatalf("rebuilt from %+v, the package parses to %+v, %v", md, md2, err)
		}
	})
}
