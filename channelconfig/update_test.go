package channelconfig

import (
	"bytes"
	"errors"
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

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

const (
	org1Dir = "peerOrganizations/org1.example.com"
	org2Dir = "peerOrganizations/org2.example.com"
	ordDir  = "ordererOrganizations/example.com"
)

// updateNet is the sample network (genesis consenter orderer.example.com)
// with two more orderers' certificates, orderer2 and orderer3, issued by the
// orderer organization's CAs.
type updateNet struct {
	dir                             string
	bundle                          *Bundle
	admin1, admin2, ordAdmin, user1 *msp.SigningIdentity
}

// newUpdateNet builds the network; replace holds pairs of strings
// (old, new) replaced in its configtx.yaml before the genesis block is made.
func newUpdateNet(t *testing.T, replace ...string) *updateNet {
	t.Helper()
	dir := t.TempDir()
	cc, err := msp.LoadCryptoConfig(filepath.Join(fixtureDir, "crypto-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cc.OrdererOrgs[0].Specs = append(cc.OrdererOrgs[0].Specs, msp.NodeSpec{Hostname: "orderer2"}, msp.NodeSpec{Hostname: "orderer3"})
	if err := msp.GenerateCrypto(cc, filepath.Join(dir, "organizations")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../sampleconfig/configtx.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(replace); i += 2 {
		if !bytes.Contains(raw, []byte(replace[i])) {
			t.Fatalf("configtx.yaml has no %q to replace", replace[i])
		}
		raw = bytes.ReplaceAll(raw, []byte(replace[i]), []byte(replace[i+1]))
	}
	if err := os.WriteFile(filepath.Join(dir, "configtx.yaml"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, err := LoadConfigTx(filepath.Join(dir, "configtx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	block, err := GenesisBlock(ctx, "ChannelUsingRaft", "mychannel")
	if err != nil {
		t.Fatal(err)
	}
	b, err := BundleFromBlock(block)
	if err != nil {
		t.Fatal(err)
	}
	return &updateNet{
		dir: dir, bundle: b,
		admin1:   signer(t, dir, org1Dir, "Admin", "Org1MSP"),
		admin2:   signer(t, dir, org2Dir, "Admin", "Org2MSP"),
		ordAdmin: signer(t, dir, ordDir, "Admin", "OrdererMSP"),
		user1:    signer(t, dir, org1Dir, "User1", "Org1MSP"),
	}
}

// consenter is orderer<name>.example.com's consenter entry (port 7050+i).
func (n *updateNet) consenter(t *testing.T, host string, port uint32) *etcdraft.Consenter {
	t.Helper()
	crt, err := os.ReadFile(filepath.Join(n.dir, "organizations", ordDir, "orderers", host+".example.com", "tls", "server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return &etcdraft.Consenter{Host: host + ".example.com", Port: port, ClientTlsCert: crt, ServerTlsCert: crt}
}

// updateEnv signs update by every signer and wraps it in a CONFIG_UPDATE
// envelope created by the first, as `peer channel update` does.
func updateEnv(t *testing.T, channel string, update *cb.ConfigUpdate, signers ...*msp.SigningIdentity) *cb.Envelope {
	t.Helper()
	if update.ChannelId == "" {
		update.ChannelId = channel
	}
	raw := protos.Marshal(update)
	cue := &cb.ConfigUpdateEnvelope{ConfigUpdate: raw}
	for _, s := range signers {
		shdr, err := protos.NewSignatureHeader(s)
		if err != nil {
			t.Fatal(err)
		}
		sh := protos.Marshal(shdr)
		sig, err := s.Sign(append(append([]byte{}, sh...), raw...))
		if err != nil {
			t.Fatal(err)
		}
		cue.Signatures = append(cue.Signatures, &cb.ConfigSignature{SignatureHeader: sh, Signature: sig})
	}
	env, err := protos.NewSignedEnvelope(cb.HeaderType_CONFIG_UPDATE, channel, signers[0], cue)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// group builds a read/write-set group.
func group(version uint64, modPolicy string, groups map[string]*cb.ConfigGroup, values map[string]*cb.ConfigValue) *cb.ConfigGroup {
	return &cb.ConfigGroup{Version: version, ModPolicy: modPolicy, Groups: groups, Values: values}
}

// anchorUpdate sets orgName's AnchorPeers to host:port at the given write
// version, reading the org group at readVersion.
func anchorUpdate(readVersion, writeVersion uint64, orgName, host string, port int32) *cb.ConfigUpdate {
	read := group(0, "", map[string]*cb.ConfigGroup{
		ApplicationGroupKey: group(0, "", map[string]*cb.ConfigGroup{orgName: group(readVersion, "", nil, nil)}, nil),
	}, nil)
	anchors := &cb.ConfigValue{Version: writeVersion, ModPolicy: AdminsPolicyKey,
		Value: protos.Marshal(&pb.AnchorPeers{AnchorPeers: []*pb.AnchorPeer{{Host: host, Port: port}}})}
	write := group(0, "", map[string]*cb.ConfigGroup{
		ApplicationGroupKey: group(0, "", map[string]*cb.ConfigGroup{
			orgName: group(readVersion, "", nil, map[string]*cb.ConfigValue{AnchorPeersKey: anchors}),
		}, nil),
	}, nil)
	return &cb.ConfigUpdate{ReadSet: read, WriteSet: write}
}

func wantRefused(t *testing.T, err error, mentions ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("update accepted, want refusal mentioning %q", mentions)
	}
	t.Log(err)
	if !errors.Is(err, ErrConfigUpdate) {
		t.Errorf("error does not wrap ErrConfigUpdate: %v", err)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error does not mention %q: %v", m, err)
		}
	}
}

func TestProposeConfigUpdateAnchorPeers(t *testing.T) {
	n := newUpdateNet(t)
	b := n.bundle
	if v := b.Config().ChannelGroup.Groups[ApplicationGroupKey].Groups["Org1MSP"].Values[AnchorPeersKey].Version; v != 0 {
		t.Fatalf("genesis AnchorPeers version %d", v)
	}

	t.Run("org admin", func(t *testing.T) {
		env := updateEnv(t, "mychannel", anchorUpdate(0, 1, "Org1MSP", "peer0.org1.example.com", 7051), n.admin1)
		ce, err := b.ProposeConfigUpdate(env)
		if err != nil {
			t.Fatal(err)
		}
		if ce.Config.Sequence != 1 || ce.LastUpdate != env {
			t.Fatalf("sequence %d, last update %p (want 1, %p)", ce.Config.Sequence, ce.LastUpdate, env)
		}
		nb, err := NewBundle("mychannel", ce.Config)
		if err != nil {
			t.Fatal(err)
		}
		if got := nb.Application().Orgs["Org1MSP"].AnchorPeers; !reflect.DeepEqual(got, []string{"peer0.org1.example.com:7051"}) {
			t.Errorf("Org1 anchors = %v", got)
		}
		if got := nb.Application().Orgs["Org2MSP"].AnchorPeers; !reflect.DeepEqual(got, []string{"localhost:9051"}) {
			t.Errorf("Org2 anchors changed: %v", got)
		}
		if v := ce.Config.ChannelGroup.Groups[ApplicationGroupKey].Groups["Org1MSP"].Values[AnchorPeersKey].Version; v != 1 {
			t.Errorf("AnchorPeers version %d, want 1", v)
		}
		// Everything else is the genesis config, untouched.
		other := proto.Clone(ce.Config).(*cb.Config)
		other.Sequence = 0
		other.ChannelGroup.Groups[ApplicationGroupKey].Groups["Org1MSP"].Values[AnchorPeersKey] =
			b.Config().ChannelGroup.Groups[ApplicationGroupKey].Groups["Org1MSP"].Values[AnchorPeersKey]
		if !proto.Equal(other, b.Config()) {
			t.Error("the update changed more than Org1's AnchorPeers")
		}
		if b.Sequence() != 0 {
			t.Error("ProposeConfigUpdate modified the bundle")
		}

		// A committer re-derives the CONFIG envelope from its last update.
		vb, err := b.ValidateConfigEnvelope(ce)
		if err != nil {
			t.Fatal(err)
		}
		if vb.Sequence() != 1 {
			t.Errorf("validated bundle sequence %d", vb.Sequence())
		}
		forged := proto.Clone(ce).(*cb.ConfigEnvelope)
		forged.LastUpdate = env
		forged.Config.ChannelGroup.Groups[ApplicationGroupKey].Groups["Org2MSP"].Values[AnchorPeersKey].Value = []byte{}
		_, err = b.ValidateConfigEnvelope(forged)
		wantRefused(t, err, "not the result of its last_update")
		stale := proto.Clone(ce).(*cb.ConfigEnvelope)
		stale.LastUpdate = env
		_, err = vb.ValidateConfigEnvelope(stale)
		wantRefused(t, err, "sequence 1", "must have sequence 2")
	})

	t.Run("other org admin", func(t *testing.T) {
		env := updateEnv(t, "mychannel", anchorUpdate(0, 1, "Org1MSP", "evil.example.com", 7051), n.admin2)
		_, err := b.ProposeConfigUpdate(env)
		wantRefused(t, err, "value /Channel/Application/Org1MSP/AnchorPeers", `mod_policy "Admins"`,
			"/Channel/Application/Org1MSP/Admins", "Org2MSP Admin@org2.example.com")
		if !errors.Is(err, ErrPolicyNotSatisfied) {
			t.Errorf("error does not wrap ErrPolicyNotSatisfied: %v", err)
		}
	})

	t.Run("org member not admin", func(t *testing.T) {
		env := updateEnv(t, "mychannel", anchorUpdate(0, 1, "Org1MSP", "peer0.org1.example.com", 7051), n.user1)
		_, err := b.ProposeConfigUpdate(env)
		wantRefused(t, err, "/Channel/Application/Org1MSP/Admins", "Org1MSP User1@org1.example.com")
	})

	t.Run("no signatures", func(t *testing.T) {
		env := updateEnv(t, "mychannel", anchorUpdate(0, 1, "Org1MSP", "peer0.org1.example.com", 7051), n.admin1)
		p := &cb.Payload{}
		if err := proto.Unmarshal(env.Payload, p); err != nil {
			t.Fatal(err)
		}
		cue := &cb.ConfigUpdateEnvelope{}
		if err := proto.Unmarshal(p.Data, cue); err != nil {
			t.Fatal(err)
		}
		cue.Signatures = nil
		p.Data = protos.Marshal(cue)
		env.Payload = protos.Marshal(p)
		_, err := b.ProposeConfigUpdate(env)
		wantRefused(t, err, "signatures [none]", "no signatures were supplied")
	})

	t.Run("stale read set", func(t *testing.T) {
		env := updateEnv(t, "mychannel", anchorUpdate(3, 3, "Org1MSP", "peer0.org1.example.com", 7051), n.admin1)
		_, err := b.ProposeConfigUpdate(env)
		wantRefused(t, err, "group /Channel/Application/Org1MSP at version 3, but it is at version 0", "compute the update again")
	})

	t.Run("write version skips", func(t *testing.T) {
		env := updateEnv(t, "mychannel", anchorUpdate(0, 2, "Org1MSP", "peer0.org1.example.com", 7051), n.admin1)
		_, err := b.ProposeConfigUpdate(env)
		wantRefused(t, err, "value /Channel/Application/Org1MSP/AnchorPeers is at version 0", "version 1 to change it, not 2")
	})

	t.Run("no change", func(t *testing.T) {
		// Every written element is read at the same version.
		upd := anchorUpdate(0, 0, "Org1MSP", "localhost", 7051)
		upd.ReadSet.Groups[ApplicationGroupKey].Groups["Org1MSP"].Values = map[string]*cb.ConfigValue{AnchorPeersKey: {Version: 0}}
		env := updateEnv(t, "mychannel", upd, n.admin1)
		_, err := b.ProposeConfigUpdate(env)
		wantRefused(t, err, "changes nothing")
	})

	t.Run("other channel", func(t *testing.T) {
		upd := anchorUpdate(0, 1, "Org1MSP", "peer0.org1.example.com", 7051)
		upd.ChannelId = "otherchannel"
		_, err := b.ProposeConfigUpdate(updateEnv(t, "mychannel", upd, n.admin1))
		wantRefused(t, err, `ConfigUpdate is for channel "otherchannel"`)
	})

	t.Run("not a config update", func(t *testing.T) {
		env, err := protos.NewSignedEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, "mychannel", n.admin1, &cb.ConfigUpdateEnvelope{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.ProposeConfigUpdate(env)
		wantRefused(t, err, "ENDORSER_TRANSACTION, not CONFIG_UPDATE")
	})

	t.Run("bad element name", func(t *testing.T) {
		upd := anchorUpdate(0, 1, "Org1MSP", "peer0.org1.example.com", 7051)
		upd.WriteSet.Groups[ApplicationGroupKey].Groups["Org1MSP"].Values["Anchor Peers"] = &cb.ConfigValue{ModPolicy: "Admins"}
		_, err := b.ProposeConfigUpdate(updateEnv(t, "mychannel", upd, n.admin1))
		wantRefused(t, err, `write set: value /Channel/Application/Org1MSP/Anchor Peers`)
	})
}

// orgGroupUpdate writes a whole org group at version+1 after edit and
// returns the update.
func orgGroupUpdate(b *Bundle, orgName string, edit func(g *cb.ConfigGroup)) *cb.ConfigUpdate {
	cur := b.Config().ChannelGroup.Groups[ApplicationGroupKey].Groups[orgName]
	w := proto.Clone(cur).(*cb.ConfigGroup)
	w.Version++
	edit(w)
	// Like configtxlator, the unchanged children are read and written at
	// their current versions: otherwise they would count as changes.
	r := &cb.ConfigGroup{Version: cur.Version, Values: map[string]*cb.ConfigValue{}, Policies: map[string]*cb.ConfigPolicy{}}
	for k, v := range cur.Values {
		if nv, ok := w.Values[k]; ok && proto.Equal(nv, v) {
			r.Values[k] = &cb.ConfigValue{Version: v.Version}
		}
	}
	for k, p := range cur.Policies {
		if np, ok := w.Policies[k]; ok && proto.Equal(np, p) {
			r.Policies[k] = &cb.ConfigPolicy{Version: p.Version}
		}
	}
	read := group(0, "", map[string]*cb.ConfigGroup{
		ApplicationGroupKey: group(0, "", map[string]*cb.ConfigGroup{orgName: r}, nil),
	}, nil)
	write := group(0, "", map[string]*cb.ConfigGroup{
		ApplicationGroupKey: group(0, "", map[string]*cb.ConfigGroup{orgName: w}, nil),
	}, nil)
	return &cb.ConfigUpdate{ReadSet: read, WriteSet: write}
}

func TestProposeConfigUpdateDeleteAndCreate(t *testing.T) {
	n := newUpdateNet(t)
	b := n.bundle

	// Deleting Org2's AnchorPeers: the Org2 group, modified by its admin,
	// no longer lists it.
	upd := orgGroupUpdate(b, "Org2MSP", func(g *cb.ConfigGroup) { delete(g.Values, AnchorPeersKey) })
	ce, err := b.ProposeConfigUpdate(updateEnv(t, "mychannel", upd, n.admin2))
	if err != nil {
		t.Fatal(err)
	}
	nb, err := NewBundle("mychannel", ce.Config)
	if err != nil {
		t.Fatal(err)
	}
	if got := nb.Application().Orgs["Org2MSP"].AnchorPeers; len(got) != 0 {
		t.Fatalf("Org2 anchors after delete = %v", got)
	}
	if got := ce.Config.ChannelGroup.Groups[ApplicationGroupKey].Groups["Org2MSP"].Version; got != 1 {
		t.Errorf("Org2 group version %d, want 1", got)
	}

	// The same deletion signed by Org1's admin: the group's mod_policy is
	// its own Admins.
	_, err = b.ProposeConfigUpdate(updateEnv(t, "mychannel", upd, n.admin1))
	wantRefused(t, err, "group /Channel/Application/Org2MSP", "/Channel/Application/Org2MSP/Admins", "Org1MSP Admin@org1.example.com")

	// Creating AnchorPeers again needs version 0.
	create := func(version uint64) *cb.ConfigUpdate {
		return orgGroupUpdate(nb, "Org2MSP", func(g *cb.ConfigGroup) {
			g.Values[AnchorPeersKey] = &cb.ConfigValue{Version: version, ModPolicy: AdminsPolicyKey,
				Value: protos.Marshal(&pb.AnchorPeers{AnchorPeers: []*pb.AnchorPeer{{Host: "peer0.org2.example.com", Port: 9051}}})}
		})
	}
	_, err = nb.ProposeConfigUpdate(updateEnv(t, "mychannel", create(1), n.admin2))
	wantRefused(t, err, "value /Channel/Application/Org2MSP/AnchorPeers does not exist yet", "version 0, not 1")
	ce2, err := nb.ProposeConfigUpdate(updateEnv(t, "mychannel", create(0), n.admin2))
	if err != nil {
		t.Fatal(err)
	}
	nb2, err := nb.ValidateConfigEnvelope(ce2)
	if err != nil {
		t.Fatal(err)
	}
	if got := nb2.Application().Orgs["Org2MSP"].AnchorPeers; !reflect.DeepEqual(got, []string{"peer0.org2.example.com:9051"}) {
		t.Errorf("Org2 anchors = %v", got)
	}
	if nb2.Sequence() != 2 {
		t.Errorf("sequence %d, want 2", nb2.Sequence())
	}

	// An MSP ID change of an existing organization is refused.
	org1MSP := b.Config().ChannelGroup.Groups[ApplicationGroupKey].Groups["Org2MSP"].Values[MSPKey]
	_, err = b.ProposeConfigUpdate(updateEnv(t, "mychannel", orgGroupUpdate(b, "Org1MSP", func(g *cb.ConfigGroup) {
		v := proto.Clone(org1MSP).(*cb.ConfigValue)
		v.Version = g.Values[MSPKey].Version + 1
		g.Values[MSPKey] = v
	}), n.admin1))
	wantRefused(t, err, "/Channel/Application/Org1MSP: the update changes the organization's MSP ID from Org1MSP to Org2MSP")
}

// consentersUpdate replaces the consenter list in ConsensusType, read at the
// bundle's versions.
func consentersUpdate(t *testing.T, b *Bundle, edit func(md *etcdraft.ConfigMetadata, ct *ab.ConsensusType)) *cb.ConfigUpdate {
	t.Helper()
	og := b.Config().ChannelGroup.Groups[OrdererGroupKey]
	cur := og.Values[ConsensusTypeKey]
	ct := &ab.ConsensusType{}
	if err := proto.Unmarshal(cur.Value, ct); err != nil {
		t.Fatal(err)
	}
	md := &etcdraft.ConfigMetadata{}
	if err := proto.Unmarshal(ct.Metadata, md); err != nil {
		t.Fatal(err)
	}
	edit(md, ct)
	ct.Metadata = protos.Marshal(md)
	read := group(0, "", map[string]*cb.ConfigGroup{OrdererGroupKey: group(og.Version, "", nil, nil)}, nil)
	write := group(0, "", map[string]*cb.ConfigGroup{OrdererGroupKey: group(og.Version, "", nil, map[string]*cb.ConfigValue{
		ConsensusTypeKey: {Version: cur.Version + 1, ModPolicy: cur.ModPolicy, Value: protos.Marshal(ct)},
	})}, nil)
	return &cb.ConfigUpdate{ReadSet: read, WriteSet: write}
}

func TestProposeConfigUpdateConsenters(t *testing.T) {
	n := newUpdateNet(t)
	b := n.bundle
	o2, o3 := n.consenter(t, "orderer2", 8050), n.consenter(t, "orderer3", 9050)

	add := consentersUpdate(t, b, func(md *etcdraft.ConfigMetadata, _ *ab.ConsensusType) {
		md.Consenters = append(md.Consenters, o2)
	})
	// The consenters are guarded by /Channel/Orderer/Admins (OrdererMSP admins).
	_, err := b.ProposeConfigUpdate(updateEnv(t, "mychannel", add, n.admin1, n.admin2))
	wantRefused(t, err, "value /Channel/Orderer/ConsensusType", "/Channel/Orderer/Admins", "Org1MSP Admin@org1.example.com, Org2MSP Admin@org2.example.com")
	ce, err := b.ProposeConfigUpdate(updateEnv(t, "mychannel", add, n.ordAdmin))
	if err != nil {
		t.Fatal(err)
	}
	b1, err := b.ValidateConfigEnvelope(ce)
	if err != nil {
		t.Fatal(err)
	}
	if got := b1.Orderer().Consenters; len(got) != 2 || !proto.Equal(got[1], o2) {
		t.Fatalf("consenters after add = %v", got)
	}
	if added, removed := ConsenterChanges(b.Orderer().Consenters, b1.Orderer().Consenters); len(added) != 1 || len(removed) != 0 || !proto.Equal(added[0], o2) {
		t.Errorf("ConsenterChanges = +%v -%v", added, removed)
	}

	// Removing the genesis consenter again, from the new config.
	remove := consentersUpdate(t, b1, func(md *etcdraft.ConfigMetadata, _ *ab.ConsensusType) {
		md.Consenters = md.Consenters[1:]
	})
	ce2, err := b1.ProposeConfigUpdate(updateEnv(t, "mychannel", remove, n.ordAdmin))
	if err != nil {
		t.Fatal(err)
	}
	b2, err := b1.ValidateConfigEnvelope(ce2)
	if err != nil {
		t.Fatal(err)
	}
	if got := b2.Orderer().Consenters; len(got) != 1 || !proto.Equal(got[0], o2) {
		t.Fatalf("consenters after remove = %v", got)
	}
	// The first update, proposed against the newer config, is stale.
	_, err = b1.ProposeConfigUpdate(updateEnv(t, "mychannel", add, n.ordAdmin))
	wantRefused(t, err, "value /Channel/Orderer/ConsensusType is at version 1", "version 2 to change it, not 1")

	for _, tc := range []struct {
		name     string
		edit     func(md *etcdraft.ConfigMetadata, ct *ab.ConsensusType)
		mentions []string
	}{
		{"two at once", func(md *etcdraft.ConfigMetadata, _ *ab.ConsensusType) {
			md.Consenters = append(md.Consenters, o2, o3)
		}, []string{"adds 2 and removes 0 consenters", "one consenter at a time"}},
		{"empty", func(md *etcdraft.ConfigMetadata, _ *ab.ConsensusType) {
			md.Consenters = nil
		}, []string{"/Channel/Orderer/ConsensusType", "consenter set is empty"}},
		{"duplicate", func(md *etcdraft.ConfigMetadata, _ *ab.ConsensusType) {
			dup := proto.Clone(md.Consenters[0]).(*etcdraft.Consenter)
			dup.Port = 7777
			md.Consenters = append(md.Consenters, dup)
		}, []string{"consenter 1 (localhost:7777) uses the same TLS certificate as consenter 0"}},
		{"foreign certificate", func(md *etcdraft.ConfigMetadata, _ *ab.ConsensusType) {
			crt, err := os.ReadFile(filepath.Join(n.dir, "organizations", org1Dir, "peers", "peer0.org1.example.com", "tls", "server.crt"))
			if err != nil {
				t.Fatal(err)
			}
			md.Consenters = append(md.Consenters, &etcdraft.Consenter{Host: "peer0.org1.example.com", Port: 7051, ClientTlsCert: crt, ServerTlsCert: crt})
		}, []string{"consenter 1 (peer0.org1.example.com:7051): TLS client certificate", "not issued by a TLS CA"}},
		{"garbage certificate", func(md *etcdraft.ConfigMetadata, _ *ab.ConsensusType) {
			md.Consenters = append(md.Consenters, &etcdraft.Consenter{Host: "x", Port: 1, ClientTlsCert: []byte("junk"), ServerTlsCert: []byte("junk")})
		}, []string{"consenter 1 (x:1)", "no PEM data"}},
		{"options", func(md *etcdraft.ConfigMetadata, _ *ab.ConsensusType) {
			md.Options.ElectionTick = md.Options.HeartbeatTick
		}, []string{"ElectionTick", "must be greater than HeartbeatTick"}},
		{"consensus type", func(_ *etcdraft.ConfigMetadata, ct *ab.ConsensusType) {
			ct.Type = "BFT"
		}, []string{`consensus type from "etcdraft" to "BFT"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.ProposeConfigUpdate(updateEnv(t, "mychannel", consentersUpdate(t, b, tc.edit), n.ordAdmin))
			wantRefused(t, err, tc.mentions...)
		})
	}

	// A value that does not decode makes the whole config invalid.
	og := b.Config().ChannelGroup.Groups[OrdererGroupKey]
	broken := &cb.ConfigUpdate{
		ReadSet: group(0, "", map[string]*cb.ConfigGroup{OrdererGroupKey: group(og.Version, "", nil, nil)}, nil),
		WriteSet: group(0, "", map[string]*cb.ConfigGroup{OrdererGroupKey: group(og.Version, "", nil, map[string]*cb.ConfigValue{
			BatchTimeoutKey: {Version: og.Values[BatchTimeoutKey].Version + 1, ModPolicy: AdminsPolicyKey, Value: protos.Marshal(&ab.BatchTimeout{Timeout: "soon"})},
		})}, nil),
	}
	_, err = b.ProposeConfigUpdate(updateEnv(t, "mychannel", broken, n.ordAdmin))
	wantRefused(t, err, "updated config would be invalid", "/Channel/Orderer/BatchTimeout")
}
