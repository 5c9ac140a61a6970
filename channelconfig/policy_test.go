package channelconfig

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

var (
	fixtureBundleOnce sync.Once
	fixtureBundle     *Bundle
	fixtureBundleErr  error
)

func genesisBundle(t *testing.T) *Bundle {
	t.Helper()
	b := readBlock(t, filepath.Join(fixtureDir, "blocks/block_000000.pb"))
	fixtureBundleOnce.Do(func() { fixtureBundle, fixtureBundleErr = BundleFromBlock(b) })
	if fixtureBundleErr != nil {
		t.Fatal(fixtureBundleErr)
	}
	return fixtureBundle
}

// endorserTx returns the i-th transaction of a fixture block.
func endorserTx(t *testing.T, block string, i int) *protos.EndorserTx {
	t.Helper()
	b := readBlock(t, filepath.Join(fixtureDir, "blocks", block))
	if i >= len(b.Data.Data) {
		t.Fatalf("%s has %d txs", block, len(b.Data.Data))
	}
	env, err := protos.UnmarshalEnvelope(b.Data.Data[i])
	if err != nil {
		t.Fatal(err)
	}
	tx, err := protos.ParseEndorserTx(env)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func mustPolicy(t *testing.T, b *Bundle, path string) Policy {
	t.Helper()
	p, err := b.Policy(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEndorsementPoliciesOnFixtureTxs(t *testing.T) {
	b := genesisBundle(t)
	and, err := NewSignaturePolicy(MustParsePolicyDSL("AND('Org1MSP.peer','Org2MSP.peer')"), b.MSPs())
	if err != nil {
		t.Fatal(err)
	}
	channelEndorsement := mustPolicy(t, b, "/Channel/Application/Endorsement")
	lifecycle := mustPolicy(t, b, "/Channel/Application/LifecycleEndorsement")

	good := endorserTx(t, "block_000009.pb", 0)
	if n := len(good.Endorsements()); n != 2 {
		t.Fatalf("block 9 tx 0 has %d endorsements", n)
	}
	for name, p := range map[string]Policy{"AND": and, "Endorsement": channelEndorsement, "LifecycleEndorsement": lifecycle} {
		if err := p.Evaluate(good.Endorsements()); err != nil {
			t.Errorf("%s on block 9 tx 0: %v", name, err)
		}
	}
	// The last transaction of the block too.
	blk := readBlock(t, filepath.Join(fixtureDir, "blocks/block_000009.pb"))
	last := endorserTx(t, "block_000009.pb", len(blk.Data.Data)-1)
	if err := and.Evaluate(last.Endorsements()); err != nil {
		t.Errorf("AND on block 9 last tx: %v", err)
	}

	bad := endorserTx(t, "block_000171.pb", 0)
	if n := len(bad.Endorsements()); n != 1 {
		t.Fatalf("block 171 tx has %d endorsements", n)
	}
	for name, p := range map[string]Policy{"AND": and, "Endorsement": channelEndorsement} {
		err := p.Evaluate(bad.Endorsements())
		if err == nil {
			t.Fatalf("%s accepted a single Org1 endorsement", name)
		}
		if !errors.Is(err, ErrPolicyNotSatisfied) || !strings.Contains(err.Error(), "Org2MSP") {
			t.Errorf("%s error = %v; want ErrPolicyNotSatisfied naming Org2MSP", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if err := and.Evaluate(bad.Endorsements()); !strings.Contains(err.Error(), "no signature from a member of Org2MSP with role PEER") {
		t.Errorf("AND error does not name the missing principal: %v", err)
	}
	// One Org1 endorsement is enough for Org1's own Endorsement policy.
	if err := mustPolicy(t, b, "/Channel/Application/Org1MSP/Endorsement").Evaluate(bad.Endorsements()); err != nil {
		t.Errorf("Org1MSP/Endorsement: %v", err)
	}
}

func TestCreatorSatisfiesWriters(t *testing.T) {
	b := genesisBundle(t)
	tx := endorserTx(t, "block_000009.pb", 0)
	creator := []protos.SignedData{tx.Envelope.SignedData()}
	if err := mustPolicy(t, b, "/Channel/Application/Writers").Evaluate(creator); err != nil {
		t.Fatalf("creator not a writer: %v", err)
	}
	if err := mustPolicy(t, b, "/Channel/Writers").Evaluate(creator); err != nil {
		t.Fatalf("creator not a channel writer: %v", err)
	}
	// A client is not an orderer, and not an admin of its org.
	if err := mustPolicy(t, b, "/Channel/Orderer/Writers").Evaluate(creator); err == nil {
		t.Error("client creator satisfied /Channel/Orderer/Writers")
	}
	if err := mustPolicy(t, b, "/Channel/Application/Admins").Evaluate(creator); err == nil {
		t.Error("client creator satisfied /Channel/Application/Admins")
	}
	// Endorsers are peers, which Writers does not admit.
	if err := mustPolicy(t, b, "/Channel/Application/Writers").Evaluate(tx.Endorsements()); err == nil {
		t.Error("peer endorsements satisfied /Channel/Application/Writers")
	}
}

func TestTamperedSignaturesFail(t *testing.T) {
	b := genesisBundle(t)
	tx := endorserTx(t, "block_000009.pb", 0)
	writers := mustPolicy(t, b, "/Channel/Application/Writers")

	sd := tx.Envelope.SignedData()
	data := append([]byte(nil), sd.Data...)
	data[len(data)/2] ^= 1
	err := writers.Evaluate([]protos.SignedData{{Data: data, Identity: sd.Identity, Signature: sd.Signature}})
	if err == nil || !strings.Contains(err.Error(), "invalid") || !strings.Contains(err.Error(), "Org1MSP") {
		t.Fatalf("tampered payload: %v", err)
	}
	t.Logf("tampered creator: %v", err)

	ends := tx.Endorsements()
	sig := append([]byte(nil), ends[1].Signature...)
	sig[len(sig)-1] ^= 0x40
	ends[1].Signature = sig
	and, err := NewSignaturePolicy(MustParsePolicyDSL("AND('Org1MSP.peer','Org2MSP.peer')"), b.MSPs())
	if err != nil {
		t.Fatal(err)
	}
	err = and.Evaluate(ends)
	if err == nil {
		t.Fatal("tampered endorsement accepted")
	}
	t.Logf("tampered endorsement: %v", err)
}

func TestSignaturesAreCountedOnce(t *testing.T) {
	b := genesisBundle(t)
	good := endorserTx(t, "block_000009.pb", 0).Endorsements()
	var org1 protos.SignedData
	found := false
	for _, sd := range good {
		if strings.Contains(describeSerialized(sd.Identity), "Org1MSP") {
			org1, found = sd, true
		}
	}
	if !found {
		t.Fatal("no Org1 endorsement")
	}
	twoOrg1, err := NewSignaturePolicy(MustParsePolicyDSL("OutOf(2, 'Org1MSP.peer', 'Org1MSP.member')"), b.MSPs())
	if err != nil {
		t.Fatal(err)
	}
	// The same signer twice is one identity: it satisfies one principal only.
	if err := twoOrg1.Evaluate([]protos.SignedData{org1, org1}); err == nil {
		t.Fatal("one identity satisfied two principals")
	} else if !strings.Contains(err.Error(), "already counted") {
		t.Errorf("error should explain the identity was already used: %v", err)
	}
	one, err := NewSignaturePolicy(MustParsePolicyDSL("OR('Org1MSP.peer', 'Org1MSP.member')"), b.MSPs())
	if err != nil {
		t.Fatal(err)
	}
	if err := one.Evaluate([]protos.SignedData{org1, org1}); err != nil {
		t.Fatal(err)
	}
	// No signatures at all.
	if err := one.Evaluate(nil); err == nil || !strings.Contains(err.Error(), "no signatures") {
		t.Errorf("empty set: %v", err)
	}
	// An identity from an MSP outside the channel is skipped and reported.
	bogus := org1
	bogus.Identity = []byte("not an identity")
	if err := one.Evaluate([]protos.SignedData{bogus}); err == nil || !strings.Contains(err.Error(), "undecodable identity") {
		t.Errorf("bogus identity: %v", err)
	}
	sid := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(org1.Identity, sid); err != nil {
		t.Fatal(err)
	}
	sid.Mspid = "Org9MSP"
	foreign := org1
	foreign.Identity = protos.Marshal(sid)
	if err := one.Evaluate([]protos.SignedData{foreign}); err == nil || !strings.Contains(err.Error(), "signature 0 from Org9MSP peer0.org1.example.com") {
		t.Errorf("foreign identity: %v", err)
	}
}

func TestNewSignaturePolicyChecksIndexes(t *testing.T) {
	b := genesisBundle(t)
	env := &cb.SignaturePolicyEnvelope{Rule: NOutOf(1, []*cb.SignaturePolicy{SignedBy(3)})}
	if _, err := NewSignaturePolicy(env, b.MSPs()); err == nil {
		t.Fatal("accepted a rule naming a missing principal")
	}
	if _, err := NewSignaturePolicy(&cb.SignaturePolicyEnvelope{}, b.MSPs()); err == nil {
		t.Fatal("accepted an empty policy")
	}
}

// fakePolicy passes when its name is among the signers' "identities".
type fakePolicy string

func (f fakePolicy) Evaluate(signed []protos.SignedData) error {
	for _, s := range signed {
		if string(s.Identity) == string(f) {
			return nil
		}
	}
	return errors.Join(ErrPolicyNotSatisfied, errors.New("no signature from "+string(f)))
}

func TestImplicitMetaRules(t *testing.T) {
	sign := func(names ...string) []protos.SignedData {
		var out []protos.SignedData
		for _, n := range names {
			out = append(out, protos.SignedData{Identity: []byte(n)})
		}
		return out
	}
	three := []namedPolicy{
		{"/Channel/Application/A/Admins", fakePolicy("A")},
		{"/Channel/Application/B/Admins", fakePolicy("B")},
		{"/Channel/Application/C/Admins", fakePolicy("C")},
	}
	withMissing := []namedPolicy{three[0], {"/Channel/Application/D/Admins", nil}}
	cases := []struct {
		rule    string
		subs    []namedPolicy
		signers []string
		ok      bool
	}{
		{"ANY Admins", three, []string{"B"}, true},
		{"ANY Admins", three, nil, false},
		{"ALL Admins", three, []string{"A", "B", "C"}, true},
		{"ALL Admins", three, []string{"A", "C"}, false},
		{"MAJORITY Admins", three, []string{"A", "C"}, true},
		{"MAJORITY Admins", three, []string{"C"}, false},
		{"MAJORITY Admins", three[:2], []string{"A"}, false}, // 2/2+1 = 2
		{"MAJORITY Admins", three[:2], []string{"A", "B"}, true},
		{"ALL Admins", withMissing, []string{"A", "D"}, false}, // missing sub-policy never passes
		{"ANY Admins", withMissing, []string{"A"}, true},
		{"ANY Admins", nil, nil, true}, // no sub-groups: nothing required (as Fabric)
		{"ALL Admins", nil, nil, true},
		{"MAJORITY Admins", nil, nil, true},
	}
	for _, c := range cases {
		imp, err := ParseImplicitMetaRule(c.rule)
		if err != nil {
			t.Fatal(err)
		}
		p := newImplicitMetaPolicy("/Channel/Application/Admins", imp, c.subs)
		err = p.Evaluate(sign(c.signers...))
		if (err == nil) != c.ok {
			t.Errorf("%s over %d groups signed by %v: err = %v, want ok=%v", c.rule, len(c.subs), c.signers, err, c.ok)
		}
		if err != nil {
			if !errors.Is(err, ErrPolicyNotSatisfied) || !strings.Contains(err.Error(), "/Channel/Application/") {
				t.Errorf("error does not name sub-policies: %v", err)
			}
		}
	}
	for _, bad := range []string{"SOME Admins", "ANY", "ANY Admins Extra", ""} {
		if _, err := ParseImplicitMetaRule(bad); err == nil {
			t.Errorf("ParseImplicitMetaRule(%q) succeeded", bad)
		}
	}
	if imp, err := ParseImplicitMetaRule("majority Endorsement"); err != nil || imp.Rule != cb.ImplicitMetaPolicy_MAJORITY || imp.SubPolicy != "Endorsement" {
		t.Errorf("lower-case rule: %v %v", imp, err)
	}
}
