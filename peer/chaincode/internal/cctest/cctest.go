package cctest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"maps"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/msp"
)

// TarGz returns a tar.gz of files (path to contents), in path order.
func TarGz(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
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

// WritePackage installs a chaincode package of type typ built from files
// (code.tar.gz paths) into dir, as <packageID>.tar.gz, and returns its
// package ID.
func WritePackage(t testing.TB, dir, typ, label string, files map[string][]byte) string {
	t.Helper()
	meta, err := json.Marshal(map[string]string{"type": typ, "label": label, "path": "."})
	if err != nil {
		t.Fatal(err)
	}
	pkg := TarGz(t, map[string][]byte{"metadata.json": meta, "code.tar.gz": TarGz(t, files)})
	sum := sha256.Sum256(pkg)
	id := label + ":" + hex.EncodeToString(sum[:])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, id+".tar.gz"), pkg, 0o644); err != nil {
		t.Fatal(err)
	}
	return id
}

// Signer returns a throwaway self-signed identity of mspID.
func Signer(t testing.TB, mspID string) *msp.SigningIdentity {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "user1", Organization: []string{mspID}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &msp.SigningIdentity{Identity: msp.NewIdentity(mspID, cert), Key: key}
}

// Logger returns a logger that writes records of level and above to the
// test's log.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// FreeAddr returns a loopback address nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// StartService runs bin as a chaincode server at addr for packageID (with
// only CHAINCODE_SERVER_ADDRESS, CHAINCODE_ID and env in its environment)
// until the test ends; its output is logged if the test failed.
func StartService(t testing.TB, bin, addr, packageID string, env ...string) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"CHAINCODE_SERVER_ADDRESS=" + addr, "CHAINCODE_ID=" + packageID}, env...)
	var out bytes.Buffer // read only after Wait, when the copying has ended
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("chaincode server output:\n%s", out.String())
		}
	})
}

// Registrar is the peer side that chaincode registers with: a runtime's
// ChaincodeSupport service, closed when the test ends.
type Registrar interface {
	pb.ChaincodeSupportServer
	Close()
}

// ServeRegister serves rt's ChaincodeSupport on 127.0.0.1:0 (with opts,
// such as the chaincode CA's credentials) until the test ends, then closes
// rt; it returns the address chaincode dials.
func ServeRegister(t testing.TB, rt Registrar, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterChaincodeSupportServer(srv, rt)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() {
		rt.Close()
		srv.Stop()
	})
	return lis.Addr().String()
}
