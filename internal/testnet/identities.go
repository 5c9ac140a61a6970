package testnet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weft-ledger/weft/msp"
)

// IssueIdentity issues a new signing identity of MSP mspID with the CA of a
// cryptogen organisation folder (orgDir/ca: its certificate and priv_sk):
// common name cn, node OU ou ("client", "peer", "admin", "orderer"; "" for
// none), valid from the CA's own NotBefore (an MSP checks the chain at the
// identity's NotBefore) until notAfter. It is for identities the generated
// material lacks, such as an expired one (cryptogen's CAs start five minutes
// before they are made, so a notAfter a minute ago works); nothing is written.
func IssueIdentity(tb testing.TB, orgDir, mspID, cn, ou string, notAfter time.Time) *msp.SigningIdentity {
	tb.Helper()
	caDir := filepath.Join(orgDir, "ca")
	certs, err := filepath.Glob(filepath.Join(caDir, "*-cert.pem"))
	if err != nil || len(certs) != 1 {
		tb.Fatalf("testnet: want one CA certificate in %s, found %v (%v)", caDir, certs, err)
	}
	raw, err := os.ReadFile(certs[0])
	if err != nil {
		tb.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		tb.Fatalf("testnet: %s holds no PEM certificate", certs[0])
	}
	caCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	rawKey, err := os.ReadFile(filepath.Join(caDir, "priv_sk"))
	if err != nil {
		tb.Fatal(err)
	}
	caKey, err := msp.ParsePrivateKeyPEM(rawKey)
	if err != nil {
		tb.Fatalf("testnet: CA key %s: %v", filepath.Join(caDir, "priv_sk"), err)
	}
	notBefore := caCert.NotBefore
	if !notAfter.After(notBefore) {
		tb.Fatalf("testnet: identity %s would expire at %s, before its CA's NotBefore %s", cn, notAfter, notBefore)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	if ou != "" {
		tmpl.Subject.OrganizationalUnit = []string{ou}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatalf("testnet: issue %s: %v", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &msp.SigningIdentity{Identity: msp.NewIdentity(mspID, cert), Key: key}
}

// IssueUser is IssueIdentity with the CA of organisation mspID of n.
func (n *Net) IssueUser(tb testing.TB, mspID, cn, ou string, notAfter time.Time) *msp.SigningIdentity {
	tb.Helper()
	return IssueIdentity(tb, n.OrgDir(tb, mspID), mspID, cn, ou, notAfter)
}

// FlippedSTwin returns s with its certificate re-encoded so that the CA's
// ECDSA signature (r, s) becomes (r, n−s): other bytes that still verify
// against the CA, the same key. It is how an attacker makes one key look like
// two signers; the CAs must be P-256, as cryptogen makes them.
func FlippedSTwin(tb testing.TB, s *msp.SigningIdentity) *msp.SigningIdentity {
	tb.Helper()
	var outer struct {
		TBS       asn1.RawValue
		Algorithm asn1.RawValue
		Signature asn1.BitString
	}
	if _, err := asn1.Unmarshal(s.Cert.Raw, &outer); err != nil {
		tb.Fatal(err)
	}
	var sig struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(outer.Signature.Bytes, &sig); err != nil {
		tb.Fatal(err)
	}
	sig.S = new(big.Int).Sub(elliptic.P256().Params().N, sig.S)
	raw, err := asn1.Marshal(sig)
	if err != nil {
		tb.Fatal(err)
	}
	outer.Signature = asn1.BitString{Bytes: raw, BitLength: 8 * len(raw)}
	der, err := asn1.Marshal(outer)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &msp.SigningIdentity{Identity: msp.NewIdentity(s.MSPID, cert), Key: s.Key}
}
