package privatedata

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/devnettest"
	"github.com/weft-ledger/weft/internal/eventually"
)

// A value written through peer0.org1 is read on peer1.org1, whichever way it
// got there (dissemination at endorsement or the pull after commit); a value
// of the shared collection also on both Org2 peers.
func TestWriteOnPeer0ReadEverywhereItBelongs(t *testing.T) {
	c := contract(t, peer0Org1, pvtcc)
	key := unique("k")
	// Writes to org1only name their endorsing organisations: a gateway
	// does not send a collection's values to a non-member organisation it
	// chose itself (Fabric's "trusted endorsing organizations").
	mustSubmit(t, c, write{fn: "put", args: []string{"org1only", key}, value: []byte("org1 secret"), orgs: bothOrgs})
	mustSubmit(t, c, write{fn: "put", args: []string{"shared", key}, value: []byte("shared secret")})
	for _, p := range []string{peer0Org1, peer1Org1} {
		waitValue(t, p, "org1only", key, "org1 secret")
	}
	for _, p := range allPeers {
		waitValue(t, p, "shared", key, "shared secret")
	}
}

// Org2 peers keep only the hash of an org1only value, also when an Org2 peer
// endorsed the write: its simulation's private writes go to Org1 peers and
// never into its own store.
func TestOrg2PeersHoldOnlyHashes(t *testing.T) {
	c := contract(t, peer0Org1, pvtcc)
	key := unique("h")
	value := "only for org1"
	block := mustSubmit(t, c, write{fn: "put", args: []string{"org1only", key}, value: []byte(value), orgs: bothOrgs})
	for _, p := range []string{peer0Org1, peer1Org1} {
		waitValue(t, p, "org1only", key, value)
	}
	for _, p := range []string{peer0Org2, peer1Org2} {
		waitHeight(t, p, block)
		// An Org1 client passes memberOnlyRead; the peer has nothing to give.
		if got, err := query(t, p, "Org1MSP", pvtcc, "get", "org1only", key); err == nil {
			t.Errorf("get on %s returned %q, want an error: an Org2 peer must not hold org1only values", p, got)
		}
		got, err := query(t, p, "Org1MSP", pvtcc, "hash", "org1only", key)
		if err != nil {
			t.Fatalf("hash on %s: %v", p, err)
		}
		if string(got) != hashOf(value) {
			t.Errorf("hash on %s = %q, want %q", p, got, hashOf(value))
		}
	}
}

// memberOnlyRead refuses an Org2 client's read of org1only, on an Org2 and
// an Org1 peer alike, naming the collection and the client's organisation;
// memberOnlyWrite its write.
func TestMemberOnlyReadAndWriteRefuseOrg2Client(t *testing.T) {
	key := unique("m")
	mustSubmit(t, contract(t, peer0Org1, pvtcc), write{fn: "put", args: []string{"org1only", key}, value: []byte("v"), orgs: bothOrgs})
	waitValue(t, peer0Org1, "org1only", key, "v")
	for _, p := range []string{peer0Org1, peer0Org2} {
		_, err := query(t, p, "Org2MSP", pvtcc, "get", "org1only", key)
		wantError(t, "get of org1only by an Org2 client on "+p, err, "org1only", "Org2MSP")
	}
	_, err := submit(contract(t, peer0Org2, pvtcc), write{fn: "put", args: []string{"org1only", key}, value: []byte("from org2"), orgs: bothOrgs})
	wantError(t, "put to org1only by an Org2 client", err, "org1only", "Org2MSP")
	waitValue(t, peer0Org1, "org1only", key, "v")
}

// peer1.org1, stopped before a write and started after it, commits the
// block without the private values (org1only goes to at most one other
// peer, shared to peers that were up) and reconciliation fills the gap.
func TestReconciliationFillsAStoppedPeersGap(t *testing.T) {
	reconcileOften(t, peer1Org1)
	start := stopPeer(t, peer1Org1)
	c := contract(t, peer0Org1, pvtcc)
	key := unique("r")
	block := mustSubmit(t, c, write{fn: "put", args: []string{"org1only", key}, value: []byte("missed"), orgs: bothOrgs})
	mustSubmit(t, c, write{fn: "put", args: []string{"shared", key}, value: []byte("missed too")})
	start()
	waitHeight(t, peer1Org1, block+1)
	waitValue(t, peer1Org1, "org1only", key, "missed")
	waitValue(t, peer1Org1, "shared", key, "missed too")
}

// A btl3 value committed in block n is kept while blocks n+1..n+3 commit and
// removed, value and hash, when block n+4 commits (Fabric: it expires at
// n + blockToLive + 1), on every member peer.
func TestBlockToLiveExpiresOnEveryMember(t *testing.T) {
	c := contract(t, peer0Org1, pvtcc)
	key := unique("btl")
	n := mustSubmit(t, c, write{fn: "put", args: []string{"btl3", key}, value: []byte("short-lived")})
	filler := func() uint64 {
		return mustSubmit(t, c, write{fn: "put", args: []string{"shared", unique("filler")}, value: []byte("x")})
	}
	last := n
	for last < n+3 {
		last = filler()
	}
	if last != n+3 {
		t.Fatalf("the fillers committed up to block %d, want exactly %d (another writer on the channel?)", last, n+3)
	}
	for _, p := range allPeers {
		waitHeight(t, p, n+3)
		waitValue(t, p, "btl3", key, "short-lived")
	}
	if last = filler(); last != n+4 {
		t.Fatalf("the last filler committed in block %d, want %d", last, n+4)
	}
	for _, p := range allPeers {
		waitHeight(t, p, n+4)
		if got, err := query(t, p, "Org1MSP", pvtcc, "get", "btl3", key); err == nil {
			t.Errorf("get on %s after block %d returned %q, want the value gone", p, n+4, got)
		}
		if got, err := query(t, p, "Org1MSP", pvtcc, "hash", "btl3", key); err != nil || len(got) != 0 {
			t.Errorf("hash on %s after block %d = %q, %v; want none", p, n+4, got, err)
		}
	}
}

// A private key-level endorsement policy replaces the chaincode's for its
// key: with Org1MSP's alone, Org1 peers endorse an update alone and Org2
// peers cannot.
func TestPrivateKeyLevelEndorsement(t *testing.T) {
	c := contract(t, peer0Org1, pvtcc)
	key := unique("ep")
	mustSubmit(t, c, write{fn: "put", args: []string{"shared", key}, value: []byte("v1")})
	// The chaincode's policy (a majority of two organisations) needs both.
	if st, err := submit(c, write{fn: "put", args: []string{"shared", key}, value: []byte("org1 alone"), orgs: []string{"Org1MSP"}}); err == nil && st.Successful {
		t.Fatalf("an update endorsed by Org1 alone committed before the key had a policy of its own")
	}
	mustSubmit(t, c, write{fn: "setep", args: []string{"shared", key, "Org1MSP"}})
	got, err := query(t, peer0Org1, "Org1MSP", pvtcc, "getep", "shared", key)
	if err != nil || string(got) != `["Org1MSP"]` {
		t.Fatalf("getep = %q, %v; want [\"Org1MSP\"]", got, err)
	}
	mustSubmit(t, c, write{fn: "put", args: []string{"shared", key}, value: []byte("v2"), orgs: []string{"Org1MSP"}})
	waitValue(t, peer0Org1, "shared", key, "v2")
	c2 := contract(t, peer0Org2, pvtcc)
	st, err := submit(c2, write{fn: "put", args: []string{"shared", key}, value: []byte("org2 alone"), orgs: []string{"Org2MSP"}})
	if err == nil && st.Successful {
		t.Fatalf("an update endorsed by Org2 alone committed against the key's Org1MSP policy")
	}
	if err == nil && st.Code.String() != "ENDORSEMENT_POLICY_FAILURE" {
		t.Errorf("the Org2 update ended %s, want ENDORSEMENT_POLICY_FAILURE", st.Code)
	}
	waitValue(t, peer0Org1, "shared", key, "v2")
}

// A peer restarted between endorsement and commit still commits the private
// data its endorsement produced: it kept it in its transient store on disk.
// peer1.org1 is stopped first so that the org1only value reaches no other
// Org1 peer at endorsement (and peer0.org1 has nothing to pull it from).
func TestRestartBetweenEndorsementAndCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reconcileOften(t, peer1Org1)
	startPeer1 := stopPeer(t, peer1Org1)
	c := contract(t, peer0Org1, pvtcc)
	key := unique("restart")
	p, err := c.NewProposal("put", write{args: []string{"org1only", key}, value: []byte("survives"), orgs: bothOrgs}.options()...)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := p.Endorse()
	if err != nil {
		t.Fatalf("endorse: %v", devnettest.ErrorText(err))
	}
	restarted := time.Now()
	if err := devnettest.RestartPeer(ctx, network, peer0Org1); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s restarted in %s", peer0Org1, time.Since(restarted).Round(time.Millisecond))
	// The restarted peer's gateway takes the submission once it serves again.
	var commitErr error
	err = eventually.Wait(time.Minute, func(context.Context) error {
		commit, err := tx.Submit()
		if err != nil {
			return err
		}
		st, err := commit.Status()
		if err != nil {
			return err
		}
		if !st.Successful {
			commitErr = fmt.Errorf("transaction %s ended %s", st.TransactionID, st.Code)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("submit after the restart: %v", devnettest.ErrorText(err))
	}
	if commitErr != nil {
		t.Fatal(commitErr)
	}
	t.Logf("submitted and committed %s after the restart", time.Since(restarted).Round(time.Millisecond))
	waitValue(t, peer0Org1, "org1only", key, "survives")
	startPeer1()
	waitValue(t, peer1Org1, "org1only", key, "survives")
}

// reconcileOften makes the peer called name, when it next starts, reconcile
// every 5s instead of Fabric's default minute, so that a test waiting for
// reconciliation takes seconds.
func reconcileOften(t *testing.T, name string) {
	t.Helper()
	if err := devnettest.SetPeerConfig(network, node(t, name), "peer.gossip.pvtData.reconcileSleepInterval", "5s"); err != nil {
		t.Fatal(err)
	}
}

// The gateway plans endorsements from the transaction's chaincode interest,
// which names the collections it writes: transient data for org1only is not
// sent to an Org2 peer the gateway would choose itself (the chaincode's
// policy needs one), and the client is told to name its endorsers, as
// Fabric's gateway tells it.
func TestGatewayKeepsTransientDataFromNonMembers(t *testing.T) {
	c := contract(t, peer0Org1, pvtcc)
	key := unique("gw")
	before := height(t, peer0Org1)
	_, err := submit(c, write{fn: "put", args: []string{"org1only", key}, value: []byte("for org1 only")})
	wantError(t, "a write to org1only with the gateway choosing its endorsers", err,
		"not in the distribution policy of the private data collection(s): org1only", "trusted endorsing organizations")
	if h := height(t, peer0Org1); h != before {
		t.Errorf("height went from %d to %d: nothing should have been ordered", before, h)
	}
}
