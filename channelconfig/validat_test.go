package channelconfig

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/msp"
)

// TestSignatureSetValidAt: with ValidAt, a signer whose certificate expired
// before the given time does not count, and the policy error names it and
// its NotAfter; without ValidAt, expiry is not looked at.
func TestSignatureSetValidAt(t *testing.T) {
	n := newUpdateNet(t)
	pol, err := NewSignaturePolicy(MustParsePolicyDSL("OR('Org1MSP.member')"), n.bundle.MSPs())
	if err != nil {
		t.Fatal(err)
	}
	signed := sign(t, []byte("msg"), n.user1)
	notAfter := n.user1.Cert.NotAfter

	set := NewSignatureSet(signed)
	set.ValidAt(notAfter.Add(-time.Hour))
	if err := set.Evaluate(pol); err != nil {
		t.Errorf("before NotAfter: %v", err)
	}

	set = NewSignatureSet(signed)
	set.ValidAt(notAfter.Add(time.Second))
	err = set.Evaluate(pol)
	if !errors.Is(err, ErrPolicyNotSatisfied) || !strings.Contains(err.Error(), msp.ErrExpired.Error()) {
		t.Fatalf("after NotAfter: got %v, want the policy refused for an expired signer", err)
	}
	for _, want := range []string{"User1@org1.example.com", notAfter.UTC().Format(time.RFC3339), "NotAfter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	if err := NewSignatureSet(signed).Evaluate(pol); err != nil {
		t.Errorf("without ValidAt: %v", err)
	}
}
