package discovery

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	discpb "github.com/hyperledger/fabric-protos-go-apiv2/discovery"
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	org3Once.cleanup()
	os.Exit(code)
}

const channelName = testnet.Channel

// signEnvelope marshals m and signs it as s, as gossip does.
func signEnvelope(t testing.TB, s *msp.SigningIdentity, m *gp.GossipMessage) *gp.Envelope {
	t.Helper()
	payload, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	return &gp.Envelope{Payload: payload, Signature: sig}
}

// gossipPeer builds a Peer as gossip would report it: a signed alive message
// (with a secret envelope carrying an internal endpoint) and, when channel is
// set, a signed state info listing chaincodes (name -> version).
func gossipPeer(t testing.TB, s *msp.SigningIdentity, endpoint, channel string, height uint64, ccs map[string]string) Peer {
	t.Helper()
	ser, err := s.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	pki, err := identity.PKIIDOf(ser)
	if err != nil {
		t.Fatal(err)
	}
	alive := signEnvelope(t, s, &gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_AliveMsg{AliveMsg: &gp.AliveMessage{
		Membership: &gp.Member{Endpoint: endpoint, PkiId: pki},
		Timestamp:  &gp.PeerTime{IncNum: uint64(time.Now().UnixNano()), SeqNum: 1},
	}}})
	secret, _ := proto.Marshal(&gp.Secret{Content: &gp.Secret_InternalEndpoint{InternalEndpoint: "internal-" + endpoint}})
	alive.SecretEnvelope = &gp.SecretEnvelope{Payload: secret, Signature: []byte("sig")}
	p := Peer{MSPID: s.MSPID, Identity: ser, Alive: alive}
	if channel != "" {
		var list []*gp.Chaincode
		for _, name := range sortedKeys(ccs) {
			list = append(list, &gp.Chaincode{Name: name, Version: ccs[name]})
		}
		p.StateInfo = signEnvelope(t, s, &gp.GossipMessage{Tag: gp.GossipMessage_CHAN_OR_ORG, Content: &gp.GossipMessage_StateInfo{StateInfo: &gp.StateInfo{
			Timestamp:  &gp.PeerTime{IncNum: 1, SeqNum: 1},
			PkiId:      pki,
			Properties: &gp.Properties{LedgerHeight: height, Chaincodes: list},
		}}})
	}
	return p
}

// issuePeer issues a peer identity of an organisation of the sample network.
func issuePeer(t testing.TB, n *testnet.Net, mspID, cn string) *msp.SigningIdentity {
	t.Helper()
	return n.IssueUser(t, mspID, cn, "peer", time.Now().Add(24*time.Hour))
}

// org3 is a third organisation generated once per test binary: its folder
// (cryptogen layout) and MSP definition.
type org3Material struct {
	once sync.Once
	dir  string
	conf *mspproto.FabricMSPConfig
	err  error
}

var org3Once org3Material

func (o *org3Material) cleanup() {
	if o.dir != "" {
		os.RemoveAll(o.dir)
	}
}

func org3(t testing.TB) (orgDir string, conf *mspproto.FabricMSPConfig) {
	t.Helper()
	org3Once.once.Do(func() {
		dir, err := os.MkdirTemp("", "weft-discovery-org3-")
		if err != nil {
			org3Once.err = err
			return
		}
		org3Once.dir = dir
		cc := &msp.CryptoConfig{PeerOrgs: []msp.OrgSpec{{Name: "Org3", Domain: "org3.example.com", EnableNodeOUs: true,
			Template: msp.NodeTemplate{Count: 1}, Users: msp.UsersSpec{Count: 1}}}}
		if err := msp.GenerateCrypto(cc, dir); err != nil {
			org3Once.err = err
			return
		}
		org3Once.conf, org3Once.err = msp.LoadMSPDir(filepath.Join(dir, "peerOrganizations", "org3.example.com", "msp"), "Org3MSP")
	})
	if org3Once.err != nil {
		t.Fatalf("generate Org3: %v", org3Once.err)
	}
	return filepath.Join(org3Once.dir, "peerOrganizations", "org3.example.com"), org3Once.conf
}

// threeOrgBundle is mychannel of the sample network with Org3 added to the
// Application group (policies as the sample's organisations have them).
func threeOrgBundle(t testing.TB, n *testnet.Net) *channelconfig.Bundle {
	t.Helper()
	_, conf := org3(t)
	cfg := proto.Clone(n.Bundle.Config()).(*cb.Config)
	app := cfg.ChannelGroup.Groups[channelconfig.ApplicationGroupKey]
	var org2 *cb.ConfigGroup
	for _, g := range app.Groups {
		if c, _ := fabricMSPConfig(g); c != nil && c.Name == "Org2MSP" {
			org2 = g
		}
	}
	if org2 == nil {
		t.Fatal("the sample channel has no Org2MSP application organisation")
	}
	g := proto.Clone(org2).(*cb.ConfigGroup)
	rawConf, _ := proto.Marshal(conf)
	rawMSP, _ := proto.Marshal(&mspproto.MSPConfig{Type: 0, Config: rawConf})
	g.Values[channelconfig.MSPKey] = &cb.ConfigValue{Value: rawMSP, ModPolicy: "Admins"}
	delete(g.Values, channelconfig.AnchorPeersKey)
	rules := map[string]string{
		"Readers":     "OR('Org3MSP.admin', 'Org3MSP.peer', 'Org3MSP.client')",
		"Writers":     "OR('Org3MSP.admin', 'Org3MSP.client')",
		"Admins":      "OR('Org3MSP.admin')",
		"Endorsement": "OR('Org3MSP.peer')",
	}
	for name, rule := range rules {
		pol, err := channelconfig.EncodePolicy(&channelconfig.PolicySpec{Type: "Signature", Rule: rule})
		if err != nil {
			t.Fatal(err)
		}
		g.Policies[name] = &cb.ConfigPolicy{Policy: pol, ModPolicy: "Admins"}
	}
	app.Groups["Org3MSP"] = g
	b, err := channelconfig.NewBundle(channelName, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func org3Peer(t testing.TB) *msp.SigningIdentity {
	t.Helper()
	dir, _ := org3(t)
	s, err := msp.LoadSigningIdentity(filepath.Join(dir, "peers", "peer0.org3.example.com", "msp"), "Org3MSP")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signaturePolicy is an ApplicationPolicy with the signature policy of a DSL rule.
func signaturePolicy(t testing.TB, rule string) []byte {
	t.Helper()
	env, err := channelconfig.ParsePolicyDSL(rule)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := proto.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: env}})
	return raw
}

func policyReference(ref string) []byte {
	raw, _ := proto.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: ref}})
	return raw
}

// collection is a static collection whose members are given by a DSL rule;
// endorsement, when not empty, is its own endorsement policy rule.
func collection(t testing.TB, name, members, endorsement string) *pb.CollectionConfig {
	t.Helper()
	env, err := channelconfig.ParsePolicyDSL(members)
	if err != nil {
		t.Fatal(err)
	}
	s := &pb.StaticCollectionConfig{Name: name, MemberOrgsPolicy: &pb.CollectionPolicyConfig{
		Payload: &pb.CollectionPolicyConfig_SignaturePolicy{SignaturePolicy: env}}}
	if endorsement != "" {
		ep, err := channelconfig.ParsePolicyDSL(endorsement)
		if err != nil {
			t.Fatal(err)
		}
		s.EndorsementPolicy = &pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: ep}}
	}
	return &pb.CollectionConfig{Payload: &pb.CollectionConfig_StaticCollectionConfig{StaticCollectionConfig: s}}
}

// principalText names an MSPPrincipal as the policy language writes it.
func principalText(p *mspproto.MSPPrincipal) string {
	if p.PrincipalClassification == mspproto.MSPPrincipal_ROLE {
		r := &mspproto.MSPRole{}
		if proto.Unmarshal(p.Principal, r) == nil {
			return r.MspIdentifier + "." + strings.ToLower(r.Role.String())
		}
	}
	return fmt.Sprintf("%s:%x", p.PrincipalClassification, p.Principal)
}

// layoutTexts renders a descriptor's layouts with each group replaced by the
// principal it stands for (found from the endorsers listed under it), e.g.
// "Org1MSP.peer:1 Org2MSP.peer:1", so tests do not depend on group names.
func layoutTexts(t testing.TB, desc *discpb.EndorsementDescriptor, groupPrincipal map[string]string) []string {
	t.Helper()
	var out []string
	for _, l := range desc.Layouts {
		var parts []string
		for g, n := range l.QuantitiesByGroup {
			name, ok := groupPrincipal[g]
			if !ok {
				t.Fatalf("layout group %s has no endorsers listed", g)
			}
			parts = append(parts, fmt.Sprintf("%s:%d", name, n))
		}
		sort.Strings(parts)
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

// endpointsOf lists the endpoints of the endorsers of each group.
func endpointsOf(t testing.TB, desc *discpb.EndorsementDescriptor) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for g, ps := range desc.EndorsersByGroups {
		for _, p := range ps.Peers {
			out[g] = append(out[g], endpointOf(p.MembershipInfo))
		}
		sort.Strings(out[g])
	}
	return out
}
