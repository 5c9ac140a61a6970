package chaincode

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

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

// mustCA returns a new chaincode CA.
func mustCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// serveWithCA serves rt's Register on loopback as the peer's chaincode
// listener does with TLS on: mutual TLS with ca only, the listener's
// certificate issued for 127.0.0.1. Refused handshakes are logged to log.
func serveWithCA(t *testing.T, rt *Runtime, ca *CA, log *slog.Logger) string {
	t.Helper()
	creds, err := ca.ServerCredentials(log, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return cctest.ServeRegister(t, rt, grpc.Creds(creds))
}

// The official shim, launched by the peer with TLS on, registers over mutual
// TLS with the client certificate issued for its launch.
func TestPeerLaunchedOverMutualTLS(t *testing.T) {
	ca := mustCA(t)
	pkgDir := filepath.Join(workDir, "packages")
	id := cctest.WritePackage(t, pkgDir, "golang", "testcc_1", testCCSource(t))
	l := &PackageLauncher{PackageDir: pkgDir, BuildDir: filepath.Join(workDir, "build"), Env: launcherEnv, Logger: testLogger(t)}
	rt := NewRuntime(Config{Logger: testLogger(t), CA: ca}, l)
	l.PeerAddress = serveWithCA(t, rt, ca, testLogger(t))

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

	// A server whose certificate root_cert does not vouch for is not
	// trusted, and the error says why.
	_ = json.Unmarshal(conn, &ci)
	ci["root_cert"] = string(newTestCA(t).certPEM)
	ci["dial_timeout"] = "2s"
	conn3, _ := json.Marshal(ci)
	id3 := cctest.WritePackage(t, pkgDir, "ccaas", "svcuntrusted_1", map[string][]byte{"connection.json": conn3})
	txc, in = newTx(t, cctest.Signer(t, "Org1MSP"), "svc", newFakeSim(nil), nil, "put", "a", "1")
	_, _, err = rt.Execute(ctx, id3, txc, in)
	if err == nil || !strings.Contains(err.Error(), id3) || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("untrusted server: err = %v, want a failure naming %s and the unknown authority", err, id3)
	}
}

// tls_required needs root_cert, and client_auth_required the client key
// pair, as in Fabric.
func TestConnectionInfoTLSNeedsItsMaterial(t *testing.T) {
	ca := newTestCA(t)
	cert, key := ca.issue(t, "peer0")
	for _, tt := range []struct {
		name string
		ci   ConnectionInfo
		want string
	}{
		{"no root_cert", ConnectionInfo{Address: "cc:9999", TLSRequired: true}, "root_cert is empty"},
		{"root_cert not PEM", ConnectionInfo{Address: "cc:9999", TLSRequired: true, RootCert: "x"}, "root_cert holds no PEM"},
		{"no client key", ConnectionInfo{Address: "cc:9999", TLSRequired: true, RootCert: string(ca.certPEM), ClientAuthRequired: true, ClientCert: string(cert)}, "client_cert or client_key is empty"},
	} {
		if _, err := tt.ci.tlsConfig(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	ci := ConnectionInfo{Address: "10.0.0.1:9999", Domain: "cc.example.com", TLSRequired: true, RootCert: string(ca.certPEM), ClientAuthRequired: true, ClientCert: string(cert), ClientKey: string(key)}
	tc, err := ci.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	if tc.ServerName != "cc.example.com" || len(tc.Certificates) != 1 {
		t.Fatalf("server name %q, %d client certificates", tc.ServerName, len(tc.Certificates))
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
