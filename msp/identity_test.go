package msp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// testOrg is a small in-memory organisation: a CA with NodeOUs and helpers to issue identities.
type testOrg struct {
	ca   *certAuthority
	conf *mspproto.FabricMSPConfig
	msp  *MSP
}

func newTestOrg(t testing.TB, mspID, domain string) *testOrg {
	t.Helper()
	dir := t.TempDir()
	ca, err := newCA(filepath.Join(dir, "ca"), domain, "ca."+domain, NodeSpec{})
	if err != nil {
		t.Fatal(err)
	}
	tlsCA, err := newCA(filepath.Join(dir, "tlsca"), domain, "tlsca."+domain, NodeSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeVerifyingMSP(filepath.Join(dir, "msp"), ca, tlsCA, true); err != nil {
		t.Fatal(err)
	}
	conf, err := LoadMSPDir(filepath.Join(dir, "msp"), mspID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(conf)
	if err != nil {
		t.Fatal(err)
	}
	return &testOrg{ca: ca, conf: conf, msp: m}
}

func (o *testOrg) issue(t testing.TB, cn string, ous ...string) *SigningIdentity {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := o.ca.issue(cn, ous, nil, &key.PublicKey, x509.KeyUsageDigitalSignature, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &SigningIdentity{Identity: NewIdentity(o.msp.ID(), cert), Key: key}
}

func TestSignAlwaysLowSAndVerifies(t *testing.T) {
	org := newTestOrg(t, "Org1MSP", "org1.example.com")
	si := org.issue(t, "User1@org1.example.com", OUClient)
	var _ protos.Signer = si // the contract other packages rely on
	for i := 0; i < 64; i++ {
		msg := []byte(fmt.Sprintf("message %d", i))
		sig, err := si.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		_, s, err := unmarshalECDSASignature(sig)
		if err != nil {
			t.Fatal(err)
		}
		if !isLowS(elliptic.P256(), s) {
			t.Fatalf("signature %d is high-S", i)
		}
		if err := si.Verify(msg, sig); err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
	}
	ser, err := si.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	sid := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(ser, sid); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(sid.IdBytes)
	if sid.Mspid != "Org1MSP" || block == nil || block.Type != "CERTIFICATE" || string(block.Bytes) != string(si.Cert.Raw) {
		t.Fatalf("serialized identity: mspid %q, id_bytes %q", sid.Mspid, sid.IdBytes)
	}
}

func TestVerifyRejectsMalformedSignatures(t *testing.T) {
	org := newTestOrg(t, "Org1MSP", "org1.example.com")
	si := org.issue(t, "User1@org1.example.com", OUClient)
	msg := []byte("hello")
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, si.Key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	n := elliptic.P256().Params().N
	neg := func(x *big.Int) *big.Int { return new(big.Int).Neg(x) }
	highS := toLowS(elliptic.P256(), s)
	highS = new(big.Int).Sub(n, highS)
	cases := map[string][]byte{
		"empty":    nil,
		"garbage":  []byte("not a signature"),
		"negative": mustMarshalSig(t, r, neg(s)),
		"zero r":   mustMarshalSig(t, big.NewInt(0), s),
		"high-S":   mustMarshalSig(t, r, highS),
	}
	for name, sig := range cases {
		if err := si.Verify(msg, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: got %v, want ErrBadSignature", name, err)
		} else if !strings.Contains(err.Error(), "User1@org1.example.com") || !strings.Contains(err.Error(), "Org1MSP") {
			t.Errorf("%s: error does not name the identity: %v", name, err)
		}
	}
	if err := si.Verify(msg, mustMarshalSig(t, r, toLowS(elliptic.P256(), s))); err != nil {
		t.Fatalf("low-S form of the same signature: %v", err)
	}
}

func mustMarshalSig(t *testing.T, r, s *big.Int) []byte {
	t.Helper()
	b, err := marshalECDSASignature(r, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateRules(t *testing.T) {
	org := newTestOrg(t, "Org1MSP", "org1.example.com")
	other := newTestOrg(t, "Org1MSP", "org1.example.com") // same names, another CA

	if err := org.msp.Validate(org.issue(t, "peer0", OUPeer).Identity); err != nil {
		t.Fatalf("peer: %v", err)
	}
	for name, tc := range map[string]struct {
		id   *Identity
		want string
	}{
		"unknown CA":      {other.issue(t, "peer0.org1.example.com", OUPeer).Identity, "does not chain to a CA of MSP Org1MSP"},
		"no node OU":      {org.issue(t, "nobody").Identity, "no node OU"},
		"two node OUs":    {org.issue(t, "both", OUPeer, OUClient).Identity, "several node OUs"},
		"CA as identity":  {NewIdentity("Org1MSP", org.ca.cert), "CA certificate"},
		"other MSP ID":    {NewIdentity("Org2MSP", org.issue(t, "x", OUPeer).Cert), "is not of MSP Org1MSP"},
		"foreign OU only": {org.issue(t, "dept", "engineering").Identity, "no node OU"},
	} {
		err := org.msp.Validate(tc.id)
		if !errors.Is(err, ErrInvalidIdentity) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrInvalidIdentity mentioning %q", name, err, tc.want)
		}
		// The error names the identity and is stable when served from the cache.
		if err2 := org.msp.Validate(tc.id); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("%s: cached result differs: %v vs %v", name, err, err2)
		}
		if err != nil && !strings.Contains(err.Error(), tc.id.Cert.Subject.CommonName) {
			t.Errorf("%s: error does not name the subject: %v", name, err)
		}
	}
}

func TestValidateConcurrentAndCacheBounded(t *testing.T) {
	org := newTestOrg(t, "Org1MSP", "org1.example.com")
	ids := []*Identity{
		org.issue(t, "peer0", OUPeer).Identity,
		org.issue(t, "User1", OUClient).Identity,
		newTestOrg(t, "Org1MSP", "org1.example.com").issue(t, "intruder", OUPeer).Identity,
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				for j, id := range ids {
					err := org.msp.Validate(id)
					if (err == nil) != (j < 2) {
						errs <- fmt.Errorf("identity %d: %v", j, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	c := &validationCache{m: map[[32]byte]*validation{}}
	for i := 0; i < 3*maxCachedIdentities; i++ {
		c.put(sha256.Sum256([]byte(fmt.Sprint(i))), &validation{})
	}
	if len(c.m) > maxCachedIdentities {
		t.Fatalf("cache holds %d entries, bound is %d", len(c.m), maxCachedIdentities)
	}
	last := sha256.Sum256([]byte(fmt.Sprint(3*maxCachedIdentities - 1)))
	if _, ok := c.get(last); !ok {
		t.Fatal("most recent entry evicted")
	}
}

func TestIntermediateCAAndHighSNormalisation(t *testing.T) {
	root := newTestOrg(t, "Org1MSP", "org1.example.com")
	// An intermediate CA issued by the root.
	ikey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := certTemplate()
	if err != nil {
		t.Fatal(err)
	}
	tmpl.IsCA = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	tmpl.Subject = subject(NodeSpec{})
	tmpl.Subject.CommonName = "ica.org1.example.com"
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.ca.cert, &ikey.PublicKey, root.ca.signer)
	if err != nil {
		t.Fatal(err)
	}
	icert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	// Re-encode the intermediate with a high-S signature: still valid X.509, and
	// Fabric normalises it before hashing the chain.
	hi := withHighS(t, icert)
	if _, s, _ := unmarshalECDSASignature(hi.Signature); isLowS(elliptic.P256(), s) {
		t.Fatal("test bug: signature still low-S")
	}
	ica := &certAuthority{name: "ica", cert: hi, signer: lowSSigner{key: ikey}}
	conf := proto.Clone(root.conf).(*mspproto.FabricMSPConfig)
	conf.IntermediateCerts = [][]byte{pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hi.Raw})}
	conf.FabricNodeOus.PeerOuIdentifier.Certificate = conf.IntermediateCerts[0]
	m, err := New(conf)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, err := ica.issue("peer9.org1.example.com", []string{OUPeer}, nil, &key.PublicKey, x509.KeyUsageDigitalSignature, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := NewIdentity("Org1MSP", leaf)
	if r, err := m.NodeRole(id); err != nil || r != mspproto.MSPRole_PEER {
		t.Fatalf("peer issued by intermediate: %v %v", r, err)
	}
	// A peer issued directly by the root does not satisfy the PeerOU bound to the intermediate.
	direct := root.issue(t, "peer0.org1.example.com", OUPeer).Identity
	if err := m.Validate(direct); !errors.Is(err, ErrInvalidIdentity) || !strings.Contains(err.Error(), "other than") {
		t.Errorf("peer OU from the wrong CA: %v", err)
	}
	// The certifiers identifier hashes the low-S intermediate and the root.
	lowI, err := sanitizeCert(hi, root.ca.cert)
	if err != nil {
		t.Fatal(err)
	}
	if string(lowI.Raw) != string(icert.Raw) {
		t.Fatal("normalising the high-S intermediate did not restore the original encoding")
	}
	want := chainIdentifier([]*x509.Certificate{icert, root.ca.cert})
	ou := &mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_ORGANIZATION_UNIT,
		Principal: protos.Marshal(&mspproto.OrganizationUnit{MspIdentifier: "Org1MSP", OrganizationalUnitIdentifier: OUPeer, CertifiersIdentifier: want})}
	if err := m.SatisfiesPrincipal(id, ou); err != nil {
		t.Errorf("OU principal with the normalised chain hash: %v", err)
	}
	// An intermediate that does not chain to the roots is refused at New.
	stranger := newTestOrg(t, "Org1MSP", "org1.example.com")
	bad := proto.Clone(root.conf).(*mspproto.FabricMSPConfig)
	bad.IntermediateCerts = [][]byte{pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: stranger.ca.cert.Raw})}
	if _, err := New(bad); err == nil {
		t.Error("foreign intermediate accepted")
	}
}

// withHighS re-encodes cert with the high-S twin of its signature.
func withHighS(t *testing.T, cert *x509.Certificate) *x509.Certificate {
	t.Helper()
	r, s, err := unmarshalECDSASignature(cert.Signature)
	if err != nil {
		t.Fatal(err)
	}
	hs := new(big.Int).Sub(elliptic.P256().Params().N, s)
	sig := mustMarshalSig(t, r, hs)
	var rc rawCertificate
	if _, err := asn1.Unmarshal(cert.Raw, &rc); err != nil {
		t.Fatal(err)
	}
	rc.SignatureValue.Bytes, rc.SignatureValue.BitLength = sig, 8*len(sig)
	der, err := asn1.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	out, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadSigningIdentityAnyKeyName(t *testing.T) {
	out := t.TempDir()
	cfg := &CryptoConfig{PeerOrgs: []OrgSpec{{Name: "Org1", Domain: "org1.example.com", EnableNodeOUs: true, Template: NodeTemplate{Count: 1}}}}
	if err := GenerateCrypto(cfg, out); err != nil {
		t.Fatal(err)
	}
	mspDir := filepath.Join(out, "peerOrganizations/org1.example.com/users/Admin@org1.example.com/msp")
	ks := filepath.Join(mspDir, "keystore")
	if err := os.Rename(filepath.Join(ks, "priv_sk"), filepath.Join(ks, "4f1e...c0ffee_sk")); err != nil {
		t.Fatal(err)
	}
	// A stray non-key file and a key of someone else are skipped.
	if err := os.WriteFile(filepath.Join(ks, "README"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := writeNewKey(filepath.Join(ks, "0000_other_sk")); err != nil {
		t.Fatal(err)
	}
	si, err := LoadSigningIdentity(mspDir, "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	if si.Cert.Subject.CommonName != "Admin@org1.example.com" {
		t.Fatalf("loaded %s", si.Identity)
	}
	// Without the matching key the error names the certificate.
	if err := os.Remove(filepath.Join(ks, "4f1e...c0ffee_sk")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigningIdentity(mspDir, "Org1MSP"); err == nil || !strings.Contains(err.Error(), "Admin@org1.example.com") {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := LoadMSPDir(filepath.Join(out, "nowhere"), "Org1MSP"); err == nil || !strings.Contains(err.Error(), "cacerts") {
		t.Fatalf("missing MSP folder: %v", err)
	}
}

func TestManager(t *testing.T) {
	o1 := newTestOrg(t, "Org1MSP", "org1.example.com")
	o2 := newTestOrg(t, "Org2MSP", "org2.example.com")
	mgr := NewManager(o2.msp, o1.msp)
	if ids := mgr.IDs(); len(ids) != 2 || ids[0] != "Org1MSP" || ids[1] != "Org2MSP" {
		t.Fatalf("IDs %v", ids)
	}
	p := o2.issue(t, "peer0.org2.example.com", OUPeer)
	id, err := mgr.DeserializeIdentity(p.Serialized)
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.SatisfiesPrincipal(id, role("Org2MSP", mspproto.MSPRole_PEER)); err != nil {
		t.Fatal(err)
	}
	err = mgr.SatisfiesPrincipal(id, role("Org1MSP", mspproto.MSPRole_PEER))
	if !errors.Is(err, ErrPrincipalNotSatisfied) || !strings.Contains(err.Error(), "peer0.org2.example.com") {
		t.Fatalf("Org2 peer as Org1 peer: %v", err)
	}
	combined := &mspproto.MSPPrincipal{PrincipalClassification: mspproto.MSPPrincipal_COMBINED,
		Principal: protos.Marshal(&mspproto.CombinedPrincipal{Principals: []*mspproto.MSPPrincipal{
			role("Org2MSP", mspproto.MSPRole_MEMBER), role("Org2MSP", mspproto.MSPRole_PEER)}})}
	if err := mgr.SatisfiesPrincipal(id, combined); err != nil {
		t.Fatalf("combined: %v", err)
	}
	if _, err := mgr.DeserializeIdentity([]byte("junk")); !errors.Is(err, ErrInvalidIdentity) {
		t.Fatalf("junk: %v", err)
	}
	cfg := o1.msp.Config()
	cfg.Name = "mutated"
	if o1.msp.ID() != "Org1MSP" || o1.msp.Config().Name != "Org1MSP" {
		t.Fatal("Config() exposes internal state")
	}
}

func FuzzDeserializeIdentity(f *testing.F) {
	f.Add([]byte{})
	f.Add(protos.Marshal(&mspproto.SerializedIdentity{Mspid: "Org1MSP", IdBytes: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}))
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, err := ParseSerializedIdentity(raw)
		if err == nil && (id.Cert == nil || id.MSPID == "") {
			t.Fatal("accepted an identity without certificate or MSP ID")
		}
		if err == nil {
			_ = id.Verify(raw, raw)
		}
	})
}
