package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/cli"
	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
)

// weftAs runs the weft CLI in-process with the test-network environment of
// org's user (CORE_PEER_* naming org's peer), and returns what it printed.
func weftAs(t *testing.T, org devnet.Org, user string, args ...string) (string, error) {
	t.Helper()
	cfg := network.Config()
	env := map[string]string{
		"CORE_PEER_TLS_ENABLED":       "true",
		"CORE_PEER_LOCALMSPID":        org.MSPID,
		"CORE_PEER_ADDRESS":           fmt.Sprintf("localhost:%d", org.Port),
		"CORE_PEER_TLS_ROOTCERT_FILE": filepath.Join(cfg.PeerDir(org), "tls", "ca.crt"),
		"CORE_PEER_MSPCONFIGPATH":     filepath.Join(cfg.UserDir(org, user), "msp"),
	}
	var out, errOut bytes.Buffer
	err := cli.Run(context.Background(), &cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}, args)
	return out.String() + errOut.String(), err
}

// mustWeft is weftAs that fails the test on error.
func mustWeft(t *testing.T, org devnet.Org, user string, args ...string) string {
	t.Helper()
	out, err := weftAs(t, org, user, args...)
	if err != nil {
		t.Fatalf("weft %s (as %s of %s): %v\n%s", strings.Join(args, " "), user, org.MSPID, err, out)
	}
	return out
}

// wantWeftError runs the CLI and requires an error whose text holds every want.
func wantWeftError(t *testing.T, org devnet.Org, user string, want []string, args ...string) {
	t.Helper()
	out, err := weftAs(t, org, user, args...)
	if err == nil {
		t.Fatalf("weft %s succeeded, want an error naming %q\n%s", strings.Join(args, " "), want, out)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("weft %s: error %q does not name %q", strings.Join(args, " "), err, w)
		}
	}
}

// cliTargets returns the CLI flags that name the test network's orderer
// (with TLS) and both organisations' peers.
func cliTargets() (orderer, bothPeers []string) {
	cfg := network.Config()
	org1, org2 := network.Orgs[0], network.Orgs[1]
	orderer = []string{"-o", fmt.Sprintf("localhost:%d", cfg.Ports.Orderer), "--tls", "--cafile", filepath.Join(cfg.OrdererDir(), "tls", "ca.crt")}
	bothPeers = []string{
		"--peerAddresses", fmt.Sprintf("localhost:%d", org1.Port), "--tlsRootCertFiles", filepath.Join(cfg.PeerDir(org1), "tls", "ca.crt"),
		"--peerAddresses", fmt.Sprintf("localhost:%d", org2.Port), "--tlsRootCertFiles", filepath.Join(cfg.PeerDir(org2), "tls", "ca.crt"),
	}
	return orderer, bothPeers
}

var txidPattern = regexp.MustCompile(`txid \[([0-9a-f]{64})\] committed with status \(VALID\)`)

// awaitEverywhere waits until every peer of the network has committed the
// transaction whose commit the CLI reported in out (approveformyorg waits
// only for its own organisation's peer).
func awaitEverywhere(t *testing.T, out string) {
	t.Helper()
	m := txidPattern.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no committed txid in CLI output:\n%s", out)
	}
	user, err := network.Config().Signer(network.Orgs[0], "User1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, o := range network.Orgs {
		w, err := wclient.WatchCommits(ctx, dialPeer(t, o), user, devnet.ChannelID, wclient.SeekFrom(0))
		if err != nil {
			t.Fatal(err)
		}
		st, err := w.Wait(m[1])
		w.Close()
		if err != nil || st.Code.String() != "VALID" {
			t.Fatalf("transaction %s on %s: %v %v", m[1], o.Peer, st.Code, err)
		}
	}
}

// ccaasPackage writes connection.json for addr and packages it with the CLI
// as a Fabric admin does; it returns the package file and its ID.
func ccaasPackage(t *testing.T, org devnet.Org, dir, label, addr string) (string, string) {
	t.Helper()
	src := filepath.Join(dir, label)
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	conn, err := json.Marshal(wclient.ConnectionJSON{Address: addr, DialTimeout: "10s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "connection.json"), conn, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, label+".tar.gz")
	mustWeft(t, org, "Admin", "lifecycle", "chaincode", "package", out, "--path", src, "--lang", "ccaas", "--label", label)
	pkg, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	id := mustWeft(t, org, "Admin", "lifecycle", "chaincode", "calculatepackageid", out)
	if strings.TrimSpace(id) != wclient.PackageID(label, pkg) {
		t.Fatalf("calculatepackageid = %q, want %s", id, wclient.PackageID(label, pkg))
	}
	return out, wclient.PackageID(label, pkg)
}

// TestLifecycleUpgrade deploys a chaincode at sequence 1 with the CLI, uses it,
// then upgrades it to a different program at sequence 2 as Fabric's
// "upgrade a chaincode" tutorial does, and checks that the running peers
// switch to the new package without a restart while the state is kept. On
// the way it checks the errors an admin meets: approving too far ahead,
// committing before every organisation approved, and invoking on a peer
// without the package.
func TestLifecycleUpgrade(t *testing.T) {
	const name = "upgradecc"
	cfg := network.Config()
	org1, org2 := network.Orgs[0], network.Orgs[1]
	dir := t.TempDir()
	orderer, bothPeers := cliTargets()
	cmd := func(args ...string) []string { return append([]string{"lifecycle", "chaincode"}, args...) }
	def := func(version string, seq int) []string {
		return append(append([]string{}, orderer...), "--channelID", devnet.ChannelID, "--name", name, "--version", version, "--sequence", strconv.Itoa(seq))
	}
	approve := func(version string, seq int, packageID string) []string {
		return cmd(append(append([]string{"approveformyorg"}, def(version, seq)...), "--package-id", packageID)...)
	}
	invoke := func(org devnet.Org, ctor string) string {
		args := append(append([]string{"chaincode", "invoke"}, orderer...), "-C", devnet.ChannelID, "-n", name, "--waitForEvent", "-c", ctor)
		return mustWeft(t, org, "User1", append(args, bothPeers...)...)
	}
	query := func(org devnet.Org, ctor string) (string, error) {
		return weftAs(t, org, "User1", "chaincode", "query", "-C", devnet.ChannelID, "-n", name, "-c", ctor)
	}

	// Sequence 1: the basic sample as a chaincode service.
	addr1 := "127.0.0.1:" + strconv.Itoa(freePort(t))
	pkg1, id1 := ccaasPackage(t, org1, dir, "upgradecc_1", addr1)
	startCCaaS(t, filepath.Join(cfg.BinDir, "basic"), addr1, id1)
	for _, o := range network.Orgs {
		if out := mustWeft(t, o, "Admin", cmd("install", pkg1)...); !strings.Contains(out, "Chaincode code package identifier: "+id1) {
			t.Fatalf("install on %s printed %q", o.Peer, out)
		}
	}
	var installed struct {
		InstalledChaincodes []struct {
			PackageID string `json:"package_id"`
			Label     string `json:"label"`
		} `json:"installed_chaincodes"`
	}
	out := mustWeft(t, org1, "Admin", cmd("queryinstalled", "--output", "json")...)
	if err := json.Unmarshal([]byte(out), &installed); err != nil || !strings.Contains(out, "\n\t\"installed_chaincodes\": [") {
		t.Fatalf("queryinstalled --output json = %q (%v), want Fabric's tab-indented snake_case JSON", out, err)
	}
	found := false
	for _, ic := range installed.InstalledChaincodes {
		found = found || (ic.PackageID == id1 && ic.Label == "upgradecc_1")
	}
	if !found {
		t.Fatalf("queryinstalled does not list %s: %s", id1, out)
	}
	for _, o := range network.Orgs {
		awaitEverywhere(t, mustWeft(t, o, "Admin", approve("1.0", 1, id1)...))
	}
	want := "{\n\t\"approvals\": {\n\t\t\"Org1MSP\": true,\n\t\t\"Org2MSP\": true\n\t}\n}\n"
	out = mustWeft(t, org1, "User1", append(cmd("checkcommitreadiness"), append(def("1.0", 1), "-O", "json")...)...)
	if out != want {
		t.Fatalf("checkcommitreadiness -O json:\n%s\nwant:\n%s", out, want)
	}
	out = mustWeft(t, org1, "Admin", append(append(cmd("commit"), def("1.0", 1)...), bothPeers...)...)
	if strings.Count(out, "committed with status (VALID) at ") != 2 {
		t.Fatalf("commit did not report the commit on both peers:\n%s", out)
	}

	id := uniqueID("upgrade")
	invoke(org1, fmt.Sprintf(`{"function":"CreateAsset","Args":["%s","blue","5","Ana","100"]}`, id))
	if out, err := query(org2, fmt.Sprintf(`{"Args":["ReadAsset","%s"]}`, id)); err != nil || !strings.Contains(out, `"Owner":"Ana"`) {
		t.Fatalf("ReadAsset at sequence 1: %v\n%s", err, out)
	}
	// The basic sample has no contract-API metadata: the observable
	// difference once the contract-API sample replaces it.
	if out, err := query(org1, `{"Args":["org.hyperledger.fabric:GetMetadata"]}`); err == nil {
		t.Fatalf("GetMetadata answered at sequence 1 (basic has no such function): %s", out)
	}

	// Sequence 2: the contract-API sample, installed on Org1's peer only for now.
	addr2 := "127.0.0.1:" + strconv.Itoa(freePort(t))
	pkg2, id2 := ccaasPackage(t, org1, dir, "upgradecc_2", addr2)
	startContractService(t, addr2, id2)
	mustWeft(t, org1, "Admin", cmd("install", pkg2)...)
	dl := filepath.Join(dir, "download")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		t.Fatal(err)
	}
	mustWeft(t, org1, "Admin", cmd("getinstalledpackage", "--package-id", id2, "--output-directory", dl)...)
	got, err := os.ReadFile(filepath.Join(dl, id2+".tar.gz"))
	want2, _ := os.ReadFile(pkg2)
	if err != nil || !bytes.Equal(got, want2) {
		t.Fatalf("getinstalledpackage wrote %d bytes (%v), want the %d bytes installed", len(got), err, len(want2))
	}

	awaitEverywhere(t, mustWeft(t, org1, "Admin", approve("2.0", 2, id2)...))
	out = mustWeft(t, org1, "Admin", cmd("queryapproved", "-C", devnet.ChannelID, "-n", name)...)
	if want := fmt.Sprintf("Approved chaincode definition for chaincode '%s' on channel '%s':\nsequence: 2, version: 2.0, init-required: false, package-id: %s, endorsement plugin: escc, validation plugin: vscc\n", name, devnet.ChannelID, id2); out != want {
		t.Fatalf("queryapproved:\n%s\nwant:\n%s", out, want)
	}
	// Sequence 3 cannot be approved while 2 is not committed.
	wantWeftError(t, org1, "Admin", []string{"requested sequence 3 is larger than the next available sequence number 2"},
		approve("3.0", 3, id2)...)
	// Org2 has not approved: the commit is refused, naming Org2MSP.
	out = mustWeft(t, org1, "User1", append(cmd("checkcommitreadiness"), append(def("2.0", 2), "--output", "json")...)...)
	if out != "{\n\t\"approvals\": {\n\t\t\"Org1MSP\": true,\n\t\t\"Org2MSP\": false\n\t}\n}\n" {
		t.Fatalf("checkcommitreadiness before Org2's approval:\n%s", out)
	}
	wantWeftError(t, org1, "Admin", []string{"approval missing from Org2MSP"}, append(append(cmd("commit"), def("2.0", 2)...), bothPeers...)...)
	// Fabric lets an organisation approve a package its peers do not have yet.
	awaitEverywhere(t, mustWeft(t, org2, "Admin", approve("2.0", 2, id2)...))
	mustWeft(t, org1, "Admin", append(append(cmd("commit"), def("2.0", 2)...), bothPeers...)...)
	out = mustWeft(t, org2, "User1", cmd("querycommitted", "-C", devnet.ChannelID, "-n", name)...)
	if !strings.Contains(out, "Version: 2.0, Sequence: 2, Endorsement Plugin: escc, Validation Plugin: vscc, Approvals: [Org1MSP: true, Org2MSP: true]") {
		t.Fatalf("querycommitted after the upgrade:\n%s", out)
	}

	// Org1's peer runs the new package at once; the old state is there.
	out, err = query(org1, `{"Args":["org.hyperledger.fabric:GetMetadata"]}`)
	if err != nil || !strings.Contains(out, "SmartContract") {
		t.Fatalf("GetMetadata after the upgrade: %v\n%s", err, out)
	}
	if out, err := query(org1, fmt.Sprintf(`{"Args":["ReadAsset","%s"]}`, id)); err != nil || !strings.Contains(out, `"Owner":"Ana"`) {
		t.Fatalf("ReadAsset of the sequence-1 asset after the upgrade: %v\n%s", err, out)
	}
	// Org2's peer has not installed the package its organisation approved.
	_, err = query(org2, fmt.Sprintf(`{"Args":["ReadAsset","%s"]}`, id))
	if err == nil || !strings.Contains(err.Error(), id2) || !strings.Contains(err.Error(), "not installed") {
		t.Fatalf("query on a peer without the approved package: err = %v, want one naming %s as not installed", err, id2)
	}
	mustWeft(t, org2, "Admin", cmd("install", pkg2)...)
	out, err = query(org2, `{"Args":["org.hyperledger.fabric:GetMetadata"]}`)
	if err != nil || !strings.Contains(out, "SmartContract") {
		t.Fatalf("GetMetadata on Org2's peer after installing: %v\n%s", err, out)
	}
	invoke(org2, fmt.Sprintf(`{"function":"TransferAsset","Args":["%s","Bo"]}`, id))
	for _, o := range network.Orgs {
		if out, err := query(o, fmt.Sprintf(`{"Args":["ReadAsset","%s"]}`, id)); err != nil || !strings.Contains(out, `"Owner":"Bo"`) {
			t.Fatalf("ReadAsset on %s after TransferAsset at sequence 2: %v\n%s", o.Peer, err, out)
		}
	}
}
