package discovery

import (
	"fmt"
	"sort"
	"strings"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// SignaturePolicyOf turns a chaincode or collection endorsement policy
// (pb.ApplicationPolicy bytes) into the signature policy discovery reasons
// about, as Fabric's peer does for _lifecycle definitions: a signature
// policy is taken as is; a channel config policy reference (such as
// /Channel/Application/Endorsement) is looked up in cfg and an implicit-meta
// policy is rewritten as an N-out-of gate over its sub-policies' signature
// policies (N = 1 for ANY, all for ALL, a strict majority for MAJORITY), the
// principals of the sub-policies merged without duplicates. Sub-policies are
// taken in the order of their groups' names (Fabric's order is its map's).
func SignaturePolicyOf(cfg *cb.Config, raw []byte) (*cb.SignaturePolicyEnvelope, error) {
	ap := &pb.ApplicationPolicy{}
	if err := proto.Unmarshal(raw, ap); err != nil {
		return nil, fmt.Errorf("decode peer.ApplicationPolicy: %w", err)
	}
	switch t := ap.Type.(type) {
	case *pb.ApplicationPolicy_SignaturePolicy:
		if t.SignaturePolicy == nil {
			return nil, fmt.Errorf("application policy carries an empty signature policy")
		}
		return t.SignaturePolicy, nil
	case *pb.ApplicationPolicy_ChannelConfigPolicyReference:
		return ConvertConfigPolicy(cfg, t.ChannelConfigPolicyReference)
	default:
		return nil, fmt.Errorf("application policy has no signature policy and no channel config policy reference")
	}
}

// ConvertConfigPolicy converts the channel config policy at path (absolute,
// "/Channel/Application/Endorsement", or relative to /Channel) into a
// signature policy; see SignaturePolicyOf.
func ConvertConfigPolicy(cfg *cb.Config, path string) (*cb.SignaturePolicyEnvelope, error) {
	if cfg == nil || cfg.ChannelGroup == nil {
		return nil, fmt.Errorf("convert policy %s: the channel config has no channel group", path)
	}
	abs := path
	if !strings.HasPrefix(abs, "/") {
		abs = "/Channel/" + abs
	}
	parts := strings.Split(strings.TrimPrefix(abs, "/"), "/")
	if len(parts) < 2 || parts[0] != "Channel" {
		return nil, fmt.Errorf("convert policy %s: not a path under /Channel", path)
	}
	g := cfg.ChannelGroup
	for _, name := range parts[1 : len(parts)-1] {
		next, ok := g.Groups[name]
		if !ok {
			return nil, fmt.Errorf("convert policy %s: the channel config has no group %s", path, name)
		}
		g = next
	}
	return convertPolicyIn(g, parts[len(parts)-1], abs)
}

func convertPolicyIn(g *cb.ConfigGroup, name, path string) (*cb.SignaturePolicyEnvelope, error) {
	cp, ok := g.Policies[name]
	if !ok || cp.GetPolicy() == nil {
		return nil, fmt.Errorf("convert policy %s: the channel config has no such policy", path)
	}
	pol := cp.GetPolicy()
	switch cb.Policy_PolicyType(pol.Type) {
	case cb.Policy_SIGNATURE:
		env := &cb.SignaturePolicyEnvelope{}
		if err := proto.Unmarshal(pol.Value, env); err != nil {
			return nil, fmt.Errorf("convert policy %s: decode SignaturePolicyEnvelope: %w", path, err)
		}
		return env, nil
	case cb.Policy_IMPLICIT_META:
		imp := &cb.ImplicitMetaPolicy{}
		if err := proto.Unmarshal(pol.Value, imp); err != nil {
			return nil, fmt.Errorf("convert policy %s: decode ImplicitMetaPolicy: %w", path, err)
		}
		dir := strings.TrimSuffix(path, "/"+name)
		subNames := make([]string, 0, len(g.Groups))
		for n := range g.Groups {
			subNames = append(subNames, n)
		}
		sort.Strings(subNames)
		n := 0
		switch imp.Rule {
		case cb.ImplicitMetaPolicy_ANY:
			n = 1
		case cb.ImplicitMetaPolicy_ALL:
			n = len(subNames)
		case cb.ImplicitMetaPolicy_MAJORITY:
			n = len(subNames)/2 + 1
		}
		if len(subNames) == 0 {
			n = 0
		}
		out := &cb.SignaturePolicyEnvelope{Rule: &cb.SignaturePolicy{Type: &cb.SignaturePolicy_NOutOf_{
			NOutOf: &cb.SignaturePolicy_NOutOf{N: int32(n)},
		}}}
		for _, sub := range subNames {
			env, err := convertPolicyIn(g.Groups[sub], imp.SubPolicy, dir+"/"+sub+"/"+imp.SubPolicy)
			if err != nil {
				return nil, fmt.Errorf("convert policy %s (%s of %s): %w", path, imp.Rule, imp.SubPolicy, err)
			}
			appendRule(out, env)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("convert policy %s: policy type %s cannot be converted to a signature policy", path, cb.Policy_PolicyType(pol.Type))
	}
}

// appendRule adds env's rule as one more sub-rule of dst's top gate,
// renumbering its principals into dst's list, sharing equal ones.
func appendRule(dst, env *cb.SignaturePolicyEnvelope) {
	index := map[string]int32{}
	key := func(p *mspproto.MSPPrincipal) string {
		return p.PrincipalClassification.String() + "\x00" + string(p.Principal)
	}
	for i, p := range dst.Identities {
		index[key(p)] = int32(i)
	}
	renumber := make([]int32, len(env.Identities))
	for i, p := range env.Identities {
		k := key(p)
		j, ok := index[k]
		if !ok {
			j = int32(len(dst.Identities))
			index[k] = j
			dst.Identities = append(dst.Identities, p)
		}
		renumber[i] = j
	}
	gate := dst.Rule.GetNOutOf()
	gate.Rules = append(gate.Rules, renumberRule(env.Rule, renumber))
}

func renumberRule(r *cb.SignaturePolicy, renumber []int32) *cb.SignaturePolicy {
	switch t := r.GetType().(type) {
	case *cb.SignaturePolicy_SignedBy:
		i := t.SignedBy
		if i >= 0 && int(i) < len(renumber) {
			i = renumber[i]
		} else {
			// An out-of-range reference stays out of range, so the
			// converted policy is as unsatisfiable as the original.
			i = int32(len(renumber)) + 1<<20
		}
		return &cb.SignaturePolicy{Type: &cb.SignaturePolicy_SignedBy{SignedBy: i}}
	case *cb.SignaturePolicy_NOutOf_:
		rules := make([]*cb.SignaturePolicy, len(t.NOutOf.GetRules()))
		for i, c := range t.NOutOf.GetRules() {
			rules[i] = renumberRule(c, renumber)
		}
		return &cb.SignaturePolicy{Type: &cb.SignaturePolicy_NOutOf_{NOutOf: &cb.SignaturePolicy_NOutOf{N: t.NOutOf.GetN(), Rules: rules}}}
	default:
		return &cb.SignaturePolicy{}
	}
}
