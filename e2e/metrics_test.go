package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/operations/opstest"
)

// scrape reads and parses a node's /metrics and compares it with Fabric
// v2.5's metrics reference.
func scrape(t *testing.T, port int, own ...string) map[string]*opstest.Scraped {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics = %d %s", resp.StatusCode, raw)
	}
	fams, err := opstest.Parse(string(raw))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for _, e := range opstest.Compare(fams, own) {
		t.Errorf("port %d: /metrics differs from Fabric: %s", port, e)
	}
	return fams
}

// value is the sum of a family's samples matching labels (0 when none).
func value(fams map[string]*opstest.Scraped, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	sum := 0.0
	for _, s := range f.Series(labels) {
		sum += s.Value
	}
	return sum
}

// TestMetricsAsFabric submits a transaction and reads the peer's and the
// orderer's /metrics as a Fabric dashboard would: the families, help,
// types and labels are Fabric's, and so are the label values (the
// transaction counted under chaincode "basic:1.0", the channel's config
// transaction under "unknown").
func TestMetricsAsFabric(t *testing.T) {
	org := network.Orgs[0]
	before := value(scrape(t, org.OpsPort, "ledger_commit_hash_mismatches"), "ledger_transaction_count",
		map[string]string{"transaction_type": "ENDORSER_TRANSACTION", "chaincode": "basic:1.0", "validation_code": "VALID"})

	_, contract := gatewayFor(t, org, "User1")
	id := uniqueID("metrics")
	if _, err := contract.SubmitTransaction("CreateAsset", id, "blue", "1", "Ann", "10"); err != nil {
		t.Fatalf("CreateAsset: %v", err)
	}

	var fams map[string]*opstest.Scraped
	valid := map[string]string{"channel": devnet.ChannelID, "transaction_type": "ENDORSER_TRANSACTION", "chaincode": "basic:1.0", "validation_code": "VALID"}
	eventually.True(t, 10*time.Second, "the submitted transaction counted", func() bool {
		fams = scrape(t, org.OpsPort, "ledger_commit_hash_mismatches")
		return value(fams, "ledger_transaction_count", valid) > before
	})
	config := map[string]string{"channel": devnet.ChannelID, "transaction_type": "CONFIG", "chaincode": "unknown", "validation_code": "VALID"}
	if value(fams, "ledger_transaction_count", config) < 1 {
		t.Errorf("no CONFIG transaction counted with chaincode=\"unknown\": %+v", fams["ledger_transaction_count"].Samples)
	}
	for _, s := range fams["ledger_transaction_count"].Samples {
		if cc := s.Labels["chaincode"]; cc != "unknown" && !strings.Contains(cc, ":") {
			t.Errorf("chaincode label %q is not name:version or unknown", cc)
		}
	}
	for name, labels := range map[string]map[string]string{
		"endorser_proposal_duration":           {"channel": devnet.ChannelID, "chaincode": "basic", "success": "true"},
		"endorser_successful_proposals":        nil,
		"ledger_block_processing_time":         {"channel": devnet.ChannelID},
		"ledger_blockstorage_commit_time":      {"channel": devnet.ChannelID},
		"ledger_statedb_commit_time":           {"channel": devnet.ChannelID},
		"ledger_blockchain_height":             {"channel": devnet.ChannelID},
		"chaincode_shim_requests_received":     {"type": "PUT_STATE", "channel": devnet.ChannelID},
		"chaincode_shim_requests_completed":    {"type": "PUT_STATE", "channel": devnet.ChannelID, "success": "true"},
		"grpc_server_unary_requests_completed": {"service": "gateway_Gateway", "method": "Endorse", "code": "OK"},
		"grpc_comm_conn_opened":                nil,
	} {
		if value(fams, name, labels) < 1 {
			t.Errorf("peer: no %s%v counted", name, labels)
		}
	}

	// The gateway broadcasts to one of the orderers: the counts are summed.
	ports := network.Config().Ports
	orderers := []map[string]*opstest.Scraped{scrape(t, ports.OrdererOps)}
	for _, o := range ports.OtherOrderers {
		orderers = append(orderers, scrape(t, o.Ops))
	}
	for name, labels := range map[string]map[string]string{
		"broadcast_processed_count":                    {"channel": devnet.ChannelID, "type": "ENDORSER_TRANSACTION", "status": "SUCCESS"},
		"broadcast_validate_duration":                  {"channel": devnet.ChannelID, "type": "ENDORSER_TRANSACTION", "status": "SUCCESS"},
		"consensus_etcdraft_normal_proposals_received": {"channel": devnet.ChannelID},
		"consensus_etcdraft_cluster_size":              {"channel": devnet.ChannelID},
		"consensus_etcdraft_data_persist_duration":     {"channel": devnet.ChannelID},
		"deliver_requests_received":                    {"channel": devnet.ChannelID, "filtered": "false", "data_type": "block"},
		"deliver_blocks_sent":                          {"channel": devnet.ChannelID},
		"ledger_blockstorage_commit_time":              {"channel": devnet.ChannelID},
		"participation_status":                         {"channel": devnet.ChannelID},
	} {
		sum := 0.0
		for _, fams := range orderers {
			sum += value(fams, name, labels)
		}
		if sum < 1 {
			t.Errorf("orderers: no %s%v counted", name, labels)
		}
	}
}
