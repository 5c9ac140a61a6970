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
	"github.com/weft-ledger/weft/internal/operations/opstest"
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

// ordererFamilies are the families the orderer serves.
var ordererFamilies = []string{
	"broadcast_enqueue_duration", "broadcast_processed_count", "broadcast_validate_duration",
	"consensus_etcdraft_active_nodes", "consensus_etcdraft_cluster_size", "consensus_etcdraft_committed_block_number",
	"consensus_etcdraft_config_proposals_received", "consensus_etcdraft_data_persist_duration", "consensus_etcdraft_is_leader",
	"consensus_etcdraft_leader_changes", "consensus_etcdraft_normal_proposals_received", "consensus_etcdraft_proposal_failures",
	"consensus_etcdraft_snapshot_block_number",
	"deliver_blocks_sent", "deliver_requests_completed", "deliver_requests_received", "deliver_streams_closed", "deliver_streams_opened",
	"grpc_comm_conn_closed", "grpc_comm_conn_opened",
	"grpc_server_stream_messages_received", "grpc_server_stream_messages_sent", "grpc_server_stream_request_duration",
	"grpc_server_stream_requests_completed", "grpc_server_stream_requests_received", "grpc_server_unary_request_duration",
	"grpc_server_unary_requests_completed", "grpc_server_unary_requests_received",
	"ledger_blockchain_height", "ledger_blockstorage_commit_time",
	"participation_consensus_relation", "participation_status",
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
	fams, err := opstest.Parse(body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for _, e := range opstest.Compare(fams, nil) {
		t.Errorf("/metrics differs from Fabric: %s", e)
	}
	for _, name := range ordererFamilies {
		if fams[name] == nil {
			t.Errorf("/metrics lacks family %s", name)
		}
	}
	for _, want := range []string{
		`broadcast_processed_count{channel="mychannel",type="ENDORSER_TRANSACTION",status="SUCCESS"} 2`,
		`broadcast_processed_count{channel="unknown",type="ENDORSER_TRANSACTION",status="NOT_FOUND"} 1`,
		`broadcast_validate_duration_count{channel="mychannel",type="ENDORSER_TRANSACTION",status="SUCCESS"} 2`,
		`broadcast_enqueue_duration_count{channel="mychannel",type="ENDORSER_TRANSACTION",status="SUCCESS"} 2`,
		`consensus_etcdraft_normal_proposals_received{channel="mychannel"} 2`,
		`participation_status{channel="mychannel"} 1`,
		`participation_consensus_relation{channel="mychannel"} 1`,
		`deliver_streams_opened 1`,
		`deliver_requests_received{channel="mychannel",filtered="false",data_type="block"} 1`,
		`grpc_server_stream_requests_received{service="orderer_AtomicBroadcast",method="Broadcast"} 1`,
		`grpc_server_stream_requests_received{service="orderer_AtomicBroadcast",method="Deliver"} 1`,
		`grpc_comm_conn_opened 1`,
		`consensus_etcdraft_leader_changes{channel="mychannel"} 1`,
		`consensus_etcdraft_is_leader{channel="mychannel"} 1`,
		`consensus_etcdraft_cluster_size{channel="mychannel"} 1`,
		`consensus_etcdraft_active_nodes{channel="mychannel"} 1`,
		"# TYPE consensus_etcdraft_leader_changes counter",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	for _, name := range []string{"ledger_blockstorage_commit_time", "deliver_blocks_sent",
		"grpc_server_stream_request_duration", "grpc_server_stream_requests_completed", "grpc_server_stream_messages_sent",
		"grpc_server_stream_messages_received", "consensus_etcdraft_committed_block_number", "consensus_etcdraft_data_persist_duration",
		"consensus_etcdraft_active_nodes", "consensus_etcdraft_snapshot_block_number"} {
		if fams[name] == nil || len(fams[name].Samples) == 0 {
			t.Errorf("/metrics has no sample of %s", name)
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
