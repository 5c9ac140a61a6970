package gateway

import (
	"crypto/x509"
	"testing"
)

func TestConnPoolReusesUntilRootsChange(t *testing.T) {
	p := newConnPool(nil)
	defer p.close()
	rootsA := x509.NewCertPool()
	rootsA.AddCert(devnet(t).TLSCert(t, "peer0.org1.example.com").Leaf)
	sameA := x509.NewCertPool()
	sameA.AddCert(devnet(t).TLSCert(t, "peer0.org1.example.com").Leaf)
	rootsB := x509.NewCertPool()
	rootsB.AddCert(devnet(t).TLSCert(t, "peer0.org2.example.com").Leaf)

	c1, err := p.get("127.0.0.1:1", rootsA)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := p.get("127.0.0.1:1", sameA) // equal roots rebuilt from the same config
	if err != nil {
		t.Fatal(err)
	}
	if c1 != c2 {
		t.Fatal("equal TLS roots must reuse the connection")
	}
	c3, err := p.get("127.0.0.1:1", rootsB)
	if err != nil {
		t.Fatal(err)
	}
	if c3 == c1 || len(p.conns) != 1 {
		t.Fatalf("changed roots must replace the connection (pool holds %d)", len(p.conns))
	}
	if _, err := p.get("127.0.0.1:2", nil); err == nil {
		t.Fatal("an organisation without TLS roots must be refused")
	}
}
