package client

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeProfile writes a connection profile shaped like the ones
// internal/devnet (and Fabric's test-network) write.
func writeProfile(t *testing.T, peers map[string]any) string {
	t.Helper()
	profile := map[string]any{
		"name":    "test-network-org1",
		"version": "1.0.0",
		"client": map[string]any{
			"organization": "Org1",
			"connection":   map[string]any{"timeout": map[string]any{"peer": map[string]any{"endorser": "300"}}},
		},
		"organizations": map[string]any{
			"Org1": map[string]any{"mspid": "Org1MSP", "peers": []string{"peer0.org1.example.com"}, "certificateAuthorities": []string{"ca.org1.example.com"}},
		},
		"peers": peers,
		"certificateAuthorities": map[string]any{
			"ca.org1.example.com": map[string]any{
				"url": "https://localhost:7054", "caName": "ca-org1",
				"tlsCACerts": map[string]any{"pem": []string{"-----BEGIN CERTIFICATE-----"}}, "httpOptions": map[string]any{"verify": false},
			},
		},
	}
	raw, err := json.MarshalIndent(profile, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "connection-org1.json")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConnectionProfile(t *testing.T) {
	t.Parallel()
	// A TLS server stands in for the peer: the endpoint built from the
	// profile must trust its certificate under the overridden host name.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte(caPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	path := writeProfile(t, map[string]any{
		"peer0.org1.example.com": map[string]any{
			"url":         "grpcs://" + srv.Listener.Addr().String(),
			"tlsCACerts":  map[string]any{"pem": caPEM},
			"grpcOptions": map[string]any{"ssl-target-name-override": "example.com", "hostnameOverride": "example.com"},
		},
		"peer1.org1.example.com": map[string]any{
			"url":        "grpc://localhost:8051",
			"tlsCACerts": map[string]any{"path": caFile},
		},
		"peer2.org1.example.com": map[string]any{"url": "localhost:9051"},
	})

	p, err := LoadConnectionProfile(path)
	if err != nil {
		t.Fatalf("LoadConnectionProfile: %v", err)
	}
	if p.Name != "test-network-org1" || p.Client.Organization != "Org1" || p.Organizations["Org1"].MSPID != "Org1MSP" {
		t.Fatalf("profile = %+v", p)
	}
	eps, err := p.PeerEndpoints()
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 3 {
		t.Fatalf("PeerEndpoints = %+v, want 3 endpoints", eps)
	}
	// Sorted by peer name.
	tlsPeer, plainPeer, bare := eps[0], eps[1], eps[2]
	if tlsPeer.Address != srv.Listener.Addr().String() || !tlsPeer.TLS || tlsPeer.HostOverride != "example.com" || string(tlsPeer.RootCertPEM) != caPEM {
		t.Errorf("peer0 endpoint = %+v", tlsPeer)
	}
	if plainPeer.Address != "localhost:8051" || plainPeer.TLS || plainPeer.RootCertFile != caFile {
		t.Errorf("peer1 endpoint = %+v", plainPeer)
	}
	if bare.Address != "localhost:9051" || bare.TLS {
		t.Errorf("peer2 endpoint = %+v", bare)
	}

	cfg, err := tlsPeer.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := hc.Get("https://" + tlsPeer.Address)
	if err != nil {
		t.Fatalf("TLS handshake with the profile's CA and host override: %v", err)
	}
	resp.Body.Close()
	if _, err := plainPeer.TLSConfig(); err != nil {
		t.Fatalf("TLS config from the profile's tlsCACerts.path: %v", err)
	}
}

func TestLoadConnectionProfileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path string
		want       []string
	}{
		{"missing file", filepath.Join(dir, "nope.json"), []string{"nope.json"}},
		{"yaml profile", write("profile.yaml", "name: test\npeers:\n  p: {url: grpcs://x:1}\n"), []string{"profile.yaml", "is not JSON"}},
		{"no peers", write("nopeers.json", `{"name":"x","peers":{}}`), []string{"nopeers.json", "names no peers"}},
	}
	for _, tt := range tests {
		_, err := LoadConnectionProfile(tt.path)
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
	bad := Endpoint{Address: "x:1", TLS: true, RootCertPEM: []byte("not pem")}
	if _, err := bad.TLSConfig(); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("TLSConfig with garbage PEM = %v", err)
	}
}
