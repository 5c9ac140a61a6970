package discovery

import (
	"errors"
	"slices"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
)

// layoutNet is the channel every layout case runs on: two peers per
// organisation. peer0 of Org1 and Org2 have cc1 and cc2 (sequence 1),
// peer1.org1 only cc1, peer1.org2 nothing; Org3 (three-organisation cases
// only) has one peer with both.
type layoutNet struct {
	two, three *channelconfig.Bundle
	peers2     []Peer
	peers3     []Peer
}

func newLayoutNet(t *testing.T) *layoutNet {
	t.Helper()
	n := testnet.SampleNet(t)
	both := map[string]string{"cc1": "1", "cc2": "1"}
	peers := []Peer{
		gossipPeer(t, n.Signer(t, "peer0.org1.example.com"), "peer0.org1:7051", channelName, 10, both),
		gossipPeer(t, issuePeer(t, n, "Org1MSP", "peer1.org1.example.com"), "peer1.org1:8051", channelName, 10, map[string]string{"cc1": "1"}),
		gossipPeer(t, n.Signer(t, "peer0.org2.example.com"), "peer0.org2:9051", channelName, 9, both),
		gossipPeer(t, issuePeer(t, n, "Org2MSP", "peer1.org2.example.com"), "peer1.org2:10051", channelName, 9, nil),
	}
	return &layoutNet{
		two:    n.Bundle,
		three:  threeOrgBundle(t, n),
		peers2: peers,
		peers3: append(slices.Clone(peers), gossipPeer(t, org3Peer(t), "peer0.org3:11051", channelName, 8, both)),
	}
}

func TestEndorserLayouts(t *testing.T) {
	ln := newLayoutNet(t)
	type def struct {
		policy      []byte
		seq         int64
		collections []*pb.CollectionConfig
	}
	cases := []struct {
		name      string
		three     bool
		defs      map[string]def
		interest  []*pb.ChaincodeCall
		want      []string            // layouts, principals for groups
		endorsers map[string][]string // principal -> endpoints
		err       string
	}{
		{
			name:     "OR of two organisations",
			defs:     map[string]def{"cc1": {policy: signaturePolicy(t, "OR('Org1MSP.peer', 'Org2MSP.peer')")}},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}},
			want:     []string{"Org1MSP.peer:1", "Org2MSP.peer:1"},
			// peer1.org2 lacks cc1: not offered.
			endorsers: map[string][]string{"Org1MSP.peer": {"peer0.org1:7051", "peer1.org1:8051"}, "Org2MSP.peer": {"peer0.org2:9051"}},
		},
		{
			name:      "AND of two organisations",
			defs:      map[string]def{"cc1": {policy: signaturePolicy(t, "AND('Org1MSP.peer', 'Org2MSP.peer')")}},
			interest:  []*pb.ChaincodeCall{{Name: "cc1"}},
			want:      []string{"Org1MSP.peer:1 Org2MSP.peer:1"},
			endorsers: map[string][]string{"Org1MSP.peer": {"peer0.org1:7051", "peer1.org1:8051"}, "Org2MSP.peer": {"peer0.org2:9051"}},
		},
		{
			// OutOf(2, a, a, b) chooses {a,a}, {a,b}, {a,b}: Fabric keeps the
			// repeated combination of a single policy.
			name:     "OutOf with a repeated principal",
			defs:     map[string]def{"cc1": {policy: signaturePolicy(t, "OutOf(2, 'Org1MSP.peer', 'Org1MSP.peer', 'Org2MSP.peer')")}},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}},
			want:     []string{"Org1MSP.peer:2", "Org1MSP.peer:1 Org2MSP.peer:1", "Org1MSP.peer:1 Org2MSP.peer:1"},
		},
		{
			// No peer is an admin, so the second branch has no layout.
			name:     "nested gates",
			defs:     map[string]def{"cc1": {policy: signaturePolicy(t, "OR(AND('Org1MSP.peer', 'Org2MSP.peer'), 'Org1MSP.admin')")}},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}},
			want:     []string{"Org1MSP.peer:1 Org2MSP.peer:1"},
		},
		{
			// peer1.org2 has no chaincode, so two Org2 endorsers cannot be had.
			name:     "two endorsers of one organisation",
			defs:     map[string]def{"cc1": {policy: signaturePolicy(t, "OR(AND('Org2MSP.peer', 'Org2MSP.peer'), 'Org1MSP.peer')")}},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}},
			want:     []string{"Org1MSP.peer:1"},
		},
		{
			name:     "implicit meta MAJORITY over two organisations",
			defs:     map[string]def{"cc1": {policy: policyReference("/Channel/Application/Endorsement")}},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}},
			want:     []string{"Org1MSP.peer:1 Org2MSP.peer:1"},
		},
		{
			name:     "implicit meta MAJORITY over three organisations",
			three:    true,
			defs:     map[string]def{"cc1": {policy: policyReference("Application/Endorsement")}},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}},
			want:     []string{"Org1MSP.peer:1 Org2MSP.peer:1", "Org1MSP.peer:1 Org3MSP.peer:1", "Org2MSP.peer:1 Org3MSP.peer:1"},
		},
		{
			name:     "OutOf two of three organisations",
			three:    true,
			defs:     map[string]def{"cc1": {policy: signaturePolicy(t, "OutOf(2, 'Org1MSP.peer', 'Org2MSP.peer', 'Org3MSP.peer')")}},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}},
			want:     []string{"Org1MSP.peer:1 Org2MSP.peer:1", "Org1MSP.peer:1 Org3MSP.peer:1", "Org2MSP.peer:1 Org3MSP.peer:1"},
		},
		{
			name: "collection restricts the organisations",
			defs: map[string]def{"cc1": {policy: signaturePolicy(t, "OR('Org1MSP.peer', 'Org2MSP.peer')"),
				collections: []*pb.CollectionConfig{collection(t, "secret", "OR('Org1MSP.member')", "")}}},
			interest:  []*pb.ChaincodeCall{{Name: "cc1", CollectionNames: []string{"secret"}}},
			want:      []string{"Org1MSP.peer:1"},
			endorsers: map[string][]string{"Org1MSP.peer": {"peer0.org1:7051", "peer1.org1:8051"}},
		},
		{
			name: "collection written without reads does not restrict",
			defs: map[string]def{"cc1": {policy: signaturePolicy(t, "OR('Org1MSP.peer', 'Org2MSP.peer')"),
				collections: []*pb.CollectionConfig{collection(t, "secret", "OR('Org1MSP.member')", "")}}},
			interest: []*pb.ChaincodeCall{{Name: "cc1", CollectionNames: []string{"secret"}, NoPrivateReads: true}},
			want:     []string{"Org1MSP.peer:1", "Org2MSP.peer:1"},
		},
		{
			name: "collection endorsement policy replaces the chaincode's",
			defs: map[string]def{"cc1": {policy: signaturePolicy(t, "AND('Org1MSP.peer', 'Org2MSP.peer')"),
				collections: []*pb.CollectionConfig{collection(t, "shared", "OR('Org1MSP.member', 'Org2MSP.member')", "OR('Org2MSP.peer')")}}},
			interest: []*pb.ChaincodeCall{{Name: "cc1", CollectionNames: []string{"shared"}}},
			want:     []string{"Org2MSP.peer:1"},
		},
		{
			name:     "implicit collection of an organisation",
			defs:     map[string]def{"cc1": {policy: signaturePolicy(t, "AND('Org1MSP.peer', 'Org2MSP.peer')")}},
			interest: []*pb.ChaincodeCall{{Name: "cc1", CollectionNames: []string{"_implicit_org_Org1MSP"}}},
			want:     []string{"Org1MSP.member:1"},
		},
		{
			name: "unknown collection",
			defs: map[string]def{"cc1": {policy: signaturePolicy(t, "OR('Org1MSP.peer')"),
				collections: []*pb.CollectionConfig{collection(t, "secret", "OR('Org1MSP.member')", "")}}},
			interest: []*pb.ChaincodeCall{{Name: "cc1", CollectionNames: []string{"other"}}},
			err:      "collection other doesn't exist in collection config for chaincode cc1",
		},
		{
			// cc1 needs one of Org1 or Org2, cc2 both: only both satisfies
			// the two; only the peer0s have cc2.
			name: "chaincode to chaincode",
			defs: map[string]def{
				"cc1": {policy: signaturePolicy(t, "OR('Org1MSP.peer', 'Org2MSP.peer')")},
				"cc2": {policy: signaturePolicy(t, "AND('Org1MSP.peer', 'Org2MSP.peer')")},
			},
			interest:  []*pb.ChaincodeCall{{Name: "cc1"}, {Name: "cc2"}},
			want:      []string{"Org1MSP.peer:1 Org2MSP.peer:1"},
			endorsers: map[string][]string{"Org1MSP.peer": {"peer0.org1:7051"}, "Org2MSP.peer": {"peer0.org2:9051"}},
		},
		{
			name: "chaincode to chaincode narrowed by the callee",
			defs: map[string]def{
				"cc1": {policy: signaturePolicy(t, "OR('Org1MSP.peer', 'Org2MSP.peer')")},
				"cc2": {policy: signaturePolicy(t, "OR('Org1MSP.peer')")},
			},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}, {Name: "cc2"}},
			want:     []string{"Org1MSP.peer:1"},
		},
		{
			name: "chaincode to chaincode with pluralities",
			defs: map[string]def{
				"cc1": {policy: signaturePolicy(t, "AND('Org1MSP.peer', 'Org1MSP.peer')")},
				"cc2": {policy: signaturePolicy(t, "OR('Org1MSP.peer', 'Org2MSP.peer')")},
			},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}},
			want:     []string{"Org1MSP.peer:2"},
		},
		{
			name:     "key policy narrows the chaincode policy",
			defs:     map[string]def{"cc1": {policy: signaturePolicy(t, "OR('Org1MSP.peer', 'Org2MSP.peer')")}},
			interest: []*pb.ChaincodeCall{{Name: "cc1", KeyPolicies: []*cb.SignaturePolicyEnvelope{channelconfig.MustParsePolicyDSL("OR('Org2MSP.peer')")}}},
			want:     []string{"Org2MSP.peer:1"},
		},
		{
			name:     "peers advertise another definition sequence",
			defs:     map[string]def{"cc1": {policy: signaturePolicy(t, "OR('Org1MSP.peer', 'Org2MSP.peer')"), seq: 2}},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}},
			err:      ErrNotInstalled.Error(),
		},
		{
			name:     "no organisation has enough peers",
			defs:     map[string]def{"cc1": {policy: signaturePolicy(t, "AND('Org1MSP.peer', 'Org1MSP.peer', 'Org1MSP.peer')")}},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}},
			err:      ErrNoCombination.Error(),
		},
		{
			name:     "policy of an organisation outside the channel",
			defs:     map[string]def{"cc1": {policy: signaturePolicy(t, "OR('Org3MSP.peer')")}},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}},
			err:      ErrNoCombination.Error(),
		},
		{
			name:     "chaincode not defined",
			defs:     map[string]def{},
			interest: []*pb.ChaincodeCall{{Name: "cc1"}},
			err:      "No metadata was found for chaincode cc1 in channel mychannel",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, peers := ln.two, ln.peers2
			if c.three {
				b, peers = ln.three, ln.peers3
			}
			ch := Channel{Bundle: b, Definition: func(name string) (*Definition, error) {
				d, ok := c.defs[name]
				if !ok {
					return nil, nil
				}
				seq := d.seq
				if seq == 0 {
					seq = 1
				}
				return &Definition{Name: name, Sequence: seq, EndorsementPolicy: d.policy, Collections: &pb.CollectionConfigPackage{Config: d.collections}}, nil
			}}
			desc, principals, err := endorsers(ch, &pb.ChaincodeInterest{Chaincodes: c.interest}, peers)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]string{}
			for i, p := range principals {
				names[groupName(i)] = principalText(p)
			}
			got := layoutTexts(t, desc, names)
			if !slices.Equal(got, c.want) {
				t.Errorf("layouts %q, want %q", got, c.want)
			}
			if desc.Chaincode != c.interest[0].Name {
				t.Errorf("descriptor of %s, want %s", desc.Chaincode, c.interest[0].Name)
			}
			if c.endorsers != nil {
				byPrincipal := map[string][]string{}
				for g, eps := range endpointsOf(t, desc) {
					byPrincipal[names[g]] = eps
				}
				for p, want := range c.endorsers {
					if !slices.Equal(byPrincipal[p], want) {
						t.Errorf("endorsers of %s: %q, want %q", p, byPrincipal[p], want)
					}
				}
			}
			for _, ps := range desc.EndorsersByGroups {
				for _, p := range ps.Peers {
					if p.StateInfo == nil || p.MembershipInfo == nil || len(p.Identity) == 0 {
						t.Errorf("endorser %s lacks state info, alive message or identity", endpointOf(p.MembershipInfo))
					}
				}
			}
		})
	}
}

// TestSatisfiedBy checks the combinations of gates against ones worked out
// by hand.
func TestSatisfiedBy(t *testing.T) {
	cases := []struct {
		rule string
		want []string
	}{
		{"OR('A.peer', 'B.peer')", []string{"A.peer", "B.peer"}},
		{"AND('A.peer', OR('B.peer', 'C.peer'))", []string{"A.peer B.peer", "A.peer C.peer"}},
		{"OutOf(2, 'A.peer', 'B.peer', 'C.peer')", []string{"A.peer B.peer", "A.peer C.peer", "B.peer C.peer"}},
		{"OutOf(4, 'A.peer', 'B.peer', 'C.peer')", nil},
		{"OR(AND('A.peer', 'B.peer'), AND('A.peer', OutOf(1, 'C.peer', 'D.admin')))", []string{"A.peer B.peer", "A.peer C.peer", "A.peer D.admin"}},
	}
	for _, c := range cases {
		env := channelconfig.MustParsePolicyDSL(c.rule)
		sets, err := SatisfiedBy(env)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range sets {
			var parts []string
			for _, p := range s {
				parts = append(parts, principalText(p))
			}
			got = append(got, strings.Join(parts, " "))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.rule, got, c.want)
		}
	}
	// A gate needing nothing makes the whole policy unusable, as in Fabric.
	env := channelconfig.MustParsePolicyDSL("OR('A.peer', 'B.peer')")
	env.Rule.GetNOutOf().Rules = append(env.Rule.GetNOutOf().Rules, &cb.SignaturePolicy{Type: &cb.SignaturePolicy_NOutOf_{NOutOf: &cb.SignaturePolicy_NOutOf{N: 0}}})
	if sets, err := SatisfiedBy(env); err != nil || len(sets) != 0 {
		t.Errorf("policy with an empty gate: %d sets, %v; want none", len(sets), err)
	}
	// A client's key policy cannot make the peer enumerate without bound.
	big := "AND(" + strings.Repeat("OutOf(3, 'A.peer', 'B.peer', 'C.peer', 'D.peer', 'E.peer', 'F.peer'), ", 4) + "'A.peer')"
	if _, err := SatisfiedBy(channelconfig.MustParsePolicyDSL(big)); err == nil {
		t.Error("a policy of 20^4 combinations was expanded")
	}
}

func TestConvertImplicitMeta(t *testing.T) {
	n := testnet.SampleNet(t)
	env, err := ConvertConfigPolicy(n.Bundle.Config(), "/Channel/Application/Endorsement")
	if err != nil {
		t.Fatal(err)
	}
	if got := channelconfig.FormatPolicy(env); got != "AND(OR('Org1MSP.peer'), OR('Org2MSP.peer'))" {
		t.Errorf("converted policy %s", got)
	}
	if env.Rule.GetNOutOf().GetN() != 2 || len(env.Rule.GetNOutOf().GetRules()) != 2 || len(env.Identities) != 2 {
		t.Errorf("MAJORITY of two organisations converted to %s", channelconfig.FormatPolicy(env))
	}
	_, err = ConvertConfigPolicy(n.Bundle.Config(), "/Channel/Application/NoSuchPolicy")
	if err == nil || !strings.Contains(err.Error(), "NoSuchPolicy") {
		t.Errorf("missing policy: %v", err)
	}
	if _, err := SignaturePolicyOf(n.Bundle.Config(), []byte{0xff}); err == nil {
		t.Error("garbage application policy accepted")
	}
	if errors.Is(err, ErrNoCombination) {
		t.Error("unrelated error")
	}
}
