package testnet

import (
	"bytes"
	"crypto/x509"
	"os"
	"testing"

	"github.com/weft-ledger/weft/protos"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Close()
	os.Exit(code)
}

// TestSampleNetIdentities checks that identities come from the right
// organisation, that the channel's MSPs accept them and that Genesis hands
// out independent copies.
func TestSampleNetIdentities(t *testing.T) {
	n := SampleNet(t)
	if again := SampleNet(t); again != n {
		t.Fatal("SampleNet generated the network twice")
	}
	cases := []struct {
		name, mspID, cn string
		load            func() any
	}{
		{"peer", "Org1MSP", "peer0.org1.example.com", func() any { return n.Signer(t, "peer0.org1.example.com") }},
		{"orderer", "OrdererMSP", "orderer.example.com", func() any { return n.Signer(t, "orderer.example.com") }},
		{"user", "Org2MSP", "User1@org2.example.com", func() any { return n.User(t, "User1", "Org2MSP") }},
		{"admin", "OrdererMSP", "Admin@example.com", func() any { return n.Admin(t, "OrdererMSP") }},
	}
	for _, c := range cases {
		s := c.load().(protos.Signer)
		raw, err := s.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		id, err := n.Bundle.MSPs().DeserializeIdentity(raw)
		if err != nil {
			t.Fatalf("%s: channel MSPs reject the identity: %v", c.name, err)
		}
		if id.MSPID != c.mspID || id.Cert.Subject.CommonName != c.cn {
			t.Errorf("%s: got %s %q, want %s %q", c.name, id.MSPID, id.Cert.Subject.CommonName, c.mspID, c.cn)
		}
	}
	g := n.Genesis()
	g.Header.Number = 99
	if n.Genesis().Header.Number != 0 {
		t.Fatal("changing a Genesis copy changed the shared block")
	}
}

func TestTLSCertChainsToItsCA(t *testing.T) {
	n := SampleNet(t)
	f := n.TLS(t, "peer0.org2.example.com")
	ca, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("no CA certificate in", f.CA)
	}
	cert := n.TLSCert(t, "peer0.org2.example.com")
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "peer0.org2.example.com"}); err != nil {
		t.Fatal(err)
	}
	other := n.TLSCert(t, "peer0.org1.example.com")
	if bytes.Equal(other.Leaf.Raw, cert.Leaf.Raw) {
		t.Fatal("two nodes share a TLS certificate")
	}
}
