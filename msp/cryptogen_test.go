package msp

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
)

func generate(t *testing.T, cfgPath string) string {
	t.Helper()
	cfg, err := LoadCryptoConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := GenerateCrypto(cfg, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadCryptoConfigSample(t *testing.T) {
	cfg, err := LoadCryptoConfig("../sampleconfig/crypto-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.OrdererOrgs) != 1 || cfg.OrdererOrgs[0].Domain != "example.com" ||
		len(cfg.OrdererOrgs[0].Specs) != 1 || cfg.OrdererOrgs[0].Specs[0].Hostname != "orderer" {
		t.Fatalf("orderer orgs: %+v", cfg.OrdererOrgs)
	}
	if len(cfg.PeerOrgs) != 2 {
		t.Fatalf("peer orgs: %+v", cfg.PeerOrgs)
	}
	for i, o := range cfg.PeerOrgs {
		want := []string{"org1.example.com", "org2.example.com"}[i]
		// Two peers per organisation: peer1 runs with `weft up --peers 2`.
		if o.Domain != want || !o.EnableNodeOUs || o.Template.Count != 2 || o.Users.Count != 1 ||
			!slices.Equal(o.Template.SANS, []string{"localhost", "127.0.0.1"}) {
			t.Errorf("peer org %d: %+v", i, o)
		}
	}
	if _, err := LoadCryptoConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}

// TestGenerateCryptoMatchesCryptogen generates from the fixture's
// crypto-config.yaml and compares the tree with what Fabric's cryptogen wrote:
// same files, same config.yaml bytes, and certificates with the same subjects,
// key usages, extended key usages, CA flags, validity period and (a superset of) SANs.
func TestGenerateCryptoMatchesCryptogen(t *testing.T) {
	t.Parallel()
	fixture := fixturePath(t, "organizations")
	out := generate(t, fixturePath(t, "crypto-config.yaml"))

	fixtureFiles := map[string]bool{}
	err := filepath.WalkDir(fixture, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(fixture, path)
		fixtureFiles[rel] = true
		gen := filepath.Join(out, rel)
		want, _ := os.ReadFile(path)
		got, err := os.ReadFile(gen)
		if err != nil {
			t.Errorf("missing %s: %v", rel, err)
			return nil
		}
		if filepath.Base(rel) == "config.yaml" {
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from cryptogen's:\n%s\nwant:\n%s", rel, got, want)
			}
			return nil
		}
		compareCerts(t, rel, mustCert(t, got), mustCert(t, want))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Everything else we wrote must be a private key (the fixture has its keys removed).
	err = filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, path)
		if fixtureFiles[rel] {
			return nil
		}
		base := filepath.Base(rel)
		if base != "priv_sk" && base != "server.key" && base != "client.key" {
			t.Errorf("unexpected file %s", rel)
			return nil
		}
		raw, _ := os.ReadFile(path)
		if _, err := ParsePrivateKeyPEM(raw); err != nil || !bytes.HasPrefix(raw, []byte("-----BEGIN PRIVATE KEY-----")) {
			t.Errorf("%s is not a PKCS#8 EC key: %v", rel, err)
		}
		if info, _ := d.Info(); info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is readable by others: %v", rel, info.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{
		"peerOrganizations/org1.example.com/msp/admincerts",
		"peerOrganizations/org1.example.com/peers/peer0.org1.example.com/msp/admincerts",
	} {
		if st, err := os.Stat(filepath.Join(out, dir)); err != nil || !st.IsDir() {
			t.Errorf("missing folder %s", dir)
		}
	}
}

func mustCert(t *testing.T, raw []byte) *x509.Certificate {
	t.Helper()
	c, err := parseCertPEM(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func compareCerts(t *testing.T, rel string, got, want *x509.Certificate) {
	t.Helper()
	if got.Subject.String() != want.Subject.String() {
		t.Errorf("%s subject %q, cryptogen %q", rel, got.Subject, want.Subject)
	}
	if got.Issuer.String() != want.Issuer.String() {
		t.Errorf("%s issuer %q, cryptogen %q", rel, got.Issuer, want.Issuer)
	}
	if got.KeyUsage != want.KeyUsage {
		t.Errorf("%s key usage %v, cryptogen %v", rel, got.KeyUsage, want.KeyUsage)
	}
	if !slices.Equal(got.ExtKeyUsage, want.ExtKeyUsage) {
		t.Errorf("%s ext key usage %v, cryptogen %v", rel, got.ExtKeyUsage, want.ExtKeyUsage)
	}
	if got.IsCA != want.IsCA || got.BasicConstraintsValid != want.BasicConstraintsValid {
		t.Errorf("%s CA flag %v, cryptogen %v", rel, got.IsCA, want.IsCA)
	}
	if got.NotAfter.Sub(got.NotBefore) != want.NotAfter.Sub(want.NotBefore) {
		t.Errorf("%s validity %v, cryptogen %v", rel, got.NotAfter.Sub(got.NotBefore), want.NotAfter.Sub(want.NotBefore))
	}
	if (len(got.SubjectKeyId) > 0) != (len(want.SubjectKeyId) > 0) || (len(got.AuthorityKeyId) > 0) != (len(want.AuthorityKeyId) > 0) {
		t.Errorf("%s key identifiers differ in presence", rel)
	}
	if got.SignatureAlgorithm != want.SignatureAlgorithm || got.PublicKeyAlgorithm != want.PublicKeyAlgorithm {
		t.Errorf("%s algorithms %v/%v, cryptogen %v/%v", rel, got.SignatureAlgorithm, got.PublicKeyAlgorithm, want.SignatureAlgorithm, want.PublicKeyAlgorithm)
	}
	for _, dns := range want.DNSNames {
		if !slices.Contains(got.DNSNames, dns) {
			t.Errorf("%s lacks DNS SAN %q (has %v)", rel, dns, got.DNSNames)
		}
	}
	for _, ip := range want.IPAddresses {
		if !slices.ContainsFunc(got.IPAddresses, ip.Equal) {
			t.Errorf("%s lacks IP SAN %v", rel, ip)
		}
	}
	if len(want.DNSNames) == 0 && len(got.DNSNames)+len(got.IPAddresses) != 0 {
		t.Errorf("%s has SANs %v %v, cryptogen has none", rel, got.DNSNames, got.IPAddresses)
	}
}

// localMSPs lists every node and user folder of a generated tree with its org
// MSP ID and expected role.
type localMSP struct {
	dir, mspID string
	role       mspproto.MSPRole_MSPRoleType
}

func localMSPs(t *testing.T, root string) []localMSP {
	t.Helper()
	var out []localMSP
	for _, kind := range []string{"peerOrganizations", "ordererOrganizations"} {
		orgs, err := os.ReadDir(filepath.Join(root, kind))
		if err != nil {
			t.Fatal(err)
		}
		for _, org := range orgs {
			for _, sub := range []string{"peers", "orderers", "users"} {
				nodes, _ := os.ReadDir(filepath.Join(root, kind, org.Name(), sub))
				for _, n := range nodes {
					r := map[string]mspproto.MSPRole_MSPRoleType{"peers": mspproto.MSPRole_PEER, "orderers": mspproto.MSPRole_ORDERER, "users": mspproto.MSPRole_CLIENT}[sub]
					if strings.HasPrefix(n.Name(), "Admin@") {
						r = mspproto.MSPRole_ADMIN
					}
					out = append(out, localMSP{dir: filepath.Join(root, kind, org.Name(), sub, n.Name()), mspID: mspIDForDomain(org.Name()), role: r})
				}
			}
		}
	}
	return out
}

func TestGeneratedIdentities(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		cfg    string
		locals int
	}{
		"sampleconfig": {"../sampleconfig/crypto-config.yaml", 10}, // orderer, 4 peers, 3 admins, 2 users
		"fixture":      {fixturePath(t, "crypto-config.yaml"), 8},  // orderer, 2 peers, 3 admins, 2 users
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := generate(t, tt.cfg)
			mgr := folderManager(t, out)
			locals := localMSPs(t, out)
			if len(locals) != tt.locals {
				t.Fatalf("found %d node/user folders, want %d", len(locals), tt.locals)
			}
			for _, l := range locals {
				si, err := LoadSigningIdentity(filepath.Join(l.dir, "msp"), l.mspID)
				if err != nil {
					t.Fatal(err)
				}
				id, err := mgr.DeserializeIdentity(si.Serialized)
				if err != nil {
					t.Fatalf("%s: %v", l.dir, err)
				}
				if r, err := mustMSP(t, mgr, l.mspID).NodeRole(id); err != nil || r != l.role {
					t.Errorf("%s: role %v (%v), want %v", filepath.Base(l.dir), r, err, l.role)
				}
				if err := mgr.SatisfiesPrincipal(id, role(l.mspID, l.role)); err != nil {
					t.Errorf("%s: %v", filepath.Base(l.dir), err)
				}
				if err := mgr.SatisfiesPrincipal(id, role(l.mspID, mspproto.MSPRole_MEMBER)); err != nil {
					t.Errorf("%s: %v", filepath.Base(l.dir), err)
				}
				msg := []byte("weft " + l.dir)
				sig, err := si.Sign(msg)
				if err != nil {
					t.Fatal(err)
				}
				if err := id.Verify(msg, sig); err != nil {
					t.Errorf("%s: sign/verify round trip: %v", filepath.Base(l.dir), err)
				}
				if err := id.Verify(append(msg, '!'), sig); !errors.Is(err, ErrBadSignature) {
					t.Errorf("%s: verify of another message: %v", filepath.Base(l.dir), err)
				}
				// The local MSP folder itself loads, and agrees with the org MSP on this identity.
				conf, err := LoadMSPDir(filepath.Join(l.dir, "msp"), l.mspID)
				if err != nil {
					t.Fatal(err)
				}
				local, err := New(conf)
				if err != nil {
					t.Fatal(err)
				}
				if err := local.Validate(id); err != nil {
					t.Errorf("%s: %v", filepath.Base(l.dir), err)
				}
			}
			checkTLS(t, out)
		})
	}
}

// checkTLS serves with each node's TLS server certificate on 127.0.0.1 and
// connects with a client trusting tls/ca.crt by IP and by localhost, with the
// org's User1 (or Admin) client certificate for mutual TLS.
func checkTLS(t *testing.T, root string) {
	t.Helper()
	for _, node := range []struct{ dir, user, mspID string }{
		{"peerOrganizations/org1.example.com/peers/peer0.org1.example.com", "peerOrganizations/org1.example.com/users/User1@org1.example.com", "Org1MSP"},
		{"peerOrganizations/org2.example.com/peers/peer0.org2.example.com", "peerOrganizations/org2.example.com/users/Admin@org2.example.com", "Org2MSP"},
		{"ordererOrganizations/example.com/orderers/orderer.example.com", "ordererOrganizations/example.com/users/Admin@example.com", "OrdererMSP"},
	} {
		nodeDir := filepath.Join(root, node.dir)
		serverCert, err := tls.LoadX509KeyPair(filepath.Join(nodeDir, "tls", "server.crt"), filepath.Join(nodeDir, "tls", "server.key"))
		if err != nil {
			t.Fatal(err)
		}
		orgConf, err := LoadMSPDir(filepath.Join(nodeDir, "..", "..", "msp"), node.mspID)
		if err != nil {
			t.Fatal(err)
		}
		org, err := New(orgConf)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    org.TLSRootCAs(),
			MinVersion:   tls.VersionTLS12,
		})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_, _ = io.Copy(c, c)
				}()
			}
		}()
		caPEM, err := os.ReadFile(filepath.Join(nodeDir, "tls", "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			t.Fatal("tls/ca.crt holds no certificate")
		}
		userDir := filepath.Join(root, node.user)
		clientCert, err := tls.LoadX509KeyPair(filepath.Join(userDir, "tls", "client.crt"), filepath.Join(userDir, "tls", "client.key"))
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		hostName, _ := os.Hostname()
		fqdn := filepath.Base(nodeDir)
		for _, c := range []struct{ addr, serverName string }{
			{net.JoinHostPort("127.0.0.1", port), ""},
			{net.JoinHostPort("localhost", port), ""},
			{net.JoinHostPort("127.0.0.1", port), fqdn},
			{net.JoinHostPort("127.0.0.1", port), strings.SplitN(fqdn, ".", 2)[0]},
			{net.JoinHostPort("127.0.0.1", port), hostName},
		} {
			if c.serverName == "" && strings.HasPrefix(c.addr, "localhost") {
				c.serverName = "localhost"
			}
			dialer := &net.Dialer{Timeout: 5 * time.Second}
			conn, err := tls.DialWithDialer(dialer, "tcp", c.addr, &tls.Config{
				RootCAs: pool, ServerName: c.serverName, Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS12,
			})
			if err != nil {
				t.Errorf("%s: TLS to %s as %q: %v", fqdn, c.addr, c.serverName, err)
				continue
			}
			if _, err := conn.Write([]byte("ping")); err != nil {
				t.Error(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
				t.Errorf("%s: echo over TLS: %q %v", fqdn, buf, err)
			}
			conn.Close()
		}
		// A client that trusts another org's TLS CA must fail.
		ln.Close()
		<-done
	}
}

func TestGeneratedCryptoFromOtherCARejected(t *testing.T) {
	t.Parallel()
	// Two independent generations of the same organisations: same names, different CAs.
	cfg := filepath.Join(t.TempDir(), "crypto-config.yaml")
	if err := os.WriteFile(cfg, []byte("PeerOrgs:\n  - Name: Org1\n    Domain: org1.example.com\n    EnableNodeOUs: true\n    Template: {Count: 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := generate(t, cfg), generate(t, cfg)
	confA, err := LoadMSPDir(orgMSPDir(a, "org1.example.com"), "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	mspA, err := New(confA)
	if err != nil {
		t.Fatal(err)
	}
	mgrA := NewManager(mspA)
	si, err := LoadSigningIdentity(filepath.Join(b, "peerOrganizations/org1.example.com/peers/peer0.org1.example.com/msp"), "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	_, err = mgrA.DeserializeIdentity(si.Serialized)
	if !errors.Is(err, ErrInvalidIdentity) {
		t.Fatalf("identity of an unknown CA: got %v, want ErrInvalidIdentity", err)
	}
	for _, want := range []string{"peer0.org1.example.com", "Org1MSP", "does not chain"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := mgrA.SatisfiesPrincipal(si.Identity, role("Org1MSP", mspproto.MSPRole_MEMBER)); !errors.Is(err, ErrInvalidIdentity) {
		t.Errorf("principal check of an unknown-CA identity: %v", err)
	}
	// The fixture's real Org1 MSP refuses it as well.
	fixtureConf, err := LoadMSPDir(orgMSPDir(fixturePath(t, "organizations"), "org1.example.com"), "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	fm, err := New(fixtureConf)
	if err != nil {
		t.Fatal(err)
	}
	if err := fm.Validate(si.Identity); !errors.Is(err, ErrInvalidIdentity) {
		t.Errorf("fixture Org1MSP accepted a generated identity: %v", err)
	}
	// TLS: a client trusting A's TLS CA refuses B's server certificate.
	poolA := mustMSP(t, mgrA, "Org1MSP").TLSRootCAs()
	bCert := mustCert(t, mustRead(t, filepath.Join(b, "peerOrganizations/org1.example.com/peers/peer0.org1.example.com/tls/server.crt")))
	if _, err := bCert.Verify(x509.VerifyOptions{Roots: poolA, DNSName: "localhost"}); err == nil {
		t.Error("TLS certificate of another CA verified")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestGenerateCryptoWithoutNodeOUs(t *testing.T) {
	t.Parallel()
	cfgPath := filepath.Join(t.TempDir(), "crypto-config.yaml")
	if err := os.WriteFile(cfgPath, []byte(`
PeerOrgs:
  - Name: Org1
    Domain: org1.example.com
    EnableNodeOUs: false
    Specs:
      - Hostname: foo
        CommonName: "{{.Hostname}}27.{{.Domain}}"
        SANS: ["bar.{{.Domain}}", "10.1.2.3"]
    Template:
      Count: 2
      Start: 5
    Users:
      Count: 2
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := generate(t, cfgPath)
	org := filepath.Join(out, "peerOrganizations", "org1.example.com")
	for _, p := range []string{
		"peers/foo27.org1.example.com/tls/server.crt", "peers/peer5.org1.example.com/msp/keystore/priv_sk",
		"peers/peer6.org1.example.com/msp/admincerts/Admin@org1.example.com-cert.pem",
		"msp/admincerts/Admin@org1.example.com-cert.pem", "users/User2@org1.example.com/tls/client.key",
	} {
		if _, err := os.Stat(filepath.Join(org, p)); err != nil {
			t.Errorf("missing %s", p)
		}
	}
	if _, err := os.Stat(filepath.Join(org, "msp", "config.yaml")); err == nil {
		t.Error("config.yaml written without NodeOUs")
	}
	tlsCert := mustCert(t, mustRead(t, filepath.Join(org, "peers/foo27.org1.example.com/tls/server.crt")))
	for _, dns := range []string{"foo27.org1.example.com", "foo", "bar.org1.example.com", "localhost"} {
		if !slices.Contains(tlsCert.DNSNames, dns) {
			t.Errorf("SANs %v lack %s", tlsCert.DNSNames, dns)
		}
	}
	if len(tlsCert.IPAddresses) != 2 {
		t.Errorf("IP SANs %v, want 10.1.2.3 and 127.0.0.1", tlsCert.IPAddresses)
	}

	conf, err := LoadMSPDir(filepath.Join(org, "msp"), "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	if len(conf.Admins) != 1 || conf.FabricNodeOus != nil {
		t.Fatalf("admins %d, NodeOUs %v", len(conf.Admins), conf.FabricNodeOus)
	}
	m, err := New(conf)
	if err != nil {
		t.Fatal(err)
	}
	mgr := NewManager(m)
	admin, err := LoadSigningIdentity(filepath.Join(org, "users/Admin@org1.example.com/msp"), "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	user, err := LoadSigningIdentity(filepath.Join(org, "users/User1@org1.example.com/msp"), "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.SatisfiesPrincipal(admin.Identity, role("Org1MSP", mspproto.MSPRole_ADMIN)); err != nil {
		t.Errorf("admin listed in admincerts is not ADMIN: %v", err)
	}
	if err := mgr.SatisfiesPrincipal(user.Identity, role("Org1MSP", mspproto.MSPRole_ADMIN)); !errors.Is(err, ErrPrincipalNotSatisfied) {
		t.Errorf("User1 ADMIN: %v", err)
	}
	if err := mgr.SatisfiesPrincipal(user.Identity, role("Org1MSP", mspproto.MSPRole_MEMBER)); err != nil {
		t.Errorf("User1 MEMBER: %v", err)
	}
	err = mgr.SatisfiesPrincipal(user.Identity, role("Org1MSP", mspproto.MSPRole_CLIENT))
	if !errors.Is(err, ErrPrincipalNotSatisfied) || !strings.Contains(err.Error(), "NodeOUs disabled") {
		t.Errorf("CLIENT without NodeOUs: %v", err)
	}
	// A verifying MSP without admins and without NodeOUs is refused.
	conf.Admins = nil
	if _, err := New(conf); err == nil || !strings.Contains(err.Error(), "admin") {
		t.Errorf("MSP without admins: %v", err)
	}
}
