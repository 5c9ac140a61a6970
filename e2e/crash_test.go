package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/protos"
)

// TestPeerKilledDuringLoadRecovers kills Org2's peer with SIGKILL while
// transactions are being ordered, keeps ordering while it is down, restarts
// it, and checks that it catches up to the same blocks, verdicts and state as
// Org1's peer.
func TestPeerKilledDuringLoadRecovers(t *testing.T) {
	const total = 120
	org1, org2 := network.Orgs[0], network.Orgs[1]
	prefix := uniqueID("crash")

	// Pre-endorse the load on both peers so that ordering can go on while
	// Org2's peer is down.
	envs := make([]*cb.Envelope, total)
	txIDs := make([]string, total)
	for i := range envs {
		envs[i], txIDs[i] = endorsedEnvelope(t, prefix+"-"+strconv.Itoa(i))
	}
	user, err := network.Config().Signer(org1, "User1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	orderer := dialOrderer(t)
	broadcast := func(from, to int) {
		for i := from; i < to; i++ {
			if err := wclient.Broadcast(ctx, orderer, envs[i]); err != nil {
				t.Fatalf("broadcast tx %d: %v", i, err)
			}
		}
	}

	broadcast(0, total/3)
	peer2 := network.Peers[org2.MSPID]
	if err := peer2.Kill(); err != nil {
		t.Fatal(err)
	}
	broadcast(total/3, total)

	// Org1's peer commits everything while Org2's is down.
	w1, err := wclient.WatchCommits(ctx, dialPeer(t, org1), user, devnet.ChannelID, wclient.SeekFrom(0))
	if err != nil {
		t.Fatal(err)
	}
	defer w1.Close()
	if _, err := w1.Wait(txIDs[total-1]); err != nil {
		t.Fatal(err)
	}

	if err := peer2.Start(); err != nil {
		t.Fatal(err)
	}
	if err := peer2.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	conn2 := dialPeer(t, org2)
	w2, err := wclient.WatchCommits(ctx, conn2, user, devnet.ChannelID, wclient.SeekFrom(0))
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	for i, id := range txIDs {
		s1, err := w1.Wait(id)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := w2.Wait(id)
		if err != nil {
			t.Fatalf("Org2's peer never committed tx %d (%s): %v", i, id, err)
		}
		if s1 != s2 {
			t.Fatalf("tx %d: Org1 peer %+v, Org2 peer %+v", i, s1, s2)
		}
		if s1.Code != pb.TxValidationCode_VALID {
			t.Fatalf("tx %d ended %s", i, s1.Code)
		}
	}

	// Same blocks, block for block, up to the last transaction's block.
	last, _ := w1.Wait(txIDs[total-1])
	conn1 := dialPeer(t, org1)
	for n := uint64(0); n <= last.Block; n++ {
		b1, b2 := blockFromPeer(t, pb.NewEndorserClient(conn1), n), blockFromPeer(t, pb.NewEndorserClient(conn2), n)
		if !bytes.Equal(protos.BlockHeaderHash(b1.Header), protos.BlockHeaderHash(b2.Header)) {
			t.Fatalf("block %d differs between the peers", n)
		}
		if !bytes.Equal(protos.TxFilter(b1), protos.TxFilter(b2)) {
			t.Fatalf("block %d: validation codes differ: %v vs %v", n, protos.TxFilter(b1), protos.TxFilter(b2))
		}
	}
	// And the same world state.
	_, c1 := gatewayFor(t, org1, "User1")
	_, c2 := gatewayFor(t, org2, "User1")
	for _, i := range []int{0, total / 3, total - 1} {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if a, b := readAsset(t, c1, id), readAsset(t, c2, id); a != b {
			t.Fatalf("asset %s: Org1 peer %+v, Org2 peer %+v", id, a, b)
		}
	}
}

func blockFromPeer(t *testing.T, conn pb.EndorserClient, n uint64) *cb.Block {
	t.Helper()
	user, err := network.Config().Signer(network.Orgs[0], "User1")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := wclient.Query(context.Background(), user, wclient.Invocation{
		Chaincode: wclient.QSCCName,
		Args:      [][]byte{[]byte("GetBlockByNumber"), []byte(devnet.ChannelID), []byte(strconv.FormatUint(n, 10))},
	}, conn)
	if err != nil {
		t.Fatalf("GetBlockByNumber %d: %v", n, err)
	}
	b := &cb.Block{}
	if err := proto.Unmarshal(raw, b); err != nil {
		t.Fatal(err)
	}
	return b
}
