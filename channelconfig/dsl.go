package channelconfig

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// principalRe matches 'MSPID.role' exactly as Fabric's policy language does
// (the MSP ID is greedy, so "a.b.peer" is MSP "a.b", role peer).
var principalRe = regexp.MustCompile(`^([[:alnum:].-]+)([.])(admin|member|client|peer|orderer)$`)

var roleByName = map[string]mspproto.MSPRole_MSPRoleType{
	"member":  mspproto.MSPRole_MEMBER,
	"admin":   mspproto.MSPRole_ADMIN,
	"client":  mspproto.MSPRole_CLIENT,
	"peer":    mspproto.MSPRole_PEER,
	"orderer": mspproto.MSPRole_ORDERER,
}

// ParsePolicyDSL compiles Fabric's signature-policy language:
//
//	AND('Org1MSP.peer', 'Org2MSP.peer')
//	OR('Org1MSP.member', AND('Org2MSP.admin', 'Org3MSP.client'))
//	OutOf(2, 'Org1MSP.peer', 'Org2MSP.peer', 'Org3MSP.peer')
//
// Gate names are accepted as And/and/AND, Or/or/OR, OutOf/outof/OUTOF;
// principals are quoted 'MSPID.role' with role member, admin, client, peer or
// orderer. The output is byte-for-byte what Fabric produces: one principal per
// occurrence (no de-duplication), numbered with a gate's nested gates first
// and then its own principals, in order.
func ParsePolicyDSL(expr string) (*cb.SignaturePolicyEnvelope, error) {
	p := &dslParser{src: expr}
	p.next()
	if p.tok.kind != tokIdent {
		return nil, p.errorf("policy must start with AND(, OR( or OutOf(")
	}
	n, err := p.parseGate()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf("unexpected %s after the policy", p.tok)
	}
	b := &dslBuilder{}
	rule, err := b.build(n)
	if err != nil {
		return nil, fmt.Errorf("policy %q: %w", expr, err)
	}
	return &cb.SignaturePolicyEnvelope{Version: 0, Rule: rule, Identities: b.principals}, nil
}

// MustParsePolicyDSL is ParsePolicyDSL for constant policies in code and tests.
func MustParsePolicyDSL(expr string) *cb.SignaturePolicyEnvelope {
	env, err := ParsePolicyDSL(expr)
	if err != nil {
		panic(err)
	}
	return env
}

type dslNode struct {
	gate      string // "and", "or", "outof"; "" for a principal
	n         int    // threshold for outof
	principal string // for leaves
	args      []*dslNode
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokLParen
	tokRParen
	tokComma
	tokBad
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of input"
	case tokString:
		return fmt.Sprintf("'%s'", t.text)
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

type dslParser struct {
	src string
	pos int
	tok token
}

func (p *dslParser) errorf(format string, args ...any) error {
	return fmt.Errorf("policy %q at offset %d: %s", p.src, p.tok.pos, fmt.Sprintf(format, args...))
}

func (p *dslParser) next() {
	for p.pos < len(p.src) && strings.ContainsRune(" \t\r\n", rune(p.src[p.pos])) {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = token{kind: tokEOF, pos: start}
		return
	}
	c := p.src[p.pos]
	switch {
	case c == '(':
		p.pos++
		p.tok = token{tokLParen, "(", start}
	case c == ')':
		p.pos++
		p.tok = token{tokRParen, ")", start}
	case c == ',':
		p.pos++
		p.tok = token{tokComma, ",", start}
	case c == '\'' || c == '"':
		end := strings.IndexByte(p.src[p.pos+1:], c)
		if end < 0 {
			p.pos = len(p.src)
			p.tok = token{tokBad, "unterminated string", start}
			return
		}
		p.tok = token{tokString, p.src[p.pos+1 : p.pos+1+end], start}
		p.pos += end + 2
	case c >= '0' && c <= '9':
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		p.tok = token{tokNumber, p.src[start:p.pos], start}
	case isIdentByte(c):
		for p.pos < len(p.src) && (isIdentByte(p.src[p.pos]) || (p.src[p.pos] >= '0' && p.src[p.pos] <= '9')) {
			p.pos++
		}
		p.tok = token{tokIdent, p.src[start:p.pos], start}
	default:
		p.pos++
		p.tok = token{tokBad, string(c), start}
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func gateName(ident string) string {
	switch ident {
	case "AND", "And", "and":
		return "and"
	case "OR", "Or", "or":
		return "or"
	case "OutOf", "OUTOF", "outof":
		return "outof"
	}
	return ""
}

// parseGate parses IDENT '(' args ')' with p.tok at IDENT.
func (p *dslParser) parseGate() (*dslNode, error) {
	g := gateName(p.tok.text)
	if g == "" {
		return nil, p.errorf("unknown gate %q (want AND, OR or OutOf)", p.tok.text)
	}
	p.next()
	if p.tok.kind != tokLParen {
		return nil, p.errorf("want ( after %s, got %s", g, p.tok)
	}
	p.next()
	node := &dslNode{gate: g}
	if g == "outof" {
		switch p.tok.kind {
		case tokNumber, tokString:
			n, err := strconv.Atoi(p.tok.text)
			if err != nil {
				return nil, p.errorf("OutOf needs a number first, got %s", p.tok)
			}
			node.n = n
		default:
			return nil, p.errorf("OutOf needs a number first, got %s", p.tok)
		}
		p.next()
		if p.tok.kind != tokComma {
			return nil, p.errorf("OutOf(%d needs at least one principal or gate", node.n)
		}
		p.next()
	}
	for {
		switch p.tok.kind {
		case tokString:
			if !principalRe.MatchString(p.tok.text) {
				return nil, p.errorf("bad principal '%s' (want 'MSPID.role' with role member, admin, client, peer or orderer)", p.tok.text)
			}
			node.args = append(node.args, &dslNode{principal: p.tok.text})
			p.next()
		case tokIdent:
			sub, err := p.parseGate()
			if err != nil {
				return nil, err
			}
			node.args = append(node.args, sub)
		case tokRParen:
			if len(node.args) == 0 {
				return nil, p.errorf("%s() needs at least one principal or gate", g)
			}
			return nil, p.errorf("unexpected )")
		case tokBad:
			return nil, p.errorf("unexpected %s", p.tok.text)
		default:
			return nil, p.errorf("want a quoted principal or a gate, got %s", p.tok)
		}
		switch p.tok.kind {
		case tokComma:
			p.next()
		case tokRParen:
			p.next()
			if g != "outof" {
				node.n = 1
				if g == "and" {
					node.n = len(node.args)
				}
			}
			if node.n < 0 || node.n > len(node.args)+1 {
				return nil, p.errorf("invalid OutOf(%d, ...) over %d arguments", node.n, len(node.args))
			}
			return node, nil
		default:
			return nil, p.errorf("want , or ) got %s", p.tok)
		}
	}
}

type dslBuilder struct {
	principals []*mspproto.MSPPrincipal
}

// build numbers principals the way Fabric's parser does: nested gates are
// evaluated (and their principals numbered) before the gate's own principals.
func (b *dslBuilder) build(n *dslNode) (*cb.SignaturePolicy, error) {
	rules := make([]*cb.SignaturePolicy, len(n.args))
	for i, a := range n.args {
		if a.gate != "" {
			r, err := b.build(a)
			if err != nil {
				return nil, err
			}
			rules[i] = r
		}
	}
	for i, a := range n.args {
		if a.gate != "" {
			continue
		}
		m := principalRe.FindStringSubmatch(a.principal)
		role, err := proto.Marshal(&mspproto.MSPRole{MspIdentifier: m[1], Role: roleByName[m[3]]})
		if err != nil {
			return nil, fmt.Errorf("encode principal %s: %w", a.principal, err)
		}
		b.principals = append(b.principals, &mspproto.MSPPrincipal{
			PrincipalClassification: mspproto.MSPPrincipal_ROLE,
			Principal:               role,
		})
		rules[i] = SignedBy(int32(len(b.principals) - 1))
	}
	return NOutOf(int32(n.n), rules), nil
}

// SignedBy is the rule "signed by principal index i of the envelope".
func SignedBy(i int32) *cb.SignaturePolicy {
	return &cb.SignaturePolicy{Type: &cb.SignaturePolicy_SignedBy{SignedBy: i}}
}

// NOutOf is the rule "at least n of rules".
func NOutOf(n int32, rules []*cb.SignaturePolicy) *cb.SignaturePolicy {
	return &cb.SignaturePolicy{Type: &cb.SignaturePolicy_NOutOf_{NOutOf: &cb.SignaturePolicy_NOutOf{N: n, Rules: rules}}}
}

// FormatPolicy renders a signature policy back in the policy language, for
// messages and logs. Non-role principals are shown as IDENTITY(msp) or OU(msp,ou).
func FormatPolicy(env *cb.SignaturePolicyEnvelope) string {
	if env == nil || env.Rule == nil {
		return "<empty policy>"
	}
	var sb strings.Builder
	formatRule(&sb, env.Rule, env.Identities)
	return sb.String()
}

func formatRule(sb *strings.Builder, r *cb.SignaturePolicy, ids []*mspproto.MSPPrincipal) {
	switch t := r.Type.(type) {
	case *cb.SignaturePolicy_SignedBy:
		if t.SignedBy < 0 || int(t.SignedBy) >= len(ids) {
			fmt.Fprintf(sb, "<principal %d missing>", t.SignedBy)
			return
		}
		sb.WriteString("'" + principalName(ids[t.SignedBy]) + "'")
	case *cb.SignaturePolicy_NOutOf_:
		rules := t.NOutOf.GetRules()
		switch {
		case int(t.NOutOf.N) == len(rules) && len(rules) > 1:
			sb.WriteString("AND(")
		case t.NOutOf.N == 1 && len(rules) > 0:
			sb.WriteString("OR(")
		default:
			fmt.Fprintf(sb, "OutOf(%d, ", t.NOutOf.N)
		}
		for i, sub := range rules {
			if i > 0 {
				sb.WriteString(", ")
			}
			formatRule(sb, sub, ids)
		}
		sb.WriteString(")")
	default:
		sb.WriteString("<unknown rule>")
	}
}

// principalName is the short form of a principal: "Org1MSP.peer" for roles.
func principalName(p *mspproto.MSPPrincipal) string {
	switch p.PrincipalClassification {
	case mspproto.MSPPrincipal_ROLE:
		r := &mspproto.MSPRole{}
		if err := proto.Unmarshal(p.Principal, r); err != nil {
			return "<bad role principal>"
		}
		return r.MspIdentifier + "." + strings.ToLower(r.Role.String())
	case mspproto.MSPPrincipal_ORGANIZATION_UNIT:
		ou := &mspproto.OrganizationUnit{}
		if err := proto.Unmarshal(p.Principal, ou); err != nil {
			return "<bad OU principal>"
		}
		return fmt.Sprintf("OU(%s,%s)", ou.MspIdentifier, ou.OrganizationalUnitIdentifier)
	case mspproto.MSPPrincipal_IDENTITY:
		return "IDENTITY(" + describeSerialized(p.Principal) + ")"
	default:
		return p.PrincipalClassification.String()
	}
}

// principalDescription is the long form used in "no signature from ..." messages.
func principalDescription(p *mspproto.MSPPrincipal) string {
	if p.PrincipalClassification == mspproto.MSPPrincipal_ROLE {
		r := &mspproto.MSPRole{}
		if err := proto.Unmarshal(p.Principal, r); err == nil {
			if r.Role == mspproto.MSPRole_MEMBER {
				return "a member of " + r.MspIdentifier
			}
			return fmt.Sprintf("a member of %s with role %s", r.MspIdentifier, r.Role)
		}
	}
	return principalName(p)
}

// PrincipalMSPID returns the MSP ID a principal (role, organisation unit or
// identity) refers to, or "" when it cannot be decoded.
func PrincipalMSPID(p *mspproto.MSPPrincipal) string {
	switch p.PrincipalClassification {
	case mspproto.MSPPrincipal_ROLE:
		r := &mspproto.MSPRole{}
		if proto.Unmarshal(p.Principal, r) == nil {
			return r.MspIdentifier
		}
	case mspproto.MSPPrincipal_ORGANIZATION_UNIT:
		ou := &mspproto.OrganizationUnit{}
		if proto.Unmarshal(p.Principal, ou) == nil {
			return ou.MspIdentifier
		}
	case mspproto.MSPPrincipal_IDENTITY:
		si := &mspproto.SerializedIdentity{}
		if proto.Unmarshal(p.Principal, si) == nil {
			return si.Mspid
		}
	}
	return ""
}
