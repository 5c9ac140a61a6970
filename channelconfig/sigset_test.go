package channelconfig

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// refContext and refEvaluate are the straightforward evaluation the lazy one
// must agree with: deserialize and verify every signature first, then match.
type refContext struct {
	signed   []protos.SignedData
	sets     map[identityManager][]*msp.Identity
	rejected []string
	seenRej  map[string]bool
}

func (ec *refContext) reject(msg string) {
	if !ec.seenRej[msg] {
		ec.seenRej[msg] = true
		ec.rejected = append(ec.rejected, msg)
	}
}

func (ec *refContext) identities(msps identityManager) []*msp.Identity {
	if s, ok := ec.sets[msps]; ok {
		return s
	}
	var ids []*msp.Identity
	seen := map[string]int{}
	for i, sd := range ec.signed {
		id, err := msps.DeserializeIdentity(sd.Identity)
		if err != nil {
			ec.reject(fmt.Sprintf("signature %d from %s: %v", i, describeSerialized(sd.Identity), err))
			continue
		}
		key := id.MSPID + "\x00" + string(id.Cert.Raw)
		if j, ok := seen[key]; ok {
			ec.reject(fmt.Sprintf("signature %d from %s is by the same identity as signature %d and counts once", i, describeIdentity(id), j))
			continue
		}
		if err := id.Verify(sd.Data, sd.Signature); err != nil {
			ec.reject(fmt.Sprintf("signature %d from %s invalid: %v", i, describeIdentity(id), err))
			continue
		}
		seen[key] = i
		ids = append(ids, id)
	}
	ec.sets[msps] = ids
	return ids
}

func refEvaluate(p Policy, signed []protos.SignedData) error {
	ec := &refContext{signed: signed, sets: map[identityManager][]*msp.Identity{}, seenRej: map[string]bool{}}
	err := refEval(p, ec)
	switch {
	case err == nil:
		return nil
	case len(signed) == 0:
		return fmt.Errorf("%w (no signatures were supplied)", err)
	case len(ec.rejected) > 0:
		return fmt.Errorf("%w (rejected: %s)", err, strings.Join(ec.rejected, "; "))
	}
	return err
}

func refEval(p Policy, ec *refContext) error {
	switch t := p.(type) {
	case *signaturePolicy:
		ids := ec.identities(t.msps)
		ok, reasons := t.match(t.env.Rule, ids, make([]bool, len(ids)))
		if ok {
			return nil
		}
		return fmt.Errorf("%w: %s: %s", ErrPolicyNotSatisfied, t.text, strings.Join(reasons, "; "))
	case *implicitMetaPolicy:
		satisfied := 0
		var failures []string
		for _, s := range t.subs {
			var err error
			if s.policy == nil {
				err = fmt.Errorf("%w: no policy %s", ErrPolicyNotFound, s.path)
			} else {
				err = refEval(s.policy, ec)
			}
			if err == nil {
				satisfied++
				if satisfied >= t.threshold {
					return nil
				}
				continue
			}
			failures = append(failures, fmt.Sprintf("%s: %s", s.path, strings.TrimPrefix(err.Error(), ErrPolicyNotSatisfied.Error()+": ")))
		}
		if satisfied >= t.threshold {
			return nil
		}
		return fmt.Errorf("%w: %s (%s): %d of %d sub-policies satisfied, %d required: %s",
			ErrPolicyNotSatisfied, t.path, t, satisfied, len(t.subs), t.threshold, strings.Join(failures, " | "))
	default:
		return p.Evaluate(ec.signed)
	}
}

// signedPool is signed data of the fixture network: two peers' endorsements,
// a client's envelope signature, and broken variants of them.
func signedPool(t *testing.T) map[string]protos.SignedData {
	t.Helper()
	tx := endorserTx(t, "block_000009.pb", 0)
	pool := map[string]protos.SignedData{"creator": tx.Envelope.SignedData()}
	for _, sd := range tx.Endorsements() {
		if strings.Contains(describeSerialized(sd.Identity), "Org1MSP") {
			pool["org1peer"] = sd
		} else {
			pool["org2peer"] = sd
		}
	}
	for _, name := range []string{"creator", "org1peer", "org2peer"} {
		sd := pool[name]
		sig := append([]byte(nil), sd.Signature...)
		sig[len(sig)-1] ^= 0x40
		pool[name+"-badsig"] = protos.SignedData{Data: sd.Data, Identity: sd.Identity, Signature: sig}
	}
	bogus := pool["org1peer"]
	bogus.Identity = []byte("not an identity")
	pool["bogus"] = bogus
	sid := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(pool["org2peer"].Identity, sid); err != nil {
		t.Fatal(err)
	}
	sid.Mspid = "Org9MSP"
	foreign := pool["org2peer"]
	foreign.Identity = protos.Marshal(sid)
	pool["foreign"] = foreign
	return pool
}

func testPolicies(t *testing.T, b *Bundle) map[string]Policy {
	t.Helper()
	out := map[string]Policy{}
	for _, path := range b.PolicyPaths() {
		out[path] = mustPolicy(t, b, path)
	}
	for _, dsl := range []string{
		"AND('Org1MSP.peer','Org2MSP.peer')",
		"OR('Org1MSP.peer','Org2MSP.peer')",
		"OR('Org1MSP.member','Org2MSP.member')",
		"OutOf(2, 'Org1MSP.member', 'Org1MSP.peer', 'Org2MSP.member')",
		"AND(OR('Org1MSP.member','Org2MSP.peer'), 'Org2MSP.member')",
		"OR(AND('Org1MSP.peer','Org1MSP.client'), AND('Org2MSP.peer', OR('Org1MSP.member','Org2MSP.admin')))",
		"OutOf(0, 'Org1MSP.peer')",
	} {
		p, err := NewSignaturePolicy(MustParsePolicyDSL(dsl), b.MSPs())
		if err != nil {
			t.Fatal(err)
		}
		out[dsl] = p
	}
	return out
}

// TestLazyEvaluationAgreesWithEager compares verdicts and error messages with
// the eager evaluation over random sets of good, broken, repeated and foreign
// signatures, for every policy of the fixture channel and nested signature
// policies.
func TestLazyEvaluationAgreesWithEager(t *testing.T) {
	b := genesisBundle(t)
	pool := signedPool(t)
	names := make([]string, 0, len(pool))
	for n := range pool {
		names = append(names, n)
	}
	policies := testPolicies(t, b)
	rng := rand.New(rand.NewPCG(1, 2))
	passed, failed := 0, 0
	for round := range 80 {
		var picked []string
		var signed []protos.SignedData
		for range rng.IntN(5) {
			n := names[rng.IntN(len(names))]
			picked = append(picked, n)
			signed = append(signed, pool[n])
		}
		for name, p := range policies {
			want := refEvaluate(p, signed)
			got := p.Evaluate(signed)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("round %d, policy %s, signatures %v:\n got %v\nwant %v", round, name, picked, got, want)
			}
			if got != nil && !errors.Is(got, ErrPolicyNotSatisfied) {
				t.Fatalf("policy %s: error does not wrap ErrPolicyNotSatisfied: %v", name, got)
			}
			if got == nil {
				passed++
			} else {
				failed++
			}
		}
	}
	if passed == 0 || failed == 0 {
		t.Fatalf("the random sets exercised only one outcome (%d passed, %d failed)", passed, failed)
	}
}

// countVerifies makes s count the signature verifications it performs.
func countVerifies(s *SignatureSet) *int {
	n := new(int)
	s.verifyFn = func(id *msp.Identity, data, sig []byte) error {
		*n++
		return id.Verify(data, sig)
	}
	return n
}

func TestSignatureSetVerifiesEachSignatureOnce(t *testing.T) {
	b := genesisBundle(t)
	pool := signedPool(t)
	signed := []protos.SignedData{pool["org1peer"], pool["org2peer"]}
	set := NewSignatureSet(signed)
	n := countVerifies(set)
	for _, path := range []string{"/Channel/Application/Endorsement", "/Channel/Application/LifecycleEndorsement",
		"/Channel/Application/Org1MSP/Endorsement", "/Channel/Application/Org2MSP/Endorsement"} {
		if err := set.Evaluate(mustPolicy(t, b, path)); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if *n != 2 {
		t.Fatalf("%d verifications for 2 signatures over 4 policies, want 2", *n)
	}
	// A signer that can match no principal is not verified; the root gate of
	// OR stops at the first satisfied branch.
	for dsl, want := range map[string]int{"OR('Org2MSP.peer')": 1, "OR('Org1MSP.peer','Org2MSP.peer')": 1, "AND('Org1MSP.peer','Org2MSP.peer')": 2} {
		p, err := NewSignaturePolicy(MustParsePolicyDSL(dsl), b.MSPs())
		if err != nil {
			t.Fatal(err)
		}
		set := NewSignatureSet(signed)
		n := countVerifies(set)
		if err := set.Evaluate(p); err != nil {
			t.Fatalf("%s: %v", dsl, err)
		}
		if *n != want {
			t.Errorf("%s: %d verifications, want %d", dsl, *n, want)
		}
	}
}

func TestSignatureSetMarkVerified(t *testing.T) {
	b := genesisBundle(t)
	pool := signedPool(t)
	writers := mustPolicy(t, b, "/Channel/Application/Writers")
	bad := []protos.SignedData{pool["creator-badsig"]}
	if err := writers.Evaluate(bad); err == nil {
		t.Fatal("a bad creator signature satisfied Writers")
	}
	// The caller vouches for signature 0: it is not verified again (this one
	// is bad, which shows it was not), but the signer must still qualify.
	set := NewSignatureSet(bad)
	set.MarkVerified(0)
	set.MarkVerified(7) // out of range: ignored
	n := countVerifies(set)
	if err := set.Evaluate(writers); err != nil {
		t.Fatalf("pre-verified creator: %v", err)
	}
	if *n != 0 {
		t.Fatalf("%d verifications of a pre-verified signature", *n)
	}
	peers := NewSignatureSet([]protos.SignedData{pool["org1peer"]})
	peers.MarkVerified(0)
	if err := peers.Evaluate(writers); !errors.Is(err, ErrPolicyNotSatisfied) {
		t.Fatalf("a pre-verified peer satisfied Writers: %v", err)
	}
	// Policies of other packages get the signed data.
	if err := NewSignatureSet(bad).Evaluate(fakePolicy("x")); !errors.Is(err, ErrPolicyNotSatisfied) {
		t.Fatalf("foreign policy: %v", err)
	}
}

// BenchmarkEvaluateMajorityEndorsement is what a committing peer pays for the
// default endorsement policy of a two-organisation channel: MAJORITY
// Endorsement over two peer endorsements.
func BenchmarkEvaluateMajorityEndorsement(b *testing.B) {
	t := &testing.T{}
	bundle := genesisBundle(t)
	pool := signedPool(t)
	if t.Failed() {
		b.Fatal("fixtures")
	}
	p := mustPolicy(t, bundle, "/Channel/Application/Endorsement")
	signed := []protos.SignedData{pool["org1peer"], pool["org2peer"]}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Evaluate(signed); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateWritersPreverified is the endorser's ACL check of a
// proposal whose signature it has already verified.
func BenchmarkEvaluateWritersPreverified(b *testing.B) {
	t := &testing.T{}
	bundle := genesisBundle(t)
	pool := signedPool(t)
	p := mustPolicy(t, bundle, "/Channel/Application/Writers")
	signed := []protos.SignedData{pool["creator"]}
	b.ReportAllocs()
	for b.Loop() {
		set := NewSignatureSet(signed)
		set.MarkVerified(0)
		if err := set.Evaluate(p); err != nil {
			b.Fatal(err)
		}
	}
}
