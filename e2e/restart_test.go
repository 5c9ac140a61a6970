package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/devnet"
)

// TestRestartFromLedgers stops every process of the network and runs devnet.Up
// again on the same folder, as `weft up` does on its second run: the network
// comes back from its ledgers with its state and keeps taking transactions.
func TestRestartFromLedgers(t *testing.T) {
	_, contract := gatewayFor(t, network.Orgs[0], "User1")
	id := uniqueID("restart")
	submitEverywhere(t, contract, "CreateAsset", id, "white", "9", "Gus", "90")

	cfg := network.Config()
	network.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := devnet.Up(ctx, cfg)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	network = n

	for _, org := range network.Orgs {
		_, c := gatewayFor(t, org, "User1")
		if a := readAsset(t, c, id); a.Owner != "Gus" {
			t.Fatalf("after restart %s sees owner %q, want Gus", org.Peer, a.Owner)
		}
	}
	_, contract = gatewayFor(t, network.Orgs[0], "User1")
	if old := submitEverywhere(t, contract, "TransferAsset", id, "Hal"); string(old) != "Gus" {
		t.Fatalf("TransferAsset after restart returned %q, want Gus", old)
	}
}
