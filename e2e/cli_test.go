package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCLIAgainstNetwork(t *testing.T) {
	cfg := network.Config()
	ordererCA := filepath.Join(cfg.OrdererDir(), "tls", "ca.crt")
	org1 := network.Orgs[0]
	orderer, bothPeers := cliTargets()

	out, err := weftAs(t, org1, "User1", "chaincode", "query", "-C", "mychannel", "-n", "basic", "-c", `{"Args":["ReadAsset","asset1"]}`)
	if err != nil || !strings.Contains(out, `"ID":"asset1"`) {
		t.Fatalf("query asset1: %v\n%s", err, out)
	}

	id := uniqueID("cli")
	invoke := append(append([]string{"chaincode", "invoke"}, orderer...), bothPeers...)
	out, err = weftAs(t, org1, "User1", append(invoke, "-C", "mychannel", "-n", "basic",
		"-c", fmt.Sprintf(`{"function":"CreateAsset","Args":["%s","red","4","Ivy","40"]}`, id), "--waitForEvent")...)
	if err != nil || !strings.Contains(out, "Chaincode invoke successful") {
		t.Fatalf("invoke: %v\n%s", err, out)
	}
	out, err = weftAs(t, org1, "User1", "chaincode", "query", "-C", "mychannel", "-n", "basic", "-c", fmt.Sprintf(`{"Args":["ReadAsset","%s"]}`, id))
	if err != nil || !strings.Contains(out, `"Owner":"Ivy"`) {
		t.Fatalf("query new asset: %v\n%s", err, out)
	}

	out, err = weftAs(t, org1, "User1", "channel", "getinfo", "-c", "mychannel")
	if err != nil || !strings.Contains(out, `"height":`) {
		t.Fatalf("getinfo: %v\n%s", err, out)
	}
	out, err = weftAs(t, org1, "Admin", "channel", "list")
	if err != nil || !strings.Contains(out, "mychannel") {
		t.Fatalf("channel list: %v\n%s", err, out)
	}
	out, err = weftAs(t, org1, "User1", "chaincode", "querycommitted", "-C", "mychannel", "-n", "basic")
	if err != nil || !strings.Contains(out, "Version: 1.0, Sequence: 1") {
		t.Fatalf("querycommitted: %v\n%s", err, out)
	}

	// Installed packages are peer-local and admin-only, as in Fabric.
	out, err = weftAs(t, org1, "Admin", "chaincode", "queryinstalled")
	if err != nil || !strings.HasPrefix(out, "Installed chaincodes on peer:\n") || !regexp.MustCompile(`(?m)^Package ID: basic_1\.0:[0-9a-f]{64}, Label: basic_1\.0$`).MatchString(out) {
		t.Fatalf("queryinstalled: %v\n%s", err, out)
	}
	out, err = weftAs(t, org1, "User1", "chaincode", "queryinstalled")
	if err == nil || strings.Contains(out, "Package ID:") {
		t.Fatalf("queryinstalled by User1: err = %v, want an admin-only refusal\n%s", err, out)
	}
	// Nobody has approved sequence 2 of basic yet.
	out, err = weftAs(t, org1, "User1", "chaincode", "checkcommitreadiness", "-C", "mychannel", "-n", "basic", "-v", "1.0", "--sequence", "2")
	want := "Chaincode definition for chaincode 'basic', version '1.0', sequence '2' on channel 'mychannel' approval status by org:\n" +
		org1.MSPID + ": false\n" + network.Orgs[1].MSPID + ": false\n"
	if err != nil || out != want {
		t.Fatalf("checkcommitreadiness: %v\ngot:\n%s\nwant:\n%s", err, out, want)
	}
	// Sequence 1 is already committed: the peer refuses rather than report approvals.
	out, err = weftAs(t, org1, "User1", "chaincode", "checkcommitreadiness", "-C", "mychannel", "-n", "basic", "-v", "1.0", "--sequence", "1")
	if err == nil || !strings.Contains(err.Error(), "must be sequence 2") {
		t.Fatalf("checkcommitreadiness for the committed sequence 1: err = %v, want a refusal naming sequence 2\n%s", err, out)
	}

	admin := filepath.Join(cfg.Path("organizations", "ordererOrganizations", "example.com", "users", "Admin@example.com", "tls"))
	out, err = weftAs(t, org1, "User1", "osnadmin", "channel", "list", "-o", fmt.Sprintf("127.0.0.1:%d", cfg.Ports.OrdererAdmin),
		"--ca-file", ordererCA, "--client-cert", filepath.Join(admin, "client.crt"), "--client-key", filepath.Join(admin, "client.key"))
	if err != nil || !strings.Contains(out, `"name": "mychannel"`) {
		t.Fatalf("osnadmin list: %v\n%s", err, out)
	}

	// A user who is not an admin cannot join the peer to a channel.
	out, err = weftAs(t, org1, "User1", "channel", "join", "-b", cfg.GenesisPath())
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("join by User1: err = %v, want a 403 refusal\n%s", err, out)
	}
}
