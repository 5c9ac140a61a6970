package chaincode

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
)

// testCA issues TLS certificates for 127.0.0.1.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns PEM certificate and key valid for server and client auth on 127.0.0.1.
func (ca *testCA) issue(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPeerLaunchedOverMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	srvCert, srvKey := ca.issue(t, "peer0")
	cliCert, cliKey := ca.issue(t, "chaincode")
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{"ca.pem": ca.certPEM, "client.pem": cliCert, "client.key": cliKey})

	kp, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{kp}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12})

	pkgDir := filepath.Join(workDir, "packages")
	id := cctest.WritePackage(t, pkgDir, "golang", "testcc_1", testCCSource(t))
	l := &PackageLauncher{
		PackageDir: pkgDir, BuildDir: filepath.Join(workDir, "build"), Env: launcherEnv, Logger: testLogger(t),
		TLS: &LaunchTLS{RootCertFile: filepath.Join(dir, "ca.pem"), ClientCertFile: filepath.Join(dir, "client.pem"), ClientKeyFile: filepath.Join(dir, "client.key")},
	}
	rt := NewRuntime(Config{Logger: testLogger(t)}, l)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(creds))
	pb.RegisterChaincodeSupportServer(srv, rt)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { rt.Close(); srv.Stop() })
	l.PeerAddress = lis.Addr().String()

	resp := mustOK(t)(invoke(t, rt, id, newFakeSim(map[string][]byte{"testcc\x00k": []byte("tls")}), "get", "k"))
	if string(resp.Payload) != "tls" {
		t.Fatalf("get over TLS = %q", resp.Payload)
	}
}

func TestChaincodeAsAServiceOverMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	srvCert, srvKey := ca.issue(t, "chaincode-server")
	cliCert, cliKey := ca.issue(t, "peer0")
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{"ca.pem": ca.certPEM, "server.pem": srvCert, "server.key": srvKey})
	bin := buildTestCC(t)

	addr := cctest.FreeAddr(t)
	conn, _ := json.Marshal(map[string]any{
		"address": addr, "dial_timeout": "20s", "tls_required": true, "client_auth_required": true,
		"client_key": string(cliKey), "client_cert": string(cliCert), "root_cert": string(ca.certPEM),
	})
	pkgDir := t.TempDir()
	id := cctest.WritePackage(t, pkgDir, "ccaas", "svctls_1", map[string][]byte{"connection.json": conn})
	cctest.StartService(t, bin, addr, id,
		"CHAINCODE_TLS_CERT_FILE="+filepath.Join(dir, "server.pem"),
		"CHAINCODE_TLS_KEY_FILE="+filepath.Join(dir, "server.key"),
		"CHAINCODE_TLS_CLIENT_CA_FILE="+filepath.Join(dir, "ca.pem"))

	rt := NewRuntime(Config{Logger: testLogger(t)}, &PackageLauncher{PackageDir: pkgDir})
	t.Cleanup(rt.Close)
	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "svc", newFakeSim(nil), nil, "put", "a", "1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustOK(t)(rt.Execute(ctx, id, txc, in))

	// Without the client certificate the service refuses the peer.
	var ci map[string]any
	_ = json.Unmarshal(conn, &ci)
	ci["client_auth_required"] = false
	ci["dial_timeout"] = "1s"
	conn2, _ := json.Marshal(ci)
	id2 := cctest.WritePackage(t, pkgDir, "ccaas", "svcnocert_1", map[string][]byte{"connection.json": conn2})
	txc, in = newTx(t, cctest.Signer(t, "Org1MSP"), "svc", newFakeSim(nil), nil, "put", "a", "1")
	_, _, err := rt.Execute(ctx, id2, txc, in)
	if err == nil || !strings.Contains(err.Error(), id2) {
		t.Fatalf("without a client certificate: err = %v, want a failure naming %s", err, id2)
	}
}

// buildTestCC returns the binary of the test chaincode (built once per run).
func buildTestCC(t *testing.T) string {
	t.Helper()
	pkgDir := filepath.Join(workDir, "packages")
	id := cctest.WritePackage(t, pkgDir, "golang", "testcc_1", testCCSource(t))
	raw, err := os.ReadFile(filepath.Join(pkgDir, id+".tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := ParsePackage(raw)
	if err != nil {
		t.Fatal(err)
	}
	l := &PackageLauncher{BuildDir: filepath.Join(workDir, "build"), Env: launcherEnv, Logger: testLogger(t)}
	bin, err := l.build(context.Background(), id, pkg)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
