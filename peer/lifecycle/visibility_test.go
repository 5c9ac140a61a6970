package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"testing"

	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"
)

// ownCollectionSim is a simulator of a peer of org that, like a real peer,
// holds no plaintext of other organisations' implicit collections: reading
// one fails the test.
type ownCollectionSim struct {
	*fakeSim
	t   *testing.T
	org string
}

func (s ownCollectionSim) GetPrivateData(ns, coll, key string) ([]byte, error) {
	if coll != ImplicitCollection(s.org) {
		s.t.Errorf("a peer of %s read plaintext %s/%s/%s; other organisations' approvals must be compared by hash only", s.org, ns, coll, key)
		return nil, fmt.Errorf("no plaintext of %s on a peer of %s", coll, s.org)
	}
	return s.fakeSim.GetPrivateData(ns, coll, key)
}

// TestApprovalsVisibleOnlyAsHashes shows that an approval lives in the
// approving organisation's implicit collection, and that the other
// organisation's peer checks it, reports it and commits on it through hashes
// alone.
func TestApprovalsVisibleOnlyAsHashes(t *testing.T) {
	ch := twoOrgChannel()
	org1 := newTestPeer(t, "Org1MSP", ch)
	org2 := newTestPeer(t, "Org2MSP", ch)
	call := func(p *testPeer, org string, fn string, m proto.Message) (*lb.CheckCommitReadinessResult, *fakeSim, string) {
		t.Helper()
		sim := newFakeSim(p.state)
		resp := p.lc.Call(context.Background(), &Invocation{ChannelID: "mychannel", TxID: "tx", Creator: p.admin, Simulator: ownCollectionSim{sim, t, org}}, input(fn, m))
		if resp.Status != 200 {
			return nil, sim, resp.Message
		}
		res := &lb.CheckCommitReadinessResult{}
		if fn == FuncCheckCommitReadiness {
			if err := proto.Unmarshal(resp.Payload, res); err != nil {
				t.Fatal(err)
			}
		}
		return res, sim, ""
	}
	pkg := "cc_1:" + strings.Repeat("cd", 32)
	for _, p := range []struct {
		peer  *testPeer
		org   string
		other *testPeer
	}{{org1, "Org1MSP", org2}, {org2, "Org2MSP", org1}} {
		_, sim, msg := call(p.peer, p.org, FuncApproveChaincodeDefinitionForMyOrg, approveArgs("cc", 1, pkg))
		if msg != "" {
			t.Fatalf("approve by %s: %s", p.org, msg)
		}
		if len(sim.sum.writes) != 0 {
			t.Fatalf("approval by %s wrote public state %v; it belongs in its implicit collection", p.org, sim.sum.writes)
		}
		for k := range sim.sum.hwrites {
			if !strings.HasPrefix(k, Namespace+"/"+ImplicitCollection(p.org)+"/") {
				t.Fatalf("approval by %s wrote %s outside %s", p.org, k, ImplicitCollection(p.org))
			}
		}
		sim.commit(p.other.state) // the other peer receives hashes only
		if len(p.other.state.priv[Namespace+"/"+ImplicitCollection(p.org)]) != 0 {
			t.Fatalf("the peer of the other organisation holds plaintext of %s's approval", p.org)
		}
		if p.org == "Org1MSP" {
			// Org2's peer sees Org1's approval through its hash.
			res, _, msg := call(org2, "Org2MSP", FuncCheckCommitReadiness, &lb.CheckCommitReadinessArgs{Sequence: 1, Name: "cc", Version: "1.0"})
			if msg != "" || !res.Approvals["Org1MSP"] || res.Approvals["Org2MSP"] {
				t.Fatalf("CheckCommitReadiness on Org2's peer = %v %q, want Org1MSP approved by hash, Org2MSP not", res.GetApprovals(), msg)
			}
			// Org2 cannot read Org1's approval in clear: QueryApproved is about its own org.
			if _, _, msg := call(org2, "Org2MSP", FuncQueryApprovedChaincodeDefinition, &lb.QueryApprovedChaincodeDefinitionArgs{Name: "cc", Sequence: 1}); !strings.Contains(msg, "could not fetch approved chaincode definition") {
				t.Fatalf("QueryApproved on Org2's peer before Org2 approved = %q", msg)
			}
		}
	}
	// Both peers endorse the commit using hashes of the other org's approval.
	for _, p := range []struct {
		peer *testPeer
		org  string
	}{{org1, "Org1MSP"}, {org2, "Org2MSP"}} {
		if _, _, msg := call(p.peer, p.org, FuncCommitChaincodeDefinition, commitArgs("cc", 1)); msg != "" {
			t.Fatalf("commit on %s's peer: %s", p.org, msg)
		}
	}
}
