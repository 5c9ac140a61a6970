package validator

import (
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

// deployBasic approves and commits chaincode basic with endorsement policy
// policy, every step validated.
func (n *network) deployBasic(t *testing.T, policy string) {
	t.Helper()
	o1, o2 := "Org1MSP", "Org2MSP"
	def := approve("basic", 1, policy)
	b, pvt := n.block(n.lifecycleTx(t, o1, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, def, n.peer[o1]),
		n.lifecycleTx(t, o2, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, def, n.peer[o2]))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID, pb.TxValidationCode_VALID)
	b, pvt = n.block(n.lifecycleTx(t, o1, lifecycle.FuncCommitChaincodeDefinition, commitDef(def), n.peer[o1], n.peer[o2]))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID)
}

// write is a transaction of basic by client setting key, or, when vp is set,
// key's key-level endorsement policy, endorsed by endorsers. at, when not
// nil, is the timestamp its channel header carries (nil: now; a zero Time:
// no timestamp).
func (n *network) write(t *testing.T, client *msp.SigningIdentity, key, vp string, at *time.Time, endorsers ...*msp.SigningIdentity) tx {
	t.Helper()
	sim := n.l.NewSimulator("sim")
	if vp == "" {
		if err := sim.SetState("basic", key, []byte("v")); err != nil {
			t.Fatal(err)
		}
	} else {
		env, err := channelconfig.ParsePolicyDSL(vp)
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.SetStateMetadata("basic", key, map[string][]byte{validationParameterKey: protos.Marshal(env)}); err != nil {
			t.Fatal(err)
		}
	}
	pub, _, err := sim.Results()
	if err != nil {
		t.Fatal(err)
	}
	p := propose(t, client, "mychannel", "basic", [][]byte{[]byte("f")})
	if at != nil {
		p = proposeAt(t, p, client, *at)
	}
	return tx{env: endorseProposal(t, p, client, endorsers, "1.0", pub)}
}

// proposeAt is p with its channel header's timestamp set to at (removed for
// a zero at), signed again by client.
func proposeAt(t *testing.T, p *protos.Proposal, client *msp.SigningIdentity, at time.Time) *protos.Proposal {
	t.Helper()
	prop := &pb.Proposal{}
	if err := proto.Unmarshal(p.Signed.ProposalBytes, prop); err != nil {
		t.Fatal(err)
	}
	hdr := &cb.Header{}
	if err := proto.Unmarshal(prop.Header, hdr); err != nil {
		t.Fatal(err)
	}
	chdr := &cb.ChannelHeader{}
	if err := proto.Unmarshal(hdr.ChannelHeader, chdr); err != nil {
		t.Fatal(err)
	}
	chdr.Timestamp = nil
	if !at.IsZero() {
		chdr.Timestamp = timestamppb.New(at)
	}
	hdr.ChannelHeader = protos.Marshal(chdr)
	prop.Header = protos.Marshal(hdr)
	raw := protos.Marshal(prop)
	sig, err := client.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := protos.ParseProposal(&pb.SignedProposal{ProposalBytes: raw, Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFlippedSTwinEndorsesOnce: an endorser's certificate re-encoded with the
// CA's signature flipped from s to n−s verifies like the original, but one
// key endorsing under both counts once, for the chaincode's endorsement
// policy and for a key-level policy alike.
func TestFlippedSTwinEndorsesOnce(t *testing.T) {
	n := newNetwork(t)
	const twoOrg1 = "OutOf(2, 'Org1MSP.member', 'Org1MSP.member')"
	n.deployBasic(t, twoOrg1)
	o1 := "Org1MSP"
	user, peer, admin := n.user[o1], n.peer[o1], n.admin[o1]
	twin := testnet.FlippedSTwin(t, peer)
	if _, err := n.bundle.MSPs().DeserializeIdentity(twin.Serialized); err != nil {
		t.Fatalf("the twin is not a valid Org1 identity, so this test proves nothing: %v", err)
	}

	b, pvt := n.block(n.write(t, user, "a", "", nil, peer, twin), n.write(t, user, "a", "", nil, peer, admin))
	vs := n.commit(t, b, pvt, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, pb.TxValidationCode_VALID)
	for _, want := range []string{"endorsement policy", "peer0.org1.example.com is by the same identity as signature 0"} {
		if !strings.Contains(vs[0].Reason, want) {
			t.Errorf("reason %q does not mention %q", vs[0].Reason, want)
		}
	}

	// Key-level: k's own policy needs two Org1 signers too.
	b, pvt = n.block(n.write(t, user, "k", "", nil, peer, admin))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID)
	b, pvt = n.block(n.write(t, user, "k", twoOrg1, nil, peer, admin))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID)
	b, pvt = n.block(n.write(t, user, "k", "", nil, twin, peer), n.write(t, user, "k", "", nil, admin, peer))
	vs = n.commit(t, b, pvt, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, pb.TxValidationCode_VALID)
	for _, want := range []string{`key-level endorsement policy of key "k"`, "is by the same identity as signature 0"} {
		if !strings.Contains(vs[0].Reason, want) {
			t.Errorf("reason %q does not mention %q", vs[0].Reason, want)
		}
	}
}

// TestExpiryJudgedAtTransactionTime: creators and endorsers are checked for
// expiry at the transaction's own timestamp, never the validating peer's
// clock, so every peer gives the same verdict whenever it validates: a
// transaction made while the certificates were valid stays valid after they
// expire; one stamped after a certificate's NotAfter is invalid, the reason
// naming the identity and its NotAfter; one without a timestamp cannot be
// judged and is invalid.
func TestExpiryJudgedAtTransactionTime(t *testing.T) {
	n := newNetwork(t)
	n.deployBasic(t, "AND('Org1MSP.peer','Org2MSP.peer')")
	tn := testnet.FabricNet(t)
	o1, o2 := "Org1MSP", "Org2MSP"
	notAfter := time.Now().Add(-time.Minute).Truncate(time.Second)
	stamp := notAfter.UTC().Format(time.RFC3339)
	oldClient := tn.IssueUser(t, o1, "Expired@org1.example.com", "client", notAfter)
	oldPeer := tn.IssueUser(t, o1, "peer9.org1.example.com", "peer", notAfter)
	user, peers := n.user[o1], []*msp.SigningIdentity{n.peer[o1], n.peer[o2]}
	before, after := notAfter.Add(-10*time.Second), notAfter.Add(time.Second)
	var none time.Time

	b, pvt := n.block(
		n.write(t, oldClient, "a", "", &before, peers...),       // made while valid
		n.write(t, oldClient, "b", "", &after, peers...),        // made after NotAfter
		n.write(t, user, "c", "", &before, oldPeer, n.peer[o2]), // endorsed while valid
		n.write(t, user, "d", "", &after, oldPeer, n.peer[o2]),  // endorsed after NotAfter
		n.write(t, user, "e", "", &none, peers...),              // no timestamp
		n.write(t, user, "f", "", nil, peers...),                // current identities, now
	)
	vs := n.commit(t, b, pvt,
		pb.TxValidationCode_VALID,
		pb.TxValidationCode_BAD_CREATOR_SIGNATURE,
		pb.TxValidationCode_VALID,
		pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE,
		pb.TxValidationCode_BAD_CREATOR_SIGNATURE,
		pb.TxValidationCode_VALID)
	for i, want := range map[int][]string{
		1: {"Expired@org1.example.com", "expired", stamp, after.UTC().Format(time.RFC3339)},
		3: {"peer9.org1.example.com", "expired", stamp},
		4: {"no timestamp"},
	} {
		for _, w := range want {
			if !strings.Contains(vs[i].Reason, w) {
				t.Errorf("transaction %d: reason %q does not mention %q", i, vs[i].Reason, w)
			}
		}
	}
}
