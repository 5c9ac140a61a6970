package discovery

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	discpb "github.com/hyperledger/fabric-protos-go-apiv2/discovery"
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
)

// Errors of the endorsement computation, with Fabric's wording (SDKs and
// operators match on it).
var (
	// ErrNoCombination: no combination of the known peers satisfies the policies.
	ErrNoCombination = errors.New("no peer combination can satisfy the endorsement policy")
	// ErrNotInstalled: combinations exist, but too few of their peers have the
	// chaincodes (name and definition sequence) in their state info.
	ErrNotInstalled = errors.New("required chaincodes are not installed on sufficient peers")
	// ErrUnsatisfiable: a policy admits no principal combination at all.
	ErrUnsatisfiable = errors.New("endorsement policy cannot be satisfied")
)

// implicitCollectionPrefix starts the name of an organisation's implicit
// private data collection, _implicit_org_<MSP ID>.
const implicitCollectionPrefix = "_implicit_org_"

// Definition is a chaincode definition committed on a channel, what the
// endorsement computation needs of it.
type Definition struct {
	Name string
	// Sequence is the definition's sequence. Peers advertise a chaincode in
	// their state info with its sequence in decimal as the version (Fabric's
	// rule for _lifecycle chaincodes); a peer qualifies as an endorser only
	// when name and version match.
	Sequence int64
	// EndorsementPolicy is the definition's validation parameter: a
	// marshalled pb.ApplicationPolicy.
	EndorsementPolicy []byte
	Collections       *pb.CollectionConfigPackage
}

// Version is the chaincode version peers advertise for d.
func (d *Definition) Version() string { return strconv.FormatInt(d.Sequence, 10) }

// DefinitionLookup returns the definition of chaincode name committed on a
// channel, or nil and no error when there is none.
type DefinitionLookup func(name string) (*Definition, error)

// Channel is what the endorsement computation reads of one channel: its
// configuration (MSPs and config policies) and its chaincode definitions.
type Channel struct {
	Bundle     *channelconfig.Bundle
	Definition DefinitionLookup
}

// decodedPeer is a Peer with what its envelopes say.
type decodedPeer struct {
	Peer
	endpoint   string            // from the alive message; "" when not external
	chaincodes map[string]string // name -> version, from the state info
}

func decodePeers(peers []Peer) []*decodedPeer {
	out := make([]*decodedPeer, 0, len(peers))
	for _, p := range peers {
		d := &decodedPeer{Peer: p, chaincodes: map[string]string{}}
		if m := gossipMessage(p.Alive); m != nil && m.GetAliveMsg() != nil {
			d.endpoint = m.GetAliveMsg().GetMembership().GetEndpoint()
		}
		if m := gossipMessage(p.StateInfo); m != nil && m.GetStateInfo() != nil {
			for _, cc := range m.GetStateInfo().GetProperties().GetChaincodes() {
				d.chaincodes[cc.GetName()] = cc.GetVersion()
			}
		}
		out = append(out, d)
	}
	return out
}

func gossipMessage(env *gp.Envelope) *gp.GossipMessage {
	if env == nil {
		return nil
	}
	m := &gp.GossipMessage{}
	if proto.Unmarshal(env.Payload, m) != nil {
		return nil
	}
	return m
}

// call is one chaincode of an interest with its definition resolved.
type call struct {
	cc       *pb.ChaincodeCall
	def      *Definition
	colls    map[string]*pb.StaticCollectionConfig // the definition's collections plus implicit ones asked for
	filtered bool                                  // peers must be members of the collections asked for
}

func resolveCalls(ch Channel, interest *pb.ChaincodeInterest) ([]*call, error) {
	if err := validateInterest(interest); err != nil {
		return nil, err
	}
	var out []*call
	for _, cc := range interest.Chaincodes {
		def, err := ch.Definition(cc.Name)
		if err != nil {
			return nil, fmt.Errorf("chaincode %s in channel %s: %w", cc.Name, ch.Bundle.ChannelID(), err)
		}
		if def == nil {
			return nil, fmt.Errorf("No metadata was found for chaincode %s in channel %s", cc.Name, ch.Bundle.ChannelID())
		}
		c := &call{cc: cc, def: def, colls: map[string]*pb.StaticCollectionConfig{}}
		for _, conf := range def.Collections.GetConfig() {
			s := conf.GetStaticCollectionConfig()
			if s == nil {
				if len(cc.CollectionNames) > 0 && !cc.NoPrivateReads {
					return nil, fmt.Errorf("chaincode %s: expected a static collection but got %v instead", cc.Name, conf)
				}
				continue
			}
			c.colls[s.Name] = s
		}
		for _, name := range cc.CollectionNames {
			if mspID, ok := strings.CutPrefix(name, implicitCollectionPrefix); ok {
				member := signedByMember(mspID)
				c.colls[name] = &pb.StaticCollectionConfig{
					Name:              name,
					MemberOrgsPolicy:  &pb.CollectionPolicyConfig{Payload: &pb.CollectionPolicyConfig_SignaturePolicy{SignaturePolicy: member}},
					EndorsementPolicy: &pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: member}},
				}
			}
		}
		c.filtered = len(cc.CollectionNames) > 0 && !cc.NoPrivateReads
		out = append(out, c)
	}
	return out, nil
}

func validateInterest(interest *pb.ChaincodeInterest) error {
	if interest == nil {
		return errors.New("chaincode interest is nil")
	}
	if len(interest.Chaincodes) == 0 {
		return errors.New("chaincode interest must contain at least one chaincode")
	}
	for _, cc := range interest.Chaincodes {
		if cc.GetName() == "" {
			return errors.New("chaincode name in interest cannot be empty")
		}
	}
	return nil
}

// signedByMember is OR('<mspID>.member'), Fabric's policy of an implicit collection.
func signedByMember(mspID string) *cb.SignaturePolicyEnvelope {
	role, _ := proto.Marshal(&mspproto.MSPRole{MspIdentifier: mspID, Role: mspproto.MSPRole_MEMBER})
	return &cb.SignaturePolicyEnvelope{
		Rule:       &cb.SignaturePolicy{Type: &cb.SignaturePolicy_NOutOf_{NOutOf: &cb.SignaturePolicy_NOutOf{N: 1, Rules: []*cb.SignaturePolicy{{Type: &cb.SignaturePolicy_SignedBy{SignedBy: 0}}}}}},
		Identities: []*mspproto.MSPPrincipal{{PrincipalClassification: mspproto.MSPPrincipal_ROLE, Principal: role}},
	}
}

// collectionMembers are, per collection asked for, the principals one of
// which a peer must satisfy to hold its private data.
func (c *call) collectionMembers() ([][]*mspproto.MSPPrincipal, error) {
	if !c.filtered {
		return nil, nil
	}
	var out [][]*mspproto.MSPPrincipal
	for _, name := range c.cc.CollectionNames {
		s, ok := c.colls[name]
		if !ok {
			return nil, fmt.Errorf("collection %s doesn't exist in collection config for chaincode %s", name, c.cc.Name)
		}
		pol := s.GetMemberOrgsPolicy().GetSignaturePolicy()
		if pol == nil {
			return nil, fmt.Errorf("collection %s of chaincode %s has no member organisations signature policy", name, c.cc.Name)
		}
		out = append(out, pol.Identities)
	}
	return out, nil
}

// policies are the signature policies an endorsement of c must satisfy, as
// Fabric picks them: the chaincode's, unless every collection asked for has
// an endorsement policy of its own, in which case only those (each once).
func (c *call) policies(cfg *cb.Config) ([]*cb.SignaturePolicyEnvelope, error) {
	ccPolicy, err := validPolicy(cfg, c.def.EndorsementPolicy)
	if err != nil {
		return nil, fmt.Errorf("policy not found: chaincode %s: %w", c.cc.Name, err)
	}
	if len(c.cc.CollectionNames) == 0 {
		return []*cb.SignaturePolicyEnvelope{ccPolicy}, nil
	}
	var out []*cb.SignaturePolicyEnvelope
	seen := map[string]bool{}
	add := func(env *cb.SignaturePolicyEnvelope) {
		k, _ := proto.MarshalOptions{Deterministic: true}.Marshal(env)
		if !seen[string(k)] {
			seen[string(k)] = true
			out = append(out, env)
		}
	}
	for _, name := range c.cc.CollectionNames {
		s, ok := c.colls[name]
		if !ok || s.EndorsementPolicy == nil {
			add(ccPolicy)
			continue
		}
		raw, _ := proto.Marshal(s.EndorsementPolicy)
		env, err := validPolicy(cfg, raw)
		if err != nil {
			return nil, fmt.Errorf("policy not found: chaincode %s collection %s: %w", c.cc.Name, name, err)
		}
		add(env)
	}
	return out, nil
}

func validPolicy(cfg *cb.Config, raw []byte) (*cb.SignaturePolicyEnvelope, error) {
	env, err := SignaturePolicyOf(cfg, raw)
	if err != nil {
		return nil, err
	}
	if len(env.Identities) == 0 || env.Rule == nil {
		return nil, errors.New("the signature policy has no principals or no rule")
	}
	return env, nil
}

// principalSets merges the combinations of every policy of the interest's
// chaincodes, collections and key policies into combinations satisfying all.
func principalSets(cfg *cb.Config, calls []*call) ([]principalSet, error) {
	var all [][]principalSet
	expandAll := func(env *cb.SignaturePolicyEnvelope, none error) ([]principalSet, error) {
		sets, err := SatisfiedBy(env)
		if err != nil {
			return nil, err
		}
		if len(sets) == 0 {
			return nil, none
		}
		out := make([]principalSet, len(sets))
		for i, s := range sets {
			if out[i], err = newPrincipalSet(s); err != nil {
				return nil, fmt.Errorf("failed creating a comparable principal set: %w", err)
			}
		}
		return out, nil
	}
	for _, c := range calls {
		pols, err := c.policies(cfg)
		if err != nil {
			return nil, err
		}
		if c.cc.DisregardNamespacePolicy {
			if len(pols) == 1 && len(c.cc.KeyPolicies) == 0 {
				return nil, fmt.Errorf("requested to disregard chaincode %s's policy but key and collection policies are missing, either disable DisregardNamespacePolicy or specify at least one key policy or at least one collection policy", c.cc.Name)
			}
			// Fabric drops the first policy, taking it for the namespace's.
			pols = pols[1:]
		}
		for _, env := range pols {
			sets, err := expandAll(env, ErrUnsatisfiable)
			if err != nil {
				return nil, err
			}
			all = append(all, sets)
		}
	}
	var keySets [][]principalSet
	for _, c := range calls {
		for _, kp := range c.cc.KeyPolicies {
			sets, err := expandAll(kp, errors.New("state based endorsement policy cannot be satisfied"))
			if err != nil {
				return nil, err
			}
			keySets = append(keySets, sets)
		}
	}
	if len(keySets) > 0 {
		all = append(all, mergeAll(keySets))
	}
	if len(all) == 0 {
		return nil, errors.New("no principal sets remained after filtering")
	}
	return mergeAll(all), nil
}

func mergeAll(sets [][]principalSet) []principalSet {
	acc := sets[0]
	for _, s := range sets[1:] {
		acc = mergeSets(acc, s)
	}
	return acc
}

// authorized returns the peers that hold the private data of every
// collection the interest's calls read.
func authorized(ch Channel, calls []*call, peers []*decodedPeer) ([]*decodedPeer, error) {
	var filters [][]*mspproto.MSPPrincipal
	for _, c := range calls {
		f, err := c.collectionMembers()
		if err != nil {
			return nil, err
		}
		filters = append(filters, f...)
	}
	if len(filters) == 0 {
		return peers, nil
	}
	var out []*decodedPeer
	for _, p := range peers {
		ok := true
		for _, members := range filters {
			if !anySatisfied(ch.Bundle, p.Identity, members) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func anySatisfied(b *channelconfig.Bundle, identity []byte, ps []*mspproto.MSPPrincipal) bool {
	for _, p := range ps {
		if satisfies(b, identity, p) {
			return true
		}
	}
	return false
}

// satisfies says the peer identity, valid in the channel, satisfies p.
func satisfies(b *channelconfig.Bundle, identity []byte, p *mspproto.MSPPrincipal) bool {
	id, err := b.MSPs().DeserializeIdentity(identity)
	if err != nil {
		return false
	}
	return b.MSPs().Satisfies(id, p)
}

func hasChaincodes(p *decodedPeer, calls []*call) bool {
	for _, c := range calls {
		if v, ok := p.chaincodes[c.def.Name]; !ok || v != c.def.Version() {
			return false
		}
	}
	return true
}

// PeersFor returns the channel peers that can serve interest: those whose
// state info lists every chaincode of the interest (name and definition
// sequence) and that are members of the collections it reads. A nil or
// empty interest selects every peer.
func PeersFor(ch Channel, interest *pb.ChaincodeInterest, peers []Peer) ([]Peer, error) {
	if interest == nil || len(interest.Chaincodes) == 0 {
		return peers, nil
	}
	calls, err := resolveCalls(ch, interest)
	if err != nil {
		return nil, err
	}
	var with []*decodedPeer
	for _, p := range decodePeers(peers) {
		if hasChaincodes(p, calls) {
			with = append(with, p)
		}
	}
	ok, err := authorized(ch, calls, with)
	if err != nil {
		return nil, err
	}
	out := make([]Peer, len(ok))
	for i, p := range ok {
		out[i] = p.Peer
	}
	return out, nil
}

// Endorsers computes Fabric's endorsement descriptor for interest on a
// channel: the principal combinations satisfying every policy involved
// (the chaincodes', their collections' and the key policies'), each
// principal named by a group (G0, G1, ... in order of first appearance),
// the layouts (how many endorsers each group needs) that the peers can
// satisfy, and per group the peers that satisfy its principal and have the
// chaincodes. peers are the channel's peers with their alive and state info
// envelopes; only those with an external endpoint, holding the collections
// read, count. The descriptor's Chaincode is the interest's first.
func Endorsers(ch Channel, interest *pb.ChaincodeInterest, peers []Peer) (*discpb.EndorsementDescriptor, error) {
	desc, _, err := endorsers(ch, interest, peers)
	return desc, err
}

// endorsers is Endorsers that also returns the principal of each group
// (group Gi is principals[i]).
func endorsers(ch Channel, interest *pb.ChaincodeInterest, peers []Peer) (*discpb.EndorsementDescriptor, []*mspproto.MSPPrincipal, error) {
	calls, err := resolveCalls(ch, interest)
	if err != nil {
		return nil, nil, err
	}
	var alive []*decodedPeer
	for _, p := range decodePeers(peers) {
		if p.Alive != nil && p.endpoint != "" {
			alive = append(alive, p)
		}
	}
	members, err := authorized(ch, calls, alive)
	if err != nil {
		return nil, nil, err
	}
	sets, err := principalSets(ch.Bundle.Config(), calls)
	if err != nil {
		return nil, nil, err
	}

	// Name each distinct principal by a group.
	var groups []*principal
	groupOf := func(p *principal) int {
		for i, g := range groups {
			if g.same(p) {
				return i
			}
		}
		groups = append(groups, p)
		return len(groups) - 1
	}
	type layout map[int]uint32
	var layouts []layout
	for _, s := range sets {
		l := layout{}
		for _, p := range s {
			l[groupOf(p)]++
		}
		layouts = append(layouts, l)
	}
	// Which peers satisfy which group's principal.
	satisfiers := make([][]*decodedPeer, len(groups))
	for gi, g := range groups {
		for _, p := range members {
			if satisfies(ch.Bundle, p.Identity, g.p) {
				satisfiers[gi] = append(satisfiers[gi], p)
			}
		}
	}
	var possible []layout
	for _, l := range layouts {
		ok := true
		for g, n := range l {
			if len(satisfiers[g]) < int(n) {
				ok = false
			}
		}
		if ok {
			possible = append(possible, l)
		}
	}
	if len(possible) == 0 {
		return nil, nil, ErrNoCombination
	}
	byGroup := map[string]*discpb.Peers{}
	for _, l := range possible {
		for g := range l {
			name := groupName(g)
			if _, done := byGroup[name]; done {
				continue
			}
			var list []*discpb.Peer
			for _, p := range satisfiers[g] {
				if hasChaincodes(p, calls) {
					list = append(list, &discpb.Peer{Identity: p.Identity, StateInfo: p.StateInfo, MembershipInfo: p.Alive})
				}
			}
			if len(list) > 0 {
				byGroup[name] = &discpb.Peers{Peers: list}
			}
		}
	}
	desc := &discpb.EndorsementDescriptor{Chaincode: interest.Chaincodes[0].Name, EndorsersByGroups: byGroup}
	for _, l := range possible {
		q := map[string]uint32{}
		ok := true
		for g, n := range l {
			q[groupName(g)] = n
			if byGroup[groupName(g)] == nil || len(byGroup[groupName(g)].Peers) < int(n) {
				ok = false
			}
		}
		if ok {
			desc.Layouts = append(desc.Layouts, &discpb.Layout{QuantitiesByGroup: q})
		}
	}
	if len(desc.Layouts) == 0 {
		return nil, nil, ErrNotInstalled
	}
	// As Fabric, groups of layouts dropped for want of installed peers stay
	// listed: clients look groups up from layouts, never the other way.
	principals := make([]*mspproto.MSPPrincipal, len(groups))
	for i, g := range groups {
		principals[i] = g.p
	}
	return desc, principals, nil
}

func groupName(i int) string { return "G" + strconv.Itoa(i) }
