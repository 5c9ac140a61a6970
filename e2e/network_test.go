package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
)

// net is the network every test of this package shares; TestMain starts it.
var network *devnet.Network

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "weft-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bin")
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/peer", "./cmd/orderer", "./cmd/restgateway", "./samples/basic")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		return 1
	}
	ports, err := freePorts()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := devnet.Config{Dir: filepath.Join(tmp, "net"), BinDir: bin, Ports: ports, Log: os.Stderr, Timeout: 3 * time.Minute}
	network, err = devnet.Up(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start network:", err)
		dumpLogs(cfg)
		return 1
	}
	code := m.Run()
	if code != 0 {
		dumpLogs(cfg)
	}
	network.Stop()
	return code
}

func dumpLogs(cfg devnet.Config) {
	entries, _ := os.ReadDir(cfg.Path("logs"))
	for _, e := range entries {
		raw, _ := os.ReadFile(cfg.Path("logs", e.Name()))
		if len(raw) > 8000 {
			raw = raw[len(raw)-8000:]
		}
		fmt.Fprintf(os.Stderr, "==== %s (tail) ====\n%s\n", e.Name(), raw)
	}
}

// freePorts asks the kernel for distinct free loopback ports.
func freePorts() (devnet.Ports, error) { return devnet.FreePorts(1) }

// gatewayFor connects Fabric's official gateway client to the peer of org as
// user, exactly as an application written for Fabric's test-network does.
func gatewayFor(t *testing.T, org devnet.Org, user string) (*client.Gateway, *client.Contract) {
	t.Helper()
	cfg := network.Config()
	mspDir := filepath.Join(cfg.UserDir(org, user), "msp")
	certPEM, err := os.ReadFile(filepath.Join(mspDir, "signcerts", user+"@"+org.Domain+"-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.CertificateFromPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.NewX509Identity(org.MSPID, cert)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := os.ReadDir(filepath.Join(mspDir, "keystore"))
	if err != nil || len(keys) == 0 {
		t.Fatalf("keystore of %s: %v", user, err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(mspDir, "keystore", keys[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(cfg.PeerDir(org), "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := grpc.NewClient(fmt.Sprintf("localhost:%d", org.Port),
		grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, org.Peer)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	gw, err := client.Connect(id, client.WithSign(sign), client.WithClientConnection(conn),
		client.WithEvaluateTimeout(30*time.Second), client.WithEndorseTimeout(30*time.Second),
		client.WithSubmitTimeout(30*time.Second), client.WithCommitStatusTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	return gw, gw.GetNetwork(devnet.ChannelID).GetContract(devnet.ChaincodeName)
}

// dialPeer returns a Weft protocol-client connection to the peer of org.
func dialPeer(t *testing.T, org devnet.Org) *grpc.ClientConn {
	t.Helper()
	conn, err := wclient.Dial(network.Config().PeerEndpoint(org))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func dialOrderer(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := wclient.Dial(network.Config().OrdererEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
