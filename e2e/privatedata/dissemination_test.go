package privatedata

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/devnettest"
	"github.com/weft-ledger/weft/internal/eventually"
)

// allthree requires three peers besides the endorser to acknowledge its
// data: with every peer up a write through peer0.org1 reaches the three
// others at endorsement; with one of them stopped the endorsement fails,
// naming the collection and the counts, and nothing is ordered.
func TestEndorsementFailsBelowRequiredPeerCount(t *testing.T) {
	c := contract(t, peer0Org1, pvtcc)
	key := unique("three")
	// Until gossip has told both endorsers of the three other peers (state
	// info, a few seconds after the network starts) the endorsement is
	// refused; a refused endorsement changes nothing, so try again.
	err := eventually.Wait(waitTimeout, func(context.Context) error {
		st, err := submit(c, write{fn: "put", args: []string{"allthree", key}, value: []byte("to all"), orgs: bothOrgs})
		if err != nil {
			return err
		}
		if !st.Successful {
			return fmt.Errorf("transaction %s ended %s", st.TransactionID, st.Code)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("write to allthree with every peer up: %v", devnettest.ErrorText(err))
	}
	for _, p := range allPeers {
		waitValue(t, p, "allthree", key, "to all")
	}

	stopPeer(t, peer1Org2) // started again when the test ends
	before := height(t, peer0Org1)
	_, err = submit(c, write{fn: "put", args: []string{"allthree", unique("three")}, value: []byte("to too few"), orgs: bothOrgs})
	wantError(t, "a write to allthree with a member peer down", err, "allthree", "requiredPeerCount 3", "failed to distribute private collection")
	if h := height(t, peer0Org1); h != before {
		t.Errorf("height went from %d to %d: a refused endorsement must not be ordered", before, h)
	}
}

// A peer whose commit gives up on missing private data at once
// (pullRetryThreshold 1ms) commits the block without it, records it
// missing, and the periodic reconciler fetches it from another member
// peer. (That reading missing data says it is not available is shown by
// the ledger's tests: here the reconciler may win the race.)
func TestReconcilerFetchesWhatCommitLacked(t *testing.T) {
	reconcileOften(t, peer1Org1)
	setPeerConfig(t, peer1Org1, "peer.gossip.pvtData.pullRetryThreshold", "1ms", "60s")
	start := stopPeer(t, peer1Org1)
	c := contract(t, peer0Org1, pvtcc)
	key := unique("rec")
	block := mustSubmit(t, c, write{fn: "put", args: []string{"org1only", key}, value: []byte("late"), orgs: bothOrgs})
	offset := devnettest.LogSize(t, network, peer1Org1)
	start()
	waitHeight(t, peer1Org1, block)
	waitValue(t, peer1Org1, "org1only", key, "late")
	logs, _ := devnettest.LogSince(t, network, peer1Org1, offset)
	for _, want := range []string{"block commits without some private data", "private data reconciled"} {
		if !strings.Contains(logs, want) {
			t.Errorf("peer1.org1's log since its start lacks %q", want)
		}
	}
}

// setPeerConfig sets a key of a peer's core.yaml for its next start, and
// back to restore when the test ends.
func setPeerConfig(t *testing.T, name, key, value, restore string) {
	t.Helper()
	if err := devnettest.SetPeerConfig(network, node(t, name), key, value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := devnettest.SetPeerConfig(network, node(t, name), key, restore); err != nil {
			t.Errorf("restore %s of %s: %v", key, name, err)
		}
	})
}

// height is the ledger height of the peer called name.
func height(t *testing.T, name string) uint64 {
	t.Helper()
	var h uint64
	err := eventually.Wait(30*time.Second, func(ctx context.Context) error {
		var err error
		h, err = devnettest.Height(ctx, network, node(t, name))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// stopPeer stops the peer called name and returns the function that starts
// it again; if the test does not, it is started when the test ends.
func stopPeer(t *testing.T, name string) (start func()) {
	t.Helper()
	if err := network.AllPeers[name].Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	started := false
	t.Cleanup(func() {
		if !started {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := devnettest.StartPeer(ctx, network, name); err != nil {
				t.Errorf("start %s again: %v", name, err)
			}
		}
	})
	return func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := devnettest.StartPeer(ctx, network, name); err != nil {
			t.Fatal(err)
		}
		started = true
	}
}
