package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
)

// TestInitRequired deploys the basic sample with `--init-required` through
// the CLI, as Fabric's test-network `deployCC -cci InitLedger` does, and
// checks Fabric's init-exactly-once rules end to end: ordinary invokes and
// queries are refused until `chaincode invoke --isInit` runs Init, a second
// --isInit is refused, ordinary invokes then work; an upgrade to a new
// version needs a new init, and of two inits endorsed together only the
// first commits (the second is an MVCC read conflict on the "initialized"
// key).
func TestInitRequired(t *testing.T) {
	const name = "initcc"
	cfg := network.Config()
	org1, org2 := network.Orgs[0], network.Orgs[1]
	orderer, bothPeers := cliTargets()
	lc := func(args ...string) []string { return append([]string{"lifecycle", "chaincode"}, args...) }
	def := func(version string, seq int) []string {
		return append(append([]string{}, orderer...), "--channelID", devnet.ChannelID, "--name", name, "--version", version,
			"--sequence", strconv.Itoa(seq), "--init-required")
	}
	invokeArgs := func(ctor string, isInit bool) []string {
		args := append(append([]string{"chaincode", "invoke"}, orderer...), "-C", devnet.ChannelID, "-n", name, "--waitForEvent", "-c", ctor)
		if isInit {
			args = append(args, "--isInit")
		}
		return append(args, bothPeers...)
	}
	query := func(org devnet.Org, ctor string) (string, error) {
		return weftAs(t, org, "User1", "chaincode", "query", "-C", devnet.ChannelID, "-n", name, "-c", ctor)
	}
	notInitialized := []string{fmt.Sprintf("chaincode '%s' has not been initialized for this version, must call as init first", name), "--isInit"}

	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	pkg, id := ccaasPackage(t, org1, t.TempDir(), "initcc_1", addr)
	startCCaaS(t, filepath.Join(cfg.BinDir, "basic"), addr, id)
	for _, o := range network.Orgs {
		mustWeft(t, o, "Admin", lc("install", pkg)...)
	}
	define := func(version string, seq int) {
		t.Helper()
		for _, o := range network.Orgs {
			awaitEverywhere(t, mustWeft(t, o, "Admin", lc(append([]string{"approveformyorg"}, append(def(version, seq), "--package-id", id)...)...)...))
		}
		out := mustWeft(t, org1, "Admin", append(lc("commit"), append(def(version, seq), bothPeers...)...)...)
		if strings.Count(out, "committed with status (VALID) at ") != 2 {
			t.Fatalf("commit of %s %s did not report the commit on both peers:\n%s", name, version, out)
		}
	}
	define("1.0", 1)
	out := mustWeft(t, org1, "Admin", lc("queryapproved", "-C", devnet.ChannelID, "-n", name)...)
	if !strings.Contains(out, "sequence: 1, version: 1.0, init-required: true") {
		t.Fatalf("queryapproved does not show init-required:\n%s", out)
	}

	// Before the init: invokes and queries are refused, naming the cause.
	wantWeftError(t, org1, "User1", notInitialized, invokeArgs(`{"function":"CreateAsset","Args":["early","red","1","Ann","1"]}`, false)...)
	for _, o := range network.Orgs {
		if out, err := query(o, `{"Args":["GetAllAssets"]}`); err == nil || !strings.Contains(err.Error(), notInitialized[0]) {
			t.Fatalf("query on %s before the init: err = %v, want %q\n%s", o.Peer, err, notInitialized[0], out)
		}
	}

	// The init runs basic's Init, which runs InitLedger.
	mustWeft(t, org1, "User1", invokeArgs(`{"function":"InitLedger","Args":[]}`, true)...)
	for _, o := range network.Orgs {
		if out, err := query(o, `{"Args":["ReadAsset","asset6"]}`); err != nil || !strings.Contains(out, `"Owner":"Michel"`) {
			t.Fatalf("ReadAsset asset6 on %s after the init: %v\n%s", o.Peer, err, out)
		}
	}
	wantWeftError(t, org2, "User1", []string{fmt.Sprintf("chaincode '%s' is already initialized but called as init", name), "without --isInit"},
		invokeArgs(`{"function":"InitLedger","Args":[]}`, true)...)

	// Ordinary invokes now work.
	mustWeft(t, org2, "User1", invokeArgs(`{"function":"CreateAsset","Args":["initcc-a","red","1","Ann","1"]}`, false)...)
	for _, o := range network.Orgs {
		if out, err := query(o, `{"Args":["ReadAsset","initcc-a"]}`); err != nil || !strings.Contains(out, `"Owner":"Ann"`) {
			t.Fatalf("ReadAsset initcc-a on %s: %v\n%s", o.Peer, err, out)
		}
	}

	// An upgrade to version 2.0 with --init-required needs a new init.
	define("2.0", 2)
	wantWeftError(t, org1, "User1", notInitialized, invokeArgs(`{"function":"TransferAsset","Args":["initcc-a","Bo"]}`, false)...)

	// Two inits endorsed before either is ordered both read the key of
	// version 1.0; the first to commit invalidates the other.
	user, err := cfg.Signer(org1, "User1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eps := allEndorsers(t)
	watchers := map[string]*wclient.CommitWatcher{}
	for _, o := range network.Orgs {
		w, err := wclient.WatchCommits(ctx, dialPeer(t, o), user, devnet.ChannelID, wclient.SeekNewest())
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		watchers[o.MSPID] = w
	}
	var txIDs []string
	var envs []*cb.Envelope
	for range 2 {
		sp, txID, err := wclient.NewProposal(user, wclient.Invocation{Channel: devnet.ChannelID, Chaincode: name, Args: [][]byte{[]byte("InitLedger")}, IsInit: true})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, endorsedTransaction(ctx, t, user, sp, eps))
		txIDs = append(txIDs, txID)
	}
	for i, env := range envs {
		if err := wclient.Broadcast(ctx, dialOrderer(t), env); err != nil {
			t.Fatalf("broadcast init %s: %v", txIDs[i], err)
		}
	}
	for _, o := range network.Orgs {
		first, err := watchers[o.MSPID].Wait(txIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		second, err := watchers[o.MSPID].Wait(txIDs[1])
		if err != nil {
			t.Fatal(err)
		}
		if first.Code != pb.TxValidationCode_VALID || second.Code != pb.TxValidationCode_MVCC_READ_CONFLICT {
			t.Fatalf("two inits of version 2.0 on %s: %s then %s, want VALID then MVCC_READ_CONFLICT", o.Peer, first.Code, second.Code)
		}
	}
	wantWeftError(t, org1, "User1", []string{"is already initialized but called as init"}, invokeArgs(`{"function":"InitLedger","Args":[]}`, true)...)
	mustWeft(t, org1, "User1", invokeArgs(`{"function":"TransferAsset","Args":["initcc-a","Bo"]}`, false)...)
	for _, o := range network.Orgs {
		if out, err := query(o, `{"Args":["ReadAsset","initcc-a"]}`); err != nil || !strings.Contains(out, `"Owner":"Bo"`) {
			t.Fatalf("ReadAsset initcc-a on %s after the 2.0 init: %v\n%s", o.Peer, err, out)
		}
	}
}
