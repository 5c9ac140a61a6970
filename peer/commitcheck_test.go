package peer

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testlog"
	"github.com/weft-ledger/weft/peer/commitcheck"
	"github.com/weft-ledger/weft/protos"
)

// TestCommitHashDivergenceDetected runs two real peers of the channel over
// TLS, B being the channel's anchor peer for Org1. Both commit a block 1 with
// the same header and data, but they reach different verdicts on its
// transaction, as two peers whose states differ would. Peer A's periodic
// check asks B through qscc and counts the mismatch in
// ledger_commit_hash_mismatches; a comparison logs an error naming the block
// and the other peer. Compared with a peer that agrees (itself), nothing is
// reported.
func TestCommitHashDivergenceDetected(t *testing.T) {
	t.Parallel()
	dir := devCrypto(t)
	admin := devSigner(t, dir, "Admin@org1.example.com")
	nodeB, connB := runNode(t, dir, filepath.Join(t.TempDir(), "b"), quietLog)
	// Peer B is Org1's anchor peer, so peer A's periodic check asks it.
	host, port, _ := net.SplitHostPort(nodeB.cfg.Address)
	genesis := devGenesis(t, dir, "Host: localhost\n        Port: 7051", "Host: "+host+"\n        Port: "+port)
	logs := &testlog.Buffer{}
	nodeA, connA := runNode(t, dir, filepath.Join(t.TempDir(), "a"), slog.New(slog.NewTextHandler(logs, nil)),
		func(c *Config) { c.CommitHashCheckInterval = 50 * time.Millisecond })
	var chans []*channel
	for _, p := range []struct {
		node *Node
		conn *grpc.ClientConn
	}{{nodeA, connA}, {nodeB, connB}} {
		if resp := propose(t, p.conn, admin, "cscc", []byte("JoinChain"), genesis); resp.Status != 200 {
			t.Fatalf("join: %d %s", resp.Status, resp.Message)
		}
		ch, err := p.node.channel("mychannel")
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}

	// The same block 1 for both, but each with its own verdict on the one
	// transaction, as a state difference would cause.
	g, err := protos.UnmarshalBlock(genesis)
	if err != nil {
		t.Fatal(err)
	}
	for i, code := range []pb.TxValidationCode{pb.TxValidationCode_MVCC_READ_CONFLICT, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE} {
		b := protos.NewBlock(1, protos.BlockHeaderHash(g.Header), [][]byte{[]byte("one transaction")})
		protos.SetTxFilter(b, []byte{byte(code)})
		if err := chans[i].ledger.Commit(b, nil); err != nil {
			t.Fatal(err)
		}
		chans[i].committed.advance(2)
	}

	// The periodic check finds the difference by itself.
	series := fmt.Sprintf(`ledger_commit_hash_mismatches{channel="mychannel",peer=%q}`, nodeB.cfg.Address)
	eventually.True(t, 10*time.Second, "peer A's check counts a mismatch with its anchor peer B", func() bool {
		return metricValue(t, nodeA, series) != ""
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := chans[0].compareCommitHash(ctx, "peerB", connB)
	if err != nil {
		t.Fatalf("compare with peer B: %v", err)
	}
	if res.Outcome != commitcheck.Mismatch || res.Block != 1 {
		t.Fatalf("compare with peer B = %s at block %d, want a mismatch at block 1", res.Outcome, res.Block)
	}
	if got := logs.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "world states have diverged") ||
		!strings.Contains(got, "peer=peerB") || !strings.Contains(got, "block=1") {
		t.Fatalf("log does not report the divergence with peer B at block 1:\n%s", got)
	}
	if got := metricValue(t, nodeA, `ledger_commit_hash_mismatches{channel="mychannel",peer="peerB"}`); got != "1" {
		t.Fatalf("ledger_commit_hash_mismatches = %q, want 1", got)
	}

	res, err = chans[0].compareCommitHash(ctx, "peerA", connA)
	if err != nil || res.Outcome != commitcheck.Match || res.Block != 1 {
		t.Fatalf("compare with an agreeing peer = %+v, %v; want a match at block 1", res, err)
	}
	if got := metricValue(t, nodeA, `ledger_commit_hash_mismatches{channel="mychannel",peer="peerA"}`); got != "" {
		t.Fatalf("an agreeing peer was counted as a mismatch: %s", got)
	}
}

// metricValue returns the value of one series in the node's exposition
// text, "" when it is absent.
func metricValue(t *testing.T, n *Node, series string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := n.metrics.reg.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(buf.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}
