package channelconfig

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/msp"
)

// Config tree keys, as Fabric names them.
const (
	ChannelGroupKey     = "Channel"
	OrdererGroupKey     = "Orderer"
	ApplicationGroupKey = "Application"

	MSPKey                       = "MSP"
	CapabilitiesKey              = "Capabilities"
	HashingAlgorithmKey          = "HashingAlgorithm"
	BlockDataHashingStructureKey = "BlockDataHashingStructure"
	OrdererAddressesKey          = "OrdererAddresses"
	EndpointsKey                 = "Endpoints"
	AnchorPeersKey               = "AnchorPeers"
	BatchSizeKey                 = "BatchSize"
	BatchTimeoutKey              = "BatchTimeout"
	ConsensusTypeKey             = "ConsensusType"
	ChannelRestrictionsKey       = "ChannelRestrictions"
	ACLsKey                      = "ACLs"

	AdminsPolicyKey  = "Admins"
	ReadersPolicyKey = "Readers"
	WritersPolicyKey = "Writers"
)

// Bundle is an immutable, parsed view of one channel configuration: its MSPs,
// every policy compiled by absolute path, and the orderer and application
// settings. It is safe for concurrent use. Values returned by its accessors
// (the cb.Config, consenters, maps) must not be modified.
type Bundle struct {
	channelID    string
	config       *cb.Config
	msps         *msp.Manager
	policies     map[string]Policy
	orderer      *OrdererConfig
	application  *ApplicationConfig
	capabilities []string
}

// OrdererConfig is the Orderer group of a channel.
type OrdererConfig struct {
	MaxMessageCount   uint32
	AbsoluteMaxBytes  uint32
	PreferredMaxBytes uint32
	BatchTimeout      time.Duration
	ConsensusType     string
	ConsensusState    ab.ConsensusType_State
	Consenters        []*etcdraft.Consenter // nil unless ConsensusType is etcdraft
	RaftOptions       *etcdraft.Options
	// Endpoints are all orderer organizations' Endpoints (host:port), in
	// organization-name order; when no organization lists any, the channel's
	// legacy OrdererAddresses.
	Endpoints    []string
	Orgs         map[string]*OrgConfig // keyed by MSP ID
	Capabilities []string
}

// ApplicationConfig is the Application group of a channel.
type ApplicationConfig struct {
	Orgs         map[string]*OrgConfig // keyed by MSP ID
	Capabilities []string
	ACLs         map[string]string // resource -> policy reference
}

// OrgConfig is one organization of the Orderer or Application group.
type OrgConfig struct {
	Name             string   // the config group's name
	MSPID            string   // the MSP ID of its MSP definition
	AnchorPeers      []string // host:port
	OrdererEndpoints []string // host:port
}

// BundleFromBlock builds the bundle of a config block: Data[0] must be a
// CONFIG envelope carrying a cb.ConfigEnvelope. The channel ID comes from its
// channel header.
func BundleFromBlock(b *cb.Block) (*Bundle, error) {
	cfg, channelID, err := ConfigFromBlock(b)
	if err != nil {
		return nil, err
	}
	return NewBundle(channelID, cfg)
}

// ConfigFromBlock extracts the config and channel ID of a config block.
func ConfigFromBlock(b *cb.Block) (*cb.Config, string, error) {
	if len(b.GetData().GetData()) == 0 {
		return nil, "", fmt.Errorf("block %d has no data, not a config block", b.GetHeader().GetNumber())
	}
	num := b.GetHeader().GetNumber()
	env := &cb.Envelope{}
	if err := proto.Unmarshal(b.Data.Data[0], env); err != nil {
		return nil, "", fmt.Errorf("block %d: decode envelope: %w", num, err)
	}
	payload := &cb.Payload{}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		return nil, "", fmt.Errorf("block %d: decode payload: %w", num, err)
	}
	chdr := &cb.ChannelHeader{}
	if err := proto.Unmarshal(payload.GetHeader().GetChannelHeader(), chdr); err != nil {
		return nil, "", fmt.Errorf("block %d: decode channel header: %w", num, err)
	}
	if cb.HeaderType(chdr.Type) != cb.HeaderType_CONFIG {
		return nil, "", fmt.Errorf("block %d: envelope type is %s, want CONFIG", num, cb.HeaderType(chdr.Type))
	}
	ce := &cb.ConfigEnvelope{}
	if err := proto.Unmarshal(payload.Data, ce); err != nil {
		return nil, "", fmt.Errorf("block %d: decode config envelope: %w", num, err)
	}
	if ce.Config == nil {
		return nil, "", fmt.Errorf("block %d: config envelope has no config", num)
	}
	return ce.Config, chdr.ChannelId, nil
}

// NewBundle parses cfg: it builds an MSP for every organization, compiles
// every policy and decodes the orderer and application values. cfg is copied.
func NewBundle(channelID string, cfg *cb.Config) (*Bundle, error) {
	if cfg == nil || cfg.ChannelGroup == nil {
		return nil, fmt.Errorf("channel %s: config has no channel group", channelID)
	}
	cfg = proto.Clone(cfg).(*cb.Config)
	b := &Bundle{channelID: channelID, config: cfg, policies: map[string]Policy{}}
	root := cfg.ChannelGroup
	wrap := func(err error) error { return fmt.Errorf("channel %s config: %w", channelID, err) }

	msps, err := buildMSPs(root)
	if err != nil {
		return nil, wrap(err)
	}
	b.msps = msps
	if err := b.compilePolicies("/"+ChannelGroupKey, root); err != nil {
		return nil, wrap(err)
	}
	if b.capabilities, err = capabilitiesOf(root, "/Channel"); err != nil {
		return nil, wrap(err)
	}
	if g, ok := root.Groups[OrdererGroupKey]; ok {
		if b.orderer, err = parseOrderer(g, root); err != nil {
			return nil, wrap(err)
		}
	}
	if g, ok := root.Groups[ApplicationGroupKey]; ok {
		if b.application, err = parseApplication(g); err != nil {
			return nil, wrap(err)
		}
	}
	return b, nil
}

// ChannelID is the channel this config belongs to.
func (b *Bundle) ChannelID() string { return b.channelID }

// Sequence is the config's sequence number (0 for the genesis config).
func (b *Bundle) Sequence() uint64 { return b.config.Sequence }

// Config returns the config tree. Callers must not modify it.
func (b *Bundle) Config() *cb.Config { return b.config }

// MSPs returns the channel's MSPs (all orderer and application organizations).
func (b *Bundle) MSPs() *msp.Manager { return b.msps }

// Capabilities are the channel-level capabilities, sorted.
func (b *Bundle) Capabilities() []string { return b.capabilities }

// Orderer returns the orderer settings, nil when the config has no Orderer group.
func (b *Bundle) Orderer() *OrdererConfig { return b.orderer }

// Application returns the application settings, nil when there is no Application group.
func (b *Bundle) Application() *ApplicationConfig { return b.application }

// ACLPolicyRef returns the policy the channel's ACLs value
// (/Channel/Application/ACLs) assigns to resource (e.g. "qscc/GetChainInfo"),
// as an absolute path: a reference not starting with "/" names a policy of
// /Channel/Application, as in Fabric. It returns false when the channel has
// no Application group or its ACLs do not name resource, or name it with an
// empty reference (Fabric then applies the resource's default).
func (b *Bundle) ACLPolicyRef(resource string) (string, bool) {
	if b.application == nil {
		return "", false
	}
	ref := b.application.ACLs[resource]
	switch {
	case ref == "":
		return "", false
	case strings.HasPrefix(ref, "/"):
		return ref, true
	default:
		return "/" + ChannelGroupKey + "/" + ApplicationGroupKey + "/" + ref, true
	}
}

// Policy returns the policy at path. Absolute paths start with "/Channel";
// relative ones ("Application/Writers") are taken under /Channel. The error
// wraps ErrPolicyNotFound.
func (b *Bundle) Policy(path string) (Policy, error) {
	abs := path
	if !strings.HasPrefix(abs, "/") {
		abs = "/" + ChannelGroupKey + "/" + abs
	}
	p, ok := b.policies[abs]
	if !ok {
		return nil, fmt.Errorf("%w: %q in channel %s", ErrPolicyNotFound, path, b.channelID)
	}
	return p, nil
}

// PolicyPaths lists every compiled policy path, sorted.
func (b *Bundle) PolicyPaths() []string {
	out := make([]string, 0, len(b.policies))
	for p := range b.policies {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// buildMSPs creates one MSP per organization group under Orderer and
// Application. An MSP ID used by two groups must carry the same definition.
func buildMSPs(root *cb.ConfigGroup) (*msp.Manager, error) {
	var list []*msp.MSP
	seen := map[string]*mspproto.FabricMSPConfig{}
	for _, gk := range []string{OrdererGroupKey, ApplicationGroupKey} {
		g, ok := root.Groups[gk]
		if !ok {
			continue
		}
		for _, name := range sortedKeys(g.Groups) {
			path := "/Channel/" + gk + "/" + name
			conf, err := mspConfigOf(g.Groups[name], path)
			if err != nil {
				return nil, err
			}
			if conf == nil {
				continue
			}
			if prev, ok := seen[conf.Name]; ok {
				if !proto.Equal(prev, conf) {
					return nil, fmt.Errorf("%s: MSP %s is defined differently by another organization", path, conf.Name)
				}
				continue
			}
			m, err := msp.New(conf)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err) // msp.New names the MSP
			}
			seen[conf.Name] = conf
			list = append(list, m)
		}
	}
	return msp.NewManager(list...), nil
}

// mspConfigOf decodes an organization group's MSP value; nil if it has none.
func mspConfigOf(g *cb.ConfigGroup, path string) (*mspproto.FabricMSPConfig, error) {
	v, ok := g.Values[MSPKey]
	if !ok {
		return nil, nil
	}
	mc := &mspproto.MSPConfig{}
	if err := proto.Unmarshal(v.Value, mc); err != nil {
		return nil, fmt.Errorf("%s/MSP: decode msp.MSPConfig: %w", path, err)
	}
	if mc.Type != 0 {
		return nil, fmt.Errorf("%s/MSP: MSP type %d is not supported (only FABRIC, type 0)", path, mc.Type)
	}
	fc := &mspproto.FabricMSPConfig{}
	if err := proto.Unmarshal(mc.Config, fc); err != nil {
		return nil, fmt.Errorf("%s/MSP: decode msp.FabricMSPConfig: %w", path, err)
	}
	if fc.Name == "" {
		return nil, fmt.Errorf("%s/MSP: MSP definition has no name", path)
	}
	return fc, nil
}

// compilePolicies compiles the policies of g and of its sub-groups, children
// first so that implicit-meta policies can refer to them.
func (b *Bundle) compilePolicies(path string, g *cb.ConfigGroup) error {
	subNames := sortedKeys(g.Groups)
	for _, name := range subNames {
		if err := b.compilePolicies(path+"/"+name, g.Groups[name]); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(g.Policies) {
		cp := g.Policies[name]
		ppath := path + "/" + name
		pol := cp.GetPolicy()
		if pol == nil {
			return fmt.Errorf("policy %s is empty", ppath)
		}
		switch cb.Policy_PolicyType(pol.Type) {
		case cb.Policy_SIGNATURE:
			env := &cb.SignaturePolicyEnvelope{}
			if err := proto.Unmarshal(pol.Value, env); err != nil {
				return fmt.Errorf("policy %s: decode SignaturePolicyEnvelope: %w", ppath, err)
			}
			sp, err := newSignaturePolicy(env, b.msps)
			if err != nil {
				return fmt.Errorf("policy %s: %w", ppath, err)
			}
			b.policies[ppath] = sp
		case cb.Policy_IMPLICIT_META:
			imp := &cb.ImplicitMetaPolicy{}
			if err := proto.Unmarshal(pol.Value, imp); err != nil {
				return fmt.Errorf("policy %s: decode ImplicitMetaPolicy: %w", ppath, err)
			}
			if imp.SubPolicy == "" {
				return fmt.Errorf("policy %s: implicit meta policy names no sub-policy", ppath)
			}
			subs := make([]namedPolicy, 0, len(subNames))
			for _, sg := range subNames {
				sp := path + "/" + sg + "/" + imp.SubPolicy
				subs = append(subs, namedPolicy{path: sp, policy: b.policies[sp]})
			}
			b.policies[ppath] = newImplicitMetaPolicy(ppath, imp, subs)
		default:
			return fmt.Errorf("policy %s: type %s is not supported (want SIGNATURE or IMPLICIT_META)", ppath, cb.Policy_PolicyType(pol.Type))
		}
	}
	return nil
}

func parseOrderer(g, root *cb.ConfigGroup) (*OrdererConfig, error) {
	const path = "/Channel/Orderer"
	oc := &OrdererConfig{Orgs: map[string]*OrgConfig{}}
	bs := &ab.BatchSize{}
	if err := unmarshalValue(g, BatchSizeKey, path, bs, true); err != nil {
		return nil, err
	}
	oc.MaxMessageCount, oc.AbsoluteMaxBytes, oc.PreferredMaxBytes = bs.MaxMessageCount, bs.AbsoluteMaxBytes, bs.PreferredMaxBytes
	bt := &ab.BatchTimeout{}
	if err := unmarshalValue(g, BatchTimeoutKey, path, bt, true); err != nil {
		return nil, err
	}
	d, err := time.ParseDuration(bt.Timeout)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("%s/BatchTimeout: %q is not a positive duration", path, bt.Timeout)
	}
	oc.BatchTimeout = d
	ct := &ab.ConsensusType{}
	if err := unmarshalValue(g, ConsensusTypeKey, path, ct, true); err != nil {
		return nil, err
	}
	oc.ConsensusType, oc.ConsensusState = ct.Type, ct.State
	if ct.Type == "etcdraft" {
		md := &etcdraft.ConfigMetadata{}
		if err := proto.Unmarshal(ct.Metadata, md); err != nil {
			return nil, fmt.Errorf("%s/ConsensusType: decode etcdraft.ConfigMetadata: %w", path, err)
		}
		oc.Consenters, oc.RaftOptions = md.Consenters, md.Options
	}
	if oc.Capabilities, err = capabilitiesOf(g, path); err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(g.Groups) {
		org, err := parseOrg(name, g.Groups[name], path+"/"+name)
		if err != nil {
			return nil, err
		}
		if org == nil {
			continue
		}
		oc.Orgs[org.MSPID] = org
		oc.Endpoints = append(oc.Endpoints, org.OrdererEndpoints...)
	}
	if len(oc.Endpoints) == 0 {
		addrs := &cb.OrdererAddresses{}
		if err := unmarshalValue(root, OrdererAddressesKey, "/Channel", addrs, false); err != nil {
			return nil, err
		}
		oc.Endpoints = addrs.Addresses
	}
	return oc, nil
}

func parseApplication(g *cb.ConfigGroup) (*ApplicationConfig, error) {
	const path = "/Channel/Application"
	ac := &ApplicationConfig{Orgs: map[string]*OrgConfig{}}
	var err error
	if ac.Capabilities, err = capabilitiesOf(g, path); err != nil {
		return nil, err
	}
	acls := &pb.ACLs{}
	if err := unmarshalValue(g, ACLsKey, path, acls, false); err != nil {
		return nil, err
	}
	if len(acls.Acls) > 0 {
		ac.ACLs = make(map[string]string, len(acls.Acls))
		for k, v := range acls.Acls {
			ac.ACLs[k] = v.GetPolicyRef()
		}
	}
	for _, name := range sortedKeys(g.Groups) {
		org, err := parseOrg(name, g.Groups[name], path+"/"+name)
		if err != nil {
			return nil, err
		}
		if org != nil {
			ac.Orgs[org.MSPID] = org
		}
	}
	return ac, nil
}

func parseOrg(name string, g *cb.ConfigGroup, path string) (*OrgConfig, error) {
	conf, err := mspConfigOf(g, path)
	if err != nil || conf == nil {
		return nil, err
	}
	org := &OrgConfig{Name: name, MSPID: conf.Name}
	aps := &pb.AnchorPeers{}
	if err := unmarshalValue(g, AnchorPeersKey, path, aps, false); err != nil {
		return nil, err
	}
	for _, ap := range aps.AnchorPeers {
		org.AnchorPeers = append(org.AnchorPeers, net.JoinHostPort(ap.Host, strconv.Itoa(int(ap.Port))))
	}
	eps := &cb.OrdererAddresses{}
	if err := unmarshalValue(g, EndpointsKey, path, eps, false); err != nil {
		return nil, err
	}
	org.OrdererEndpoints = eps.Addresses
	return org, nil
}

var errMissingValue = errors.New("missing value")

// unmarshalValue decodes g.Values[key] into m; a missing value is an error
// only when required.
func unmarshalValue(g *cb.ConfigGroup, key, path string, m proto.Message, required bool) error {
	v, ok := g.Values[key]
	if !ok {
		if required {
			return fmt.Errorf("%s/%s: %w", path, key, errMissingValue)
		}
		return nil
	}
	if err := proto.Unmarshal(v.Value, m); err != nil {
		return fmt.Errorf("%s/%s: decode %s: %w", path, key, m.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

func capabilitiesOf(g *cb.ConfigGroup, path string) ([]string, error) {
	c := &cb.Capabilities{}
	if err := unmarshalValue(g, CapabilitiesKey, path, c, false); err != nil {
		return nil, err
	}
	return sortedKeys(c.Capabilities), nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
