package client

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"regexp"
	"testing"
	"time"
)

type tarEntry struct {
	name    string
	mode    int64
	modTime time.Time
	body    []byte
}

// untar lists the entries of a tar.gz in archive order.
func untar(t *testing.T, raw []byte) []tarEntry {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	var out []tarEntry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("not tar: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			t.Fatalf("entry %s has type %c, want a regular file", hdr.Name, hdr.Typeflag)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{hdr.Name, hdr.Mode, hdr.ModTime, body})
	}
}

func TestTarGzDeterministic(t *testing.T) {
	t.Parallel()
	files := func() map[string][]byte {
		m := map[string][]byte{}
		// Insert in a different order each call; map order must not matter.
		for _, n := range []string{"src/z.go", "src/a.go", "go.mod", "src/sub/m.go", "empty"} {
			m[n] = []byte("content of " + n)
		}
		m["empty"] = nil
		return m
	}
	a, err := TarGz(files())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		b, err := TarGz(files())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("TarGz gave different bytes on call %d for the same files", i+2)
		}
	}
	entries := untar(t, a)
	wantOrder := []string{"empty", "go.mod", "src/a.go", "src/sub/m.go", "src/z.go"}
	if len(entries) != len(wantOrder) {
		t.Fatalf("archive holds %d entries, want %d", len(entries), len(wantOrder))
	}
	for i, e := range entries {
		if e.name != wantOrder[i] {
			t.Errorf("entry %d is %s, want %s (sorted)", i, e.name, wantOrder[i])
		}
		if e.mode != 0o644 || !e.modTime.Equal(time.Unix(0, 0)) {
			t.Errorf("entry %s has mode %o, time %s; want 644 and the epoch", e.name, e.mode, e.modTime)
		}
		if want := files()[e.name]; !bytes.Equal(e.body, want) {
			t.Errorf("entry %s holds %q, want %q", e.name, e.body, want)
		}
	}
	empty, err := TarGz(nil)
	if err != nil || len(untar(t, empty)) != 0 {
		t.Fatalf("TarGz(nil) = %d bytes, %v; want an empty archive", len(empty), err)
	}
}

func TestCCaaSPackage(t *testing.T) {
	t.Parallel()
	conn := ConnectionJSON{Address: "basic.example.com:9999", DialTimeout: "10s", TLSRequired: true, RootCert: "-----BEGIN CERTIFICATE-----\n..."}
	a, err := CCaaSPackage("basic_1.0", conn)
	if err != nil {
		t.Fatal(err)
	}
	b, err := CCaaSPackage("basic_1.0", conn)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || PackageID("basic_1.0", a) != PackageID("basic_1.0", b) {
		t.Fatal("the same label and connection gave different packages")
	}
	other := conn
	other.Address = "basic.example.com:9998"
	c, err := CCaaSPackage("basic_1.0", other)
	if err != nil {
		t.Fatal(err)
	}
	if PackageID("basic_1.0", c) == PackageID("basic_1.0", a) {
		t.Fatal("a different address gave the same package ID")
	}

	// Fabric's layout: metadata.json and code.tar.gz holding connection.json.
	outer := untar(t, a)
	if len(outer) != 2 || outer[0].name != "code.tar.gz" || outer[1].name != "metadata.json" {
		t.Fatalf("package entries = %v, want code.tar.gz and metadata.json", outer)
	}
	var md map[string]string
	if err := json.Unmarshal(outer[1].body, &md); err != nil {
		t.Fatal(err)
	}
	if md["type"] != "ccaas" || md["label"] != "basic_1.0" {
		t.Fatalf("metadata.json = %v", md)
	}
	inner := untar(t, outer[0].body)
	if len(inner) != 1 || inner[0].name != "connection.json" {
		t.Fatalf("code.tar.gz entries = %v, want connection.json", inner)
	}
	var got map[string]any
	if err := json.Unmarshal(inner[0].body, &got); err != nil {
		t.Fatal(err)
	}
	if got["address"] != conn.Address || got["dial_timeout"] != "10s" || got["tls_required"] != true || got["root_cert"] != conn.RootCert {
		t.Fatalf("connection.json = %v", got)
	}
	if _, ok := got["client_key"]; ok {
		t.Error("connection.json carries an empty client_key; it should be omitted")
	}
}

func TestPackageID(t *testing.T) {
	t.Parallel()
	format := regexp.MustCompile(`^basic_1\.0:[0-9a-f]{64}$`)
	for _, pkg := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte{0xff}, 1<<16)} {
		id := PackageID("basic_1.0", pkg)
		if !format.MatchString(id) {
			t.Fatalf("PackageID = %q, want label:64 lower-case hex digits", id)
		}
		sum := sha256.Sum256(pkg)
		if id != "basic_1.0:"+hex.EncodeToString(sum[:]) {
			t.Fatalf("PackageID = %q, want the label and SHA-256 of the package", id)
		}
	}
	if PackageID("a", []byte("x")) == PackageID("b", []byte("x")) {
		t.Fatal("the label is not part of the package ID")
	}
}
