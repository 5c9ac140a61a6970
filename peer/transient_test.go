package peer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

func pvtSet(ns string) *rwset.TxPvtReadWriteSet {
	return &rwset.TxPvtReadWriteSet{NsPvtRwset: []*rwset.NsPvtReadWriteSet{{Namespace: ns}}}
}

// taken renders a Take result as "index=namespace" in index order.
func taken(m map[uint64]*rwset.TxPvtReadWriteSet) []string {
	var out []string
	for i, p := range m {
		out = append(out, fmt.Sprintf("%d=%s", i, p.NsPvtRwset[0].Namespace))
	}
	sort.Strings(out)
	return out
}

// fakeHeights serves ledger heights by channel; unknown channels are an error.
type fakeHeights map[string]uint64

func (f fakeHeights) height(id string) (uint64, error) {
	h, ok := f[id]
	if !ok {
		return 0, fmt.Errorf("peer has not joined channel %q", id)
	}
	return h, nil
}

func TestTransientStoresKeepEntriesAcrossARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	heights := fakeHeights{"ch1": 3, "ch2": 7}
	s := newTransientStores(dir, 10, heights.height, quietLog)
	for _, p := range []struct{ ch, tx, ns string }{{"ch1", "a", "ns-a"}, {"ch1", "b", "ns-b"}, {"ch2", "a", "ns-a2"}} {
		if err := s.Put(p.ch, p.tx, pvtSet(p.ns)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("ch1", "c", pvtSet("ns-c")); err == nil {
		t.Fatal("Put after Close succeeded")
	}

	s = newTransientStores(dir, 10, heights.height, quietLog)
	t.Cleanup(func() { s.Close() })
	if got := taken(s.Take("ch1", 3, []string{"x", "b", "a"})); fmt.Sprint(got) != "[1=ns-b 2=ns-a]" {
		t.Fatalf("ch1 after the restart: Take = %v, want [1=ns-b 2=ns-a]", got)
	}
	// Block 3's commit failed: it is committed again and finds its sets.
	if got := taken(s.Take("ch1", 3, []string{"x", "b", "a"})); fmt.Sprint(got) != "[1=ns-b 2=ns-a]" {
		t.Fatalf("ch1: block 3 taken again = %v, want [1=ns-b 2=ns-a]", got)
	}
	// Block 4 shows block 3 committed: its sets are gone.
	if got := taken(s.Take("ch1", 4, []string{"a", "b"})); got != nil {
		t.Fatalf("ch1: txIDs of block 3 taken at block 4 = %v, want nothing", got)
	}
	// Each channel has its own store: ch2's entry of txID a is untouched.
	if got := taken(s.Take("ch2", 7, []string{"a"})); fmt.Sprint(got) != "[0=ns-a2]" {
		t.Fatalf("ch2 after the restart: Take = %v, want [0=ns-a2]", got)
	}
	// Fabric's layout: one folder per channel.
	for _, ch := range []string{"ch1", "ch2"} {
		if fi, err := os.Stat(filepath.Join(dir, ch)); err != nil || !fi.IsDir() {
			t.Errorf("no transient store folder for %s: %v", ch, err)
		}
	}
}

func TestTransientStoresRefuseWhatTheyCannotKeep(t *testing.T) {
	t.Parallel()
	s := newTransientStores(t.TempDir(), 10, fakeHeights{"ch1": 1, "../x": 1}.height, quietLog)
	t.Cleanup(func() { s.Close() })
	for _, tt := range []struct{ ch, want string }{
		{"unknown", `has not joined channel "unknown"`},
		{"../x", `channel "../x": not a name`},
	} {
		err := s.Put(tt.ch, "tx1", pvtSet("ns"))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "tx1") {
			t.Errorf("Put on channel %q = %v, want an error naming tx1 and containing %q", tt.ch, err, tt.want)
		}
	}
	if err := s.Put("unknown", "tx2", nil); err != nil {
		t.Errorf("Put of no private writes = %v, want nil (nothing to keep)", err)
	}
}

// TestTransientStoresPurgeByHeight follows Fabric: on a block whose number is
// a multiple of the retention, entries simulated more than the retention
// below it are purged.
func TestTransientStoresPurgeByHeight(t *testing.T) {
	t.Parallel()
	heights := fakeHeights{"ch": 0}
	s := newTransientStores(t.TempDir(), 10, heights.height, quietLog)
	t.Cleanup(func() { s.Close() })
	for _, e := range []struct {
		h  uint64
		tx string
	}{{5, "old"}, {9, "edge"}, {10, "kept"}, {19, "new"}} {
		heights["ch"] = e.h
		if err := s.Put("ch", e.tx, pvtSet("ns-"+e.tx)); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"old", "edge", "kept", "new"}
	// Blocks 10 (not above the retention) and 19 (not a multiple) purge
	// nothing (TestTransientStoresPurgeNothingBeforeTheRetention).
	s.Take("ch", 10, nil)
	s.Take("ch", 19, nil)
	// Block 20 purges below height 10.
	if got := taken(s.Take("ch", 20, nil)); got != nil {
		t.Fatalf("Take of no txIDs = %v", got)
	}
	if got := taken(s.Take("ch", 21, all)); fmt.Sprint(got) != "[2=ns-kept 3=ns-new]" {
		t.Fatalf("after block 20: Take = %v, want [2=ns-kept 3=ns-new]", got)
	}
}

// TestTransientStoresPurgeNothingBeforeTheRetention: blocks 10 (not above
// the retention) and 19 (not a multiple of it) purge nothing.
func TestTransientStoresPurgeNothingBeforeTheRetention(t *testing.T) {
	t.Parallel()
	heights := fakeHeights{"ch": 1}
	s := newTransientStores(t.TempDir(), 10, heights.height, quietLog)
	t.Cleanup(func() { s.Close() })
	if err := s.Put("ch", "a", pvtSet("ns-a")); err != nil {
		t.Fatal(err)
	}
	s.Take("ch", 10, nil)
	s.Take("ch", 19, nil)
	if got := taken(s.Take("ch", 19, []string{"a"})); fmt.Sprint(got) != "[0=ns-a]" {
		t.Fatalf("Take = %v, want [0=ns-a]", got)
	}
}

// TestPeerCommitsPrivateWritesEndorsedBeforeARestart endorses Org1's
// approval (whose private writes go to the transient store), stops the
// peer, starts it again and then orders the approval: the peer commits it
// with the private writes kept on disk, so Org1's approved definition, which
// lives in its implicit collection, can be read.
func TestPeerCommitsPrivateWritesEndorsedBeforeARestart(t *testing.T) {
	t.Parallel()
	x := newIndexNet(t)
	fsPath := filepath.Join(t.TempDir(), "peerdata")
	p1 := x.tn.Signer(t, "peer0.org1.example.com")
	approve := &lb.ApproveChaincodeDefinitionForMyOrgArgs{Sequence: 1, Name: "kept", Version: "1.0",
		Source: &lb.ChaincodeSource{Type: &lb.ChaincodeSource_Unavailable_{Unavailable: &lb.ChaincodeSource_Unavailable{}}}}
	var env []byte
	t.Run("endorse", func(t *testing.T) {
		x.start(t, fsPath, hooks{})
		env = x.lifecycleTx(t, "Org1MSP", lifecycle.FuncApproveChaincodeDefinitionForMyOrg, approve, p1)
	}) // the peer stops with the subtest

	x.node, x.conn = runNode(t, x.tn.Dir, fsPath, quietLog)
	eventually.True(t, 10*time.Second, "mychannel reopened", func() bool {
		ch, err := x.node.channel("mychannel")
		x.ch = ch
		return err == nil
	})
	x.commitBlock(t, env)
	query := protos.Marshal(&lb.QueryApprovedChaincodeDefinitionArgs{Name: "kept", Sequence: 1})
	sp, _, err := protos.NewProposal(x.admin(t, "Org1MSP"), "mychannel", lifecycle.Namespace, [][]byte{[]byte(lifecycle.FuncQueryApprovedChaincodeDefinition), query}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr, err := pb.NewEndorserClient(x.conn).ProcessProposal(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	if pr.GetResponse().GetStatus() != 200 {
		t.Fatalf("QueryApprovedChaincodeDefinition after the restart = %d %s: the approval committed without its private writes", pr.GetResponse().GetStatus(), pr.GetResponse().GetMessage())
	}
}
