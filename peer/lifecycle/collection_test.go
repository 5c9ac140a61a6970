package lifecycle

import (
	"errors"
	"slices"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
)

func memberPolicy(mspIDs ...string) *pb.CollectionPolicyConfig {
	env := &cb.SignaturePolicyEnvelope{Rule: &cb.SignaturePolicy{Type: &cb.SignaturePolicy_NOutOf_{NOutOf: &cb.SignaturePolicy_NOutOf{N: 1}}}}
	for i, id := range mspIDs {
		env.Identities = append(env.Identities, &mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_ROLE,
			Principal: protos.Marshal(&mspproto.MSPRole{MspIdentifier: id, Role: mspproto.MSPRole_MEMBER})})
		env.Rule.GetNOutOf().Rules = append(env.Rule.GetNOutOf().Rules, &cb.SignaturePolicy{Type: &cb.SignaturePolicy_SignedBy{SignedBy: int32(i)}})
	}
	return &pb.CollectionPolicyConfig{Payload: &pb.CollectionPolicyConfig_SignaturePolicy{SignaturePolicy: env}}
}

func TestFindCollection(t *testing.T) {
	pkg := &pb.CollectionConfigPackage{Config: []*pb.CollectionConfig{
		{Payload: &pb.CollectionConfig_StaticCollectionConfig{StaticCollectionConfig: &pb.StaticCollectionConfig{
			Name: "shared", MemberOrgsPolicy: memberPolicy("Org1MSP", "Org2MSP", "Org1MSP"), RequiredPeerCount: 1, MaximumPeerCount: 3,
			BlockToLive: 3, MemberOnlyRead: true,
		}}},
	}}
	c, err := FindCollection(pkg, "cc", "shared")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.MemberOrgs, []string{"Org1MSP", "Org2MSP"}) || c.RequiredPeerCount != 1 || c.MaximumPeerCount != 3 ||
		c.BlockToLive != 3 || !c.MemberOnlyRead || c.MemberOnlyWrite || c.Implicit {
		t.Fatalf("FindCollection = %+v", c)
	}
	if !c.IsMember("Org2MSP") || c.IsMember("Org3MSP") {
		t.Fatal("IsMember is wrong")
	}
	if _, err := FindCollection(pkg, "cc", "other"); !errors.Is(err, ErrNoCollection) {
		t.Fatalf("unknown collection: %v, want ErrNoCollection", err)
	}
}

func TestImplicitCollectionOfLifecycle(t *testing.T) {
	c, err := CollectionOf(nil, Namespace, ImplicitCollection("Org1MSP"), ImplicitDissemination{RequiredPeerCount: 0, MaxPeerCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Implicit || !slices.Equal(c.MemberOrgs, []string{"Org1MSP"}) || !c.MemberOnlyRead || !c.MemberOnlyWrite || c.MaximumPeerCount != 1 || c.BlockToLive != 0 {
		t.Fatalf("implicit collection = %+v", c)
	}
}
