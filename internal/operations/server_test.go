package operations

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
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func do(t *testing.T, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.ListenAddress = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.DiscardHandler)
	s := NewServer(cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	s := startServer(t, Config{CheckTimeout: 200 * time.Millisecond})
	base := "http://" + s.Addr()
	c := &http.Client{Timeout: 5 * time.Second}

	code, body := do(t, c, "GET", base+"/healthz", "")
	var st HealthStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 || st.Status != "OK" || st.Time.IsZero() || strings.Contains(body, "failed_checks") {
		t.Fatalf("/healthz with no checks = %d %s", code, body)
	}
	s.RegisterChecker("ledger", func(context.Context) error { return nil })
	s.RegisterChecker("docker", func(context.Context) error { return errors.New("cannot reach the docker daemon") })
	s.RegisterChecker("stuck", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	code, body = do(t, c, "GET", base+"/healthz", "")
	st = HealthStatus{}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if code != 503 || st.Status != "Service Unavailable" || len(st.FailedChecks) != 2 ||
		st.FailedChecks[0] != (FailedCheck{"docker", "cannot reach the docker daemon"}) || st.FailedChecks[1].Component != "stuck" {
		t.Fatalf("/healthz with failing checks = %d %s", code, body)
	}
	if !strings.Contains(body, `"failed_checks":[{"component":"docker","reason":"cannot reach the docker daemon"}`) {
		t.Fatalf("/healthz body not in Fabric's JSON shape: %s", body)
	}

	// Readiness is separate from liveness.
	ready := false
	s.RegisterReadiness("channel mychannel", func(context.Context) error {
		if !ready {
			return errors.New("block height 3, orderer at 10")
		}
		return nil
	})
	code, body = do(t, c, "GET", base+"/readyz", "")
	if code != 503 || !strings.Contains(body, `{"component":"channel mychannel","reason":"block height 3, orderer at 10"}`) || strings.Contains(body, "docker") {
		t.Fatalf("/readyz not ready = %d %s", code, body)
	}
	ready = true
	if code, body = do(t, c, "GET", base+"/readyz", ""); code != 200 || !strings.Contains(body, `"status":"OK"`) {
		t.Fatalf("/readyz ready = %d %s", code, body)
	}
	if code, _ = do(t, c, "POST", base+"/healthz", ""); code != 405 {
		t.Fatalf("POST /healthz = %d, want 405", code)
	}
	if code, body = do(t, c, "GET", base+"/metrics", ""); code != 404 || !strings.Contains(body, "metrics.provider") {
		t.Fatalf("/metrics without a registry = %d %s", code, body)
	}
}

func TestLogSpecAndVersion(t *testing.T) {
	t.Parallel()
	lg, err := NewLogging(slog.DiscardHandler, "info")
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	reg.Counter(Opts{Name: "up_total"}).Inc()
	s := startServer(t, Config{Logging: lg, Metrics: reg, Version: "v9.9.9"})
	base := "http://" + s.Addr()
	c := &http.Client{Timeout: 5 * time.Second}

	if code, body := do(t, c, "GET", base+"/logspec", ""); code != 200 || strings.TrimSpace(body) != `{"spec":"info"}` {
		t.Fatalf("GET /logspec = %d %s", code, body)
	}
	if code, body := do(t, c, "PUT", base+"/logspec", `{"spec":"warn:peer.gateway=debug"}`); code != 204 {
		t.Fatalf("PUT /logspec = %d %s", code, body)
	}
	if code, body := do(t, c, "GET", base+"/logspec", ""); code != 200 || strings.TrimSpace(body) != `{"spec":"warn:peer.gateway=debug"}` {
		t.Fatalf("GET /logspec after PUT = %d %s", code, body)
	}
	for body, want := range map[string]string{
		`{"spec":"info:peer.gateway=loud"}`: `unknown level \"loud\"`,
		`{"spec":`:                          `body is not`,
		`{"level":"debug"}`:                 `unknown field`,
	} {
		if code, got := do(t, c, "PUT", base+"/logspec", body); code != 400 || !strings.Contains(got, want) {
			t.Errorf("PUT /logspec %s = %d %s, want 400 containing %s", body, code, got, want)
		}
	}
	if lg.Spec() != "warn:peer.gateway=debug" {
		t.Fatalf("refused PUTs changed the spec to %q", lg.Spec())
	}
	if code, _ := do(t, c, "DELETE", base+"/logspec", ""); code != 405 {
		t.Fatalf("DELETE /logspec = %d", code)
	}

	code, body := do(t, c, "GET", base+"/version", "")
	var v VersionInfo
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != 200 || v.Version != "v9.9.9" || v.CommitSHA == "" {
		t.Fatalf("/version = %d %s", code, body)
	}
	if !strings.Contains(body, `"Version":`) || !strings.Contains(body, `"CommitSHA":`) {
		t.Fatalf("/version field names differ from Fabric's: %s", body)
	}
	if code, body := do(t, c, "GET", base+"/metrics", ""); code != 200 || !strings.Contains(body, "up_total 1\n") {
		t.Fatalf("/metrics = %d %s", code, body)
	}
}

// TestTLS serves over TLS: health needs no client certificate, /logspec does.
func TestTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caCert, caKey := newCert(t, nil, nil, "ops-ca", true)
	write := func(name string, der []byte, typ string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srvCert, srvKey := newCert(t, caCert, caKey, "localhost", false)
	cliCert, cliKey := newCert(t, caCert, caKey, "operator", false)
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	files := TLSFiles{
		CertFile:      write("server.crt", srvCert.Raw, "CERTIFICATE"),
		KeyFile:       write("server.key", keyDER(srvKey), "EC PRIVATE KEY"),
		ClientRootCAs: []string{write("ca.crt", caCert.Raw, "CERTIFICATE")},
	}
	tc, err := files.Config()
	if err != nil {
		t.Fatal(err)
	}
	lg, _ := NewLogging(slog.DiscardHandler, "info")
	s := startServer(t, Config{TLS: tc, Logging: lg})
	base := "https://" + s.Addr()
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	anon := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	pair := tls.Certificate{Certificate: [][]byte{cliCert.Raw}, PrivateKey: cliKey}
	operator := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}}}

	if code, body := do(t, anon, "GET", base+"/healthz", ""); code != 200 {
		t.Fatalf("/healthz over TLS without a client certificate = %d %s", code, body)
	}
	if code, body := do(t, anon, "GET", base+"/logspec", ""); code != 401 || !strings.Contains(body, "client certificate") {
		t.Fatalf("/logspec without a client certificate = %d %s", code, body)
	}
	if code, body := do(t, operator, "PUT", base+"/logspec", `{"spec":"debug"}`); code != 204 {
		t.Fatalf("PUT /logspec with a client certificate = %d %s", code, body)
	}
	if lg.Spec() != "debug" {
		t.Fatalf("spec = %q", lg.Spec())
	}

	files.ClientAuthRequired = true
	files.ClientRootCAs = nil
	if _, err := files.Config(); err == nil || !strings.Contains(err.Error(), "clientRootCAs") {
		t.Fatalf("clientAuthRequired without roots: %v", err)
	}
	files.KeyFile = filepath.Join(dir, "missing.key")
	if _, err := files.Config(); err == nil || !strings.Contains(err.Error(), "missing.key") {
		t.Fatalf("missing key file: %v", err)
	}
}

func TestListenFailureNamesTheAddress(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	s := NewServer(Config{ListenAddress: lis.Addr().String()})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), lis.Addr().String()) {
		t.Fatalf("Start on a busy port = %v", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop after a failed Start: %v", err)
	}
}

func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, ca bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        ca, BasicConstraintsValid: true,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}
