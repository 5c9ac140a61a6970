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
}

// evaluator is implemented by this package's policies so that an implicit-meta
// policy evaluates all its sub-policies over one set of checked signatures.
type evaluator interface {
	evaluate(ec *evalContext) error
}

// evalContext caches, for one evaluation, the signatures already checked
// against each MSP manager.
type evalContext struct {
	signed   []protos.SignedData
	sets     map[identityManager]*identitySet
	rejected []string // why signatures were skipped, one line each
	seenRej  map[string]bool
}

func newEvalContext(signed []protos.SignedData) *evalContext {
	return &evalContext{signed: signed, sets: map[identityManager]*identitySet{}, seenRej: map[string]bool{}}
}

func (ec *evalContext) reject(msg string) {
	if !ec.seenRej[msg] {
		ec.seenRej[msg] = true
		ec.rejected = append(ec.rejected, msg)
	}
}

// finish adds, once, what the evaluation skipped to a failed policy's error.
func (ec *evalContext) finish(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case len(ec.signed) == 0:
		return fmt.Errorf("%w (no signatures were supplied)", err)
	case len(ec.rejected) > 0:
		return fmt.Errorf("%w (rejected: %s)", err, strings.Join(ec.rejected, "; "))
	}
	return err
}

type identitySet struct {
	ids []*msp.Identity
}

// identities deserializes and validates each signer through msps, verifies its
// signature and removes duplicate signers, as Fabric does before matching
// principals. Failures are skipped and remembered for the error message.
func (ec *evalContext) identities(msps identityManager) *identitySet {
	if s, ok := ec.sets[msps]; ok {
		return s
	}
	s := &identitySet{}
	seen := map[string]bool{}
	for i, sd := range ec.signed {
		id, err := msps.DeserializeIdentity(sd.Identity)
		if err != nil {
			ec.reject(fmt.Sprintf("signature %d from %s: %v", i, describeSerialized(sd.Identity), err))
			continue
		}
		key := id.MSPID + "\x00" + string(id.Cert.Raw)
		if seen[key] {
			continue
		}
		if err := id.Verify(sd.Data, sd.Signature); err != nil {
			ec.reject(fmt.Sprintf("signature %d from %s invalid: %v", i, describeIdentity(id), err))
			continue
		}
		seen[key] = true
		s.ids = append(s.ids, id)
	}
	ec.sets[msps] = s
	return s
}

// signaturePolicy is a compiled cb.SignaturePolicyEnvelope.
type signaturePolicy struct {
	env  *cb.SignaturePolicyEnvelope
	msps identityManager
	text string
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
	return &signaturePolicy{env: env, msps: msps, text: FormatPolicy(env)}, nil
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
	ec := newEvalContext(signed)
	return ec.finish(p.evaluate(ec))
}

func (p *signaturePolicy) evaluate(ec *evalContext) error {
	set := ec.identities(p.msps)
	used := make([]bool, len(set.ids))
	ok, reasons := p.match(p.env.Rule, set.ids, used)
	if ok {
		return nil
	}
	return fmt.Errorf("%w: %s: %s", ErrPolicyNotSatisfied, p.text, strings.Join(reasons, "; "))
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
				if principalMSPID(principal) == id.MSPID {
					why = append(why, describeIdentity(id)+" already counted for another principal")
				}
				continue
			}
			err := p.msps.SatisfiesPrincipal(id, principal)
			if err == nil {
				used[i] = true
				return true, nil
			}
			if principalMSPID(principal) == id.MSPID {
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
	ec := newEvalContext(signed)
	return ec.finish(p.evaluate(ec))
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
			err = sp.Evaluate(ec.signed)
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
