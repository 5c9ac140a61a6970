package lifecycle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"strings"
	"testing"

	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"

	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
)

// declaredOnly is a tar.gz holding only the header of hdr: it declares data
// it never delivers.
func declaredOnly(t *testing.T, hdr *tar.Header) []byte {
	t.Helper()
	var tarBuf, buf bytes.Buffer
	if err := tar.NewWriter(&tarBuf).WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// InstallChaincode walks code.tar.gz as the peer will extract it: a bomb, a
// path leaving the folder or a link is refused at install, naming the entry
// (and, for a limit, its configuration key), and nothing is installed.
func TestInstallRefusesBombsAndTraversal(t *testing.T) {
	p := newTestPeer(t, "Org1MSP", twoOrgChannel())
	p.lc.limits = ccpackage.Limits{MaxEntries: 10}
	meta := `{"type":"golang","label":"evil_1"}`
	var many bytes.Buffer
	{
		zw := gzip.NewWriter(&many)
		tw := tar.NewWriter(zw)
		for i := range 11 {
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("src/f%d", i), Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
				t.Fatal(err)
			}
		}
		if tw.Close() != nil || zw.Close() != nil {
			t.Fatal("close")
		}
	}
	for name, c := range map[string]struct {
		code string
		want []string
	}{
		"declared terabyte": {string(declaredOnly(t, &tar.Header{Name: "src/huge", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 40})),
			[]string{`"src/huge"`, ccpackage.KeyMaxBytes, fmt.Sprint(ccpackage.DefaultLimits.MaxBytes)}},
		"too many entries": {many.String(), []string{`"src/f10"`, ccpackage.KeyMaxEntries, "(" + ccpackage.KeyMaxEntries + ")", "limit of 10 entries"}},
		"dot-dot":          {string(makeTarGz(t, &tar.Header{Name: "src/../../evil", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, []byte("x"))), []string{`"src/../../evil"`, "escapes"}},
		"absolute":         {string(makeTarGz(t, &tar.Header{Name: "/etc/cron.d/evil", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, []byte("x"))), []string{`"/etc/cron.d/evil"`, "escapes"}},
		"symlink":          {string(makeTarGz(t, &tar.Header{Name: "src/l", Typeflag: tar.TypeSymlink, Linkname: "/etc"}, nil)), []string{`"src/l"`, "not a regular file"}},
		"hard link":        {string(makeTarGz(t, &tar.Header{Name: "src/h", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}, nil)), []string{`"src/h"`, "not a regular file"}},
	} {
		t.Run(name, func(t *testing.T) {
			pkg := makePackage(t, map[string]string{"metadata.json": meta, "code.tar.gz": c.code})
			resp := p.lc.Call(context.Background(), &Invocation{Creator: p.admin}, input(FuncInstallChaincode, &lb.InstallChaincodeArgs{ChaincodeInstallPackage: pkg}))
			if resp.Status != 500 {
				t.Fatalf("install = %d %q, want it refused", resp.Status, resp.Message)
			}
			for _, w := range c.want {
				if !strings.Contains(resp.Message, w) {
					t.Errorf("refusal %q does not mention %s", resp.Message, w)
				}
			}
		})
	}
	if list, err := p.lc.store.list(); err != nil || len(list) != 0 {
		t.Fatalf("installed packages after the refusals: %v, %v", list, err)
	}
}
