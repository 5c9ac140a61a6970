package orderer

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/operations"
)

func opsGet(t *testing.T, url string) (int, string) {
	t.Helper()
	return opsDo(t, http.MethodGet, url, "")
}

func opsDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestOperationsEndpoints runs an orderer with its operations listener:
// readiness follows the channel's Raft leader, metrics count broadcasts,
// blocks and leader changes, and /logspec drives the node's logger.
func TestOperationsEndpoints(t *testing.T) {
	n := newNetwork(t)
	lg, err := operations.NewLogging(slog.DiscardHandler, "info")
	if err != nil {
		t.Fatal(err)
	}
	node, err := New(n.cfg, n.signer, WithTickInterval(10*time.Millisecond), WithLogging(lg))
	if err != nil {
		t.Fatal(err)
	}
	node.Start()
	t.Cleanup(node.Stop)
	ops := "http://" + node.OperationsAddr()

	if code, body := opsGet(t, ops+"/healthz"); code != 200 || !strings.Contains(body, `"status":"OK"`) {
		t.Fatalf("/healthz = %d %s", code, body)
	}
	if code, body := opsGet(t, ops+"/readyz"); code != 200 {
		t.Fatalf("/readyz with no channel = %d %s", code, body)
	}

	if code, body := join(t, n.adminClient(t), node.AdminAddr(), n.genesis); code != http.StatusCreated {
		t.Fatalf("join: %d %s", code, body)
	}
	// Ready once the single consenter has elected itself.
	eventually.True(t, 10*time.Second, "/readyz to report the channel ready", func() bool {
		code, _ := opsGet(t, ops+"/readyz")
		return code == 200
	})

	client := n.dial(t, node.Addr())
	user1 := n.user(t, "Org1", "User1")
	for i, r := range send(t, client, tx(t, user1, "mychannel", "a"), tx(t, user1, "mychannel", "b"), tx(t, user1, "nochannel", "c")) {
		if want := []cb.Status{cb.Status_SUCCESS, cb.Status_SUCCESS, cb.Status_NOT_FOUND}[i]; r.Status != want {
			t.Fatalf("envelope %d: %v %s, want %v", i, r.Status, r.Info, want)
		}
	}
	readBlocks(t, client, user1, 2)

	code, body := opsGet(t, ops+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d %s", code, body)
	}
	for _, want := range []string{
		`broadcast_processed_count{channel="mychannel",type="ENDORSER_TRANSACTION",status="SUCCESS"} 2`,
		`broadcast_processed_count{channel="",type="ENDORSER_TRANSACTION",status="NOT_FOUND"} 1`,
		`consensus_etcdraft_leader_changes{channel="mychannel"} 1`,
		`consensus_etcdraft_is_leader{channel="mychannel"} 1`,
		`consensus_etcdraft_cluster_size{channel="mychannel"} 1`,
		"# TYPE consensus_etcdraft_leader_changes counter",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	// Blocks: the genesis block and one or two cut blocks.
	if !strings.Contains(body, `ledger_blockchain_height{channel="mychannel"} 2`) && !strings.Contains(body, `ledger_blockchain_height{channel="mychannel"} 3`) {
		t.Errorf("/metrics lacks the channel height 2 or 3:\n%s", body)
	}
	// A second scrape does not count the same leader change again.
	if _, body := opsGet(t, ops+"/metrics"); !strings.Contains(body, `consensus_etcdraft_leader_changes{channel="mychannel"} 1`+"\n") {
		t.Errorf("second scrape counts leader changes again:\n%s", body)
	}

	if code, body := opsDo(t, http.MethodPut, ops+"/logspec", `{"spec":"error"}`); code != 204 {
		t.Fatalf("PUT /logspec = %d %s", code, body)
	}
	if code, body := opsGet(t, ops+"/logspec"); code != 200 || strings.TrimSpace(body) != `{"spec":"error"}` {
		t.Fatalf("GET /logspec = %d %s", code, body)
	}
	if node.log.Enabled(context.Background(), slog.LevelWarn) {
		t.Fatal("the orderer's logger ignores the spec set through /logspec")
	}
	if code, body := opsDo(t, http.MethodPut, ops+"/logspec", `{"spec":"error:orderer..raft=debug"}`); code != 400 || !strings.Contains(body, "orderer..raft") {
		t.Fatalf("PUT bad spec = %d %s", code, body)
	}
	if code, body := opsGet(t, ops+"/version"); code != 200 || !strings.Contains(body, `"Version"`) {
		t.Fatalf("/version = %d %s", code, body)
	}
}

// TestReadinessWithoutLeader: a channel whose Raft has no leader is named.
func TestReadinessWithoutLeader(t *testing.T) {
	// One of three consenters alone can elect no leader.
	n := newRaftNet(t)
	node := n.start(t, 0)
	t.Cleanup(func() { n.stop(0) })
	n.join(t, 0, n.genesis)
	code, body := opsGet(t, "http://"+node.OperationsAddr()+"/readyz")
	if code != 503 || !strings.Contains(body, `"component":"channels"`) || !strings.Contains(body, "channel mychannel: no Raft leader") {
		t.Fatalf("/readyz without a leader = %d %s", code, body)
	}
	if code, _ := opsGet(t, "http://"+node.OperationsAddr()+"/healthz"); code != 200 {
		t.Fatalf("/healthz without a leader = %d", code)
	}
}
