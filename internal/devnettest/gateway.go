package devnettest

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
)

// Gateway connects Fabric's official gateway client to the peer of org as
// user, exactly as an application written for Fabric's test-network does.
// The connection closes when the test ends.
func Gateway(t testing.TB, n *devnet.Network, org devnet.Org, user string) *client.Gateway {
	t.Helper()
	cfg := n.Config()
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
	return gw
}

// DialPeer returns a Weft protocol-client connection to the peer of org,
// closed when the test ends.
func DialPeer(t testing.TB, n *devnet.Network, org devnet.Org) *grpc.ClientConn {
	t.Helper()
	conn, err := wclient.Dial(n.Config().PeerEndpoint(org))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// DialOrderer returns a Weft protocol-client connection to the first
// orderer, closed when the test ends.
func DialOrderer(t testing.TB, n *devnet.Network) *grpc.ClientConn {
	t.Helper()
	conn, err := wclient.Dial(n.Config().OrdererEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// SubmitEverywhere submits fn through the gateway and waits until every
// peer of the network has committed it as valid, so that later endorsements
// on any peer see its writes (the gateway waits only for its own peer). It
// returns the transaction's result.
func SubmitEverywhere(t testing.TB, n *devnet.Network, c *client.Contract, fn string, args ...string) []byte {
	t.Helper()
	result, commit, err := c.SubmitAsync(fn, client.WithArguments(args...))
	if err != nil {
		t.Fatalf("%s %s: %v", fn, args, ErrorText(err))
	}
	st, err := commit.Status()
	if err != nil {
		t.Fatalf("%s: commit status: %v", fn, err)
	}
	if !st.Successful {
		t.Fatalf("%s: transaction %s ended %s", fn, st.TransactionID, st.Code)
	}
	WaitEveryPeer(t, n, st)
	return result
}

// WaitEveryPeer waits until every peer of the network (each of PeerNodes)
// has committed st's transaction as valid.
func WaitEveryPeer(t testing.TB, n *devnet.Network, st *client.Status) {
	t.Helper()
	user, err := n.Config().Signer(n.Orgs[0], "User1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, org := range n.PeerNodes {
		w, err := wclient.WatchCommits(ctx, DialPeer(t, n, org), user, devnet.ChannelID, wclient.SeekFrom(st.BlockNumber))
		if err != nil {
			t.Fatal(err)
		}
		got, err := w.Wait(st.TransactionID)
		w.Close()
		if err != nil {
			t.Fatalf("transaction %s on %s: %v", st.TransactionID, org.Peer, err)
		}
		if got.Code != pb.TxValidationCode_VALID {
			t.Fatalf("transaction %s ended %s on %s", st.TransactionID, got.Code, org.Peer)
		}
	}
}

// ErrorText is a gateway error with the peers' messages attached in its
// status details, where the chaincode's error message travels.
func ErrorText(err error) string {
	if err == nil {
		return ""
	}
	parts := []string{err.Error()}
	var st interface{ GRPCStatus() *status.Status }
	if errors.As(err, &st) {
		for _, d := range st.GRPCStatus().Details() {
			if ed, ok := d.(*gwpb.ErrorDetail); ok {
				parts = append(parts, fmt.Sprintf("%s: %s", ed.MspId, ed.Message))
			}
		}
	}
	return strings.Join(parts, "; ")
}

// Asset is an asset of the basic sample, as its functions return it.
type Asset struct {
	ID             string `json:"ID"`
	Color          string `json:"Color"`
	Size           int    `json:"Size"`
	Owner          string `json:"Owner"`
	AppraisedValue int    `json:"AppraisedValue"`
}

// ReadAsset evaluates basic's ReadAsset (or the same function of a chaincode
// with basic's assets) for id.
func ReadAsset(t testing.TB, c *client.Contract, id string) Asset {
	t.Helper()
	raw, err := c.EvaluateTransaction("ReadAsset", id)
	if err != nil {
		t.Fatalf("ReadAsset %s: %v", id, ErrorText(err))
	}
	var a Asset
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("ReadAsset %s returned %q: %v", id, raw, err)
	}
	return a
}
