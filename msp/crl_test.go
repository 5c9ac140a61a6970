package msp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// newIntermediate issues an intermediate CA under parent.
func newIntermediate(t *testing.T, parent *certAuthority, cn string) *certAuthority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := certTemplate()
	if err != nil {
		t.Fatal(err)
	}
	tmpl.IsCA = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	tmpl.Subject = subject(NodeSpec{})
	tmpl.Subject.CommonName = cn
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent.cert, &key.PublicKey, parent.signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &certAuthority{name: cn, cert: cert, signer: lowSSigner{key: key}}
}

// crlPEM is a PEM "X509 CRL" signed by issuer revoking the given certificates.
func crlPEM(t *testing.T, issuer *certAuthority, revoked ...*x509.Certificate) []byte {
	t.Helper()
	now := time.Now()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(24 * time.Hour)}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: now.Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer.cert, issuer.signer)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// issueUnder issues a client identity of MSP mspID signed by ca.
func issueUnder(t *testing.T, ca *certAuthority, mspID, cn string) *Identity {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.issue(cn, []string{OUClient}, nil, &key.PublicKey, x509.KeyUsageDigitalSignature, nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewIdentity(mspID, cert)
}

// withIntermediates is org's definition with the given intermediate CAs and
// CRLs, its NodeOUs accepting identities from any of its CAs.
func withIntermediates(org *testOrg, inter []*certAuthority, crls ...[]byte) *mspproto.FabricMSPConfig {
	conf := proto.Clone(org.conf).(*mspproto.FabricMSPConfig)
	for _, ca := range inter {
		conf.IntermediateCerts = append(conf.IntermediateCerts, certPEM(ca.cert))
	}
	conf.RevocationList = crls
	n := conf.FabricNodeOus
	for _, ou := range []*mspproto.FabricOUIdentifier{n.ClientOuIdentifier, n.PeerOuIdentifier, n.AdminOuIdentifier, n.OrdererOuIdentifier} {
		ou.Certificate = nil
	}
	return conf
}

// TestCRLOfIntermediateRevokesLeaf: a CRL signed by the intermediate that
// issued a certificate revokes it; the same serial in a CRL of another CA
// does not.
func TestCRLOfIntermediateRevokesLeaf(t *testing.T) {
	org := newTestOrg(t, "Org1MSP", "org1.example.com")
	ica := newIntermediate(t, org.ca, "ica.org1.example.com")
	revokedUser := issueUnder(t, ica, "Org1MSP", "Revoked@org1.example.com")
	goodUser := issueUnder(t, ica, "Org1MSP", "User1@org1.example.com")

	m, err := New(withIntermediates(org, []*certAuthority{ica}, crlPEM(t, ica, revokedUser.Cert)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(goodUser); err != nil {
		t.Fatalf("identity not on the CRL: %v", err)
	}
	err = m.Validate(revokedUser)
	if !errors.Is(err, ErrInvalidIdentity) {
		t.Fatalf("revoked identity: got %v, want ErrInvalidIdentity", err)
	}
	for _, want := range []string{"Revoked@org1.example.com", "serial " + revokedUser.Cert.SerialNumber.String(), "revoked by the CRL of", "ica.org1.example.com"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// The root did not issue the certificate: its CRL listing the same serial
	// says nothing about it.
	m, err = New(withIntermediates(org, []*certAuthority{ica}, crlPEM(t, org.ca, revokedUser.Cert)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(revokedUser); err != nil {
		t.Errorf("a CRL of a CA that did not issue the certificate revoked it: %v", err)
	}
}

// TestCRLOfRootRevokesIntermediate: a root's CRL that revokes an intermediate
// CA makes the definition that lists both unusable, naming the intermediate,
// and every identity issued under the intermediate invalid.
func TestCRLOfRootRevokesIntermediate(t *testing.T) {
	org := newTestOrg(t, "Org1MSP", "org1.example.com")
	bad := newIntermediate(t, org.ca, "ica-revoked.org1.example.com")
	good := newIntermediate(t, org.ca, "ica-good.org1.example.com")
	rootCRL := crlPEM(t, org.ca, bad.cert)

	_, err := New(withIntermediates(org, []*certAuthority{good, bad}, rootCRL))
	if err == nil {
		t.Fatal("a definition whose intermediate CA its root revoked was accepted")
	}
	for _, want := range []string{"Org1MSP", "intermediate certificate", "ica-revoked.org1.example.com", "serial " + bad.cert.SerialNumber.String(), "ca.org1.example.com"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// The same CRL with only the good intermediate: loads.
	m, err := New(withIntermediates(org, []*certAuthority{good}, rootCRL))
	if err != nil {
		t.Fatalf("definition without the revoked intermediate: %v", err)
	}
	if err := m.Validate(issueUnder(t, good, "Org1MSP", "User1@org1.example.com")); err != nil {
		t.Errorf("identity under the good intermediate: %v", err)
	}

	// Validation walks the whole chain too, whatever admitted the MSP: with
	// the root's CRL in force, an identity issued under the revoked
	// intermediate is invalid and the error names the intermediate.
	m, err = New(withIntermediates(org, []*certAuthority{good, bad}))
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(mustPEMBlock(t, rootCRL))
	if err != nil {
		t.Fatal(err)
	}
	m.crls = append(m.crls, crl) // white box: the load-time check is bypassed on purpose
	under := issueUnder(t, bad, "Org1MSP", "User2@org1.example.com")
	if err := m.Validate(under); !errors.Is(err, ErrInvalidIdentity) || !strings.Contains(err.Error(), "ica-revoked.org1.example.com") {
		t.Errorf("identity under a revoked intermediate: got %v, want ErrInvalidIdentity naming the intermediate", err)
	}
}

func mustPEMBlock(t *testing.T, raw []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(raw)
	if b == nil {
		t.Fatal("no PEM block")
	}
	return b.Bytes
}

// TestMSPFolderWithRevokedIntermediateRefused: a local MSP folder whose crls/
// revoke its intermediatecerts/ is refused when loaded; a folder whose CRL
// revokes a user loads and refuses that user.
func TestMSPFolderWithRevokedIntermediateRefused(t *testing.T) {
	org := newTestOrg(t, "Org1MSP", "org1.example.com")
	ica := newIntermediate(t, org.ca, "ica.org1.example.com")
	user := issueUnder(t, ica, "Org1MSP", "User1@org1.example.com")

	write := func(crl []byte) string {
		dir := t.TempDir()
		for rel, data := range map[string][]byte{
			"cacerts/ca-cert.pem":            certPEM(org.ca.cert),
			"intermediatecerts/ica-cert.pem": certPEM(ica.cert),
			"admincerts/admin-cert.pem":      certPEM(issueUnder(t, ica, "Org1MSP", "Admin@org1.example.com").Cert),
			"crls/crl.pem":                   crl,
		} {
			p := filepath.Join(dir, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}

	conf, err := LoadMSPDir(write(crlPEM(t, org.ca, ica.cert)), "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(conf); err == nil || !strings.Contains(err.Error(), "ica.org1.example.com") || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("MSP folder with a revoked intermediate: got %v, want an error naming the intermediate", err)
	}

	conf, err = LoadMSPDir(write(crlPEM(t, ica, user.Cert)), "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(user); !errors.Is(err, ErrInvalidIdentity) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("user revoked by the folder's CRL: %v", err)
	}
	if err := m.Validate(issueUnder(t, ica, "Org1MSP", "User2@org1.example.com")); err != nil {
		t.Errorf("user not on the CRL: %v", err)
	}
}
