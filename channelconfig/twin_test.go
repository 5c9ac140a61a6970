package channelconfig

import (
	"bytes"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// flippedSTwin is s with its certificate re-encoded so that the CA's ECDSA
// signature (r, s) becomes (r, n−s): different DER that still verifies
// against the CA, with the same key. (internal/testnet has the same helper;
// this package's tests cannot import it, it imports channelconfig.)
func flippedSTwin(t *testing.T, s *msp.SigningIdentity) *msp.SigningIdentity {
	t.Helper()
	var outer struct {
		TBS       asn1.RawValue
		Algorithm asn1.RawValue
		Signature asn1.BitString
	}
	if _, err := asn1.Unmarshal(s.Cert.Raw, &outer); err != nil {
		t.Fatal(err)
	}
	var sig struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(outer.Signature.Bytes, &sig); err != nil {
		t.Fatal(err)
	}
	sig.S = new(big.Int).Sub(elliptic.P256().Params().N, sig.S) // the CAs are P-256
	raw, err := asn1.Marshal(sig)
	if err != nil {
		t.Fatal(err)
	}
	outer.Signature = asn1.BitString{Bytes: raw, BitLength: 8 * len(raw)}
	der, err := asn1.Marshal(outer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(cert.Raw, s.Cert.Raw) {
		t.Fatal("test bug: the twin has the certificate's bytes")
	}
	return &msp.SigningIdentity{Identity: msp.NewIdentity(s.MSPID, cert), Key: s.Key}
}

// TestFlippedSTwinCountsOnceInSignaturePolicies: one key with its
// certificate and the certificate's flipped-S twin is one signer. The twin
// verifies on its own, but OutOf(2, Org1MSP.member, Org1MSP.member) is not
// satisfied by the pair, and the error says why.
func TestFlippedSTwinCountsOnceInSignaturePolicies(t *testing.T) {
	n := newUpdateNet(t)
	user, twin := n.user1, flippedSTwin(t, n.user1)
	msg := []byte("endorsed bytes")
	one, err := NewSignaturePolicy(MustParsePolicyDSL("OR('Org1MSP.member')"), n.bundle.MSPs())
	if err != nil {
		t.Fatal(err)
	}
	if err := one.Evaluate(sign(t, msg, twin)); err != nil {
		t.Fatalf("the twin alone is not a valid member, so this test proves nothing: %v", err)
	}
	two, err := NewSignaturePolicy(MustParsePolicyDSL("OutOf(2, 'Org1MSP.member', 'Org1MSP.member')"), n.bundle.MSPs())
	if err != nil {
		t.Fatal(err)
	}
	err = two.Evaluate(sign(t, msg, user, twin))
	if err == nil {
		t.Fatal("one key counted as two signers: its certificate and the certificate's flipped-S twin satisfied OutOf(2, Org1MSP.member, Org1MSP.member)")
	}
	for _, want := range []string{"signature 1 from Org1MSP User1@org1.example.com is by the same identity as signature 0", "1 of 2 satisfied"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// Through one SignatureSet as the validator uses it, too.
	if err := NewSignatureSet(sign(t, msg, twin, user)).Evaluate(two); err == nil {
		t.Error("twin first, then the certificate: counted twice")
	}
	// Two distinct members do satisfy it.
	if err := two.Evaluate(sign(t, msg, user, n.admin1)); err != nil {
		t.Errorf("two members: %v", err)
	}
}

// TestFlippedSTwinCountsOnceForModPolicy: a config update whose mod_policy
// needs two Org1 signers is refused when signed by an admin and the admin's
// twin, and accepted with a second, distinct member.
func TestFlippedSTwinCountsOnceForModPolicy(t *testing.T) {
	n := newUpdateNet(t, `Admins: {Type: Signature, Rule: "OR('Org1MSP.admin')"}`,
		`Admins: {Type: Signature, Rule: "OutOf(2, 'Org1MSP.admin', 'Org1MSP.member')"}`)
	twin := flippedSTwin(t, n.admin1)
	update := func() *cb.ConfigUpdate { return anchorUpdate(0, 1, "Org1MSP", "peer0.org1.example.com", 7051) }
	_, err := n.bundle.ProposeConfigUpdate(updateEnv(t, "mychannel", update(), n.admin1, twin))
	wantRefused(t, err, "Admins", "is by the same identity as signature 0")
	if _, err := n.bundle.ProposeConfigUpdate(updateEnv(t, "mychannel", update(), n.admin1, n.user1)); err != nil {
		t.Errorf("admin and another member: %v", err)
	}
}

// TestFlippedSTwinCountsOnceForBlockValidation: with a BlockValidation policy
// that needs two orderers, a block signed by one orderer and its twin is
// refused; signed by two orderers it passes.
func TestFlippedSTwinCountsOnceForBlockValidation(t *testing.T) {
	n := newUpdateNet(t, `BlockValidation: {Type: ImplicitMeta, Rule: "ANY Writers"}`,
		`BlockValidation: {Type: Signature, Rule: "OutOf(2, 'OrdererMSP.member', 'OrdererMSP.member')"}`)
	o1 := signer(t, n.dir, ordDir, "orderer", "OrdererMSP")
	o2 := signer(t, n.dir, ordDir, "orderer2", "OrdererMSP")
	env, err := protos.NewSignedEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, "mychannel", n.user1, &cb.Envelope{Payload: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	b := protos.NewBlock(1, []byte("previous"), [][]byte{protos.Marshal(env)})
	err = VerifyBlock(signBlock(t, b, o1, flippedSTwin(t, o1)), nil, n.bundle)
	if err == nil {
		t.Fatal("a block signed by one orderer and its certificate's twin satisfied a policy needing two orderers")
	}
	for _, want := range []string{"block 1", BlockValidationPolicy, "is by the same identity as signature 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := VerifyBlock(signBlock(t, b, o1, o2), nil, n.bundle); err != nil {
		t.Errorf("two orderers: %v", err)
	}
}

// signBlock returns a copy of b with SIGNATURES metadata signed by signers.
func signBlock(t *testing.T, b *cb.Block, signers ...*msp.SigningIdentity) *cb.Block {
	t.Helper()
	out := &cb.Block{Header: b.Header, Data: b.Data, Metadata: &cb.BlockMetadata{Metadata: make([][]byte, len(cb.BlockMetadataIndex_name))}}
	md := &cb.Metadata{Value: protos.Marshal(&cb.OrdererBlockMetadata{LastConfig: &cb.LastConfig{Index: 0}})}
	for _, s := range signers {
		shdr, err := protos.NewSignatureHeader(s)
		if err != nil {
			t.Fatal(err)
		}
		sh := protos.Marshal(shdr)
		sig, err := s.Sign(protos.BlockSignatureBytes(md.Value, sh, b.Header))
		if err != nil {
			t.Fatal(err)
		}
		md.Signatures = append(md.Signatures, &cb.MetadataSignature{SignatureHeader: sh, Signature: sig})
	}
	out.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES] = protos.Marshal(md)
	return out
}
