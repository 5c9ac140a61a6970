package channelconfig

import (
	"fmt"
	"math"
	"os"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

const ordererAdminsPolicy = "/Channel/Orderer/Admins"

// Defaults configtxgen applies to an Orderer section that leaves them out.
var (
	defaultOrdererAddresses = []string{"127.0.0.1:7050"}
	defaultBatchTimeout     = 2 * time.Second
	defaultBatchSize        = BatchSize{MaxMessageCount: 500, AbsoluteMaxBytes: 10 << 20, PreferredMaxBytes: 2 << 20}
	defaultRaftOptions      = RaftOptions{TickInterval: "500ms", ElectionTick: 10, HeartbeatTick: 1, MaxInflightBlocks: 5, SnapshotIntervalSize: 16 << 20}
)

// GenesisBlock builds the genesis config block of channelID from a profile,
// the way configtxgen -outputBlock does: same groups, values, policies,
// mod_policies and versions, an unsigned CONFIG envelope with a fresh nonce,
// and SIGNATURES metadata holding LastConfig 0.
func GenesisBlock(ctx *ConfigTx, profile, channelID string) (*cb.Block, error) {
	if channelID == "" {
		return nil, fmt.Errorf("genesis block: channel ID is empty")
	}
	group, err := NewChannelGroup(ctx, profile)
	if err != nil {
		return nil, err
	}
	nonce, err := protos.NewNonce()
	if err != nil {
		return nil, fmt.Errorf("genesis block: %w", err)
	}
	shdr := &cb.SignatureHeader{Nonce: nonce}
	chdr := &cb.ChannelHeader{
		Type:      int32(cb.HeaderType_CONFIG),
		Version:   1,
		Timestamp: &timestamppb.Timestamp{Seconds: time.Now().Unix()},
		ChannelId: channelID,
		TxId:      protos.ComputeTxID(nonce, nil),
	}
	payload := &cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(chdr), SignatureHeader: protos.Marshal(shdr)},
		Data:   protos.Marshal(&cb.ConfigEnvelope{Config: &cb.Config{ChannelGroup: group}}),
	}
	env := &cb.Envelope{Payload: protos.Marshal(payload)}
	block := protos.NewBlock(0, nil, [][]byte{protos.Marshal(env)})
	block.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES] = protos.Marshal(&cb.Metadata{
		Value: protos.Marshal(&cb.OrdererBlockMetadata{LastConfig: &cb.LastConfig{Index: 0}}),
	})
	return block, nil
}

// NewChannelGroup builds the /Channel config group of a profile.
func NewChannelGroup(ctx *ConfigTx, profile string) (*cb.ConfigGroup, error) {
	p, err := ctx.Profile(profile)
	if err != nil {
		return nil, err
	}
	wrap := func(err error) error { return fmt.Errorf("profile %s: %w", profile, err) }
	g := newGroup()
	if err := addPolicies(g, p.Policies, "Profiles."+profile+".Policies", AdminsPolicyKey); err != nil {
		return nil, wrap(err)
	}
	addValue(g, HashingAlgorithmKey, &cb.HashingAlgorithm{Name: "SHA256"}, AdminsPolicyKey)
	addValue(g, BlockDataHashingStructureKey, &cb.BlockDataHashingStructure{Width: math.MaxUint32}, AdminsPolicyKey)
	if p.Orderer != nil {
		addrs := p.Orderer.Addresses
		if addrs == nil {
			addrs = defaultOrdererAddresses
		}
		if len(addrs) > 0 {
			addValue(g, OrdererAddressesKey, &cb.OrdererAddresses{Addresses: addrs}, ordererAdminsPolicy)
		}
	}
	if p.Consortium != "" {
		addValue(g, "Consortium", &cb.Consortium{Name: p.Consortium}, AdminsPolicyKey)
	}
	if caps := capabilitiesValue(p.Capabilities); caps != nil {
		addValue(g, CapabilitiesKey, caps, AdminsPolicyKey)
	}
	if p.Orderer != nil {
		og, err := newOrdererGroup(p.Orderer, "Profiles."+profile+".Orderer")
		if err != nil {
			return nil, wrap(err)
		}
		g.Groups[OrdererGroupKey] = og
	}
	if p.Application != nil {
		ag, err := newApplicationGroup(p.Application, "Profiles."+profile+".Application")
		if err != nil {
			return nil, wrap(err)
		}
		g.Groups[ApplicationGroupKey] = ag
	}
	if p.Consortiums != nil {
		return nil, wrap(fmt.Errorf("Consortiums (system channel) are not supported; use a channel profile with Orderer and Application"))
	}
	g.ModPolicy = AdminsPolicyKey
	return g, nil
}

func newOrdererGroup(o *Orderer, key string) (*cb.ConfigGroup, error) {
	g := newGroup()
	if o.Policies != nil && o.Policies["BlockValidation"] == nil {
		return nil, fmt.Errorf("%s.Policies: no BlockValidation policy defined", key)
	}
	if err := addPolicies(g, o.Policies, key+".Policies", AdminsPolicyKey); err != nil {
		return nil, err
	}
	bs := o.BatchSize
	if bs.MaxMessageCount == 0 {
		bs.MaxMessageCount = defaultBatchSize.MaxMessageCount
	}
	if bs.AbsoluteMaxBytes == 0 {
		bs.AbsoluteMaxBytes = defaultBatchSize.AbsoluteMaxBytes
	}
	if bs.PreferredMaxBytes == 0 {
		bs.PreferredMaxBytes = defaultBatchSize.PreferredMaxBytes
	}
	timeout := time.Duration(o.BatchTimeout)
	if timeout == 0 {
		timeout = defaultBatchTimeout
	}
	addValue(g, BatchSizeKey, &ab.BatchSize{
		MaxMessageCount:   bs.MaxMessageCount,
		AbsoluteMaxBytes:  uint32(bs.AbsoluteMaxBytes),
		PreferredMaxBytes: uint32(bs.PreferredMaxBytes),
	}, AdminsPolicyKey)
	addValue(g, BatchTimeoutKey, &ab.BatchTimeout{Timeout: timeout.String()}, AdminsPolicyKey)
	addValue(g, ChannelRestrictionsKey, &ab.ChannelRestrictions{MaxCount: o.MaxChannels}, AdminsPolicyKey)
	if caps := capabilitiesValue(o.Capabilities); caps != nil {
		addValue(g, CapabilitiesKey, caps, AdminsPolicyKey)
	}
	var metadata []byte
	switch o.OrdererType {
	case "etcdraft":
		md, err := raftMetadata(o.EtcdRaft, key+".EtcdRaft")
		if err != nil {
			return nil, err
		}
		metadata = protos.Marshal(md)
	case "solo":
	case "":
		return nil, fmt.Errorf("%s.OrdererType is not set (want etcdraft)", key)
	default:
		return nil, fmt.Errorf("%s.OrdererType %q is not supported (want etcdraft)", key, o.OrdererType)
	}
	addValue(g, ConsensusTypeKey, &ab.ConsensusType{Type: o.OrdererType, Metadata: metadata}, AdminsPolicyKey)
	for i, org := range o.Organizations {
		if org == nil {
			return nil, fmt.Errorf("%s.Organizations[%d] is empty", key, i)
		}
		og, err := newOrgGroup(org, fmt.Sprintf("%s.Organizations[%d] (%s)", key, i, org.Name), true)
		if err != nil {
			return nil, err
		}
		g.Groups[org.Name] = og
	}
	g.ModPolicy = AdminsPolicyKey
	return g, nil
}

func raftMetadata(r *EtcdRaft, key string) (*etcdraft.ConfigMetadata, error) {
	if r == nil {
		return nil, fmt.Errorf("%s is missing (OrdererType etcdraft needs Consenters)", key)
	}
	if len(r.Consenters) == 0 {
		return nil, fmt.Errorf("%s.Consenters is empty", key)
	}
	opts := defaultRaftOptions
	if r.Options != nil {
		o := *r.Options
		if o.TickInterval == "" {
			o.TickInterval = opts.TickInterval
		}
		if o.ElectionTick == 0 {
			o.ElectionTick = opts.ElectionTick
		}
		if o.HeartbeatTick == 0 {
			o.HeartbeatTick = opts.HeartbeatTick
		}
		if o.MaxInflightBlocks == 0 {
			o.MaxInflightBlocks = opts.MaxInflightBlocks
		}
		if o.SnapshotIntervalSize == 0 {
			o.SnapshotIntervalSize = opts.SnapshotIntervalSize
		}
		opts = o
	}
	if _, err := time.ParseDuration(opts.TickInterval); err != nil {
		return nil, fmt.Errorf("%s.Options.TickInterval %q is not a duration", key, opts.TickInterval)
	}
	if opts.ElectionTick <= opts.HeartbeatTick {
		return nil, fmt.Errorf("%s.Options: ElectionTick (%d) must be greater than HeartbeatTick (%d)", key, opts.ElectionTick, opts.HeartbeatTick)
	}
	md := &etcdraft.ConfigMetadata{Options: &etcdraft.Options{
		TickInterval:         opts.TickInterval,
		ElectionTick:         opts.ElectionTick,
		HeartbeatTick:        opts.HeartbeatTick,
		MaxInflightBlocks:    opts.MaxInflightBlocks,
		SnapshotIntervalSize: uint32(opts.SnapshotIntervalSize),
	}}
	for i, c := range r.Consenters {
		ck := fmt.Sprintf("%s.Consenters[%d]", key, i)
		if c == nil || c.Host == "" || c.Port == 0 {
			return nil, fmt.Errorf("%s needs Host and Port", ck)
		}
		if c.ClientTLSCert == "" || c.ServerTLSCert == "" {
			return nil, fmt.Errorf("%s (%s:%d) needs ClientTLSCert and ServerTLSCert", ck, c.Host, c.Port)
		}
		client, err := os.ReadFile(c.ClientTLSCert)
		if err != nil {
			return nil, fmt.Errorf("%s.ClientTLSCert: %w", ck, err)
		}
		server, err := os.ReadFile(c.ServerTLSCert)
		if err != nil {
			return nil, fmt.Errorf("%s.ServerTLSCert: %w", ck, err)
		}
		md.Consenters = append(md.Consenters, &etcdraft.Consenter{Host: c.Host, Port: c.Port, ClientTlsCert: client, ServerTlsCert: server})
	}
	return md, nil
}

func newApplicationGroup(a *Application, key string) (*cb.ConfigGroup, error) {
	g := newGroup()
	if err := addPolicies(g, a.Policies, key+".Policies", AdminsPolicyKey); err != nil {
		return nil, err
	}
	if len(a.ACLs) > 0 {
		acls := &pb.ACLs{Acls: map[string]*pb.APIResource{}}
		for res, ref := range a.ACLs {
			acls.Acls[res] = &pb.APIResource{PolicyRef: ref}
		}
		addValue(g, ACLsKey, acls, AdminsPolicyKey)
	}
	if caps := capabilitiesValue(a.Capabilities); caps != nil {
		addValue(g, CapabilitiesKey, caps, AdminsPolicyKey)
	}
	for i, org := range a.Organizations {
		if org == nil {
			return nil, fmt.Errorf("%s.Organizations[%d] is empty", key, i)
		}
		og, err := newOrgGroup(org, fmt.Sprintf("%s.Organizations[%d] (%s)", key, i, org.Name), false)
		if err != nil {
			return nil, err
		}
		g.Groups[org.Name] = og
	}
	g.ModPolicy = AdminsPolicyKey
	return g, nil
}

// newOrgGroup builds an organization group: MSP, policies, and the orderer
// endpoints (orderer orgs) or anchor peers (application orgs).
func newOrgGroup(org *Organization, key string, orderer bool) (*cb.ConfigGroup, error) {
	g := newGroup()
	g.ModPolicy = AdminsPolicyKey
	if org.Name == "" {
		return nil, fmt.Errorf("%s: Name is empty", key)
	}
	if org.SkipAsForeign {
		return nil, fmt.Errorf("%s: SkipAsForeign organizations cannot be in a genesis block", key)
	}
	if org.MSPType != "" && org.MSPType != "bccsp" {
		return nil, fmt.Errorf("%s: MSPType %q is not supported (want bccsp)", key, org.MSPType)
	}
	if org.ID == "" {
		return nil, fmt.Errorf("%s: ID (the MSP ID) is empty", key)
	}
	conf, err := msp.LoadMSPDir(org.MSPDir, org.ID)
	if err != nil {
		return nil, fmt.Errorf("%s: load MSPDir %s: %w", key, org.MSPDir, err)
	}
	if err := addPolicies(g, org.Policies, key+".Policies", AdminsPolicyKey); err != nil {
		return nil, err
	}
	addValue(g, MSPKey, &mspproto.MSPConfig{Type: 0, Config: protos.Marshal(conf)}, AdminsPolicyKey)
	if orderer {
		if len(org.OrdererEndpoints) > 0 {
			addValue(g, EndpointsKey, &cb.OrdererAddresses{Addresses: org.OrdererEndpoints}, AdminsPolicyKey)
		}
		return g, nil
	}
	var anchors []*pb.AnchorPeer
	for i, ap := range org.AnchorPeers {
		if ap == nil || ap.Host == "" || ap.Port <= 0 || ap.Port > 65535 {
			return nil, fmt.Errorf("%s.AnchorPeers[%d] needs Host and a Port in 1..65535", key, i)
		}
		anchors = append(anchors, &pb.AnchorPeer{Host: ap.Host, Port: int32(ap.Port)})
	}
	if len(anchors) > 0 {
		addValue(g, AnchorPeersKey, &pb.AnchorPeers{AnchorPeers: anchors}, AdminsPolicyKey)
	}
	return g, nil
}

// addPolicies encodes a policy map; Admins, Readers and Writers are required.
func addPolicies(g *cb.ConfigGroup, specs map[string]*PolicySpec, key, modPolicy string) error {
	if specs == nil {
		return fmt.Errorf("%s: no policies defined", key)
	}
	for _, req := range []string{AdminsPolicyKey, ReadersPolicyKey, WritersPolicyKey} {
		if specs[req] == nil {
			return fmt.Errorf("%s: no %s policy defined", key, req)
		}
	}
	for _, name := range sortedKeys(specs) {
		spec := specs[name]
		pol, err := EncodePolicy(spec)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", key, name, err)
		}
		g.Policies[name] = &cb.ConfigPolicy{Policy: pol, ModPolicy: modPolicy}
	}
	return nil
}

// EncodePolicy turns a configtx.yaml policy into a cb.Policy.
func EncodePolicy(spec *PolicySpec) (*cb.Policy, error) {
	if spec == nil {
		return nil, fmt.Errorf("policy is empty")
	}
	switch spec.Type {
	case "ImplicitMeta":
		imp, err := ParseImplicitMetaRule(spec.Rule)
		if err != nil {
			return nil, err
		}
		return &cb.Policy{Type: int32(cb.Policy_IMPLICIT_META), Value: protos.Marshal(imp)}, nil
	case "Signature":
		env, err := ParsePolicyDSL(spec.Rule)
		if err != nil {
			return nil, err
		}
		return &cb.Policy{Type: int32(cb.Policy_SIGNATURE), Value: protos.Marshal(env)}, nil
	default:
		return nil, fmt.Errorf("unknown policy Type %q (want Signature or ImplicitMeta)", spec.Type)
	}
}

func capabilitiesValue(caps map[string]bool) *cb.Capabilities {
	if len(caps) == 0 {
		return nil
	}
	// Like configtxgen, a section that lists only disabled capabilities still
	// gets an (empty) Capabilities value.
	c := &cb.Capabilities{Capabilities: map[string]*cb.Capability{}}
	for name, on := range caps {
		if on {
			c.Capabilities[name] = &cb.Capability{}
		}
	}
	return c
}

func newGroup() *cb.ConfigGroup {
	return &cb.ConfigGroup{
		Groups:   map[string]*cb.ConfigGroup{},
		Values:   map[string]*cb.ConfigValue{},
		Policies: map[string]*cb.ConfigPolicy{},
	}
}

func addValue(g *cb.ConfigGroup, key string, m proto.Message, modPolicy string) {
	g.Values[key] = &cb.ConfigValue{Value: protos.Marshal(m), ModPolicy: modPolicy}
}
