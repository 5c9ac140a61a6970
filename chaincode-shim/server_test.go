package shim

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/chaincode-shim/internal/fakepeer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// startChaincodeServer serves cs on 127.0.0.1:0 and stops it at cleanup.
func startChaincodeServer(t *testing.T, cs *ChaincodeServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- cs.Serve(lis) }()
	t.Cleanup(func() {
		cs.Stop()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve returned %v after Stop, want nil", err)
			}
		case <-time.After(waitLimit):
			t.Error("Serve did not return after Stop")
		}
	})
	return lis.Addr().String()
}

func TestChaincodeServerConnect(t *testing.T) {
	cs := &ChaincodeServer{CCID: "basic_1.0:4ec1", CC: &testCC{}, TLSProps: TLSProperties{Disabled: true}}
	addr := startChaincodeServer(t, cs)
	s, err := fakepeer.ConnectToChaincode(t, addr, insecure.NewCredentials(), fakepeer.NewLedger())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.WaitRegistered(t); got != cs.CCID {
		t.Fatalf("chaincode registered as %q, want CCID %q", got, cs.CCID)
	}
	if res, _ := s.Invoke(t, "tx1", "put", "k", "v"); res.Status != OK {
		t.Fatalf("put over Connect: %v", res)
	}
	if res, _ := s.Invoke(t, "tx2", "get", "k"); string(res.Payload) != "v" {
		t.Fatalf("get over Connect = %q, want v", res.Payload)
	}
	_, m := s.Invoke(t, "tx3", "event", "E", "p")
	if m.ChaincodeEvent.GetEventName() != "E" {
		t.Fatalf("event over Connect = %v", m.ChaincodeEvent)
	}
}

func TestChaincodeServerTLSWithClientAuth(t *testing.T) {
	pki := fakepeer.NewPKI(t)
	cs := &ChaincodeServer{CCID: "cc:1", CC: &testCC{}, TLSProps: TLSProperties{Key: pki.ServerKey, Cert: pki.ServerCert, ClientCACerts: pki.CAPEM}}
	addr := startChaincodeServer(t, cs)

	clientPair, err := tls.X509KeyPair(pki.ClientCert, pki.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	good := credentials.NewTLS(&tls.Config{RootCAs: pki.Pool(t), Certificates: []tls.Certificate{clientPair}})
	s, err := fakepeer.ConnectToChaincode(t, addr, good, fakepeer.NewLedger())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.WaitRegistered(t); got != "cc:1" {
		t.Fatalf("registered as %q", got)
	}
	if res, _ := s.Invoke(t, "tx1", "put", "k", "v"); res.Status != OK {
		t.Fatalf("put over TLS: %v", res)
	}

	// A peer without a client certificate is turned away.
	noCert := credentials.NewTLS(&tls.Config{RootCAs: pki.Pool(t)})
	s2, err := fakepeer.ConnectToChaincode(t, addr, noCert, fakepeer.NewLedger())
	if err == nil {
		select {
		case <-s2.Registered():
			t.Fatal("a peer without a client certificate completed registration")
		case <-s2.Ended():
		case <-time.After(waitLimit):
			t.Fatal("the connection without a client certificate neither failed nor registered")
		}
	}
}

func TestChaincodeServerConfigErrors(t *testing.T) {
	cases := []struct {
		cs   *ChaincodeServer
		want string
	}{
		{&ChaincodeServer{CC: &testCC{}, TLSProps: TLSProperties{Disabled: true}}, "CCID"},
		{&ChaincodeServer{CCID: "cc"}, "CC must be set"},
		{&ChaincodeServer{CCID: "cc", CC: &testCC{}}, "TLSProps.Key"},
		{&ChaincodeServer{CCID: "cc", CC: &testCC{}, TLSProps: TLSProperties{Key: []byte("x"), Cert: []byte("y")}}, "key pair"},
	}
	for _, c := range cases {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.cs.Serve(lis); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Serve error = %v, want one mentioning %q", err, c.want)
		}
	}
	if err := (&ChaincodeServer{CCID: "cc", CC: &testCC{}}).Start(); err == nil || !strings.Contains(err.Error(), "Address") {
		t.Errorf("Start without Address = %v", err)
	}
}

func TestStartWithTLS(t *testing.T) {
	pki := fakepeer.NewPKI(t)
	serverPair, err := tls.X509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	peerCreds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{serverPair}, ClientCAs: pki.Pool(t), ClientAuth: tls.RequireAndVerifyClientCert})
	peer, addr := fakepeer.StartPeer(t, grpc.Creds(peerCreds))

	// Fabric's launcher passes the client key and cert as files holding base64 PEM.
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv(EnvChaincodeIDName, "cc:tls")
	t.Setenv(EnvPeerAddress, addr)
	t.Setenv(EnvTLSEnabled, "true")
	t.Setenv(EnvTLSRootCertFile, write("peer-root.pem", pki.CAPEM))
	t.Setenv(EnvTLSKeyPath, write("client.key.b64", []byte(base64.StdEncoding.EncodeToString(pki.ClientKey))))
	t.Setenv(EnvTLSCertPath, write("client.crt.b64", []byte(base64.StdEncoding.EncodeToString(pki.ClientCert))))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- StartWithContext(ctx, &testCC{}) }()
	s := peer.NextSession(t)
	if got := s.WaitRegistered(t); got != "cc:tls" {
		t.Fatalf("registered as %q", got)
	}
	if res, _ := s.Invoke(t, "tx1", "put", "k", "v"); res.Status != OK {
		t.Fatalf("put over TLS: %v", res)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Start did not return after cancel")
	}

	// The same material as plain PEM files through the *_FILE variables.
	cfg, err := loadClientConfig(func(k string) (string, bool) {
		m := map[string]string{
			EnvChaincodeIDName: "cc", EnvPeerAddress: addr, EnvTLSEnabled: "true",
			EnvTLSRootCertFile: write("root2.pem", pki.CAPEM),
			EnvTLSKeyFile:      write("client.key", pki.ClientKey),
			EnvTLSCertFile:     write("client.crt", pki.ClientCert),
		}
		v, ok := m[k]
		return v, ok
	}, nil)
	if err != nil || cfg.tls == nil || len(cfg.tls.Certificates) != 1 {
		t.Fatalf("PEM file config: %+v, %v", cfg, err)
	}

	// Without the peer's CA the handshake must fail.
	t.Setenv(EnvTLSRootCertFile, write("wrong-root.pem", fakepeer.NewPKI(t).CAPEM))
	if err := Start(&testCC{}); err == nil {
		t.Fatal("Start succeeded against a peer whose certificate the root file does not vouch for")
	}
}
