package discovery

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// Limits on the combinations one policy may expand to. Fabric caps the
// choices under one gate at 10,000 (dropping sub-rules until they fit); it has
// no cap on the whole policy, so a client's key policy such as
// AND(OutOf(5, ten principals), ...) repeated could exhaust the peer's memory.
// Weft refuses a policy past maxPrincipalSets instead.
const (
	maxGateCombinations = 10000
	maxPrincipalSets    = 10000
)

// errPolicyMalformed marks a policy Fabric's inquiry gives up on: a reachable
// gate that requires nothing (N=0) or has no sub-rules, or a SignedBy naming
// a principal the envelope does not have. Fabric then answers that the policy
// cannot be satisfied.
var errPolicyMalformed = errors.New("malformed signature policy")

// PrincipalSet is one combination of principals that, signed by distinct
// identities, satisfies a policy. A principal may appear more than once: it
// then needs as many distinct signers.
type PrincipalSet []*mspproto.MSPPrincipal

// expansion is the principal combinations of one sub-rule; malformed says at
// least one further combination is malformed (see errPolicyMalformed).
type expansion struct {
	sets      [][]int // indexes into the envelope's identities
	malformed bool
}

func (e expansion) empty() bool { return len(e.sets) == 0 && !e.malformed }

// SatisfiedBy lists the principal combinations that satisfy env, as Fabric's
// policy inquiry does: every way of choosing N of the sub-rules of each
// N-out-of gate, the chosen sub-rules' combinations multiplied out. The list
// is in a fixed order (first sub-rules first). It is empty when no
// combination satisfies env; an error says the policy is too large.
func SatisfiedBy(env *cb.SignaturePolicyEnvelope) ([]PrincipalSet, error) {
	if env == nil || env.Rule == nil || len(env.Identities) == 0 {
		return nil, nil
	}
	e, err := expand(env.Rule, len(env.Identities))
	if err != nil {
		return nil, err
	}
	if e.malformed {
		return nil, nil
	}
	out := make([]PrincipalSet, 0, len(e.sets))
	for _, s := range e.sets {
		ps := make(PrincipalSet, len(s))
		for i, idx := range s {
			ps[i] = env.Identities[idx]
		}
		out = append(out, ps)
	}
	return out, nil
}

func expand(r *cb.SignaturePolicy, nIDs int) (expansion, error) {
	switch t := r.GetType().(type) {
	case *cb.SignaturePolicy_SignedBy:
		if t.SignedBy < 0 || int(t.SignedBy) >= nIDs {
			return expansion{malformed: true}, nil
		}
		return expansion{sets: [][]int{{int(t.SignedBy)}}}, nil
	case *cb.SignaturePolicy_NOutOf_:
		rules := t.NOutOf.GetRules()
		n := int(t.NOutOf.GetN())
		if len(rules) == 0 || n <= 0 {
			return expansion{malformed: true}, nil
		}
		for len(rules) > 0 && combinationsExceed(len(rules), n, maxGateCombinations) {
			// Fabric drops a random sub-rule; dropping the last keeps answers stable.
			rules = rules[:len(rules)-1]
		}
		children := make([]expansion, len(rules))
		for i, c := range rules {
			e, err := expand(c, nIDs)
			if err != nil {
				return expansion{}, err
			}
			children[i] = e
		}
		var out expansion
		for _, pick := range chooseIndexes(len(rules), n) {
			acc := expansion{sets: [][]int{nil}}
			for _, i := range pick {
				c := children[i]
				if c.empty() || acc.empty() {
					acc = expansion{}
					break
				}
				next := expansion{malformed: acc.malformed || c.malformed}
				for _, a := range acc.sets {
					for _, b := range c.sets {
						s := make([]int, 0, len(a)+len(b))
						next.sets = append(next.sets, append(append(s, a...), b...))
						if len(next.sets) > maxPrincipalSets {
							return expansion{}, fmt.Errorf("policy expands to more than %d principal combinations", maxPrincipalSets)
						}
					}
				}
				acc = next
			}
			out.sets = append(out.sets, acc.sets...)
			out.malformed = out.malformed || acc.malformed
			if len(out.sets) > maxPrincipalSets {
				return expansion{}, fmt.Errorf("policy expands to more than %d principal combinations", maxPrincipalSets)
			}
		}
		return out, nil
	default:
		return expansion{malformed: true}, nil
	}
}

func combinationsExceed(n, k, limit int) bool {
	if n < k {
		return false
	}
	return new(big.Int).Binomial(int64(n), int64(k)).Cmp(big.NewInt(int64(limit))) > 0
}

// chooseIndexes lists the k-element subsets of 0..n-1 in lexicographic order.
func chooseIndexes(n, k int) [][]int {
	var out [][]int
	var walk func(start int, cur []int)
	walk = func(start int, cur []int) {
		if len(cur) == k {
			out = append(out, append([]int(nil), cur...))
			return
		}
		for i := start; n-i >= k-len(cur); i++ {
			walk(i+1, append(cur, i))
		}
	}
	walk(0, nil)
	return out
}

// principal is an MSPPrincipal decoded so that one can tell whether every
// identity satisfying it also satisfies another (Fabric's comparable
// principal).
type principal struct {
	p     *mspproto.MSPPrincipal
	mspID string
	role  *mspproto.MSPRole
	ou    *mspproto.OrganizationUnit
	idRaw []byte
}

func newPrincipal(p *mspproto.MSPPrincipal) (*principal, error) {
	if p == nil {
		return nil, errors.New("nil principal")
	}
	c := &principal{p: p}
	switch p.PrincipalClassification {
	case mspproto.MSPPrincipal_ROLE:
		r := &mspproto.MSPRole{}
		if err := proto.Unmarshal(p.Principal, r); err != nil {
			return nil, fmt.Errorf("decode MSPRole principal: %w", err)
		}
		c.mspID, c.role = r.MspIdentifier, r
	case mspproto.MSPPrincipal_ORGANIZATION_UNIT:
		ou := &mspproto.OrganizationUnit{}
		if err := proto.Unmarshal(p.Principal, ou); err != nil {
			return nil, fmt.Errorf("decode OrganizationUnit principal: %w", err)
		}
		c.mspID, c.ou = ou.MspIdentifier, ou
	case mspproto.MSPPrincipal_IDENTITY:
		sid := &mspproto.SerializedIdentity{}
		if err := proto.Unmarshal(p.Principal, sid); err != nil {
			return nil, fmt.Errorf("decode identity principal: %w", err)
		}
		c.mspID, c.idRaw = sid.Mspid, sid.IdBytes
	default:
		return nil, fmt.Errorf("principal classification %s is not supported by discovery", p.PrincipalClassification)
	}
	return c, nil
}

// same says the two principals are the same bytes.
func (c *principal) same(o *principal) bool {
	return c.p.PrincipalClassification == o.p.PrincipalClassification && bytes.Equal(c.p.Principal, o.p.Principal)
}

// isA says every identity satisfying c also satisfies o. It is conservative:
// false when it cannot tell (an OU against a role, for instance).
func (c *principal) isA(o *principal) bool {
	if c.mspID != o.mspID {
		return false
	}
	if o.role != nil && o.role.Role == mspproto.MSPRole_MEMBER {
		return true
	}
	switch {
	case c.ou != nil && o.ou != nil:
		return c.ou.OrganizationalUnitIdentifier == o.ou.OrganizationalUnitIdentifier &&
			bytes.Equal(c.ou.CertifiersIdentifier, o.ou.CertifiersIdentifier)
	case c.role != nil && o.role != nil:
		return c.role.Role == o.role.Role
	case c.p.PrincipalClassification == mspproto.MSPPrincipal_IDENTITY:
		return o.p.PrincipalClassification == mspproto.MSPPrincipal_IDENTITY && bytes.Equal(c.idRaw, o.idRaw)
	}
	return false
}

type principalSet []*principal

func newPrincipalSet(ps PrincipalSet) (principalSet, error) {
	out := make(principalSet, len(ps))
	for i, p := range ps {
		c, err := newPrincipal(p)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

func (s principalSet) raw() PrincipalSet {
	out := make(PrincipalSet, len(s))
	for i, c := range s {
		out[i] = c.p
	}
	return out
}

// covers says some principal of s implies p.
func (s principalSet) covers(p *principal) bool {
	for _, c := range s {
		if c.isA(p) {
			return true
		}
	}
	return false
}

// within says every principal of s is implied by one of t: a signer set
// satisfying t satisfies s.
func (s principalSet) within(t principalSet) bool {
	for _, p := range s {
		if !t.covers(p) {
			return false
		}
	}
	return true
}

// subsetOf says every principal of s is literally in t.
func (s principalSet) subsetOf(t principalSet) bool {
	for _, p := range s {
		found := false
		for _, q := range t {
			if p.same(q) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// mergeInto returns containing extended so that it also satisfies contained
// with its pluralities: each principal of contained is matched to a distinct
// principal of containing that implies it, and those left unmatched are added.
func mergeInto(contained, containing principalSet) principalSet {
	used := make([]bool, len(containing))
	out := append(principalSet(nil), containing...)
	for _, p := range contained {
		matched := false
		for i, q := range containing {
			if !used[i] && q.isA(p) {
				used[i], matched = true, true
				break
			}
		}
		if !matched {
			out = append(out, p)
		}
	}
	return out
}

// containment maps each index of a to the indexes of b whose sets a's set is
// within, in ascending order.
func containment(a, b []principalSet) [][]int {
	out := make([][]int, len(a))
	for i, x := range a {
		for j, y := range b {
			if x.within(y) {
				out[i] = append(out[i], j)
			}
		}
	}
	return out
}

func without(sets []principalSet, drop []bool) []principalSet {
	var out []principalSet
	for i, s := range sets {
		if !drop[i] {
			out = append(out, s)
		}
	}
	return out
}

// mergeSets returns principal combinations each of which satisfies both the
// policy a was derived from and the one b was derived from (Fabric's
// inquire.Merge): a set of one side that lies within a set of the other is
// served by that larger set (pluralities added); the sets related to neither
// side are combined pairwise; supersets of other results are dropped.
func mergeSets(a, b []principalSet) []principalSet {
	var res []principalSet
	aInB := containment(a, b)
	dropA := make([]bool, len(a))
	bContainsA := make([]bool, len(b))
	for i, js := range aInB {
		for _, j := range js {
			res = append(res, mergeInto(a[i], b[j]))
			dropA[i], bContainsA[j] = true, true
		}
	}
	restA := without(a, dropA)
	bInA := containment(b, restA)
	dropB := make([]bool, len(b))
	aContainsB := make([]bool, len(restA))
	for i, js := range bInA {
		for _, j := range js {
			res = append(res, mergeInto(b[i], restA[j]))
			dropB[i], aContainsB[j] = true, true
		}
	}
	// What remains on each side neither lies within nor contains a set of
	// the other side.
	restA = without(restA, aContainsB)
	for j := range b {
		dropB[j] = dropB[j] || bContainsA[j]
	}
	restB := without(b, dropB)
	if len(restA) > 0 && len(restB) > 0 {
		for _, x := range restA {
			for _, y := range restB {
				res = append(res, mergeInto(x, y))
			}
		}
	}
	return reduceSets(res)
}

// reduceSets drops every set that contains another; of two equal sets the
// first is kept.
func reduceSets(sets []principalSet) []principalSet {
	for {
		var out []principalSet
		for i, s := range sets {
			containsOther := false
			for j, t := range sets {
				if i == j {
					continue
				}
				if t.subsetOf(s) {
					containsOther = true
				}
				if s.subsetOf(t) && i < j {
					containsOther = false
				}
			}
			if !containsOther {
				out = append(out, s)
			}
		}
		if len(out) == len(sets) {
			return out
		}
		sets = out
	}
}
