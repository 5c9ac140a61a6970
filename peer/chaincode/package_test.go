package chaincode

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
)

func TestParsePackageAndConnection(t *testing.T) {
	conn, _ := json.Marshal(map[string]any{"address": "cc.example.com:9999", "dial_timeout": "3s", "tls_required": true, "root_cert": "PEM"})
	meta, _ := json.Marshal(map[string]string{"type": "CCAAS", "label": "svc_1"})
	raw := cctest.TarGz(t, map[string][]byte{"metadata.json": meta, "code.tar.gz": cctest.TarGz(t, map[string][]byte{"connection.json": conn})})
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
		"no metadata.json": {"code.tar.gz": cctest.TarGz(t, nil)},
		"no code.tar.gz":   {"metadata.json": meta},
		"no type":          {"metadata.json": []byte(`{"label":"x"}`), "code.tar.gz": cctest.TarGz(t, nil)},
	} {
		if _, err := ParsePackage(cctest.TarGz(t, files)); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(name, "no ")) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := ParsePackage([]byte("not gzip")); err == nil {
		t.Error("garbage parsed as a package")
	}
}

func FuzzParsePackage(f *testing.F) {
	t := &testing.T{}
	meta, _ := json.Marshal(map[string]string{"type": "golang", "label": "x"})
	f.Add(cctest.TarGz(t, map[string][]byte{"metadata.json": meta, "code.tar.gz": cctest.TarGz(t, map[string][]byte{"connection.json": []byte(`{"address":"a:1"}`)})}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		pkg, err := ParsePackage(raw)
		if err != nil {
			return
		}
		_, _ = pkg.Connection()
	})
}
