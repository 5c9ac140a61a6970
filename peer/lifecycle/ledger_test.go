package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/protos"
)

func fixtureBlock(t *testing.T, n int) *protosBlock {
	t.Helper()
	return &protosBlock{raw: fabricfixture.ReadFile(t, "blocks", fmt.Sprintf("block_%06d.pb", n))}
}

// protosBlock hands out fresh copies of a fixture block (Commit rewrites the filter).
type protosBlock struct{ raw []byte }

func (p *protosBlock) block(t *testing.T) *cb.Block {
	b, err := protos.UnmarshalBlock(p.raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFixtureParityWithLedgerSimulator replays the lifecycle transactions of
// fixture blocks 1-6 on real ledgers (one per organisation): the read/write
// set Weft's simulator records for each must be byte-identical to the one
// Fabric's endorsers produced, and the private approvals must commit.
func TestFixtureParityWithLedgerSimulator(t *testing.T) {
	ch := twoOrgChannel()
	peers := map[string]*testPeer{"Org1MSP": newTestPeer(t, "Org1MSP", ch), "Org2MSP": newTestPeer(t, "Org2MSP", ch)}
	ledgers := map[string]*ledger.Ledger{}
	for id := range peers {
		l, err := ledger.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		ledgers[id] = l
	}
	endorser := map[int]string{1: "Org1MSP", 2: "Org2MSP", 3: "Org1MSP", 4: "Org1MSP", 5: "Org2MSP", 6: "Org2MSP"}
	for n := 0; n <= 6; n++ {
		fb := fixtureBlock(t, n)
		private := map[string]map[uint64]*rwset.TxPvtReadWriteSet{}
		if org, ok := endorser[n]; ok {
			b := fb.block(t)
			env, err := protos.UnmarshalEnvelope(b.Data.Data[0])
			if err != nil {
				t.Fatal(err)
			}
			tx, err := protos.ParseEndorserTx(env)
			if err != nil {
				t.Fatal(err)
			}
			in, _ := fixtureTx(t, n)
			p, l := peers[org], ledgers[org]
			sim := l.NewSimulator(env.ChannelHeader.TxId)
			resp := p.lc.Call(context.Background(), &Invocation{ChannelID: "mychannel", TxID: env.ChannelHeader.TxId, Creator: p.admin, Simulator: sim}, in)
			sim.Done()
			if resp.Status != 200 {
				t.Fatalf("block %d: %s by %s: %d %s", n, in.Args[0], org, resp.Status, resp.Message)
			}
			pub, pvt, err := sim.Results()
			if err != nil {
				t.Fatal(err)
			}
			if got := protos.Marshal(pub); !bytes.Equal(got, tx.ChaincodeAction.Results) {
				t.Errorf("block %d: Weft's read/write set differs from Fabric's\nweft:   %s\nfabric: %s", n, prototext.Format(pub), prototext.Format(tx.ReadWriteSet))
			}
			if pvt != nil {
				private[org] = map[uint64]*rwset.TxPvtReadWriteSet{0: pvt}
			}
		}
		for id, l := range ledgers {
			b := fb.block(t)
			if err := l.Commit(b, private[id]); err != nil {
				t.Fatalf("commit block %d on %s's ledger: %v", n, id, err)
			}
			if f := protos.TxFilter(b); f[0] != byte(pb.TxValidationCode_VALID) {
				t.Fatalf("block %d on %s's ledger: MVCC gave %s", n, id, pb.TxValidationCode(f[0]))
			}
		}
	}
	for id, l := range ledgers {
		st := DBState{DB: l.State()}
		d, err := peers[id].lc.ChaincodeDefinition("mychannel", st, "basicor")
		if err != nil || d.Sequence != 1 || d.Version != "1.0" {
			t.Fatalf("%s: definition of basicor = %+v, %v", id, d, err)
		}
		d, pkg, err := peers[id].lc.ChaincodePackage("mychannel", st, "basic")
		if err != nil || d.Sequence != 1 || pkg != "basic_1.0:2a83ae8c52568c0627515bec93e084f25306b4db5758812ed19993eb34695e6c" {
			t.Fatalf("%s: approved package of basic = %q, %v", id, pkg, err)
		}
	}
}

// TestApprovalFoundByHashOnAnotherPeer commits Fabric's fixture blocks 0-6 on
// the ledger of a second peer of Org1 that endorsed none of them: it holds
// the hashes of Org1's approvals, not their values. With the approved package
// installed it runs it, matched by hash as Fabric does; with only another
// package installed it names what is missing.
func TestApprovalFoundByHashOnAnotherPeer(t *testing.T) {
	const approved = "basic_1.0:2a83ae8c52568c0627515bec93e084f25306b4db5758812ed19993eb34695e6c"
	const other = "basic_1.0:0000000000000000000000000000000000000000000000000000000000000001"
	p := newTestPeer(t, "Org1MSP", twoOrgChannel())
	l, err := ledger.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for n := 0; n <= 6; n++ {
		if err := l.Commit(fixtureBlock(t, n).block(t), nil); err != nil {
			t.Fatalf("commit block %d: %v", n, err)
		}
	}
	st := DBState{DB: l.State()}
	if v, err := st.GetPrivateData(Namespace, ImplicitCollection("Org1MSP"), "chaincode-sources/metadata/basic#1"); err != nil || v != nil {
		t.Fatalf("this peer holds Org1's approval value (%q, %v); the test needs a peer that holds only hashes", v, err)
	}
	install := func(id string) {
		path, err := p.lc.store.path(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("package "+id), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	install(other)
	if _, _, err := p.lc.ChaincodePackage("mychannel", st, "basic"); err == nil || !errors.Is(err, ErrNotApprovedHere) || !strings.Contains(err.Error(), "basic sequence 1") {
		t.Fatalf("with only another package installed: err = %v, want one wrapping ErrNotApprovedHere naming basic sequence 1", err)
	}
	if rs, err := p.lc.RunnableChaincodes(l.State()); err != nil || len(rs) != 0 {
		t.Fatalf("runnable chaincodes with only another package installed = %+v, %v; want none", rs, err)
	}
	install(approved)
	d, pkg, err := p.lc.ChaincodePackage("mychannel", st, "basic")
	if err != nil || d.Sequence != 1 || pkg != approved {
		t.Fatalf("approved package of basic = %q, %v; want %s", pkg, err, approved)
	}
	rs, err := p.lc.RunnableChaincodes(l.State())
	want := []Runnable{{"basic", 1, approved}, {"basicor", 1, approved}}
	if err != nil || !slices.Equal(rs, want) {
		t.Fatalf("runnable chaincodes = %+v, %v; want %+v", rs, err, want)
	}
}
