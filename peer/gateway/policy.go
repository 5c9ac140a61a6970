package gateway

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
)

// orgRule tells whether one endorsement from a peer of each organisation in
// a set satisfies a policy. It models Fabric's evaluation: each endorsement
// counts for at most one principal, and a peer's identity satisfies the MEMBER
// and PEER roles of its organisation but not ADMIN, CLIENT or ORDERER.
type orgRule interface {
	satisfied(orgs []string, used []bool) bool
}

type signedBy struct{ mspID string } // "" = a principal no peer endorsement can satisfy

func (r signedBy) satisfied(orgs []string, used []bool) bool {
	if r.mspID == "" {
		return false
	}
	for i, o := range orgs {
		if !used[i] && o == r.mspID {
			used[i] = true
			return true
		}
	}
	return false
}

type nOutOf struct {
	n     int
	rules []orgRule
}

func (r nOutOf) satisfied(orgs []string, used []bool) bool {
	if r.n <= 0 {
		return true
	}
	count := 0
	for _, sub := range r.rules {
		trial := append([]bool(nil), used...)
		if sub.satisfied(orgs, trial) {
			copy(used, trial)
			count++
			if count >= r.n {
				return true
			}
		}
	}
	return false
}

// anyOf is an implicit-meta rule: threshold of the sub-rules, each evaluated
// on its own (Fabric evaluates implicit-meta sub-policies independently).
type anyOf struct {
	threshold int
	rules     []orgRule
}

func (r anyOf) satisfied(orgs []string, used []bool) bool {
	if r.threshold <= 0 {
		return true
	}
	count := 0
	for _, sub := range r.rules {
		if sub.satisfied(orgs, make([]bool, len(orgs))) {
			count++
		}
	}
	return count >= r.threshold
}

// applicationPolicyRule turns a chaincode's endorsement policy into an orgRule.
func applicationPolicyRule(ap *pb.ApplicationPolicy, cfg *cb.Config) (orgRule, error) {
	switch t := ap.GetType().(type) {
	case *pb.ApplicationPolicy_SignaturePolicy:
		return signatureRule(t.SignaturePolicy)
	case *pb.ApplicationPolicy_ChannelConfigPolicyReference:
		return configPolicyRule(cfg, t.ChannelConfigPolicyReference)
	default:
		return nil, fmt.Errorf("endorsement policy has neither a signature policy nor a channel policy reference")
	}
}

func signatureRule(env *cb.SignaturePolicyEnvelope) (orgRule, error) {
	if env.GetRule() == nil {
		return nil, fmt.Errorf("signature policy has no rule")
	}
	mspIDs := make([]string, len(env.Identities))
	for i, p := range env.Identities {
		mspIDs[i] = principalOrg(p)
	}
	return compileSignature(env.Rule, mspIDs)
}

func compileSignature(sp *cb.SignaturePolicy, mspIDs []string) (orgRule, error) {
	switch t := sp.GetType().(type) {
	case *cb.SignaturePolicy_SignedBy:
		if int(t.SignedBy) < 0 || int(t.SignedBy) >= len(mspIDs) {
			return nil, fmt.Errorf("signature policy refers to identity %d but lists %d identities", t.SignedBy, len(mspIDs))
		}
		return signedBy{mspIDs[t.SignedBy]}, nil
	case *cb.SignaturePolicy_NOutOf_:
		r := nOutOf{n: int(t.NOutOf.GetN())}
		for _, sub := range t.NOutOf.GetRules() {
			c, err := compileSignature(sub, mspIDs)
			if err != nil {
				return nil, err
			}
			r.rules = append(r.rules, c)
		}
		return r, nil
	default:
		return nil, fmt.Errorf("signature policy rule has unknown type %T", t)
	}
}

// principalOrg returns the MSP ID whose peers can satisfy p, or "": a role
// principal counts only for the MEMBER and PEER roles, which peers hold.
func principalOrg(p *mspproto.MSPPrincipal) string {
	if p.GetPrincipalClassification() == mspproto.MSPPrincipal_ROLE {
		r := &mspproto.MSPRole{}
		if proto.Unmarshal(p.Principal, r) != nil || (r.Role != mspproto.MSPRole_MEMBER && r.Role != mspproto.MSPRole_PEER) {
			return ""
		}
	}
	return channelconfig.PrincipalMSPID(p)
}

// configPolicyRule resolves a channel policy path such as
// "/Channel/Application/Endorsement" in the channel config.
func configPolicyRule(cfg *cb.Config, path string) (orgRule, error) {
	if cfg.GetChannelGroup() == nil {
		return nil, fmt.Errorf("endorsement policy refers to channel policy %q but the channel config is not available", path)
	}
	if !strings.HasPrefix(path, "/") {
		// relative references are resolved under /Channel (as Bundle.Policy
		// does), falling back to /Channel/Application ("Endorsement").
		if r, err := configPolicyRule(cfg, "/Channel/"+path); err == nil {
			return r, nil
		}
		return configPolicyRule(cfg, "/Channel/Application/"+path)
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) < 2 || parts[0] != "Channel" {
		return nil, fmt.Errorf("channel policy path %q does not start with /Channel/", path)
	}
	group := cfg.ChannelGroup
	for _, name := range parts[1 : len(parts)-1] {
		next := group.Groups[name]
		if next == nil {
			return nil, fmt.Errorf("channel policy %q: config has no group %q", path, name)
		}
		group = next
	}
	return groupPolicyRule(group, parts[len(parts)-1], path)
}

func groupPolicyRule(group *cb.ConfigGroup, name, path string) (orgRule, error) {
	cp := group.Policies[name]
	if cp.GetPolicy() == nil {
		return nil, fmt.Errorf("channel policy %q is not defined in the channel config", path)
	}
	switch cb.Policy_PolicyType(cp.Policy.Type) {
	case cb.Policy_SIGNATURE:
		env := &cb.SignaturePolicyEnvelope{}
		if err := proto.Unmarshal(cp.Policy.Value, env); err != nil {
			return nil, fmt.Errorf("decode signature policy %q: %w", path, err)
		}
		return signatureRule(env)
	case cb.Policy_IMPLICIT_META:
		im := &cb.ImplicitMetaPolicy{}
		if err := proto.Unmarshal(cp.Policy.Value, im); err != nil {
			return nil, fmt.Errorf("decode implicit meta policy %q: %w", path, err)
		}
		names := make([]string, 0, len(group.Groups))
		for n := range group.Groups {
			names = append(names, n)
		}
		sort.Strings(names)
		r := anyOf{}
		for _, n := range names {
			sub := group.Groups[n]
			if sub.Policies[im.SubPolicy] == nil {
				continue
			}
			c, err := groupPolicyRule(sub, im.SubPolicy, path+"/"+n+"/"+im.SubPolicy)
			if err != nil {
				return nil, err
			}
			r.rules = append(r.rules, c)
		}
		switch im.Rule {
		case cb.ImplicitMetaPolicy_ANY:
			r.threshold = 1
		case cb.ImplicitMetaPolicy_ALL:
			r.threshold = len(r.rules)
		case cb.ImplicitMetaPolicy_MAJORITY:
			r.threshold = len(r.rules)/2 + 1
		}
		if len(r.rules) == 0 {
			r.threshold = 0
		}
		return r, nil
	default:
		return nil, fmt.Errorf("channel policy %q has type %d, which cannot be planned", path, cp.Policy.Type)
	}
}

// maxPlanOrgs bounds the organisations considered when searching layouts.
const maxPlanOrgs = 16

// layouts returns the sets of organisations (each endorsing once) that satisfy
// rule, fewest remote organisations (other than local) first, then smallest.
// Only minimal sets are returned.
func layouts(rule orgRule, orgs []string, local string) ([][]string, error) {
	orgs = append([]string(nil), orgs...)
	sort.Strings(orgs)
	if len(orgs) > maxPlanOrgs {
		return nil, fmt.Errorf("channel has %d organisations; endorsement planning supports at most %d", len(orgs), maxPlanOrgs)
	}
	var masks []uint32
	for m := uint32(1); m < 1<<len(orgs); m++ {
		if rule.satisfied(subset(orgs, m), make([]bool, bits.OnesCount32(m))) {
			masks = append(masks, m)
		}
	}
	localBit := uint32(0)
	for i, o := range orgs {
		if o == local {
			localBit = 1 << i
		}
	}
	// keep minimal sets only: no satisfying proper subset
	var minimal []uint32
	for _, m := range masks {
		keep := true
		for _, o := range masks {
			if o != m && o&m == o {
				keep = false
				break
			}
		}
		if keep {
			minimal = append(minimal, m)
		}
	}
	sort.SliceStable(minimal, func(i, j int) bool {
		a, b := minimal[i], minimal[j]
		// the local endorsement is already in hand: order by remote calls needed
		if ra, rb := bits.OnesCount32(a&^localBit), bits.OnesCount32(b&^localBit); ra != rb {
			return ra < rb
		}
		if ca, cb := bits.OnesCount32(a), bits.OnesCount32(b); ca != cb {
			return ca < cb
		}
		return a < b
	})
	out := make([][]string, 0, len(minimal))
	for _, m := range minimal {
		out = append(out, subset(orgs, m))
	}
	return out, nil
}

func subset(orgs []string, mask uint32) []string {
	var out []string
	for i, o := range orgs {
		if mask&(1<<i) != 0 {
			out = append(out, o)
		}
	}
	return out
}
