package msp

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"
)

// CryptoConfig is cryptogen's crypto-config.yaml.
type CryptoConfig struct {
	OrdererOrgs []OrgSpec `yaml:"OrdererOrgs"`
	PeerOrgs    []OrgSpec `yaml:"PeerOrgs"`
}

// OrgSpec describes one organisation: its CA, its nodes and its users.
type OrgSpec struct {
	Name          string       `yaml:"Name"`
	Domain        string       `yaml:"Domain"`
	EnableNodeOUs bool         `yaml:"EnableNodeOUs"`
	CA            NodeSpec     `yaml:"CA"`
	Template      NodeTemplate `yaml:"Template"`
	Specs         []NodeSpec   `yaml:"Specs"`
	Users         UsersSpec    `yaml:"Users"`
}

// NodeSpec describes one node (or the CA). Hostname, CommonName and SANS are Go
// templates over {{.Hostname}}, {{.Domain}} and {{.CommonName}}; CommonName
// defaults to "{{.Hostname}}.{{.Domain}}". SANS that parse as IP addresses
// become IP SANs, the others DNS names.
type NodeSpec struct {
	Hostname           string   `yaml:"Hostname"`
	CommonName         string   `yaml:"CommonName"`
	Country            string   `yaml:"Country"`
	Province           string   `yaml:"Province"`
	Locality           string   `yaml:"Locality"`
	OrganizationalUnit string   `yaml:"OrganizationalUnit"`
	StreetAddress      string   `yaml:"StreetAddress"`
	PostalCode         string   `yaml:"PostalCode"`
	SANS               []string `yaml:"SANS"`
}

// NodeTemplate creates Count nodes named by the Hostname template over
// {{.Prefix}} ("peer" or "orderer"), {{.Index}} (from Start) and {{.Domain}};
// the default is "{{.Prefix}}{{.Index}}".
type NodeTemplate struct {
	Count    int      `yaml:"Count"`
	Start    int      `yaml:"Start"`
	Hostname string   `yaml:"Hostname"`
	SANS     []string `yaml:"SANS"`
}

// UsersSpec is the number of users created in addition to Admin.
type UsersSpec struct {
	Count int `yaml:"Count"`
}

// LoadCryptoConfig reads a cryptogen crypto-config.yaml.
func LoadCryptoConfig(path string) (*CryptoConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read crypto config: %w", err)
	}
	cfg := &CryptoConfig{}
	if err := yaml.Unmarshal(raw, cfg); err != nil {
		return nil, fmt.Errorf("parse crypto config %s: %w", path, err)
	}
	for _, list := range [][]OrgSpec{cfg.OrdererOrgs, cfg.PeerOrgs} {
		for i, o := range list {
			if o.Domain == "" {
				return nil, fmt.Errorf("crypto config %s: organisation %d (%q) has no Domain", path, i, o.Name)
			}
		}
	}
	return cfg, nil
}

// GenerateCrypto writes keys and certificates for every organisation of cfg
// under outDir in cryptogen's layout (peerOrganizations/<domain>/...,
// ordererOrganizations/<domain>/...). TLS certificates of nodes are valid for
// the node's FQDN and short name, the spec's SANS, localhost, 127.0.0.1 and
// this machine's host name. Existing organisation folders are overwritten.
func GenerateCrypto(cfg *CryptoConfig, outDir string) error {
	if cfg == nil {
		return fmt.Errorf("generate crypto: nil config")
	}
	for _, o := range cfg.PeerOrgs {
		if err := generateOrg(outDir, o, "peer"); err != nil {
			return fmt.Errorf("generate crypto for peer org %s (%s): %w", o.Name, o.Domain, err)
		}
	}
	for _, o := range cfg.OrdererOrgs {
		if err := generateOrg(outDir, o, "orderer"); err != nil {
			return fmt.Errorf("generate crypto for orderer org %s (%s): %w", o.Name, o.Domain, err)
		}
	}
	return nil
}

type specData struct {
	Prefix     string
	Index      int
	Domain     string
	Hostname   string
	CommonName string
}

func render(tmpl, def string, data specData) (string, error) {
	if tmpl == "" {
		tmpl = def
	}
	t, err := template.New("spec").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", tmpl, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("template %q: %w", tmpl, err)
	}
	return buf.String(), nil
}

// renderNode resolves CommonName and SANS; the FQDN and the short host name
// always come first among the SANS.
func renderNode(domain string, spec NodeSpec) (NodeSpec, error) {
	data := specData{Domain: domain, Hostname: spec.Hostname}
	cn, err := render(spec.CommonName, "{{.Hostname}}.{{.Domain}}", data)
	if err != nil {
		return spec, err
	}
	data.CommonName = cn
	sans := []string{cn, spec.Hostname}
	for _, s := range spec.SANS {
		r, err := render(s, "", data)
		if err != nil {
			return spec, err
		}
		sans = append(sans, r)
	}
	spec.CommonName = cn
	spec.SANS = sans
	return spec, nil
}

func renderOrg(o OrgSpec, prefix string) (OrgSpec, error) {
	specs := append([]NodeSpec(nil), o.Specs...)
	for i := 0; i < o.Template.Count; i++ {
		h, err := render(o.Template.Hostname, "{{.Prefix}}{{.Index}}",
			specData{Prefix: prefix, Index: i + o.Template.Start, Domain: o.Domain})
		if err != nil {
			return o, err
		}
		specs = append(specs, NodeSpec{Hostname: h, SANS: o.Template.SANS})
	}
	for i := range specs {
		s, err := renderNode(o.Domain, specs[i])
		if err != nil {
			return o, fmt.Errorf("node %q: %w", specs[i].Hostname, err)
		}
		specs[i] = s
	}
	o.Specs = specs
	if o.CA.Hostname == "" {
		o.CA.Hostname = "ca"
	}
	ca, err := renderNode(o.Domain, o.CA)
	if err != nil {
		return o, fmt.Errorf("CA: %w", err)
	}
	o.CA = ca
	return o, nil
}

func generateOrg(outDir string, spec OrgSpec, prefix string) error {
	o, err := renderOrg(spec, prefix)
	if err != nil {
		return err
	}
	kind, nodesDir, nodeOU := "peerOrganizations", "peers", OUPeer
	if prefix == "orderer" {
		kind, nodesDir, nodeOU = "ordererOrganizations", "orderers", OUOrderer
	}
	orgDir := filepath.Join(outDir, kind, o.Domain)
	if err := os.RemoveAll(orgDir); err != nil {
		return err
	}
	signCA, err := newCA(filepath.Join(orgDir, "ca"), o.Domain, o.CA.CommonName, o.CA)
	if err != nil {
		return fmt.Errorf("signing CA: %w", err)
	}
	tlsCA, err := newCA(filepath.Join(orgDir, "tlsca"), o.Domain, "tls"+o.CA.CommonName, o.CA)
	if err != nil {
		return fmt.Errorf("TLS CA: %w", err)
	}
	if err := writeVerifyingMSP(filepath.Join(orgDir, "msp"), signCA, tlsCA, o.EnableNodeOUs); err != nil {
		return err
	}
	hostName, _ := os.Hostname()
	for _, n := range o.Specs {
		sans := append(append([]string(nil), n.SANS...), "localhost", "127.0.0.1")
		if hostName != "" {
			sans = append(sans, hostName)
		}
		if err := writeLocalMSP(filepath.Join(orgDir, nodesDir, n.CommonName), n.CommonName, dedupe(sans),
			signCA, tlsCA, nodeOU, o.EnableNodeOUs, "server"); err != nil {
			return fmt.Errorf("node %s: %w", n.CommonName, err)
		}
	}
	usersDir := filepath.Join(orgDir, "users")
	if prefix == "peer" {
		for j := 1; j <= o.Users.Count; j++ {
			cn := fmt.Sprintf("User%d@%s", j, o.Domain)
			if err := writeLocalMSP(filepath.Join(usersDir, cn), cn, nil, signCA, tlsCA, OUClient, o.EnableNodeOUs, "client"); err != nil {
				return fmt.Errorf("user %s: %w", cn, err)
			}
		}
	}
	admin := "Admin@" + o.Domain
	adminOU := OUClient
	if o.EnableNodeOUs {
		adminOU = OUAdmin
	}
	if err := writeLocalMSP(filepath.Join(usersDir, admin), admin, nil, signCA, tlsCA, adminOU, o.EnableNodeOUs, "client"); err != nil {
		return fmt.Errorf("admin %s: %w", admin, err)
	}
	if o.EnableNodeOUs {
		return nil
	}
	// Without NodeOUs, admins are whoever is listed in admincerts.
	adminCert := filepath.Join(usersDir, admin, "msp", "signcerts", admin+"-cert.pem")
	targets := []string{filepath.Join(orgDir, "msp", dirAdminCerts)}
	for _, n := range o.Specs {
		targets = append(targets, filepath.Join(orgDir, nodesDir, n.CommonName, "msp", dirAdminCerts))
	}
	raw, err := os.ReadFile(adminCert)
	if err != nil {
		return err
	}
	for _, t := range targets {
		if err := os.RemoveAll(t); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(t, admin+"-cert.pem"), raw, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// certAuthority is a development CA: a self-signed P-256 certificate and its key.
type certAuthority struct {
	name   string
	cert   *x509.Certificate
	signer crypto.Signer
	spec   NodeSpec // subject fields copied into issued certificates
}

// lowSSigner signs with low-S ECDSA, as Fabric's cryptogen does for issued certificates.
type lowSSigner struct{ key *ecdsa.PrivateKey }

func (s lowSSigner) Public() crypto.PublicKey { return &s.key.PublicKey }

func (s lowSSigner) Sign(r io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	rr, ss, err := ecdsa.Sign(r, s.key, digest)
	if err != nil {
		return nil, err
	}
	return marshalECDSASignature(rr, toLowS(s.key.Curve, ss))
}

func subject(spec NodeSpec) pkix.Name {
	n := pkix.Name{Country: []string{"US"}, Province: []string{"California"}, Locality: []string{"San Francisco"}}
	if spec.Country != "" {
		n.Country = []string{spec.Country}
	}
	if spec.Province != "" {
		n.Province = []string{spec.Province}
	}
	if spec.Locality != "" {
		n.Locality = []string{spec.Locality}
	}
	if spec.OrganizationalUnit != "" {
		n.OrganizationalUnit = []string{spec.OrganizationalUnit}
	}
	if spec.StreetAddress != "" {
		n.StreetAddress = []string{spec.StreetAddress}
	}
	if spec.PostalCode != "" {
		n.PostalCode = []string{spec.PostalCode}
	}
	return n
}

// certTemplate: random 128-bit serial, valid from five minutes ago (rounded to
// the minute) for 3650 days, as cryptogen does.
func certTemplate() (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	notBefore := time.Now().Round(time.Minute).Add(-5 * time.Minute).UTC()
	return &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(3650 * 24 * time.Hour).UTC(),
		BasicConstraintsValid: true,
	}, nil
}

func newCA(dir, org, cn string, spec NodeSpec) (*certAuthority, error) {
	key, err := writeNewKey(filepath.Join(dir, "priv_sk"))
	if err != nil {
		return nil, err
	}
	tmpl, err := certTemplate()
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	tmpl.Subject = subject(spec)
	tmpl.Subject.Organization = []string{org}
	tmpl.Subject.CommonName = cn
	point, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	ski := sha256.Sum256(point.Bytes()) // SHA-256 of the uncompressed point, as cryptogen computes it
	tmpl.SubjectKeyId = ski[:]
	signer := lowSSigner{key: key}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := writeCert(filepath.Join(dir, cn+"-cert.pem"), cert); err != nil {
		return nil, err
	}
	return &certAuthority{name: cn, cert: cert, signer: signer, spec: spec}, nil
}

func (ca *certAuthority) issue(cn string, ous, sans []string, pub *ecdsa.PublicKey, ku x509.KeyUsage, eku []x509.ExtKeyUsage) (*x509.Certificate, error) {
	tmpl, err := certTemplate()
	if err != nil {
		return nil, err
	}
	tmpl.KeyUsage = ku
	tmpl.ExtKeyUsage = eku
	tmpl.Subject = subject(ca.spec)
	tmpl.Subject.CommonName = cn
	tmpl.Subject.OrganizationalUnit = append(tmpl.Subject.OrganizationalUnit, ous...)
	for _, san := range sans {
		if ip := net.ParseIP(san); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, san)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.signer)
	if err != nil {
		return nil, fmt.Errorf("issue certificate %s: %w", cn, err)
	}
	return x509.ParseCertificate(der)
}

// writeVerifyingMSP writes an organisation's MSP folder: CA certificates,
// NodeOUs config and an (empty or admin) admincerts folder.
func writeVerifyingMSP(dir string, signCA, tlsCA *certAuthority, nodeOUs bool) error {
	if err := os.MkdirAll(filepath.Join(dir, dirAdminCerts), 0o755); err != nil {
		return err
	}
	if err := writeCert(filepath.Join(dir, dirCACerts, signCA.name+"-cert.pem"), signCA.cert); err != nil {
		return err
	}
	if err := writeCert(filepath.Join(dir, dirTLSCACerts, tlsCA.name+"-cert.pem"), tlsCA.cert); err != nil {
		return err
	}
	if nodeOUs {
		return writeNodeOUsConfig(dir, signCA.name)
	}
	return nil
}

// writeLocalMSP writes a node's or user's msp/ (signing key and certificate,
// CA certificates, config.yaml) and tls/ (ca.crt, <prefix>.crt, <prefix>.key).
func writeLocalMSP(baseDir, cn string, sans []string, signCA, tlsCA *certAuthority, ou string, nodeOUs bool, tlsPrefix string) error {
	mspDir := filepath.Join(baseDir, "msp")
	tlsDir := filepath.Join(baseDir, "tls")
	if err := os.MkdirAll(filepath.Join(mspDir, dirAdminCerts), 0o755); err != nil {
		return err
	}
	key, err := writeNewKey(filepath.Join(mspDir, "keystore", "priv_sk"))
	if err != nil {
		return err
	}
	var ous []string
	if nodeOUs {
		ous = []string{ou}
	}
	cert, err := signCA.issue(cn, ous, nil, &key.PublicKey, x509.KeyUsageDigitalSignature, nil)
	if err != nil {
		return err
	}
	if err := writeCert(filepath.Join(mspDir, "signcerts", cn+"-cert.pem"), cert); err != nil {
		return err
	}
	if err := writeCert(filepath.Join(mspDir, dirCACerts, signCA.name+"-cert.pem"), signCA.cert); err != nil {
		return err
	}
	if err := writeCert(filepath.Join(mspDir, dirTLSCACerts, tlsCA.name+"-cert.pem"), tlsCA.cert); err != nil {
		return err
	}
	if nodeOUs {
		if err := writeNodeOUsConfig(mspDir, signCA.name); err != nil {
			return err
		}
	} else if err := writeCert(filepath.Join(mspDir, dirAdminCerts, cn+"-cert.pem"), cert); err != nil {
		return err
	}
	tlsKey, err := writeNewKey(filepath.Join(tlsDir, tlsPrefix+".key"))
	if err != nil {
		return err
	}
	tlsCert, err := tlsCA.issue(cn, nil, sans, &tlsKey.PublicKey,
		x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment,
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
	if err != nil {
		return err
	}
	if err := writeCert(filepath.Join(tlsDir, tlsPrefix+".crt"), tlsCert); err != nil {
		return err
	}
	return writeCert(filepath.Join(tlsDir, "ca.crt"), tlsCA.cert)
}

// writeNodeOUsConfig writes config.yaml exactly as cryptogen does.
func writeNodeOUsConfig(mspDir, caName string) error {
	caFile := "cacerts/" + caName + "-cert.pem"
	var b bytes.Buffer
	b.WriteString("NodeOUs:\n  Enable: true\n")
	for _, e := range []struct{ key, ou string }{
		{"ClientOUIdentifier", OUClient}, {"PeerOUIdentifier", OUPeer},
		{"AdminOUIdentifier", OUAdmin}, {"OrdererOUIdentifier", OUOrderer},
	} {
		fmt.Fprintf(&b, "  %s:\n    Certificate: %s\n    OrganizationalUnitIdentifier: %s\n", e.key, caFile, e.ou)
	}
	return writeFile(filepath.Join(mspDir, fileConfig), b.Bytes(), 0o644)
}

func writeNewKey(path string) (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return key, nil
}

func writeCert(path string, cert *x509.Certificate) error {
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
