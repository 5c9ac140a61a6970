package chaincode

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePackageAndConnection(t *testing.T) {
	conn, _ := json.Marshal(map[string]any{"address": "cc.example.com:9999", "dial_timeout": "3s", "tls_required": true, "root_cert": "PEM"})
	meta, _ := json.Marshal(map[string]string{"type": "CCAAS", "label": "svc_1"})
	raw := tarGz(t, map[string][]byte{"metadata.json": meta, "code.tar.gz": tarGz(t, map[string][]byte{"connection.json": conn})})
	pkg, err := ParsePackage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Type != "ccaas" || pkg.Label != "svc_1" {
		t.Fatalf("package = %+v", pkg)
	}
	ci, err := pkg.Connection()
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := ci.Timeout(); ci.Address != "cc.example.com:9999" || !ci.TLSRequired || ci.RootCert != "PEM" || d.String() != "3s" {
		t.Fatalf("connection = %+v", ci)
	}

	for name, files := range map[string]map[string][]byte{
		"no metadata.json": {"code.tar.gz": tarGz(t, nil)},
		"no code.tar.gz":   {"metadata.json": meta},
		"no type":          {"metadata.json": []byte(`{"label":"x"}`), "code.tar.gz": tarGz(t, nil)},
	} {
		if _, err := ParsePackage(tarGz(t, files)); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(name, "no ")) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := ParsePackage([]byte("not gzip")); err == nil {
		t.Error("garbage parsed as a package")
	}
}

func TestExtractRefusesEscapingPaths(t *testing.T) {
	dir := t.TempDir()
	err := extractTarGz(tarGz(t, map[string][]byte{"src/ok.go": []byte("x"), "../evil": []byte("x")}), filepath.Join(dir, "out"))
	if err == nil || !strings.Contains(err.Error(), "escapes") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
		t.Fatal("a file was written outside the extraction folder")
	}
}

func FuzzParsePackage(f *testing.F) {
	t := &testing.T{}
	meta, _ := json.Marshal(map[string]string{"type": "golang", "label": "x"})
	f.Add(tarGz(t, map[string][]byte{"metadata.json": meta, "code.tar.gz": tarGz(t, map[string][]byte{"connection.json": []byte(`{"address":"a:1"}`)})}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		pkg, err := ParsePackage(raw)
		if err != nil {
			return
		}
		_, _ = pkg.Connection()
	})
}
