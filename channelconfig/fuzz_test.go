package channelconfig

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

func genesisBytes(tb testing.TB) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "mychannel-genesis.block"))
	if err != nil {
		tb.Fatalf("Fabric fixtures: %v", err)
	}
	return raw
}

// checkBundleFromBytes decodes raw as a block and builds its bundle. It must
// never panic; a bundle it returns must be internally consistent.
func checkBundleFromBytes(t *testing.T, raw []byte) {
	t.Helper()
	b := &cb.Block{}
	if err := proto.Unmarshal(raw, b); err != nil {
		return
	}
	bundle, err := BundleFromBlock(b)
	if err != nil {
		if bundle != nil {
			t.Fatal("BundleFromBlock returned a bundle with its error")
		}
		return
	}
	cfg, channelID, err := ConfigFromBlock(b)
	if err != nil {
		t.Fatalf("BundleFromBlock accepted a block ConfigFromBlock refuses: %v", err)
	}
	if bundle.ChannelID() != channelID || !proto.Equal(bundle.Config(), cfg) {
		t.Fatal("bundle does not hold the block's channel ID and config")
	}
	if bundle.Sequence() != cfg.Sequence {
		t.Fatalf("bundle sequence %d, config sequence %d", bundle.Sequence(), cfg.Sequence)
	}
	for _, id := range bundle.MSPs().IDs() {
		if _, ok := bundle.MSPs().MSP(id); !ok {
			t.Fatalf("MSP %s listed but not found", id)
		}
	}
	garbage := []protos.SignedData{{Data: []byte("data"), Identity: []byte("not an identity"), Signature: []byte("sig")}}
	for _, path := range bundle.PolicyPaths() {
		p, err := bundle.Policy(path)
		if err != nil || p == nil {
			t.Fatalf("policy %s listed but not found: %v", path, err)
		}
		// Evaluation of any compiled policy must not panic, whatever it is given.
		_ = p.Evaluate(nil)
		_ = p.Evaluate(garbage)
	}
	if o := bundle.Orderer(); o != nil {
		for _, org := range o.Orgs {
			if org == nil {
				t.Fatal("orderer config holds a nil organisation")
			}
		}
	}
	if a := bundle.Application(); a != nil {
		for _, org := range a.Orgs {
			if org == nil {
				t.Fatal("application config holds a nil organisation")
			}
		}
	}
}

// FuzzBundleFromBlock decodes random bytes, seeded with Fabric's genesis
// blocks, as a config block.
func FuzzBundleFromBlock(f *testing.F) {
	f.Add(genesisBytes(f))
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "blocks", "block_000000.pb"))
	if err != nil {
		f.Fatalf("Fabric fixtures: %v", err)
	}
	f.Add(raw)
	f.Add([]byte{})
	f.Fuzz(checkBundleFromBytes)
}

// FuzzBundleFromMutatedGenesis overwrites one byte of Fabric's genesis block
// and optionally truncates it, so every run starts from a real config.
func FuzzBundleFromMutatedGenesis(f *testing.F) {
	genesis := genesisBytes(f)
	f.Add(uint32(0), byte(0), uint32(0))
	f.Add(uint32(100), byte(0xff), uint32(0))
	f.Add(uint32(len(genesis)/2), byte(0x0a), uint32(0))
	f.Add(uint32(0), byte(0), uint32(len(genesis)/3))
	f.Fuzz(func(t *testing.T, pos uint32, val byte, cut uint32) {
		raw := append([]byte(nil), genesis...)
		raw[int(pos)%len(raw)] = val
		if cut > 0 {
			raw = raw[:len(raw)-int(cut)%len(raw)]
		}
		checkBundleFromBytes(t, raw)
	})
}

// TestBundleFromGenesisByteFlips runs a deterministic sweep of mutations as a
// plain test: a flipped byte every 331 bytes, and truncations.
func TestBundleFromGenesisByteFlips(t *testing.T) {
	t.Parallel()
	genesis := genesisBytes(t)
	refused := 0
	for pos := 0; pos < len(genesis); pos += 331 {
		raw := append([]byte(nil), genesis...)
		raw[pos] ^= 0xff
		checkBundleFromBytes(t, raw)
		b := &cb.Block{}
		if proto.Unmarshal(raw, b) != nil {
			refused++
		} else if _, err := BundleFromBlock(b); err != nil {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no byte flip of the genesis block was refused: the sweep does not reach the decoder")
	}
	for cut := 1; cut < len(genesis); cut += 997 {
		checkBundleFromBytes(t, genesis[:len(genesis)-cut])
	}
}

// fuzzUpdateNet is newUpdateNet for a fuzz target: the sample network's
// genesis bundle (sampleconfig/configtx.yaml over crypto generated from the
// fixture's crypto-config.yaml, as internal/testnet's sample network is
// made; this package's tests cannot import testnet, which imports
// channelconfig), its signers, and orderer2's consenter entry.
func fuzzUpdateNet(f *testing.F) (*Bundle, []*msp.SigningIdentity, *etcdraft.Consenter) {
	f.Helper()
	dir := f.TempDir()
	cc, err := msp.LoadCryptoConfig(filepath.Join(fixtureDir, "crypto-config.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	cc.OrdererOrgs[0].Specs = append(cc.OrdererOrgs[0].Specs, msp.NodeSpec{Hostname: "orderer2"})
	if err := msp.GenerateCrypto(cc, filepath.Join(dir, "organizations")); err != nil {
		f.Fatal(err)
	}
	// The sample profile reads its MSP folders relative to configtx.yaml.
	raw, err := os.ReadFile("../sampleconfig/configtx.yaml")
	if err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "configtx.yaml"), raw, 0o644); err != nil {
		f.Fatal(err)
	}
	ctx, err := LoadConfigTx(filepath.Join(dir, "configtx.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	block, err := GenesisBlock(ctx, "ChannelUsingRaft", "mychannel")
	if err != nil {
		f.Fatal(err)
	}
	b, err := BundleFromBlock(block)
	if err != nil {
		f.Fatal(err)
	}
	load := func(org, who, mspID string) *msp.SigningIdentity {
		s, err := msp.LoadSigningIdentity(filepath.Join(dir, "organizations", org, "users", who+"@"+filepath.Base(org), "msp"), mspID)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	signers := []*msp.SigningIdentity{
		load(org1Dir, "Admin", "Org1MSP"), load(org2Dir, "Admin", "Org2MSP"), load(ordDir, "Admin", "OrdererMSP"), load(org1Dir, "User1", "Org1MSP"),
	}
	crt, err := os.ReadFile(filepath.Join(dir, "organizations", ordDir, "orderers", "orderer2.example.com", "tls", "server.crt"))
	if err != nil {
		f.Fatal(err)
	}
	return b, signers, &etcdraft.Consenter{Host: "orderer2.example.com", Port: 8050, ClientTlsCert: crt, ServerTlsCert: crt}
}

// fuzzUpdateEnvelope signs the ConfigUpdate bytes raw (kept as they are) by
// each signer and wraps them in a CONFIG_UPDATE envelope created by the
// first, or an unsigned one when there is none.
func fuzzUpdateEnvelope(tb testing.TB, raw []byte, signers []*msp.SigningIdentity) *cb.Envelope {
	tb.Helper()
	cue := &cb.ConfigUpdateEnvelope{ConfigUpdate: raw}
	for _, s := range signers {
		shdr, err := protos.NewSignatureHeader(s)
		if err != nil {
			tb.Fatal(err)
		}
		sh := protos.Marshal(shdr)
		sig, err := s.Sign(append(append([]byte{}, sh...), raw...))
		if err != nil {
			tb.Fatal(err)
		}
		cue.Signatures = append(cue.Signatures, &cb.ConfigSignature{SignatureHeader: sh, Signature: sig})
	}
	payload := &cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(&cb.ChannelHeader{Type: int32(cb.HeaderType_CONFIG_UPDATE), ChannelId: "mychannel"})},
		Data:   protos.Marshal(cue),
	}
	return &cb.Envelope{Payload: protos.Marshal(payload)}
}

// FuzzProposeConfigUpdate proposes CONFIG_UPDATEs to the sample network's
// genesis bundle, as an orderer does with each one a client broadcasts:
// fuzzed ConfigUpdate bytes signed by the organisations' admins and a user
// the low bits of who select (so that the fuzzer gets past the mod_policy
// checks into the rebuilt config), or (who's bit 7) a whole fuzzed
// envelope. A refusal must wrap ErrConfigUpdate; an accepted update must
// carry at least one signature, give a config of the next sequence that
// loads, and be re-derived identically by ValidateConfigEnvelope, as every
// committer re-derives it.
func FuzzProposeConfigUpdate(f *testing.F) {
	b, signers, orderer2 := fuzzUpdateNet(f)
	cfg := b.Config().ChannelGroup

	anchors := anchorUpdate(0, 1, "Org1MSP", "peer0.org1.example.com", 7051)
	org2 := orgGroupUpdate(b, "Org2MSP", func(g *cb.ConfigGroup) {
		g.Values[AnchorPeersKey] = &cb.ConfigValue{Version: g.Values[AnchorPeersKey].GetVersion() + 1, ModPolicy: AdminsPolicyKey, Value: protos.Marshal(&pb.AnchorPeers{AnchorPeers: []*pb.AnchorPeer{{Host: "peer1.org2.example.com", Port: 9151}}})}
	})
	og := cfg.Groups[OrdererGroupKey]
	bs := og.Values[BatchSizeKey]
	batch := &cb.ConfigUpdate{
		ReadSet: group(0, "", map[string]*cb.ConfigGroup{OrdererGroupKey: group(og.Version, "", nil, nil)}, nil),
		WriteSet: group(0, "", map[string]*cb.ConfigGroup{OrdererGroupKey: group(og.Version, "", nil, map[string]*cb.ConfigValue{
			BatchSizeKey: {Version: bs.Version + 1, ModPolicy: bs.ModPolicy, Value: protos.Marshal(&ab.BatchSize{MaxMessageCount: 50, AbsoluteMaxBytes: 1 << 20, PreferredMaxBytes: 512 << 10})},
		})}, nil),
	}
	ctv := og.Values[ConsensusTypeKey]
	ct := &ab.ConsensusType{}
	md := &etcdraft.ConfigMetadata{}
	if proto.Unmarshal(ctv.Value, ct) != nil || proto.Unmarshal(ct.Metadata, md) != nil {
		f.Fatal("sample ConsensusType does not decode")
	}
	md.Consenters = append(md.Consenters, orderer2)
	ct.Metadata = protos.Marshal(md)
	consenters := &cb.ConfigUpdate{
		ReadSet: group(0, "", map[string]*cb.ConfigGroup{OrdererGroupKey: group(og.Version, "", nil, nil)}, nil),
		WriteSet: group(0, "", map[string]*cb.ConfigGroup{OrdererGroupKey: group(og.Version, "", nil, map[string]*cb.ConfigValue{
			ConsensusTypeKey: {Version: ctv.Version + 1, ModPolicy: ctv.ModPolicy, Value: protos.Marshal(ct)},
		})}, nil),
	}
	for _, u := range []*cb.ConfigUpdate{anchors, org2, batch, consenters} {
		u.ChannelId = "mychannel"
	}
	// The realistic seeds pass when their admins sign: the target reaches
	// the rebuilt config, not only the signature checks.
	for _, ok := range []struct {
		u   *cb.ConfigUpdate
		who []*msp.SigningIdentity
	}{{anchors, signers[:1]}, {org2, signers[1:2]}, {batch, signers[2:3]}, {consenters, signers[2:3]}} {
		if _, err := b.ProposeConfigUpdate(fuzzUpdateEnvelope(f, protos.Marshal(ok.u), ok.who)); err != nil {
			f.Fatalf("seed update refused: %v", err)
		}
	}
	f.Add(protos.Marshal(anchors), uint8(1))
	f.Add(protos.Marshal(anchors), uint8(0))
	f.Add(protos.Marshal(anchors), uint8(8))
	f.Add(protos.Marshal(org2), uint8(2))
	f.Add(protos.Marshal(batch), uint8(4))
	f.Add(protos.Marshal(batch), uint8(3))
	f.Add(protos.Marshal(consenters), uint8(4))
	f.Add(protos.Marshal(&cb.ConfigUpdate{ChannelId: "mychannel", ReadSet: cfg, WriteSet: cfg}), uint8(7))
	f.Add(protos.Marshal(fuzzUpdateEnvelope(f, protos.Marshal(anchors), signers[:1])), uint8(0x80))
	f.Add([]byte{}, uint8(0x80))
	f.Add([]byte("\x0a\x09mychannel"), uint8(15))

	f.Fuzz(func(t *testing.T, raw []byte, who uint8) {
		var env *cb.Envelope
		var chosen []*msp.SigningIdentity
		if who&0x80 != 0 {
			env = &cb.Envelope{}
			if proto.Unmarshal(raw, env) != nil {
				return // gRPC would have failed the stream
			}
		} else {
			for i, s := range signers {
				if who&(1<<i) != 0 {
					chosen = append(chosen, s)
				}
			}
			env = fuzzUpdateEnvelope(t, raw, chosen)
		}
		ce, err := b.ProposeConfigUpdate(env)
		if b.Sequence() != 0 {
			t.Fatal("ProposeConfigUpdate changed the bundle")
		}
		if err != nil {
			if ce != nil {
				t.Fatal("ProposeConfigUpdate returned a config with its error")
			}
			if !errors.Is(err, ErrConfigUpdate) {
				t.Fatalf("refusal does not wrap ErrConfigUpdate: %v", err)
			}
			return
		}
		if who&0x80 == 0 && len(chosen) == 0 {
			t.Fatalf("an unsigned config update was accepted: %x", raw)
		}
		if ce.Config.GetSequence() != 1 || ce.LastUpdate != env {
			t.Fatalf("accepted update gives sequence %d, last update %p (want 1, %p)", ce.Config.GetSequence(), ce.LastUpdate, env)
		}
		if proto.Equal(ce.Config.ChannelGroup, cfg) {
			t.Fatal("an accepted update changed nothing")
		}
		nb, err := NewBundle("mychannel", ce.Config)
		if err != nil {
			t.Fatalf("the accepted config does not load: %v", err)
		}
		vb, err := b.ValidateConfigEnvelope(ce)
		if err != nil {
			t.Fatalf("a committer refuses the CONFIG envelope of an accepted update: %v", err)
		}
		if !proto.Equal(vb.Config(), nb.Config()) {
			t.Fatal("ValidateConfigEnvelope re-derives another config")
		}
	})
}

// An update that only writes a new element under a group it does not modify
// (found by FuzzProposeConfigUpdate) needs no signature and would change
// nothing: the orderer refuses it. A committer still accepts the config
// block a Fabric orderer cuts from it, the unchanged config at the next
// sequence.
func TestConfigUpdateChangingNothingRefused(t *testing.T) {
	n := newUpdateNet(t)
	b := n.bundle
	update := &cb.ConfigUpdate{
		ReadSet: group(0, "", nil, nil),
		WriteSet: group(0, "", nil, map[string]*cb.ConfigValue{
			"Extra": {ModPolicy: AdminsPolicyKey, Value: []byte("x")},
		}),
	}
	env := updateEnv(t, "mychannel", update, n.user1)
	_, err := b.ProposeConfigUpdate(env)
	wantRefused(t, err, "changes nothing")

	ce := &cb.ConfigEnvelope{Config: &cb.Config{Sequence: 1, ChannelGroup: b.Config().ChannelGroup}, LastUpdate: env}
	if _, err := b.ValidateConfigEnvelope(ce); err != nil {
		t.Fatalf("a committer refuses the unchanged config at the next sequence: %v", err)
	}
}
