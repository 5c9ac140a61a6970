package validator

import (
	"crypto/sha256"
	"strings"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

// TestPrivateKeyLevelEndorsementPolicies checks state-based endorsement of
// private keys (SetPrivateDataValidationParameter): a policy committed in the
// metadata of a key's hash in the hashed state replaces the chaincode (or
// collection) policy for writes to that key, a metadata-only write is itself
// checked against the key's current policy, and a key whose policy an
// earlier transaction of the block changed cannot be written later in it.
func TestPrivateKeyLevelEndorsementPolicies(t *testing.T) {
	n := newNetwork(t)
	o1, o2 := "Org1MSP", "Org2MSP"
	def := approve("basic", 1, "AND('Org1MSP.peer','Org2MSP.peer')")
	members, err := channelconfig.ParsePolicyDSL("OR('Org1MSP.member','Org2MSP.member')")
	if err != nil {
		t.Fatal(err)
	}
	def.Collections = &pb.CollectionConfigPackage{Config: []*pb.CollectionConfig{{Payload: &pb.CollectionConfig_StaticCollectionConfig{StaticCollectionConfig: &pb.StaticCollectionConfig{
		Name: "coll", MemberOrgsPolicy: &pb.CollectionPolicyConfig{Payload: &pb.CollectionPolicyConfig_SignaturePolicy{SignaturePolicy: members}},
		MaximumPeerCount: 1,
	}}}}}
	b, pvt := n.block(n.lifecycleTx(t, o1, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, def, n.peer[o1]),
		n.lifecycleTx(t, o2, lifecycle.FuncApproveChaincodeDefinitionForMyOrg, def, n.peer[o2]))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID, pb.TxValidationCode_VALID)
	cd := commitDef(def)
	cd.Collections = def.Collections
	b, pvt = n.block(n.lifecycleTx(t, o1, lifecycle.FuncCommitChaincodeDefinition, cd, n.peer[o1], n.peer[o2]))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID)

	user, both := n.user[o1], []*msp.SigningIdentity{n.peer[o1], n.peer[o2]}
	// put writes private key of collection coll; setVP sets only its
	// key-level policy (a metadata-only write).
	put := func(key string, endorsers ...*msp.SigningIdentity) tx {
		t.Helper()
		sim := n.l.NewSimulator("sim")
		defer sim.Done()
		if err := sim.PutPrivateData("basic", "coll", key, []byte("v-"+key)); err != nil {
			t.Fatal(err)
		}
		pub, pvt, err := sim.Results()
		if err != nil {
			t.Fatal(err)
		}
		return tx{env: endorse(t, user, endorsers, "mychannel", "basic", "1.0", [][]byte{[]byte("f")}, pub), pvt: pvt}
	}
	setVP := func(key, vp string, endorsers ...*msp.SigningIdentity) tx {
		t.Helper()
		env, err := channelconfig.ParsePolicyDSL(vp)
		if err != nil {
			t.Fatal(err)
		}
		sim := n.l.NewSimulator("sim")
		defer sim.Done()
		if err := sim.SetPrivateDataMetadata("basic", "coll", key, map[string][]byte{validationParameterKey: protos.Marshal(env)}); err != nil {
			t.Fatal(err)
		}
		pub, pvt, err := sim.Results()
		if err != nil {
			t.Fatal(err)
		}
		return tx{env: endorse(t, user, endorsers, "mychannel", "basic", "1.0", [][]byte{[]byte("f")}, pub), pvt: pvt}
	}

	b, pvt = n.block(put("a", both...), put("b", both...))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID, pb.TxValidationCode_VALID)

	// Setting a's policy is a write under the chaincode policy (AND): a
	// metadata-only write is checked too.
	b, pvt = n.block(setVP("a", "OR('Org1MSP.peer')", n.peer[o1]), setVP("a", "OR('Org1MSP.peer')", both...))
	vs := n.commit(t, b, pvt, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, pb.TxValidationCode_VALID)
	if !strings.Contains(vs[0].Reason, "AND('Org1MSP.peer', 'Org2MSP.peer')") {
		t.Errorf("reason does not show the chaincode policy: %q", vs[0].Reason)
	}
	keyHash := sha256.Sum256([]byte("a"))
	hv, err := n.l.State().Get(ledger.HashedNamespace("basic", "coll"), string(keyHash[:]))
	if err != nil || hv == nil || len(hv.Metadata) == 0 {
		t.Fatalf("hashed state of a = %v, %v; want its key-level policy in the metadata", hv, err)
	}

	// Now Org1 alone may write a, but not b; Org2 alone not a.
	b, pvt = n.block(put("a", n.peer[o1]), put("b", n.peer[o1]), put("a", n.peer[o2]))
	vs = n.commit(t, b, pvt, pb.TxValidationCode_VALID, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE)
	if !strings.Contains(vs[2].Reason, "key-level endorsement policy of collection coll key hash") {
		t.Errorf("reason does not name the private key-level policy: %q", vs[2].Reason)
	}
	// A metadata-only write to a needs a's policy: Org2 alone cannot change
	// it, Org1 alone can.
	b, pvt = n.block(setVP("a", "OR('Org2MSP.peer')", n.peer[o2]))
	vs = n.commit(t, b, pvt, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE)
	if !strings.Contains(vs[0].Reason, "key-level endorsement policy of collection coll") {
		t.Errorf("reason does not name the private key-level policy: %q", vs[0].Reason)
	}
	// Changing a's policy invalidates a later write of a in the same block,
	// even one endorsed as the old policy asks.
	b, pvt = n.block(setVP("a", "OR('Org2MSP.peer')", n.peer[o1]), put("a", n.peer[o1]), put("b", both...))
	vs = n.commit(t, b, pvt, pb.TxValidationCode_VALID, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, pb.TxValidationCode_VALID)
	if !strings.Contains(vs[1].Reason, "transaction 0 of this block changed the key-level endorsement policy") {
		t.Errorf("in-block dependency reason: %q", vs[1].Reason)
	}
	// From the next block on, Org2 alone writes a.
	b, pvt = n.block(put("a", n.peer[o2]), put("a", n.peer[o1]))
	n.commit(t, b, pvt, pb.TxValidationCode_VALID, pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE)
}
