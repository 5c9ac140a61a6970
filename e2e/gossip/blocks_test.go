package gossip

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/devnettest"
)

// TestGatewayOnPeer1 connects Fabric's official gateway client to
// peer1.org1, which did not endorse its organisation's approval of basic
// (it learnt of it from the block), submits CreateAsset and evaluates
// ReadAsset there, and checks that the transaction committed on all four
// peers.
func TestGatewayOnPeer1(t *testing.T) {
	t.Parallel()
	c := contract(t, peer1Org1)
	id := "gw-peer1-" + time.Now().Format("150405.000000000")
	result, commit, err := c.SubmitAsync("CreateAsset", client.WithArguments(id, "green", "7", "Ibrahim", "520"))
	if err != nil {
		t.Fatalf("CreateAsset %s through %s: %v", id, peer1Org1, devnettest.ErrorText(err))
	}
	st, err := commit.Status()
	if err != nil {
		t.Fatalf("commit status of CreateAsset %s: %v", id, err)
	}
	if !st.Successful {
		t.Fatalf("CreateAsset %s ended %s", id, st.Code)
	}
	if len(result) != 0 {
		t.Logf("CreateAsset returned %q", result)
	}
	devnettest.WaitEveryPeer(t, network, st)
	if a := devnettest.ReadAsset(t, c, id); a.ID != id || a.Color != "green" || a.Size != 7 || a.Owner != "Ibrahim" || a.AppraisedValue != 520 {
		t.Errorf("ReadAsset %s through %s = %+v", id, peer1Org1, a)
	}
}

// TestPeerCutOffFromOrderersKeepsCommitting runs peer1.org1 with its only
// way to the orderer through a TCP forwarder of the test
// (peer.deliveryclient.addressOverrides) and checks it pulls through it.
// Then it partitions peer1.org1 from the orderer with iptables (DROP rules
// on the forwarder's port, where the machine allows it): three transactions
// submitted through peer0.org1 reach peer1.org1 by gossip. Last it closes
// the forwarder: five more reach it, while its log shows its pulls from the
// orderer failing.
func TestPeerCutOffFromOrderersKeepsCommitting(t *testing.T) {
	peer0, peer1 := node(t, peer0Org1), node(t, peer1Org1)
	fwd := devnettest.Forward(t, network.Config().OrdererEndpoint().Address)
	if err := devnettest.OverrideOrderer(network, peer1, fwd.Address()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := devnettest.RestartPeer(ctx, network, peer1Org1); err != nil {
		t.Fatal(err)
	}
	c := contract(t, peer0Org1)
	createAssets(t, c, "through-forwarder", 1)
	waitHeight(t, peer1, height(t, peer0), "peer1.org1 catches up through the forwarder")
	if fwd.Relayed() == 0 {
		t.Fatal("peer1.org1 did not connect to the orderer through the forwarder")
	}

	// A partition first, when this machine can make one: iptables drops
	// every packet to and from the forwarder's port, so the open stream to
	// the orderer stalls rather than ends.
	if undo, ok := dropLoopbackPort(t, fwd.Port()); ok {
		if conn, err := net.DialTimeout("tcp", fwd.Address(), time.Second); err == nil {
			conn.Close()
			t.Fatal("the forwarder still accepts connections behind the iptables DROP rules")
		}
		createAssets(t, c, "partitioned", 3)
		waitHeight(t, peer1, height(t, peer0), "peer1.org1 partitioned from the orderer (iptables) commits what peer0.org1 did")
		undo()
	} else {
		t.Log("not root or no iptables here: the orderer connection is only closed, not partitioned")
	}

	from := logSize(t, peer1Org1)
	fwd.Cut()
	createAssets(t, c, "cut-off", 5)
	want := height(t, peer0)
	waitHeight(t, peer1, want, "peer1.org1 cut off from the orderer commits what peer0.org1 did")
	waitLog(t, peer1Org1, from, "block pull interrupted", fwd.Address())
}

// TestStoppedPeerCatchesUpByStateTransfer stops peer1.org2, commits more
// blocks than a state transfer batch (peer.gossip.state.batchSize, 10) and
// the block pull store (maxBlockCountToStore, 10) hold, then starts it
// again with no way to the orderer: it reaches the others' height from its
// neighbours.
func TestStoppedPeerCatchesUpByStateTransfer(t *testing.T) {
	peer0, peer1 := node(t, peer0Org2), node(t, peer1Org2)
	if err := network.AllPeers[peer1Org2].Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	before := height(t, peer0)
	user := signer(t, peer0, "User1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	watcher, err := wclient.WatchCommits(ctx, devnettest.DialPeer(t, network, peer0), user, devnet.ChannelID, wclient.SeekNewest())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	// Endorsed by the peer0s: the stopped peer may still be in the
	// others' membership, and this test is not about endorser fallback.
	endorsers := map[string]pb.EndorserClient{}
	for _, o := range network.Orgs {
		endorsers[o.MSPID] = pb.NewEndorserClient(devnettest.DialPeer(t, network, o))
	}
	orderer := devnettest.DialOrderer(t, network)
	const txs = 12
	for i := range txs {
		id := "while-stopped-" + time.Now().Format("150405.000000000") + "-" + string(rune('a'+i))
		inv := wclient.Invocation{Channel: devnet.ChannelID, Chaincode: devnet.ChaincodeName,
			Args: args("CreateAsset", id, "red", "3", "Max", "100")}
		if _, err := wclient.Invoke(ctx, user, inv, endorsers, orderer, watcher); err != nil {
			t.Fatalf("CreateAsset %s: %v", id, err)
		}
	}
	want := height(t, peer0)
	if want-before < txs {
		t.Fatalf("the peers went from height %d to %d, want at least %d blocks more", before, want, txs)
	}

	fwd := devnettest.Forward(t, network.Config().OrdererEndpoint().Address)
	fwd.Cut() // nothing listens at its port any more
	if err := devnettest.OverrideOrderer(network, peer1, fwd.Address()); err != nil {
		t.Fatal(err)
	}
	from := logSize(t, peer1Org2)
	if err := devnettest.StartPeer(ctx, network, peer1Org2); err != nil {
		t.Fatal(err)
	}
	waitHeight(t, peer1, want, "peer1.org2, restarted without an orderer, catches up from its neighbours")
	line := waitLog(t, peer1Org2, from, "block pull interrupted", fwd.Address())
	if !strings.Contains(line, "refused") {
		t.Logf("peer1.org2's pull failure does not say the connection was refused: %s", line)
	}
}

func args(s ...string) [][]byte {
	var out [][]byte
	for _, a := range s {
		out = append(out, []byte(a))
	}
	return out
}

// dropLoopbackPort drops, with iptables, every TCP packet to or from port on
// the loopback interface, as a network partition would, until undo or the
// end of the test. ok is false when this machine cannot (not root, or no
// iptables); .ci/run installs iptables and runs as root.
func dropLoopbackPort(t *testing.T, port int) (undo func(), ok bool) {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil, false
	}
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/iptables"); serr != nil {
			return nil, false
		}
		ipt = "/usr/sbin/iptables"
	}
	p := strconv.Itoa(port)
	rules := [][]string{
		{"INPUT", "-i", "lo", "-p", "tcp", "--dport", p, "-j", "DROP"},
		{"INPUT", "-i", "lo", "-p", "tcp", "--sport", p, "-j", "DROP"},
	}
	var added [][]string
	var once sync.Once
	undo = func() {
		once.Do(func() {
			for _, r := range added {
				if out, err := exec.Command(ipt, append([]string{"-w", "-D"}, r...)...).CombinedOutput(); err != nil {
					t.Errorf("remove iptables rule %v: %v: %s", r, err, out)
				}
			}
		})
	}
	t.Cleanup(undo)
	for _, r := range rules {
		if out, err := exec.Command(ipt, append([]string{"-w", "-I"}, r...)...).CombinedOutput(); err != nil {
			t.Logf("iptables %v: %v: %s", r, err, out)
			undo()
			return nil, false
		}
		added = append(added, r)
	}
	return undo, true
}
