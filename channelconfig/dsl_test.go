package channelconfig

import (
	"fmt"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
)

// shape renders a policy with its principal indexes: "2[#0 #1] Org1MSP.peer Org2MSP.peer".
func shape(env *cb.SignaturePolicyEnvelope) string {
	var rule func(r *cb.SignaturePolicy) string
	rule = func(r *cb.SignaturePolicy) string {
		switch t := r.Type.(type) {
		case *cb.SignaturePolicy_SignedBy:
			return fmt.Sprintf("#%d", t.SignedBy)
		case *cb.SignaturePolicy_NOutOf_:
			var parts []string
			for _, s := range t.NOutOf.Rules {
				parts = append(parts, rule(s))
			}
			return fmt.Sprintf("%d[%s]", t.NOutOf.N, strings.Join(parts, " "))
		}
		return "?"
	}
	out := []string{rule(env.Rule)}
	for _, p := range env.Identities {
		out = append(out, principalName(p))
	}
	return strings.Join(out, " ")
}

func TestParsePolicyDSL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"AND('Org1MSP.peer','Org2MSP.peer')", "2[#0 #1] Org1MSP.peer Org2MSP.peer"},
		{"OR('Org1MSP.admin', 'Org1MSP.peer', 'Org1MSP.client')", "1[#0 #1 #2] Org1MSP.admin Org1MSP.peer Org1MSP.client"},
		{"OR('OrdererMSP.member')", "1[#0] OrdererMSP.member"},
		{`and("A.orderer", 'B.member')`, "2[#0 #1] A.orderer B.member"},
		{"Or('A.peer')", "1[#0] A.peer"},
		{"OUTOF(2, 'A.peer', 'B.peer', 'C.peer')", "2[#0 #1 #2] A.peer B.peer C.peer"},
		{"OutOf('2', 'A.peer', 'B.peer')", "2[#0 #1] A.peer B.peer"},
		{"outof(2, 'A.peer')", "2[#0] A.peer"}, // Fabric allows n+1 (never satisfiable)
		{"OutOf(0, 'A.peer')", "0[#0] A.peer"},
		// Nested gates number their principals before the enclosing gate's own.
		{"AND('A.peer', OR('B.peer', 'C.peer'))", "2[#2 1[#0 #1]] B.peer C.peer A.peer"},
		{"OR(AND('A.peer','B.peer'), AND('C.peer', OR('D.peer','E.peer')))", "1[2[#0 #1] 2[#4 1[#2 #3]]] A.peer B.peer D.peer E.peer C.peer"},
		{"OutOf(1, 'A.member', AND('B.admin', 'C.client'))", "1[#2 2[#0 #1]] B.admin C.client A.member"},
		// Same principal twice: two entries, as Fabric does.
		{"AND('A.peer', 'A.peer')", "2[#0 #1] A.peer A.peer"},
		// The MSP ID is greedy and may contain dots and dashes.
		{"AND('org-1.example.MSP.peer')", "1[#0] org-1.example.MSP.peer"},
		{"  AND ( 'A.peer' ,\n'B.peer' )  ", "2[#0 #1] A.peer B.peer"},
	}
	for _, c := range cases {
		env, err := ParsePolicyDSL(c.in)
		if err != nil {
			t.Errorf("ParsePolicyDSL(%q): %v", c.in, err)
			continue
		}
		if got := shape(env); got != c.want {
			t.Errorf("ParsePolicyDSL(%q) = %s, want %s", c.in, got, c.want)
		}
		if env.Version != 0 {
			t.Errorf("version = %d", env.Version)
		}
		// FormatPolicy output parses back to the same policy.
		again, err := ParsePolicyDSL(FormatPolicy(env))
		if err != nil || shape(again) != shape(env) {
			t.Errorf("FormatPolicy round trip of %q: %q, %v", c.in, FormatPolicy(env), err)
		}
	}
}

func TestParsePolicyDSLErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "must start with"},
		{"'A.peer'", "must start with"},
		{"AND", "want ( after and"},
		{"AND()", "needs at least one"},
		{"AND('A.peer',)", "unexpected )"},
		{"XOR('A.peer')", `unknown gate "XOR"`},
		{"AND('A.boss')", "bad principal 'A.boss'"},
		{"AND('Apeer')", "bad principal"},
		{"AND('A.peer'", "want , or ) got end of input"},
		{"AND('A.peer'))", "after the policy"},
		{"AND('A.peer') OR('B.peer')", "after the policy"},
		{"OutOf(a, 'A.peer')", "OutOf needs a number first"},
		{"OutOf(3, 'A.peer')", "invalid OutOf(3"},
		{"OutOf(2)", "needs at least one principal"},
		{"AND('A.peer' 'B.peer')", "want , or )"},
		{"AND('A.peer)", "unterminated string"},
		{"AND(A.peer)", `unknown gate "A"`},
		{"AND('A.peer'; 'B.peer')", "want , or )"},
		{"AND(7)", "want a quoted principal or a gate"},
	}
	for _, c := range cases {
		_, err := ParsePolicyDSL(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParsePolicyDSL(%q) error = %v, want it to contain %q", c.in, err, c.want)
		}
	}
}

func FuzzParsePolicyDSL(f *testing.F) {
	for _, s := range []string{"AND('A.peer','B.peer')", "OutOf(1, 'A.member', OR('B.admin'))", "OR(", "AND('x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		env, err := ParsePolicyDSL(in)
		if err != nil {
			return
		}
		again, err := ParsePolicyDSL(FormatPolicy(env))
		if err != nil {
			t.Fatalf("FormatPolicy(%q) = %q does not parse: %v", in, FormatPolicy(env), err)
		}
		if shape(again) != shape(env) {
			t.Fatalf("round trip of %q: %s != %s", in, shape(again), shape(env))
		}
	})
}
