package devnet

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/internal/client"
)

// TestUpThreeOrgs starts a network of three organisations with basic
// defined under AND of all three (on free ports, without the REST gateway),
// and commits a transaction endorsed by every organisation: valid on every
// peer. The same transaction endorsed by two of them is invalidated, so the
// policy is the one in force.
func TestUpThreeOrgs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a network of three organisations")
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
	cfg := Config{Dir: t.TempDir(), BinDir: bin, Ports: ports, Organizations: 3, Log: &log, Timeout: 2 * time.Minute,
		EndorsementPolicy: "AND('Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := Up(ctx, cfg)
	if err != nil {
		t.Fatalf("Up: %v\n%s%s", err, log.String(), logTails(cfg))
	}
	t.Cleanup(n.Stop)
	if len(n.Orgs) != 3 || len(n.Peers) != 3 || len(n.AllPeers) != 3 {
		t.Fatalf("%d organisations, %d peer0s, %d peers; want 3 of each", len(n.Orgs), len(n.Peers), len(n.AllPeers))
	}
	// genesis, three approvals, the commit of the definition, InitLedger
	if h := checkPeersJoined(t, n); h < 6 {
		t.Errorf("the peers are at height %d, want at least 6", h)
	}

	c, err := n.dialAll()
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	user, err := cfg.Signer(n.Orgs[2], "User1")
	if err != nil {
		t.Fatal(err)
	}
	create := func(id string) client.Invocation {
		return client.Invocation{Channel: ChannelID, Chaincode: ChaincodeName,
			Args: [][]byte{[]byte("CreateAsset"), []byte(id), []byte("blue"), []byte("5"), []byte("Org3"), []byte("300")}}
	}
	// invokeEverywhere endorses on every organisation's peer0 and waits for
	// VALID on every peer.
	if err := n.invokeEverywhere(ctx, c, user, create("asset-three-orgs"), n.orgIDs()); err != nil {
		t.Fatalf("a transaction endorsed by Org1, Org2 and Org3: %v\n%s", err, logTails(cfg))
	}

	w, err := client.WatchCommits(ctx, c.peers[n.Orgs[2].Peer], user, ChannelID, client.SeekNewest())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	two := map[string]pb.EndorserClient{}
	for _, o := range n.Orgs[:2] {
		two[o.MSPID] = pb.NewEndorserClient(c.peers[o.Peer])
	}
	res, err := client.Invoke(ctx, user, create("asset-two-orgs"), two, c.orderer, w)
	if !errors.Is(err, client.ErrNotCommitted) || res.Status.Code != pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE {
		t.Errorf("a transaction endorsed by Org1 and Org2 only ended %v (%v), want ENDORSEMENT_POLICY_FAILURE", res, err)
	}
}
