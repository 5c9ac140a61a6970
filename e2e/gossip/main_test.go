package gossip

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/devnettest"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/msp"
)

// network is the four-peer network the package's tests share; TestMain
// starts it. Tests that stop a peer or cut it off from the orderers run
// one after the other (not in parallel), before the parallel ones, and
// leave every peer running, though the peer1s then have no way to the
// orderer: they receive blocks by gossip only.
var network *devnet.Network

// The peers of the network.
const (
	peer0Org1 = "peer0.org1.example.com"
	peer1Org1 = "peer1.org1.example.com"
	peer0Org2 = "peer0.org2.example.com"
	peer1Org2 = "peer1.org2.example.com"
)

// gossipTimeout bounds a wait for something gossip brings: Fabric's default
// intervals (alive 5s, state info 4s, pull 4s, state transfer check 10s)
// make most of them take a few seconds; the bound leaves room for a loaded
// machine.
const gossipTimeout = 60 * time.Second

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	r, err := devnettest.Start(context.Background(), devnettest.Options{Peers: 2, NoRESTGateway: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "four-peer network up in %s\n", time.Since(start).Round(time.Millisecond))
	network = r.Network
	code := m.Run()
	r.Stop(code != 0)
	return code
}

// node returns the peer called name.
func node(t *testing.T, name string) devnet.Org {
	t.Helper()
	return devnettest.PeerNode(t, network, name)
}

// contract connects Fabric's gateway client to the peer called name as
// User1 of its organisation and returns basic.
func contract(t *testing.T, name string) *client.Contract {
	t.Helper()
	gw := devnettest.Gateway(t, network, node(t, name), "User1")
	return gw.GetNetwork(devnet.ChannelID).GetContract(devnet.ChaincodeName)
}

// signer loads user (Admin or User1) of the organisation of peer.
func signer(t *testing.T, peer devnet.Org, user string) *msp.SigningIdentity {
	t.Helper()
	s, err := network.Config().Signer(peer, user)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// height is the ledger height of peer on the channel.
func height(t *testing.T, peer devnet.Org) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := devnettest.Height(ctx, network, peer)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// waitHeight waits until peer's ledger is at least at height want.
func waitHeight(t *testing.T, peer devnet.Org, want uint64, why string) {
	t.Helper()
	var last uint64
	err := eventually.Wait(gossipTimeout, func(ctx context.Context) error {
		h, err := devnettest.Height(ctx, network, peer)
		if err != nil {
			return err
		}
		last = h
		if h < want {
			return fmt.Errorf("%s is at height %d, want %d", peer.Peer, h, want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v (last height %d)", why, err, last)
	}
}

// createAssets submits count CreateAsset transactions of basic through c,
// each waiting for its commit on the gateway's peer, and returns the IDs.
func createAssets(t *testing.T, c *client.Contract, prefix string, count int) []string {
	t.Helper()
	var ids []string
	for i := range count {
		id := fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), i)
		if _, err := c.SubmitTransaction("CreateAsset", id, "blue", "5", "Tomoko", "300"); err != nil {
			t.Fatalf("CreateAsset %s: %v", id, devnettest.ErrorText(err))
		}
		ids = append(ids, id)
	}
	return ids
}

// logSince returns what the peer called name has logged past offset, and
// the log's current size.
func logSince(t *testing.T, name string, offset int64) (string, int64) {
	t.Helper()
	return devnettest.LogSince(t, network, name, offset)
}

// logSize is the current size of the log of the peer called name.
func logSize(t *testing.T, name string) int64 {
	t.Helper()
	return devnettest.LogSize(t, network, name)
}

// waitLog waits until the peer called name logs, past offset, a line
// holding every one of parts, and returns that line.
func waitLog(t *testing.T, name string, offset int64, parts ...string) string {
	t.Helper()
	var found string
	err := eventually.Wait(gossipTimeout, func(context.Context) error {
		text, _ := logSince(t, name, offset)
		for line := range strings.Lines(text) {
			if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
				found = line
				return nil
			}
		}
		return fmt.Errorf("no line with %q", parts)
	})
	if err != nil {
		t.Fatalf("log of %s: %v", name, err)
	}
	return found
}

// discoveryAs returns a discovery client of the peer called name signing
// as id.
func discoveryAs(t *testing.T, name string, id *msp.SigningIdentity) wclient.Discovery {
	t.Helper()
	conn, hash, err := wclient.DialDiscovery(network.Config().PeerEndpoint(node(t, name)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return wclient.Discovery{Conn: conn, Signer: id, TLSCertHash: hash}
}
