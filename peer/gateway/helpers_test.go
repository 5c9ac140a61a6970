package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weft-ledger/weft/msp"
)

const fixtureDir = "../../../shared/fixtures/fabric-2.5.16"

// crypto material for the devnet organisations (OrdererMSP, Org1MSP, Org2MSP),
// generated once per test binary by Weft's cryptogen replacement from the
// Fabric fixture's crypto-config.yaml.
var (
	cryptoOnce sync.Once
	cryptoDir  string
	cryptoErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cryptoDir != "" {
		os.RemoveAll(cryptoDir)
	}
	os.Exit(code)
}

func devCrypto(t *testing.T) string {
	t.Helper()
	cryptoOnce.Do(func() {
		cryptoDir, cryptoErr = os.MkdirTemp("", "weft-gateway-devnet")
		if cryptoErr != nil {
			return
		}
		cc, err := msp.LoadCryptoConfig(filepath.Join(fixtureDir, "crypto-config.yaml"))
		if err != nil {
			cryptoErr = err
			return
		}
		cryptoErr = msp.GenerateCrypto(cc, filepath.Join(cryptoDir, "organizations"))
	})
	if cryptoErr != nil {
		t.Fatalf("devnet crypto: %v", cryptoErr)
	}
	return cryptoDir
}

// identity loads a signing identity: org like "peerOrganizations/org1.example.com",
// who "User1", "Admin", "peer0" or "orderer".
func identityOf(t *testing.T, org, who, mspID string) *msp.SigningIdentity {
	t.Helper()
	dir := devCrypto(t)
	var mspDir string
	switch {
	case strings.HasPrefix(who, "peer"):
		mspDir = filepath.Join(dir, "organizations", org, "peers", who+"."+filepath.Base(org), "msp")
	case strings.HasPrefix(who, "orderer"):
		mspDir = filepath.Join(dir, "organizations", org, "orderers", who+"."+filepath.Base(org), "msp")
	default:
		mspDir = filepath.Join(dir, "organizations", org, "users", who+"@"+filepath.Base(org), "msp")
	}
	s, err := msp.LoadSigningIdentity(mspDir, mspID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tlsCertOf loads a node's TLS server certificate and key, e.g.
// "peerOrganizations/org1.example.com/peers/peer0.org1.example.com".
func tlsCertOf(t *testing.T, node string) tls.Certificate {
	t.Helper()
	dir := filepath.Join(devCrypto(t), "organizations", node, "tls")
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// listen opens a loopback listener closed at the end of the test.
func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	return lis
}

// serveTLSOn serves gRPC with TLS on lis until the test ends.
func serveTLSOn(t *testing.T, lis net.Listener, cert tls.Certificate, register func(*grpc.Server)) string {
	t.Helper()
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func dialTLS(t *testing.T, addr string, roots *x509.CertPool) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
