package peer

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/eventually"
)

func TestChaincodeEndpoint(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ listen, address, chaincodeAddress, want string }{
		{"127.0.0.1:7052", "localhost:7051", "", "127.0.0.1:7052"},
		{"0.0.0.0:7052", "peer0.org1.example.com:7051", "", "peer0.org1.example.com:7052"},
		{"[::]:7052", "peer0.org1.example.com:7051", "", "peer0.org1.example.com:7052"},
		{":7052", "peer0:7051", "", "peer0:7052"},
		{"0.0.0.0:7052", "0.0.0.0:7051", "", "0.0.0.0:7052"},
		{"0.0.0.0:7052", "peer0:7051", "host.docker.internal:9052", "host.docker.internal:9052"},
	} {
		c := Config{ChaincodeListenAddress: tt.listen, Address: tt.address, ChaincodeAddress: tt.chaincodeAddress}
		if got := c.chaincodeEndpoint(); got != tt.want {
			t.Errorf("listen %s, address %s, chaincodeAddress %q: endpoint %s, want %s", tt.listen, tt.address, tt.chaincodeAddress, got, tt.want)
		}
	}
	c := Config{ChaincodeListenAddress: "0.0.0.0:7052", Address: "0.0.0.0:7051", TLS: TLSConfig{Enabled: true}}
	if e := c.checkChaincodeEndpoint(); !strings.Contains(e, "peer.chaincodeAddress") || !strings.Contains(e, "with TLS") {
		t.Errorf("an unspecified chaincode endpoint host with TLS: %q", e)
	}
	c.ChaincodeAddress = "nohostport"
	if e := c.checkChaincodeEndpoint(); !strings.Contains(e, `"nohostport" is not host:port`) {
		t.Errorf("a chaincodeAddress without port: %q", e)
	}
}

// With peer TLS on, the chaincode listener serves a certificate of the
// peer's chaincode CA for the chaincode endpoint's host (not the peer's own
// TLS certificate), and refuses a connection without a client certificate
// from that CA, even one presenting the peer's own TLS certificate, which the
// peer's main listener trusts.
func TestChaincodeListenerRequiresPeerIssuedCertificate(t *testing.T) {
	dir := devCrypto(t)
	n, _ := runNode(t, dir, t.TempDir(), quietLog)
	peerTLS := filepath.Join(dir, org1, "peers", "peer0.org1.example.com", "tls")
	own, err := tls.LoadX509KeyPair(filepath.Join(peerTLS, "server.crt"), filepath.Join(peerTLS, "server.key"))
	if err != nil {
		t.Fatal(err)
	}

	// dial completes a TLS handshake with the listener as a client offering
	// cert (nil: none), then reads: the listener's verdict on the client
	// certificate arrives as a TLS alert.
	eventually.NoError(t, 30*time.Second, "chaincode listener accepting", func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", n.cfg.ChaincodeListenAddress)
		if err == nil {
			c.Close()
		}
		return err
	})
	dial := func(cert *tls.Certificate) (*tls.ConnectionState, error) {
		c, err := tls.Dial("tcp", n.cfg.ChaincodeListenAddress, &tls.Config{
			InsecureSkipVerify: true, // the test inspects the certificate itself
			MinVersion:         tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if cert == nil {
					return &tls.Certificate{}, nil
				}
				return cert, nil
			},
		})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		state := c.ConnectionState()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
		return &state, err
	}

	state, err := dial(nil)
	if state == nil {
		t.Fatalf("TLS handshake with the chaincode listener: %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("without a client certificate: %v, want the listener to require one", err)
	}
	srv := state.PeerCertificates[0]
	if srv.Issuer.CommonName != "weft peer chaincode CA" {
		t.Errorf("chaincode listener certificate issued by %q, want the peer's chaincode CA", srv.Issuer.CommonName)
	}
	if err := srv.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("chaincode listener certificate not for the chaincode endpoint's host: %v", err)
	}
	if _, err := dial(&own); err == nil || !strings.Contains(err.Error(), "unknown certificate authority") {
		t.Fatalf("with the peer's own TLS certificate: %v, want it refused as from an unknown authority", err)
	}
}
