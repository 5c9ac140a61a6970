package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/discovery"
	"github.com/weft-ledger/weft/discovery/discoverytest"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// discoPeer is one peer of a discovered network: a fake endorser served
// over TLS on loopback (or, for peer0.org1, the gateway's own endorser) and
// what gossip says of it.
type discoPeer struct {
	name     string // e.g. "peer1.org2"
	mspID    string
	endorser *fakeEndorser
	addr     string
	height   uint64
	ccs      map[string]string // chaincodes its state info lists (name -> sequence)
}

// discoNet is mychannel with three organisations (the sample's two and a
// generated Org3), whose peers gossip knows; the gateway is peer0.org1's.
type discoNet struct {
	sn     *testnet.Net
	bundle *channelconfig.Bundle
	gw     *Server
	user   *msp.SigningIdentity // Org1MSP client

	mu    sync.Mutex // guards peers and defs, read by the gateway
	peers []*discoPeer
	defs  map[string]*discovery.Definition

	policyReads atomic.Int32 // Chaincodes lookups: only the anchor-peer plan makes them
}

// org3Bundle is the sample channel with Org3MSP (conf) added as an
// application organisation shaped like Org2MSP.
func org3Bundle(t *testing.T, sn *testnet.Net, conf *mspproto.FabricMSPConfig) *channelconfig.Bundle {
	t.Helper()
	cfg := proto.Clone(sn.Bundle.Config()).(*cb.Config)
	app := cfg.ChannelGroup.Groups[channelconfig.ApplicationGroupKey]
	var org2 *cb.ConfigGroup
	for _, g := range app.Groups {
		mc := &mspproto.MSPConfig{}
		fc := &mspproto.FabricMSPConfig{}
		if proto.Unmarshal(g.Values[channelconfig.MSPKey].GetValue(), mc) == nil && proto.Unmarshal(mc.Config, fc) == nil && fc.Name == "Org2MSP" {
			org2 = g
		}
	}
	if org2 == nil {
		t.Fatal("the sample channel has no Org2MSP")
	}
	g := proto.Clone(org2).(*cb.ConfigGroup)
	g.Values[channelconfig.MSPKey] = &cb.ConfigValue{Value: protos.Marshal(&mspproto.MSPConfig{Config: protos.Marshal(conf)}), ModPolicy: "Admins"}
	delete(g.Values, channelconfig.AnchorPeersKey)
	for name, rule := range map[string]string{
		"Readers": "OR('Org3MSP.admin', 'Org3MSP.peer', 'Org3MSP.client')", "Writers": "OR('Org3MSP.admin', 'Org3MSP.client')",
		"Admins": "OR('Org3MSP.admin')", "Endorsement": "OR('Org3MSP.peer')",
	} {
		pol, err := channelconfig.EncodePolicy(&channelconfig.PolicySpec{Type: "Signature", Rule: rule})
		if err != nil {
			t.Fatal(err)
		}
		g.Policies[name] = &cb.ConfigPolicy{Policy: pol, ModPolicy: "Admins"}
	}
	app.Groups["Org3MSP"] = g
	b, err := channelconfig.NewBundle(testnet.Channel, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newDiscoNet starts the peers named (peer0.org1 is always the gateway's):
// each "peerN.orgM" with ledger height heights[name] (default 10) listing
// chaincode basic at sequence 1.
func newDiscoNet(t *testing.T, names ...string) *discoNet {
	t.Helper()
	sn := testnet.SampleNet(t)
	dir := t.TempDir()
	err := msp.GenerateCrypto(&msp.CryptoConfig{PeerOrgs: []msp.OrgSpec{{Name: "Org3", Domain: "org3.example.com", EnableNodeOUs: true,
		Template: msp.NodeTemplate{Count: 2}, Users: msp.UsersSpec{Count: 1}}}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	org3Dir := filepath.Join(dir, "peerOrganizations", "org3.example.com")
	conf, err := msp.LoadMSPDir(filepath.Join(org3Dir, "msp"), "Org3MSP")
	if err != nil {
		t.Fatal(err)
	}
	n := &discoNet{sn: sn, bundle: org3Bundle(t, sn, conf), user: sn.User(t, "User1", "Org1MSP"), defs: map[string]*discovery.Definition{}}
	n.define(t, "basic", "OR('Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')")

	identity := func(name, mspID string) (*msp.SigningIdentity, tls.Certificate) {
		org := strings.SplitN(name, ".", 2)[1]
		if mspID == "Org3MSP" {
			s, err := msp.LoadSigningIdentity(filepath.Join(org3Dir, "peers", name+".example.com", "msp"), mspID)
			if err != nil {
				t.Fatal(err)
			}
			tlsDir := filepath.Join(org3Dir, "peers", name+".example.com", "tls")
			cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "server.crt"), filepath.Join(tlsDir, "server.key"))
			if err != nil {
				t.Fatal(err)
			}
			return s, cert
		}
		host := name + ".example.com"
		tlsCert := sn.TLSCert(t, "peer0."+org+".example.com") // its SANs include 127.0.0.1
		if strings.HasPrefix(name, "peer0.") {
			return sn.Signer(t, host), tlsCert
		}
		return sn.IssueUser(t, mspID, host, "peer", time.Now().Add(time.Hour)), tlsCert
	}
	local := &discoPeer{name: "peer0.org1", mspID: "Org1MSP", height: 10, ccs: map[string]string{"basic": "1"}}
	signer, localTLS := identity("peer0.org1", "Org1MSP")
	local.endorser = &fakeEndorser{peer: signer}
	gwLis := listen(t)
	local.addr = gwLis.Addr().String()
	n.peers = append(n.peers, local)
	signers := map[string]*msp.SigningIdentity{"peer0.org1": signer}
	for _, name := range names {
		org := strings.SplitN(name, ".", 2)[1]
		p := &discoPeer{name: name, mspID: "Org" + strings.TrimPrefix(org, "org") + "MSP", height: 10, ccs: map[string]string{"basic": "1"}}
		s, cert := identity(name, p.mspID)
		p.endorser = &fakeEndorser{peer: s}
		p.addr = testnet.ServeTLS(t, listen(t), cert, func(srv *grpc.Server) { pb.RegisterEndorserServer(srv, p.endorser) })
		signers[name] = s
		n.peers = append(n.peers, p)
	}

	base, err := ChannelFromBundle(n.bundle, nil)
	if err != nil {
		t.Fatal(err)
	}
	channels := ChannelsFunc(func(id string) (*Channel, error) {
		if id != testChannel {
			return nil, fmt.Errorf("channel %s: %w", id, ErrChannelNotFound)
		}
		ch := *base
		ch.Self = signer.Serialized
		ch.Discovery = discovery.Channel{Bundle: n.bundle, Definition: func(name string) (*discovery.Definition, error) {
			n.mu.Lock()
			defer n.mu.Unlock()
			return n.defs[name], nil
		}}
		ch.Peers = func() []discovery.Peer {
			n.mu.Lock()
			defer n.mu.Unlock()
			var out []discovery.Peer
			for _, p := range n.peers {
				out = append(out, discoverytest.Peer(t, signers[p.name], p.addr, testChannel, p.height, p.ccs))
			}
			return out
		}
		return &ch, nil
	})
	gw, err := New(Config{
		MSPID: "Org1MSP", Endpoint: local.addr, Endorser: local.endorser, Channels: channels, Chaincodes: ChaincodesFunc(n.policy),
		Notifier: NewCommitNotifier(), ClientCert: &localTLS, EndorseTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close(); gw.cfg.Notifier.Close() })
	n.gw = gw
	return n
}

// policy answers Chaincodes from the definitions.
func (n *discoNet) policy(channelID, name string) (*pb.ApplicationPolicy, error) {
	n.policyReads.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	d, ok := n.defs[name]
	if !ok {
		return nil, fmt.Errorf("chaincode %s is not defined on channel %s", name, channelID)
	}
	ap := &pb.ApplicationPolicy{}
	return ap, proto.Unmarshal(d.EndorsementPolicy, ap)
}

// define commits chaincode name at sequence 1 with a signature policy.
func (n *discoNet) define(t *testing.T, name, rule string, colls ...*pb.CollectionConfig) {
	t.Helper()
	env, err := channelconfig.ParsePolicyDSL(rule)
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.defs[name] = &discovery.Definition{Name: name, Sequence: 1,
		EndorsementPolicy: protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: env}}),
		Collections:       &pb.CollectionConfigPackage{Config: colls}}
}

func (n *discoNet) peer(t *testing.T, name string) *discoPeer {
	t.Helper()
	for _, p := range n.peers {
		if p.name == name {
			return p
		}
	}
	t.Fatalf("no peer %s", name)
	return nil
}

// calls says how many proposals each peer received, e.g.
// "peer0.org1:1 peer0.org2:1" (peers asked nothing left out).
func (n *discoNet) calls() string {
	var parts []string
	for _, p := range n.peers {
		if c := p.endorser.calls.Load(); c > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", p.name, c))
		}
	}
	return strings.Join(parts, " ")
}

// endorse asks the gateway to endorse basic CreateAsset and returns the
// names of the peers whose endorsements the prepared transaction carries.
func (n *discoNet) endorse(t *testing.T, orgs []string, transient map[string][]byte) ([]string, error) {
	t.Helper()
	sp, _, err := protos.NewProposal(n.user, testChannel, "basic", [][]byte{[]byte("CreateAsset"), []byte("a1"), []byte("blue")}, transient)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := n.gw.Endorse(context.Background(), &gwpb.EndorseRequest{ProposedTransaction: sp, EndorsingOrganizations: orgs})
	if err != nil {
		return nil, err
	}
	penv, err := protos.ParseEnvelope(resp.PreparedTransaction)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := protos.ParseEndorserTx(penv)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range tx.ActionPayload.Action.Endorsements {
		for _, p := range n.peers {
			if ser, _ := p.endorser.peer.Serialize(); string(ser) == string(e.Endorser) {
				names = append(names, p.name)
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

func (n *discoNet) evaluate(t *testing.T) (string, error) {
	t.Helper()
	sp, _, err := protos.NewProposal(n.user, testChannel, "basic", [][]byte{[]byte("ReadAsset"), []byte("a1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := n.gw.Evaluate(context.Background(), &gwpb.EvaluateRequest{ProposedTransaction: sp})
	if err != nil {
		return "", err
	}
	return string(resp.Result.Payload), nil
}

// Layouts of AND, OR and OutOf policies over three organisations: the local
// peer endorses first, and only the organisations a layout still needs are
// asked.
func TestDiscoveryPlansFromLayouts(t *testing.T) {
	cases := []struct {
		policy, endorsers, calls string
		failing                  string // a peer that fails every proposal
	}{
		{policy: "AND('Org1MSP.peer','Org2MSP.peer')", endorsers: "peer0.org1,peer0.org2", calls: "peer0.org1:1 peer0.org2:1"},
		{policy: "OR('Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')", endorsers: "peer0.org1", calls: "peer0.org1:1"},
		{policy: "AND('Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')", endorsers: "peer0.org1,peer0.org2,peer0.org3", calls: "peer0.org1:1 peer0.org2:1 peer0.org3:1"},
		// the local endorsement is in no layout: it only gives the interest
		{policy: "AND('Org2MSP.peer','Org3MSP.peer')", endorsers: "peer0.org2,peer0.org3", calls: "peer0.org1:1 peer0.org2:1 peer0.org3:1"},
		{policy: "OutOf(2,'Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')", endorsers: "peer0.org1,peer0.org2", calls: "peer0.org1:1 peer0.org2:1"},
		// a layout that cannot complete falls to the next one
		{policy: "OutOf(2,'Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')", failing: "peer0.org2", endorsers: "peer0.org1,peer0.org3", calls: "peer0.org1:1 peer0.org2:1 peer0.org3:1"},
	}
	for _, c := range cases {
		t.Run(c.policy+" "+c.failing, func(t *testing.T) {
			n := newDiscoNet(t, "peer0.org2", "peer0.org3")
			n.define(t, "basic", c.policy)
			if c.failing != "" {
				n.peer(t, c.failing).endorser.failed = "chaincode basic is not installed"
			}
			got, err := n.endorse(t, nil, nil)
			if err != nil {
				t.Fatalf("endorse: %v", err)
			}
			if joined(got) != c.endorsers {
				t.Errorf("endorsed by %s, want %s", joined(got), c.endorsers)
			}
			if n.calls() != c.calls {
				t.Errorf("peers asked: %s, want %s", n.calls(), c.calls)
			}
		})
	}
}

// A peer that fails is replaced by another of its organisation, the highest
// first; when every peer of an organisation fails, the error names each
// with its address and cause.
func TestDiscoveryReplacesFailedPeerWithinItsOrg(t *testing.T) {
	n := newDiscoNet(t, "peer0.org2", "peer1.org2", "peer1.org1")
	n.define(t, "basic", "AND('Org1MSP.peer','Org2MSP.peer')")
	n.peer(t, "peer1.org2").height = 5
	n.peer(t, "peer0.org2").endorser.failed = "connection reset"
	got, err := n.endorse(t, nil, nil)
	if err != nil {
		t.Fatalf("endorse: %v", err)
	}
	if joined(got) != "peer0.org1,peer1.org2" {
		t.Fatalf("endorsed by %s, want peer0.org1,peer1.org2", joined(got))
	}

	// The local peer failing: the first endorsement comes from peer1.org1.
	n.peer(t, "peer0.org1").endorser.failed = "chaincode basic is not installed"
	if got, err = n.endorse(t, nil, nil); err != nil {
		t.Fatalf("endorse: %v", err)
	}
	if joined(got) != "peer1.org1,peer1.org2" {
		t.Fatalf("endorsed by %s, want peer1.org1,peer1.org2", joined(got))
	}

	n.peer(t, "peer1.org2").endorser.failed = "ledger is behind"
	_, err = n.endorse(t, nil, nil)
	if status.Code(err) != codes.Aborted {
		t.Fatalf("want Aborted when no Org2 peer endorses, got %v", err)
	}
	details := map[string]string{}
	for _, d := range errorDetails(t, err) {
		details[d.Address] = d.MspId + ": " + d.Message
	}
	for _, want := range []struct{ peer, text string }{
		{"peer0.org2", "Org2MSP: chaincode response 500, connection reset"},
		{"peer1.org2", "Org2MSP: chaincode response 500, ledger is behind"},
		{"peer0.org1", "Org1MSP: chaincode response 500, chaincode basic is not installed"},
	} {
		if got := details[n.peer(t, want.peer).addr]; got != want.text {
			t.Errorf("detail for %s = %q, want %q (all: %v)", want.peer, got, want.text, details)
		}
	}
}

// The interest of the local endorsement restricts endorsers to the members
// of a collection read privately, or written with transient data.
func TestDiscoveryCollectionInterestRestrictsOrgs(t *testing.T) {
	members, err := channelconfig.ParsePolicyDSL("OR('Org1MSP.member','Org3MSP.member')")
	if err != nil {
		t.Fatal(err)
	}
	coll := &pb.CollectionConfig{Payload: &pb.CollectionConfig_StaticCollectionConfig{StaticCollectionConfig: &pb.StaticCollectionConfig{
		Name: "org13", MemberOrgsPolicy: &pb.CollectionPolicyConfig{Payload: &pb.CollectionPolicyConfig_SignaturePolicy{SignaturePolicy: members}}}}}
	cases := []struct {
		name           string
		noPrivateReads bool
		transient      map[string][]byte
		endorsers      string
	}{
		{name: "written only", noPrivateReads: true, endorsers: "peer0.org1,peer0.org2"},
		{name: "read privately", endorsers: "peer0.org1,peer0.org3"},
		{name: "written with transient data", noPrivateReads: true, transient: map[string][]byte{"asset": []byte("secret")}, endorsers: "peer0.org1,peer0.org3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := newDiscoNet(t, "peer0.org2", "peer0.org3")
			n.define(t, "basic", "OutOf(2,'Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')", coll)
			n.peer(t, "peer0.org1").endorser.interest = &pb.ChaincodeInterest{Chaincodes: []*pb.ChaincodeCall{
				{Name: "basic", CollectionNames: []string{"org13"}, NoPrivateReads: c.noPrivateReads}}}
			got, err := n.endorse(t, nil, c.transient)
			if err != nil {
				t.Fatalf("endorse: %v", err)
			}
			if joined(got) != c.endorsers {
				t.Fatalf("endorsed by %s, want %s (asked %s)", joined(got), c.endorsers, n.calls())
			}
		})
	}
}

// A chaincode called by the invoked one adds its policy: basic alone needs
// Org1, the callee needs Org2 too.
func TestDiscoveryChaincodeCallInterestAddsCalleePolicy(t *testing.T) {
	n := newDiscoNet(t, "peer0.org2", "peer0.org3")
	n.define(t, "basic", "OR('Org1MSP.peer')")
	n.define(t, "callee", "OR('Org2MSP.peer')")
	for _, p := range n.peers {
		p.ccs["callee"] = "1"
	}
	got, err := n.endorse(t, nil, nil)
	if err != nil || joined(got) != "peer0.org1" {
		t.Fatalf("without an interest: endorsed by %v (%v), want peer0.org1", got, err)
	}
	n.peer(t, "peer0.org1").endorser.interest = &pb.ChaincodeInterest{Chaincodes: []*pb.ChaincodeCall{{Name: "basic"}, {Name: "callee"}}}
	got, err = n.endorse(t, nil, nil)
	if err != nil {
		t.Fatalf("endorse: %v", err)
	}
	if joined(got) != "peer0.org1,peer0.org2" {
		t.Fatalf("endorsed by %s, want peer0.org1,peer0.org2", joined(got))
	}
}

// Endorsing organisations the client names are asked, one peer each, and
// nobody else; an organisation without a known peer is named.
func TestDiscoveryRequestedOrgs(t *testing.T) {
	n := newDiscoNet(t, "peer0.org2", "peer0.org3")
	got, err := n.endorse(t, []string{"Org2MSP", "Org3MSP"}, nil)
	if err != nil {
		t.Fatalf("endorse: %v", err)
	}
	if joined(got) != "peer0.org2,peer0.org3" || n.calls() != "peer0.org2:1 peer0.org3:1" {
		t.Fatalf("endorsed by %s, asked %s; want peer0.org2 and peer0.org3 only", joined(got), n.calls())
	}
	delete(n.peer(t, "peer0.org3").ccs, "basic")
	_, err = n.endorse(t, []string{"Org3MSP"}, nil)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "Org3MSP") {
		t.Fatalf("want Unavailable naming Org3MSP, got %v", err)
	}
}

// Evaluate falls back from the local peer to another of its organisation,
// then to the other organisations' peer with the highest ledger height.
func TestDiscoveryEvaluateFallback(t *testing.T) {
	n := newDiscoNet(t, "peer1.org1", "peer0.org2", "peer0.org3")
	n.peer(t, "peer1.org1").height = 3
	n.peer(t, "peer0.org2").height = 5
	n.peer(t, "peer0.org3").height = 9

	if got, err := n.evaluate(t); err != nil || got != "asset a1" || n.calls() != "peer0.org1:1" {
		t.Fatalf("evaluate = %q, %v, asked %s; want the local peer only", got, err, n.calls())
	}
	n.peer(t, "peer0.org1").endorser.failed = "chaincode basic is not installed"
	if got, err := n.evaluate(t); err != nil || got != "asset a1" || n.calls() != "peer0.org1:2 peer1.org1:1" {
		t.Fatalf("evaluate = %q, %v, asked %s; want peer1.org1 after the local peer", got, err, n.calls())
	}
	// The local peer's state info no longer lists basic, peer1.org1 fails:
	// Org3's peer is higher than Org2's; the local peer is tried last only.
	delete(n.peer(t, "peer0.org1").ccs, "basic")
	n.peer(t, "peer1.org1").endorser.failed = "chaincode basic is not installed"
	if got, err := n.evaluate(t); err != nil || got != "asset a1" || n.calls() != "peer0.org1:2 peer1.org1:2 peer0.org3:1" {
		t.Fatalf("evaluate = %q, %v, asked %s; want peer0.org3 after peer1.org1", got, err, n.calls())
	}
	for _, p := range n.peers {
		p.endorser.failed = "chaincode basic is not installed"
	}
	_, err := n.evaluate(t)
	if d := errorDetails(t, err); len(d) != 4 || !slices.ContainsFunc(d, func(d *gwpb.ErrorDetail) bool {
		return d.Address == n.peer(t, "peer0.org2").addr && d.MspId == "Org2MSP"
	}) {
		t.Fatalf("want a detail per peer asked, got %v", d)
	}
}

// When gossip knows no peer but this one (gossip off, or nobody heard of
// yet), the gateway plans from the chaincode's policy (Chaincodes) and the
// anchor peers, as before discovery; once it knows another peer it plans
// from discovery and never asks Chaincodes.
func TestDiscoveryKnowsOnlyThisPeerFallsBackToPolicyPlan(t *testing.T) {
	n := newDiscoNet(t, "peer0.org2")
	n.define(t, "basic", "OR('Org1MSP.peer','Org2MSP.peer')")
	if _, err := n.endorse(t, nil, nil); err != nil || n.policyReads.Load() != 0 {
		t.Fatalf("with Org2's peer known: %v, %d policy reads; want a discovery plan", err, n.policyReads.Load())
	}
	n.mu.Lock()
	n.peers = n.peers[:1]
	n.mu.Unlock()
	got, err := n.endorse(t, nil, nil)
	if err != nil || joined(got) != "peer0.org1" {
		t.Fatalf("endorsed by %v (%v), want peer0.org1", got, err)
	}
	if n.policyReads.Load() != 1 {
		t.Fatalf("policy reads %d, want 1: the fallback plans from the chaincode's policy", n.policyReads.Load())
	}
}
