package channelconfig

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

var (
	// ErrPolicyNotFound: the bundle has no policy at the requested path.
	ErrPolicyNotFound = errors.New("channelconfig: policy not found")
	// ErrPolicyNotSatisfied: the signatures do not satisfy the policy. Every
	// error Policy.Evaluate returns wraps it.
	ErrPolicyNotSatisfied = errors.New("policy not satisfied")
)

// Policy decides whether a set of signatures satisfies a rule.
type Policy interface {
	// Evaluate returns nil when signed satisfies the policy, otherwise an error
	// wrapping ErrPolicyNotSatisfied that names the unsatisfied principals or
	// sub-policies and the signatures that were rejected and why.
	Evaluate(signed []protos.SignedData) error
}

// identityManager is what signature policies need from the channel MSPs;
// *msp.Manager satisfies it.
type identityManager interface {
	DeserializeIdentity(serialized []byte) (*msp.Identity, error)
	SatisfiesPrincipal(id *msp.Identity, p *mspproto.MSPPrincipal) error
	// Satisfies is SatisfiesPrincipal(id, p) == nil without explaining a
	// mismatch, for the lazy pass that only needs the verdict.
	Satisfies(id *msp.Identity, p *mspproto.MSPPrincipal) bool
}

// evaluator is implemented by this package's policies so that an implicit-meta
// policy evaluates all its sub-policies over one set of checked signatures.
type evaluator interface {
	evaluate(ec *evalContext) error
}

// signaturePolicy is a compiled cb.SignaturePolicyEnvelope.
type signaturePolicy struct {
	env  *cb.SignaturePolicyEnvelope
	msps identityManager
	text string
	// mspOf[i] is the MSP principal i is about, "" when it names none; an
	// identity of another MSP can never satisfy it.
	mspOf []string
}

// NewSignaturePolicy compiles env against the channel's MSPs. It checks that
// every SignedBy refers to an existing principal.
func NewSignaturePolicy(env *cb.SignaturePolicyEnvelope, msps *msp.Manager) (Policy, error) {
	if msps == nil {
		return nil, fmt.Errorf("signature policy needs the channel MSPs, got nil")
	}
	return newSignaturePolicy(env, msps)
}

func newSignaturePolicy(env *cb.SignaturePolicyEnvelope, msps identityManager) (*signaturePolicy, error) {
	if env == nil || env.Rule == nil {
		return nil, fmt.Errorf("signature policy has no rule")
	}
	if err := checkRule(env.Rule, len(env.Identities), 0); err != nil {
		return nil, fmt.Errorf("signature policy %s: %w", FormatPolicy(env), err)
	}
	mspOf := make([]string, len(env.Identities))
	for i, p := range env.Identities {
		if p != nil {
			mspOf[i] = PrincipalMSPID(p)
		}
	}
	return &signaturePolicy{env: env, msps: msps, text: FormatPolicy(env), mspOf: mspOf}, nil
}

func checkRule(r *cb.SignaturePolicy, nIDs, depth int) error {
	if depth > 64 {
		return fmt.Errorf("rule nested deeper than 64 levels")
	}
	switch t := r.GetType().(type) {
	case *cb.SignaturePolicy_SignedBy:
		if t.SignedBy < 0 || int(t.SignedBy) >= nIDs {
			return fmt.Errorf("SignedBy(%d) but the policy has %d principals", t.SignedBy, nIDs)
		}
	case *cb.SignaturePolicy_NOutOf_:
		for _, sub := range t.NOutOf.GetRules() {
			if err := checkRule(sub, nIDs, depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("rule of unknown type %T", r.GetType())
	}
	return nil
}

// String returns the policy in the policy language.
func (p *signaturePolicy) String() string { return p.text }

func (p *signaturePolicy) Evaluate(signed []protos.SignedData) error {
	return NewSignatureSet(signed).Evaluate(p)
}

// evaluate first matches lazily, verifying only the signatures of signers
// that would satisfy a principal; only when that fails does it check every
// signature, to explain the failure exactly as an eager evaluation would.
// Both passes follow the same greedy order over the same valid, distinct
// signers, so they always agree.
func (p *signaturePolicy) evaluate(ec *evalContext) error {
	c := ec.candidates(p.msps)
	if p.matchLazy(p.env.Rule, ec.set, c, make([]bool, len(c.list)), true) {
		return nil
	}
	ids := ec.identities(p.msps)
	ok, reasons := p.match(p.env.Rule, ids, make([]bool, len(ids)))
	if ok {
		return nil
	}
	return fmt.Errorf("%w: %s: %s", ErrPolicyNotSatisfied, p.text, strings.Join(reasons, "; "))
}

// matchLazy is match over the candidate signers of a SignatureSet: a signer
// that satisfies a principal is used only if it is one of the valid, distinct
// signers match would see, which is when its signature gets verified. Like
// match, a gate tries all its sub-rules (which signers they consume matters to
// the gate's siblings), except the root gate, which may stop once satisfied.
func (p *signaturePolicy) matchLazy(rule *cb.SignaturePolicy, set *SignatureSet, c *candidates, used []bool, root bool) bool {
	switch t := rule.Type.(type) {
	case *cb.SignaturePolicy_SignedBy:
		principal := p.env.Identities[t.SignedBy]
		mspID := p.mspOf[t.SignedBy]
		for i := range c.list {
			id := c.list[i].id
			if id == nil || used[i] || mspID != "" && mspID != id.MSPID {
				continue
			}
			if !p.msps.Satisfies(id, principal) || !set.included(c, i) {
				continue
			}
			used[i] = true
			return true
		}
		return false
	case *cb.SignaturePolicy_NOutOf_:
		satisfied := 0
		trial := make([]bool, len(used))
		for _, sub := range t.NOutOf.Rules {
			copy(trial, used)
			if p.matchLazy(sub, set, c, trial, false) {
				satisfied++
				copy(used, trial)
				if root && satisfied >= int(t.NOutOf.N) {
					return true
				}
			}
		}
		return satisfied >= int(t.NOutOf.N)
	}
	return false
}

// match evaluates rule greedily as Fabric does: each identity satisfies at
// most one principal, and a gate keeps the identities its satisfied sub-rules
// consumed. It returns why the rule failed.
func (p *signaturePolicy) match(rule *cb.SignaturePolicy, ids []*msp.Identity, used []bool) (bool, []string) {
	switch t := rule.Type.(type) {
	case *cb.SignaturePolicy_SignedBy:
		principal := p.env.Identities[t.SignedBy]
		var why []string
		for i, id := range ids {
			if used[i] {
				if PrincipalMSPID(principal) == id.MSPID {
					why = append(why, describeIdentity(id)+" already counted for another principal")
				}
				continue
			}
			err := p.msps.SatisfiesPrincipal(id, principal)
			if err == nil {
				used[i] = true
				return true, nil
			}
			if PrincipalMSPID(principal) == id.MSPID {
				why = append(why, fmt.Sprintf("%s does not qualify: %v", describeIdentity(id), err))
			}
		}
		reason := "no signature from " + principalDescription(principal)
		if len(why) > 0 {
			reason += " [" + strings.Join(why, "; ") + "]"
		}
		return false, []string{reason}
	case *cb.SignaturePolicy_NOutOf_:
		n := int(t.NOutOf.N)
		satisfied := 0
		var reasons []string
		trial := make([]bool, len(used))
		for _, sub := range t.NOutOf.Rules {
			copy(trial, used)
			ok, why := p.match(sub, ids, trial)
			if ok {
				satisfied++
				copy(used, trial)
			} else {
				reasons = append(reasons, why...)
			}
		}
		if satisfied >= n {
			return true, nil
		}
		if len(t.NOutOf.Rules) > 1 || n != 1 {
			head := fmt.Sprintf("%d of %d satisfied, %d required", satisfied, len(t.NOutOf.Rules), n)
			if len(reasons) == 0 {
				return false, []string{head}
			}
			return false, []string{head + ": " + strings.Join(reasons, "; ")}
		}
		return false, reasons
	}
	return false, []string{"rule of unknown type"}
}

// implicitMetaPolicy is satisfied when enough of the sub-groups' policies of
// one name are.
type implicitMetaPolicy struct {
	path      string // absolute path of this policy, for messages
	subPolicy string
	rule      cb.ImplicitMetaPolicy_Rule
	threshold int
	subs      []namedPolicy
}

type namedPolicy struct {
	path   string
	policy Policy // nil when the sub-group has no such policy
}

func newImplicitMetaPolicy(path string, imp *cb.ImplicitMetaPolicy, subs []namedPolicy) *implicitMetaPolicy {
	threshold := 0
	switch imp.Rule {
	case cb.ImplicitMetaPolicy_ANY:
		threshold = 1
	case cb.ImplicitMetaPolicy_ALL:
		threshold = len(subs)
	case cb.ImplicitMetaPolicy_MAJORITY:
		threshold = len(subs)/2 + 1
	}
	if len(subs) == 0 {
		// Fabric: with no sub-groups there is nothing to require.
		threshold = 0
	}
	return &implicitMetaPolicy{path: path, subPolicy: imp.SubPolicy, rule: imp.Rule, threshold: threshold, subs: subs}
}

func (p *implicitMetaPolicy) String() string {
	return fmt.Sprintf("%s %s", p.rule, p.subPolicy)
}

func (p *implicitMetaPolicy) Evaluate(signed []protos.SignedData) error {
	return NewSignatureSet(signed).Evaluate(p)
}

func (p *implicitMetaPolicy) evaluate(ec *evalContext) error {
	satisfied := 0
	var failures []string
	for _, s := range p.subs {
		var err error
		switch sp := s.policy.(type) {
		case nil:
			err = fmt.Errorf("%w: no policy %s", ErrPolicyNotFound, s.path)
		case evaluator:
			err = sp.evaluate(ec)
		default:
			err = sp.Evaluate(ec.set.signed)
		}
		if err == nil {
			satisfied++
			if satisfied >= p.threshold {
				return nil
			}
			continue
		}
		failures = append(failures, fmt.Sprintf("%s: %s", s.path, strings.TrimPrefix(err.Error(), ErrPolicyNotSatisfied.Error()+": ")))
	}
	if satisfied >= p.threshold {
		return nil
	}
	return fmt.Errorf("%w: %s (%s): %d of %d sub-policies satisfied, %d required: %s",
		ErrPolicyNotSatisfied, p.path, p, satisfied, len(p.subs), p.threshold, strings.Join(failures, " | "))
}

// rejectPolicy stands for a policy that could not be built; it never passes.
type rejectPolicy struct{ reason string }

func (r rejectPolicy) Evaluate([]protos.SignedData) error {
	return fmt.Errorf("%w: %s", ErrPolicyNotSatisfied, r.reason)
}

// ParseImplicitMetaRule parses "ANY Readers", "ALL Writers", "MAJORITY Admins".
func ParseImplicitMetaRule(rule string) (*cb.ImplicitMetaPolicy, error) {
	f := strings.Fields(rule)
	if len(f) != 2 {
		return nil, fmt.Errorf("implicit meta rule %q: want \"ANY|ALL|MAJORITY <SubPolicy>\"", rule)
	}
	imp := &cb.ImplicitMetaPolicy{SubPolicy: f[1]}
	switch strings.ToUpper(f[0]) {
	case "ANY":
		imp.Rule = cb.ImplicitMetaPolicy_ANY
	case "ALL":
		imp.Rule = cb.ImplicitMetaPolicy_ALL
	case "MAJORITY":
		imp.Rule = cb.ImplicitMetaPolicy_MAJORITY
	default:
		return nil, fmt.Errorf("implicit meta rule %q: unknown rule %q (want ANY, ALL or MAJORITY)", rule, f[0])
	}
	return imp, nil
}

// describeIdentity is "Org2MSP peer0.org2.example.com" (MSP and common name).
func describeIdentity(id *msp.Identity) string {
	if id == nil || id.Cert == nil {
		return "<unknown identity>"
	}
	cn := id.Cert.Subject.CommonName
	if cn == "" {
		cn = id.Cert.Subject.String()
	}
	return id.MSPID + " " + cn
}

// describeSerialized names a serialized identity we could not (or need not)
// validate, without trusting it.
func describeSerialized(raw []byte) string {
	sid := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(raw, sid); err != nil {
		return "<undecodable identity>"
	}
	name := "<unparsable certificate>"
	if block, _ := pem.Decode(sid.IdBytes); block != nil {
		if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
			name = cert.Subject.CommonName
		}
	}
	return sid.Mspid + " " + name
}
