package msp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"testing"
)

// checkCanonicalAgrees fails unless parseCanonicalECDSASignature decodes raw
// exactly as encoding/asn1 does whenever it accepts it.
func checkCanonicalAgrees(t *testing.T, raw []byte) bool {
	t.Helper()
	r, s, ok := parseCanonicalECDSASignature(raw)
	if !ok {
		return false
	}
	var sig ecdsaSignature
	if _, err := asn1.Unmarshal(raw, &sig); err != nil {
		t.Fatalf("fast parse accepts %x, encoding/asn1 refuses it: %v", raw, err)
	}
	if sig.R.Cmp(r) != 0 || sig.S.Cmp(s) != 0 {
		t.Fatalf("fast parse of %x gives r=%v s=%v, encoding/asn1 r=%v s=%v", raw, r, s, sig.R, sig.S)
	}
	return true
}

// The fast decoding of ECDSA signatures takes every real signature and never
// accepts what encoding/asn1 (Fabric's rule) refuses or reads differently:
// real signatures, each byte changed, truncated, with bytes after the
// SEQUENCE, with a third element, with non-minimal lengths and integers.
func TestCanonicalECDSASignatureAgreesWithASN1(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		digest := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		if !checkCanonicalAgrees(t, sig) {
			t.Fatalf("fast parse refuses the real signature %x", sig)
		}
		checkCanonicalAgrees(t, append(append([]byte{}, sig...), 0, 1, 2)) // bytes after the SEQUENCE
		for n := range len(sig) {
			checkCanonicalAgrees(t, sig[:n])
			for _, x := range []byte{0x00, 0x01, 0x7f, 0x80, 0x81, 0xff} {
				m := append([]byte{}, sig...)
				m[n] ^= x | 1
				checkCanonicalAgrees(t, m)
			}
		}
		third := append([]byte{0x30, sig[1] + 3}, sig[2:]...)
		third = append(third, 0x02, 0x01, 0x01)
		if checkCanonicalAgrees(t, third) {
			t.Fatalf("fast parse accepts a SEQUENCE of three elements %x", third)
		}
		long := append([]byte{0x30, 0x81, sig[1]}, sig[2:]...) // non-minimal length
		if checkCanonicalAgrees(t, long) {
			t.Fatalf("fast parse accepts a non-minimal length %x", long)
		}
	}
	for _, raw := range [][]byte{
		{0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01},             // r = 0
		{0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01},       // r with a needless leading zero
		{0x30, 0x06, 0x02, 0x01, 0xff, 0x02, 0x01, 0x01},             // r negative
		{0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01},                   // r empty
		{0x30, 0x80, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00, 0x00}, // indefinite length
		{0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},             // SET
	} {
		if checkCanonicalAgrees(t, raw) {
			t.Errorf("fast parse accepts %x", raw)
		}
	}
	if !checkCanonicalAgrees(t, []byte{0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01}) {
		t.Error("fast parse refuses r = 128, which needs its leading zero")
	}
}

func FuzzCanonicalECDSASignature(f *testing.F) {
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Add([]byte{0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkCanonicalAgrees(t, raw)
	})
}

func BenchmarkUnmarshalECDSASignature(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("m"))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := unmarshalECDSASignature(sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	si := &SigningIdentity{Key: key}
	msg := make([]byte, 300)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := si.Sign(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// marshalECDSASignature writes the bytes encoding/asn1 writes for every
// (r, s): small, large, with and without the top bit set, zero.
func TestMarshalECDSASignatureMatchesASN1(t *testing.T) {
	t.Parallel()
	values := []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(127), big.NewInt(128), big.NewInt(255), big.NewInt(256)}
	n := elliptic.P384().Params().N
	for i := 0; i < 200; i++ {
		v, err := rand.Int(rand.Reader, n)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, v, new(big.Int).Rsh(v, uint(i%64)))
	}
	values = append(values, new(big.Int).Sub(n, big.NewInt(1)), new(big.Int).Lsh(big.NewInt(1), 383))
	for i, r := range values {
		s := values[(i*7+3)%len(values)]
		got, err := marshalECDSASignature(r, s)
		if err != nil {
			t.Fatal(err)
		}
		want, err := asn1.Marshal(ecdsaSignature{R: r, S: s})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("r=%x s=%x: got %x, encoding/asn1 writes %x", r, s, got, want)
		}
	}
}

// Verify reaches the same verdict through VerifyASN1 (exact DER) and through
// ecdsa.Verify (anything else encoding/asn1 accepts): a good signature, the
// same with a byte appended (accepted, as encoding/asn1 ignores what follows
// the SEQUENCE), with a long-form length (not canonical), and a wrong one.
func TestVerifyExactAndOtherDER(t *testing.T) {
	t.Parallel()
	org := newTestOrg(t, "Org1MSP", "org1.example.com")
	si := org.issue(t, "User1@org1.example.com", OUClient)
	msg := []byte("message")
	sig, err := si.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !exactDER(sig) {
		t.Fatalf("Sign wrote %x, not exact canonical DER", sig)
	}
	longForm := append([]byte{0x30, 0x81, sig[1]}, sig[2:]...)
	for _, c := range []struct {
		name  string
		sig   []byte
		exact bool
		ok    bool
	}{
		{"exact", sig, true, true},
		{"trailing byte", append(bytes.Clone(sig), 0), false, true},
		{"long-form length", longForm, false, false},
		{"other message", sig, true, false},
	} {
		m := msg
		if c.name == "other message" {
			m = []byte("other")
		}
		if got := exactDER(c.sig); got != c.exact {
			t.Errorf("%s: exactDER = %v, want %v", c.name, got, c.exact)
		}
		err := si.Verify(m, c.sig)
		if (err == nil) != c.ok {
			t.Errorf("%s: Verify = %v, want ok=%v", c.name, err, c.ok)
		}
		// The verdict before: decode as encoding/asn1 does, then ecdsa.Verify.
		var old bool
		if r, s, err := unmarshalECDSASignature(c.sig); err == nil && isLowS(elliptic.P256(), s) {
			d := sha256.Sum256(m)
			old = ecdsa.Verify(si.Key.Public().(*ecdsa.PublicKey), d[:], r, s)
		}
		if old != (err == nil) {
			t.Errorf("%s: verdict %v, before this change %v", c.name, err == nil, old)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	org := newTestOrg(b, "Org1MSP", "org1.example.com")
	si := org.issue(b, "User1@org1.example.com", OUClient)
	msg := make([]byte, 300)
	sig, err := si.Sign(msg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := si.Verify(msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzVerifyVerdict: Verify's verdict on any signature bytes is the one of
// decoding them as encoding/asn1 does and calling ecdsa.Verify.
func FuzzVerifyVerdict(f *testing.F) {
	org := newTestOrg(f, "Org1MSP", "org1.example.com")
	si := org.issue(f, "User1@org1.example.com", OUClient)
	msg := []byte("message")
	for range 4 {
		sig, err := si.Sign(msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sig)
		f.Add(append(sig, 0))
	}
	pub := si.Key.Public().(*ecdsa.PublicKey)
	d := sha256.Sum256(msg)
	f.Fuzz(func(t *testing.T, sig []byte) {
		var old bool
		if r, s, err := unmarshalECDSASignature(sig); err == nil && isLowS(elliptic.P256(), s) {
			old = ecdsa.Verify(pub, d[:], r, s)
		}
		if err := si.Verify(msg, sig); (err == nil) != old {
			t.Fatalf("signature %x: Verify = %v, decoding + ecdsa.Verify says %v", sig, err, old)
		}
	})
}

// exactDER reports whether sig takes Verify's VerifyASN1 path: a whole
// canonical DER SEQUENCE{r, s}.
func exactDER(sig []byte) bool {
	_, _, ok := parseCanonicalECDSASignature(sig)
	return ok && wholeDER(sig)
}
