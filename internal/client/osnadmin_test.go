package client

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
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// participationAPI mimics an orderer's channel participation API
// (/participation/v1/channels) over the channels it holds.
type participationAPI struct {
	mu       sync.Mutex
	channels map[string]ChannelInfo
	blocks   map[string][]byte // config blocks received by join, by channel
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (p *participationAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	const base = "/participation/v1/channels"
	name, one := strings.CutPrefix(r.URL.Path, base+"/")
	switch {
	case r.URL.Path == base && r.Method == http.MethodGet:
		list := []ChannelInfo{}
		for _, c := range p.channels {
			list = append(list, ChannelInfo{Name: c.Name, URL: c.URL})
		}
		writeJSON(w, http.StatusOK, map[string]any{"systemChannel": nil, "channels": list})
	case r.URL.Path == base && r.Method == http.MethodPost:
		f, _, err := r.FormFile("config-block")
		if err != nil {
			apiError(w, http.StatusBadRequest, "cannot read form from request body: "+err.Error())
			return
		}
		block, _ := io.ReadAll(f)
		// The mock's "block" is the channel name; a real one would parse it.
		name := string(block)
		if name == "" || strings.Contains(name, "/") {
			apiError(w, http.StatusBadRequest, "invalid join block: block is not a config block")
			return
		}
		if _, ok := p.channels[name]; ok {
			apiError(w, http.StatusMethodNotAllowed, "cannot join: channel already exists")
			return
		}
		info := ChannelInfo{Name: name, URL: base + "/" + name, ConsensusRelation: "consenter", Status: "active", Height: 1}
		p.channels[name] = info
		p.blocks[name] = block
		w.Header().Set("Location", info.URL)
		writeJSON(w, http.StatusCreated, info)
	case one && r.Method == http.MethodGet:
		if name == "broken" {
			http.Error(w, "internal failure in the orderer", http.StatusInternalServerError)
			return
		}
		if name == "garbled" {
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "{not json")
			return
		}
		c, ok := p.channels[name]
		if !ok {
			apiError(w, http.StatusNotFound, "channel does not exist")
			return
		}
		writeJSON(w, http.StatusOK, c)
	case one && r.Method == http.MethodDelete:
		if _, ok := p.channels[name]; !ok {
			apiError(w, http.StatusNotFound, "cannot remove: channel does not exist")
			return
		}
		delete(p.channels, name)
		w.WriteHeader(http.StatusNoContent)
	default:
		apiError(w, http.StatusMethodNotAllowed, "invalid request method: "+r.Method)
	}
}

// certPair writes a self-signed ECDSA certificate and key valid for
// 127.0.0.1 into dir and returns their paths and the parsed pair.
func certPair(t *testing.T, dir, name string, client bool) (certFile, keyFile string, cert *x509.Certificate, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true, IsCA: true, DNSNames: []string{"localhost", name},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert, pair
}

// participationServer starts the mock API over mutual TLS and returns an
// OSNAdmin configured to reach it.
func participationServer(t *testing.T) (*participationAPI, OSNAdmin) {
	t.Helper()
	dir := t.TempDir()
	serverCA, _, _, serverPair := certPair(t, dir, "orderer", false)
	clientCert, clientKey, clientX509, _ := certPair(t, dir, "admin", true)
	api := &participationAPI{channels: map[string]ChannelInfo{}, blocks: map[string][]byte{}}
	srv := httptest.NewUnstartedServer(api)
	clients := x509.NewCertPool()
	clients.AddCert(clientX509)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverPair}, ClientCAs: clients, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return api, OSNAdmin{Endpoint: Endpoint{
		Address: srv.Listener.Addr().String(), TLS: true, RootCertFile: serverCA,
		ClientCertFile: clientCert, ClientKeyFile: clientKey,
	}}
}

func TestOSNAdmin(t *testing.T) {
	t.Parallel()
	api, admin := participationServer(t)
	ctx := context.Background()

	info, err := admin.Join(ctx, []byte("mychannel"))
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if info.Name != "mychannel" || info.ConsensusRelation != "consenter" || info.Status != "active" || info.Height != 1 ||
		info.URL != "/participation/v1/channels/mychannel" {
		t.Fatalf("Join answered %+v", info)
	}
	if string(api.blocks["mychannel"]) != "mychannel" {
		t.Fatalf("the orderer received config block %q", api.blocks["mychannel"])
	}
	if _, err := admin.Join(ctx, []byte("second")); err != nil {
		t.Fatal(err)
	}

	list, err := admin.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	names := map[string]bool{}
	for _, c := range list {
		names[c.Name] = true
	}
	if len(list) != 2 || !names["mychannel"] || !names["second"] {
		t.Fatalf("List = %+v, want mychannel and second", list)
	}
	got, err := admin.Info(ctx, "mychannel")
	if err != nil || *got != *info {
		t.Fatalf("Info(mychannel) = %+v, %v; want %+v", got, err, info)
	}
	if err := admin.Remove(ctx, "second"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if list, err := admin.List(ctx); err != nil || len(list) != 1 {
		t.Fatalf("List after Remove = %+v, %v", list, err)
	}

	// Errors carry the HTTP status and the API's error message, and name
	// the orderer and the channel.
	addr := admin.Endpoint.Address
	tests := []struct {
		name string
		call func() error
		want []string
	}{
		{"join twice", func() error { _, err := admin.Join(ctx, []byte("mychannel")); return err },
			[]string{"join channel on orderer " + addr, "405 Method Not Allowed", "cannot join: channel already exists"}},
		{"join a bad block", func() error { _, err := admin.Join(ctx, nil); return err },
			[]string{"400 Bad Request", "invalid join block"}},
		{"info of an unknown channel", func() error { _, err := admin.Info(ctx, "nochannel"); return err },
			[]string{"channel nochannel on orderer " + addr, "404 Not Found", "channel does not exist"}},
		{"remove an unknown channel", func() error { return admin.Remove(ctx, "nochannel") },
			[]string{"remove channel nochannel on orderer " + addr, "404 Not Found", "cannot remove"}},
		{"error without JSON", func() error { _, err := admin.Info(ctx, "broken"); return err },
			[]string{"500 Internal Server Error", "internal failure in the orderer"}},
		{"success with a garbled answer", func() error { _, err := admin.Info(ctx, "garbled"); return err },
			[]string{"decode answer"}},
	}
	for _, tt := range tests {
		err := tt.call()
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tt.name, err, w)
			}
		}
	}
}

func TestOSNAdminTLSFailures(t *testing.T) {
	t.Parallel()
	_, admin := participationServer(t)
	ctx := context.Background()

	noClientCert := admin
	noClientCert.Endpoint.ClientCertFile, noClientCert.Endpoint.ClientKeyFile = "", ""
	if _, err := noClientCert.List(ctx); err == nil {
		t.Error("List without a client certificate succeeded against a mutual-TLS endpoint")
	}

	wrongCA := admin
	otherCA, _, _, _ := certPair(t, t.TempDir(), "other", false)
	wrongCA.Endpoint.RootCertFile = otherCA
	if _, err := wrongCA.List(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("List trusting the wrong CA = %v, want a certificate error", err)
	}

	missing := admin
	missing.Endpoint.RootCertFile = filepath.Join(t.TempDir(), "nope.pem")
	if _, err := missing.List(ctx); err == nil || !strings.Contains(err.Error(), "nope.pem") {
		t.Errorf("List with a missing CA file = %v, want an error naming it", err)
	}

	plain := admin
	plain.Endpoint.TLS = false
	if _, err := plain.List(ctx); err == nil {
		t.Error("plain HTTP to a TLS endpoint succeeded")
	}
}
