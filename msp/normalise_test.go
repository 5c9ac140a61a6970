package msp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"

	"github.com/weft-ledger/weft/protos"
)

// TestFlippedSTwinIsTheSameIdentity: re-encoding a member's certificate with
// its CA's signature s replaced by n−s gives different bytes that still
// validate; the Manager hands out both as one certificate, so policies count
// them once. The same goes for another PEM rendering of the certificate.
func TestFlippedSTwinIsTheSameIdentity(t *testing.T) {
	org := newTestOrg(t, "Org1MSP", "org1.example.com")
	mgr := NewManager(org.msp)
	user := org.issue(t, "User1@org1.example.com", OUClient)
	twinCert := withHighS(t, user.Cert)
	if bytes.Equal(twinCert.Raw, user.Cert.Raw) {
		t.Fatal("test bug: the twin has the same bytes")
	}
	twin := NewIdentity("Org1MSP", twinCert)
	if err := org.msp.Validate(twin); err != nil {
		t.Fatalf("the flipped-S twin does not validate, so this test proves nothing: %v", err)
	}

	// The same DER in PEM lines of 76 characters with CRLF endings.
	b64 := base64.StdEncoding.EncodeToString(user.Cert.Raw)
	var rewrapped strings.Builder
	rewrapped.WriteString("-----BEGIN CERTIFICATE-----\r\n")
	for len(b64) > 76 {
		rewrapped.WriteString(b64[:76] + "\r\n")
		b64 = b64[76:]
	}
	rewrapped.WriteString(b64 + "\r\n-----END CERTIFICATE-----\r\n")
	repem := protos.Marshal(&mspproto.SerializedIdentity{Mspid: "Org1MSP", IdBytes: []byte(rewrapped.String())})
	if bytes.Equal(repem, user.Serialized) {
		t.Fatal("test bug: the PEM variant serializes identically")
	}

	msg := []byte("payload")
	sig := mustSign(t, user, string(msg))
	orig, err := mgr.DeserializeIdentity(user.Serialized)
	if err != nil {
		t.Fatal(err)
	}
	for name, ser := range map[string][]byte{"flipped-S twin": twin.Serialized, "PEM variant": repem} {
		got, err := mgr.DeserializeIdentity(ser)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got.Cert.Raw, orig.Cert.Raw) || got.MSPID != orig.MSPID {
			t.Errorf("%s: Cert.Raw differs from the original's: they would count as two signers", name)
		}
		if !bytes.Equal(got.Serialized, ser) {
			t.Errorf("%s: Serialized is not the bytes given", name)
		}
		if err := got.Verify(msg, sig); err != nil {
			t.Errorf("%s: does not verify the key's signature: %v", name, err)
		}
	}
	// The normalised certificate is the low-S one the CA issued.
	if !bytes.Equal(orig.Cert.Raw, user.Cert.Raw) {
		t.Error("the normalised form of a low-S certificate is not the certificate itself")
	}
}

func TestCheckExpiry(t *testing.T) {
	org := newTestOrg(t, "Org1MSP", "org1.example.com")
	user := org.issue(t, "User1@org1.example.com", OUClient)
	na := user.Cert.NotAfter
	if err := user.CheckExpiry(na); err != nil {
		t.Errorf("at NotAfter itself the certificate is still valid: %v", err)
	}
	if err := user.CheckExpiry(time.Now()); err != nil {
		t.Errorf("now: %v", err)
	}
	err := user.CheckExpiry(na.Add(time.Second))
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("after NotAfter: got %v, want ErrExpired", err)
	}
	for _, want := range []string{"User1@org1.example.com", "Org1MSP", na.UTC().Format(time.RFC3339), "NotAfter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := CheckExpiry(user.Serialized, na.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("CheckExpiry of the serialized identity: %v", err)
	}
	if err := CheckExpiry([]byte("not an identity"), time.Now()); err != nil {
		t.Errorf("an unparsable identity is not this check's business: %v", err)
	}
	// Validation itself never depends on the time.
	if err := org.msp.Validate(user.Identity); err != nil {
		t.Errorf("validate: %v", err)
	}
}
