package client

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/orderer/broadcast"
	"github.com/weft-ledger/weft/protos"
)

// configNet is the sample network's channel with a second orderer's
// certificates ready to be added as a consenter.
type configNet struct {
	dir    string
	bundle *channelconfig.Bundle
}

func newConfigNet(t *testing.T) *configNet {
	t.Helper()
	dir := t.TempDir()
	cc, err := msp.LoadCryptoConfig(fabricfixture.Path("crypto-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cc.OrdererOrgs[0].Specs = append(cc.OrdererOrgs[0].Specs, msp.NodeSpec{Hostname: "orderer2"})
	if err := msp.GenerateCrypto(cc, filepath.Join(dir, "organizations")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../sampleconfig/configtx.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "configtx.yaml"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, err := channelconfig.LoadConfigTx(filepath.Join(dir, "configtx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	block, err := channelconfig.GenesisBlock(ctx, "ChannelUsingRaft", "mychannel")
	if err != nil {
		t.Fatal(err)
	}
	b, err := channelconfig.BundleFromBlock(block)
	if err != nil {
		t.Fatal(err)
	}
	return &configNet{dir: dir, bundle: b}
}

// identity loads <who>@<domain> (a user) or <who>.<domain> (a node).
func (n *configNet) identity(t *testing.T, kind, domain, who, mspID string) *msp.SigningIdentity {
	t.Helper()
	var mspDir string
	switch kind {
	case "users":
		mspDir = filepath.Join(n.dir, "organizations", orgFolder(domain), domain, "users", who+"@"+domain, "msp")
	default:
		mspDir = filepath.Join(n.dir, "organizations", orgFolder(domain), domain, kind, who+"."+domain, "msp")
	}
	s, err := msp.LoadSigningIdentity(mspDir, mspID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func orgFolder(domain string) string {
	if domain == "example.com" {
		return "ordererOrganizations"
	}
	return "peerOrganizations"
}

// bundleChannel serves a channel from a config bundle, as the orderer does,
// with a consensus that commits at once.
type bundleChannel struct {
	bundle  *channelconfig.Bundle
	signer  protos.Signer
	ordered [][]byte
}

func (c *bundleChannel) Policy(path string) (broadcast.Policy, error) { return c.bundle.Policy(path) }
func (c *bundleChannel) AbsoluteMaxBytes() uint32                     { return c.bundle.Orderer().AbsoluteMaxBytes }
func (c *bundleChannel) Submit(_ context.Context, env []byte) (<-chan error, error) {
	c.ordered = append(c.ordered, env)
	done := make(chan error, 1)
	done <- nil
	return done, nil
}
func (c *bundleChannel) ProcessConfigUpdate(env *cb.Envelope) (*cb.Envelope, error) {
	ce, err := c.bundle.ProposeConfigUpdate(env)
	if err != nil {
		return nil, err
	}
	return channelconfig.ConfigTxEnvelope(c.bundle.ChannelID(), ce, c.signer)
}

type oneChannel struct{ c *bundleChannel }

func (o oneChannel) Channel(name string) (broadcast.Channel, bool) {
	return o.c, name == o.c.bundle.ChannelID()
}

// configOf decodes the ConfigEnvelope of an ordered CONFIG envelope.
func configOf(t *testing.T, raw []byte) *cb.ConfigEnvelope {
	t.Helper()
	env, err := protos.UnmarshalEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	if typ := cb.HeaderType(env.ChannelHeader.Type); typ != cb.HeaderType_CONFIG {
		t.Fatalf("ordered a %s envelope, want CONFIG", typ)
	}
	ce := &cb.ConfigEnvelope{}
	if err := proto.Unmarshal(env.Payload.Data, ce); err != nil {
		t.Fatal(err)
	}
	return ce
}

func TestComputeUpdateAnchorPeers(t *testing.T) {
	n := newConfigNet(t)
	orig := n.bundle.Config()
	updated := proto.Clone(orig).(*cb.Config)
	org1 := updated.ChannelGroup.Groups["Application"].Groups["Org1MSP"]
	org1.Values["AnchorPeers"].Value = protos.Marshal(&pb.AnchorPeers{AnchorPeers: []*pb.AnchorPeer{{Host: "peer0.org1.example.com", Port: 7051}}})

	upd, err := ComputeUpdate("mychannel", orig, updated)
	if err != nil {
		t.Fatal(err)
	}
	// Only the value changes: its groups are read and written at their
	// versions, the value written at version 1, nothing else listed.
	want := &cb.ConfigUpdate{
		ChannelId: "mychannel",
		ReadSet:   &cb.ConfigGroup{Groups: map[string]*cb.ConfigGroup{"Application": {Groups: map[string]*cb.ConfigGroup{"Org1MSP": {}}}}},
		WriteSet: &cb.ConfigGroup{Groups: map[string]*cb.ConfigGroup{"Application": {Groups: map[string]*cb.ConfigGroup{"Org1MSP": {
			Values: map[string]*cb.ConfigValue{"AnchorPeers": {Version: 1, ModPolicy: "Admins", Value: org1.Values["AnchorPeers"].Value}},
		}}}}},
	}
	if !proto.Equal(upd, want) {
		t.Fatalf("update =\n%v\nwant\n%v", upd, want)
	}
	if _, err := ComputeUpdate("mychannel", orig, orig); err == nil || !strings.Contains(err.Error(), "no differences") {
		t.Errorf("identical configs: %v", err)
	}

	admin1 := n.identity(t, "users", "org1.example.com", "Admin", "Org1MSP")
	admin2 := n.identity(t, "users", "org2.example.com", "Admin", "Org2MSP")
	env, err := NewConfigUpdateTx("mychannel", upd, admin1)
	if err != nil {
		t.Fatal(err)
	}
	ce, err := n.bundle.ProposeConfigUpdate(env)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(ce.Config.ChannelGroup.Groups["Application"].Groups["Org1MSP"].Values["AnchorPeers"],
		want.WriteSet.Groups["Application"].Groups["Org1MSP"].Values["AnchorPeers"]) {
		t.Error("the accepted config does not carry the new anchor peers")
	}
	// Another org's admin may not change Org1's anchor peers.
	env2, err := NewConfigUpdateTx("mychannel", upd, admin2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.bundle.ProposeConfigUpdate(env2); err == nil || !strings.Contains(err.Error(), "/Channel/Application/Org1MSP/Admins") {
		t.Errorf("update signed by Org2's admin: %v", err)
	}
}

func TestComputeUpdateDeletesMember(t *testing.T) {
	n := newConfigNet(t)
	orig := n.bundle.Config()
	updated := proto.Clone(orig).(*cb.Config)
	delete(updated.ChannelGroup.Groups["Application"].Groups["Org2MSP"].Values, "AnchorPeers")
	upd, err := ComputeUpdate("mychannel", orig, updated)
	if err != nil {
		t.Fatal(err)
	}
	w := upd.WriteSet.Groups["Application"].Groups["Org2MSP"]
	if w.Version != 1 || w.ModPolicy != "Admins" || len(w.Values) != 1 || w.Values["MSP"].GetVersion() != 0 || len(w.Policies) != 4 {
		t.Fatalf("Org2 write set = %v", w)
	}
	env, err := NewConfigUpdateTx("mychannel", upd, n.identity(t, "users", "org2.example.com", "Admin", "Org2MSP"))
	if err != nil {
		t.Fatal(err)
	}
	ce, err := n.bundle.ProposeConfigUpdate(env)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := n.bundle.ValidateConfigEnvelope(ce)
	if err != nil {
		t.Fatal(err)
	}
	if got := nb.Application().Orgs["Org2MSP"].AnchorPeers; len(got) != 0 {
		t.Errorf("Org2 anchors = %v, want none", got)
	}
	if got := nb.Application().Orgs["Org1MSP"].AnchorPeers; !reflect.DeepEqual(got, []string{"localhost:7051"}) {
		t.Errorf("Org1 anchors = %v", got)
	}
}

// TestAddConsenterThroughBroadcast computes an update adding a consenter,
// signs it by the orderer organization's admin and broadcasts it: the
// orderer orders its own CONFIG envelope, whose config lists the new
// consenter.
func TestAddConsenterThroughBroadcast(t *testing.T) {
	n := newConfigNet(t)
	ordAdmin := n.identity(t, "users", "example.com", "Admin", "OrdererMSP")
	admin1 := n.identity(t, "users", "org1.example.com", "Admin", "Org1MSP")
	ordNode := n.identity(t, "orderers", "example.com", "orderer", "OrdererMSP")
	crt, err := os.ReadFile(filepath.Join(n.dir, "organizations/ordererOrganizations/example.com/orderers/orderer2.example.com/tls/server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	o2 := &etcdraft.Consenter{Host: "orderer2.example.com", Port: 8050, ClientTlsCert: crt, ServerTlsCert: crt}

	orig := n.bundle.Config()
	updated := proto.Clone(orig).(*cb.Config)
	cv := updated.ChannelGroup.Groups["Orderer"].Values["ConsensusType"]
	ct := &ab.ConsensusType{}
	md := &etcdraft.ConfigMetadata{}
	if err := proto.Unmarshal(cv.Value, ct); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(ct.Metadata, md); err != nil {
		t.Fatal(err)
	}
	md.Consenters = append(md.Consenters, o2)
	ct.Metadata = protos.Marshal(md)
	cv.Value = protos.Marshal(ct)
	upd, err := ComputeUpdate("mychannel", orig, updated)
	if err != nil {
		t.Fatal(err)
	}

	ch := &bundleChannel{bundle: n.bundle, signer: ordNode}
	h := broadcast.NewHandler(oneChannel{ch}, nil)

	// Org1's admin is a channel writer but not an orderer admin.
	env, err := NewConfigUpdateTx("mychannel", upd, admin1)
	if err != nil {
		t.Fatal(err)
	}
	r := h.Process(context.Background(), env)
	if r.Status != cb.Status_BAD_REQUEST || !strings.Contains(r.Info, "value /Channel/Orderer/ConsensusType") ||
		!strings.Contains(r.Info, "/Channel/Orderer/Admins") || !strings.Contains(r.Info, "Org1MSP Admin@org1.example.com") {
		t.Fatalf("update signed by Org1's admin: %s %s", r.Status, r.Info)
	}
	if len(ch.ordered) != 0 {
		t.Fatal("a refused update was ordered")
	}

	// The orderer admin signs; Org1's admin creates the envelope and signs too.
	cue, err := SignConfigUpdate(upd, admin1)
	if err != nil {
		t.Fatal(err)
	}
	if err := AddConfigSignatures(cue, ordAdmin); err != nil {
		t.Fatal(err)
	}
	env, err = ConfigUpdateTx("mychannel", cue, admin1)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.Process(context.Background(), env); r.Status != cb.Status_SUCCESS {
		t.Fatalf("update signed by the orderer admin: %s %s", r.Status, r.Info)
	}
	if len(ch.ordered) != 1 {
		t.Fatalf("ordered %d envelopes, want 1", len(ch.ordered))
	}
	ordered, err := protos.UnmarshalEnvelope(ch.ordered[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := ordNode.Verify(ordered.Envelope.Payload, ordered.Envelope.Signature); err != nil {
		t.Errorf("the CONFIG envelope is not signed by the orderer: %v", err)
	}
	ce := configOf(t, ch.ordered[0])
	if !proto.Equal(ce.LastUpdate, env) {
		t.Error("the CONFIG envelope's last_update is not the broadcast update")
	}
	nb, err := n.bundle.ValidateConfigEnvelope(ce)
	if err != nil {
		t.Fatal(err)
	}
	if got := nb.Orderer().Consenters; len(got) != 2 || !proto.Equal(got[1], o2) {
		t.Fatalf("consenters = %v, want the genesis one and orderer2", got)
	}
	if nb.Sequence() != 1 {
		t.Errorf("sequence %d, want 1", nb.Sequence())
	}
}
