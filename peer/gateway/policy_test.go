package gateway

import (
	"fmt"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
)

func ref(path string) *pb.ApplicationPolicy {
	return &pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: path}}
}

func sig(env *cb.SignaturePolicyEnvelope) *pb.ApplicationPolicy {
	return &pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: env}}
}

// roleEnv builds OutOf(n, <principals with the given role>).
func roleEnv(n int32, role mspproto.MSPRole_MSPRoleType, mspIDs ...string) *cb.SignaturePolicyEnvelope {
	env := nOf(n, mspIDs...)
	for i, id := range mspIDs {
		env.Identities[i].Principal = protos.Marshal(&mspproto.MSPRole{MspIdentifier: id, Role: role})
	}
	return env
}

// nOf builds OutOf(n, 'A.peer', 'B.peer', ...).
func nOf(n int32, mspIDs ...string) *cb.SignaturePolicyEnvelope {
	env := &cb.SignaturePolicyEnvelope{}
	var rules []*cb.SignaturePolicy
	for i, id := range mspIDs {
		env.Identities = append(env.Identities, &mspproto.MSPPrincipal{
			PrincipalClassification: mspproto.MSPPrincipal_ROLE,
			Principal:               protos.Marshal(&mspproto.MSPRole{MspIdentifier: id, Role: mspproto.MSPRole_PEER}),
		})
		rules = append(rules, &cb.SignaturePolicy{Type: &cb.SignaturePolicy_SignedBy{SignedBy: int32(i)}})
	}
	env.Rule = &cb.SignaturePolicy{Type: &cb.SignaturePolicy_NOutOf_{NOutOf: &cb.SignaturePolicy_NOutOf{N: n, Rules: rules}}}
	return env
}

// appConfig builds a channel config whose Application group has the given
// orgs, each with an Endorsement policy OR('<org>.peer'), and an implicit-meta
// /Channel/Application/Endorsement with rule.
func appConfig(rule cb.ImplicitMetaPolicy_Rule, orgs ...string) *cb.Config {
	app := &cb.ConfigGroup{Groups: map[string]*cb.ConfigGroup{}, Policies: map[string]*cb.ConfigPolicy{
		"Endorsement": {Policy: &cb.Policy{Type: int32(cb.Policy_IMPLICIT_META), Value: protos.Marshal(&cb.ImplicitMetaPolicy{SubPolicy: "Endorsement", Rule: rule})}},
	}}
	for _, o := range orgs {
		app.Groups[o] = &cb.ConfigGroup{Policies: map[string]*cb.ConfigPolicy{
			"Endorsement": {Policy: &cb.Policy{Type: int32(cb.Policy_SIGNATURE), Value: protos.Marshal(nOf(1, o))}},
		}}
	}
	return &cb.Config{ChannelGroup: &cb.ConfigGroup{Groups: map[string]*cb.ConfigGroup{"Application": app}}}
}

func TestLayouts(t *testing.T) {
	orgs3 := []string{"Org1MSP", "Org2MSP", "Org3MSP"}
	cases := []struct {
		name   string
		policy *pb.ApplicationPolicy
		cfg    *cb.Config
		orgs   []string
		want   string
	}{
		{"MAJORITY of three, local first", ref("/Channel/Application/Endorsement"), appConfig(cb.ImplicitMetaPolicy_MAJORITY, orgs3...), orgs3,
			"[[Org1MSP Org2MSP] [Org1MSP Org3MSP] [Org2MSP Org3MSP]]"},
		{"MAJORITY of two needs both", ref("/Channel/Application/Endorsement"), appConfig(cb.ImplicitMetaPolicy_MAJORITY, "Org1MSP", "Org2MSP"), orgs3[:2],
			"[[Org1MSP Org2MSP]]"},
		{"ANY", ref("Endorsement"), appConfig(cb.ImplicitMetaPolicy_ANY, orgs3...), orgs3,
			"[[Org1MSP] [Org2MSP] [Org3MSP]]"},
		{"ALL", ref("/Channel/Application/Endorsement"), appConfig(cb.ImplicitMetaPolicy_ALL, orgs3...), orgs3,
			"[[Org1MSP Org2MSP Org3MSP]]"},
		{"AND two orgs", sig(nOf(2, "Org1MSP", "Org2MSP")), nil, orgs3, "[[Org1MSP Org2MSP]]"},
		{"OR prefers local", sig(nOf(1, "Org2MSP", "Org1MSP")), nil, orgs3, "[[Org1MSP] [Org2MSP]]"},
		{"remote-only policy", sig(nOf(1, "Org3MSP")), nil, orgs3, "[[Org3MSP]]"},
		{"2 of 3", sig(nOf(2, orgs3...)), nil, orgs3, "[[Org1MSP Org2MSP] [Org1MSP Org3MSP] [Org2MSP Org3MSP]]"},
		{"same org twice needs two identities", sig(nOf(2, "Org1MSP", "Org1MSP")), nil, orgs3, "[]"},
		{"admin principal cannot be satisfied by a peer", sig(roleEnv(1, mspproto.MSPRole_ADMIN, "Org1MSP")), nil, orgs3, "[]"},
		{"member principal", sig(roleEnv(1, mspproto.MSPRole_MEMBER, "Org2MSP")), nil, orgs3, "[[Org2MSP]]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rule, err := applicationPolicyRule(c.policy, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ls, err := layouts(rule, c.orgs, "Org1MSP")
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(ls); got != c.want {
				t.Fatalf("layouts %s, want %s", got, c.want)
			}
		})
	}
}

func TestPolicyReferenceErrors(t *testing.T) {
	cfg := appConfig(cb.ImplicitMetaPolicy_MAJORITY, "Org1MSP")
	for _, c := range []struct {
		path string
		cfg  *cb.Config
	}{
		{"/Channel/Application/NoSuchPolicy", cfg},
		{"/Channel/Nope/Endorsement", cfg},
		{"/Other/Endorsement", cfg},
		{"/Channel/Application/Endorsement", nil},
	} {
		if _, err := applicationPolicyRule(ref(c.path), c.cfg); err == nil {
			t.Errorf("%s: want an error", c.path)
		}
	}
}
