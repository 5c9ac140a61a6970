package devnet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/client"
)

// TestUpTwoPeers starts a network of two peers per organisation (on free
// ports, without the REST gateway) and checks that all four peers run with
// their gossip settings, have joined mychannel at the same height (every
// setup transaction committed on each) and have basic installed. A restart
// without --peers runs the four peers again from their ledgers.
//
// Transactions through peer1 need gossip (peer1 did not endorse its
// organisation's approval) and are left to the gossip tests.
func TestUpTwoPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a network of four peers")
	}
	t.Parallel()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/peer", "./cmd/orderer", "./samples/basic")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	ports.RESTGateway, ports.RESTGatewayOps = 0, 0
	var log bytes.Buffer
	cfg := Config{Dir: t.TempDir(), BinDir: bin, Ports: ports, Peers: 2, Log: &log, Timeout: 3 * time.Minute}
	ctx := context.Background()
	n, err := Up(ctx, cfg)
	if err != nil {
		t.Fatalf("Up: %v\n%s%s", err, log.String(), logTails(cfg))
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			n.Stop()
		}
	})
	if len(n.PeerNodes) != 4 || len(n.AllPeers) != 4 || len(n.Peers) != 2 {
		t.Fatalf("%d peer nodes, %d peer processes, %d peer0s; want 4, 4, 2", len(n.PeerNodes), len(n.AllPeers), len(n.Peers))
	}
	for _, o := range n.Orgs {
		if n.Peers[o.MSPID] != n.AllPeers[o.Peer] {
			t.Errorf("Peers[%s] is not %s", o.MSPID, o.Peer)
		}
	}
	checkEnviron(t, n.AllPeers["peer1.org1.example.com"], "CORE_PEER_GOSSIP_BOOTSTRAP=localhost:"+strconv.Itoa(ports.Peer1))
	checkEnviron(t, n.AllPeers["peer0.org2.example.com"], "CORE_PEER_GOSSIP_BOOTSTRAP=localhost:"+strconv.Itoa(ports.OtherPeers[1].Listen))

	heights := checkPeersJoined(t, n)
	// genesis, two approvals, the commit of the definition, InitLedger
	if heights < 5 {
		t.Errorf("the peers are at height %d, want at least 5", heights)
	}

	n.Stop()
	stopped = true
	cfg.Peers = 0 // remembered
	if n, err = Up(ctx, cfg); err != nil {
		t.Fatalf("restart: %v\n%s", err, logTails(cfg))
	}
	stopped = false
	if len(n.AllPeers) != 4 {
		t.Fatalf("restart without --peers runs %d peers, want 4", len(n.AllPeers))
	}
	if again := checkPeersJoined(t, n); again != heights {
		t.Errorf("after the restart the peers are at height %d, were at %d", again, heights)
	}
}

// checkPeersJoined asks every peer for mychannel's height (qscc
// GetChainInfo, as User1) and its installed chaincodes (as the Admin), and
// returns the height, which must be the same on every peer.
func checkPeersJoined(t *testing.T, n *Network) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := n.Config()
	var first uint64
	for i, o := range n.PeerNodes {
		conn, err := client.Dial(cfg.PeerEndpoint(o))
		if err != nil {
			t.Fatalf("dial %s: %v", o.Peer, err)
		}
		defer conn.Close()
		endorser := pb.NewEndorserClient(conn)
		user, err := cfg.Signer(o, "User1")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := client.Query(ctx, user, client.Invocation{Chaincode: client.QSCCName, Args: [][]byte{[]byte("GetChainInfo"), []byte(ChannelID)}}, endorser)
		if err != nil {
			t.Fatalf("GetChainInfo of %s on %s: %v", ChannelID, o.Peer, err)
		}
		info := &cb.BlockchainInfo{}
		if err := proto.Unmarshal(raw, info); err != nil {
			t.Fatalf("GetChainInfo of %s: %v", o.Peer, err)
		}
		if i == 0 {
			first = info.Height
		} else if info.Height != first {
			t.Errorf("%s is at height %d, %s at %d", o.Peer, info.Height, n.PeerNodes[0].Peer, first)
		}

		admin, err := cfg.Signer(o, "Admin")
		if err != nil {
			t.Fatal(err)
		}
		raw, err = client.Query(ctx, admin, client.Invocation{Chaincode: client.LifecycleName, Args: client.QueryInstalledArgs()}, endorser)
		if err != nil {
			t.Fatalf("QueryInstalledChaincodes on %s: %v", o.Peer, err)
		}
		res := &lb.QueryInstalledChaincodesResult{}
		if err := proto.Unmarshal(raw, res); err != nil {
			t.Fatal(err)
		}
		if err := installed(res, n.PackageID); err != nil {
			t.Errorf("%s: %v", o.Peer, err)
		}
	}
	return first
}

func installed(res *lb.QueryInstalledChaincodesResult, id string) error {
	var ids []string
	for _, cc := range res.InstalledChaincodes {
		if cc.PackageId == id && cc.Label == ChaincodeLabel {
			return nil
		}
		ids = append(ids, cc.PackageId)
	}
	return fmt.Errorf("installed packages %v lack %s", ids, id)
}

// checkEnviron checks that a running process was started with kv in its
// environment (on Linux, through /proc).
func checkEnviron(t *testing.T, p *Process, kv string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.Pid()), "environ"))
	if err != nil {
		t.Logf("environment of %s not readable (%v); not checked", p.Name, err)
		return
	}
	if !bytes.Contains(append([]byte{0}, raw...), []byte("\x00"+kv+"\x00")) {
		t.Errorf("%s runs without %s", p.Name, kv)
	}
}

// logTails returns the end of every log of the network, for a failure.
func logTails(cfg Config) string {
	var b bytes.Buffer
	entries, _ := os.ReadDir(cfg.Path("logs"))
	for _, e := range entries {
		raw, _ := os.ReadFile(cfg.Path("logs", e.Name()))
		if len(raw) > 4000 {
			raw = raw[len(raw)-4000:]
		}
		fmt.Fprintf(&b, "==== %s ====\n%s\n", e.Name(), raw)
	}
	return b.String()
}
