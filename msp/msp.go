package msp

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"time"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// maxCachedIdentities bounds the validation cache of one MSP. A channel sees a
// few hundred distinct identities in practice; past the bound, arbitrary
// entries are evicted (a miss only costs one chain verification).
const maxCachedIdentities = 4096

// MSP is one organisation's membership service provider built from a
// FabricMSPConfig: it validates identities against the organisation's root and
// intermediate CAs, classifies them by NodeOU and matches them to principals.
// An MSP is immutable after New and safe for concurrent use.
type MSP struct {
	conf *mspproto.FabricMSPConfig
	name string

	roots         []*x509.Certificate // low-S normalised, as Fabric holds them
	intermediates []*x509.Certificate
	verifyRoots   *x509.CertPool
	verifyInter   *x509.CertPool
	admins        map[string]bool // normalised DER of admin certificates
	crls          []*x509.RevocationList
	ouIdentifiers map[string][][]byte // OU name -> accepted certifiers identifiers
	nodeOUs       bool
	nodeOU        map[mspproto.MSPRole_MSPRoleType]*ouIdentifier
	tlsRoots      *x509.CertPool

	cache *validationCache
}

type ouIdentifier struct {
	name       string
	certifiers []byte // SHA-256 over the issuing CA chain; empty = any CA of the MSP
}

// validation is the cached outcome of checking one certificate.
type validation struct {
	err        error
	cert       *x509.Certificate // the identity's certificate, normalised (low-S CA signature)
	normalised []byte            // cert.Raw
	ous        []ouIdentifier    // the certificate's OUs with the chain's certifiers identifier
}

type validationCache struct {
	mu sync.Mutex // guards m
	m  map[[32]byte]*validation
}

func (c *validationCache) get(k [32]byte) (*validation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *validationCache) put(k [32]byte, v *validation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for old := range c.m {
		if len(c.m) < maxCachedIdentities {
			break
		}
		delete(c.m, old)
	}
	c.m[k] = v
}

// New builds an MSP from its channel-config definition. It checks that root and
// intermediate certificates are CAs, that intermediates chain to the roots and
// are not revoked by a CRL of the definition (issued by any CA above them),
// resolves NodeOU and OU identifier certificates to certifiers identifiers,
// and requires admins when no admin OU is configured, as Fabric does.
func New(conf *mspproto.FabricMSPConfig) (*MSP, error) {
	if conf == nil {
		return nil, fmt.Errorf("msp.New: nil FabricMSPConfig")
	}
	if conf.Name == "" {
		return nil, fmt.Errorf("msp.New: FabricMSPConfig has no name (MSP ID)")
	}
	m := &MSP{
		conf:   proto.Clone(conf).(*mspproto.FabricMSPConfig),
		name:   conf.Name,
		admins: map[string]bool{},
		nodeOU: map[mspproto.MSPRole_MSPRoleType]*ouIdentifier{},
		cache:  &validationCache{m: map[[32]byte]*validation{}},
	}
	if err := m.setupCAs(); err != nil {
		return nil, fmt.Errorf("MSP %s: %w", m.name, err)
	}
	if err := m.setupCRLs(); err != nil {
		return nil, fmt.Errorf("MSP %s: %w", m.name, err)
	}
	if err := m.checkIntermediatesNotRevoked(); err != nil {
		return nil, fmt.Errorf("MSP %s: %w", m.name, err)
	}
	if err := m.setupOUs(); err != nil {
		return nil, fmt.Errorf("MSP %s: %w", m.name, err)
	}
	if err := m.setupAdmins(); err != nil {
		return nil, fmt.Errorf("MSP %s: %w", m.name, err)
	}
	tls, err := certPool(m.conf.TlsRootCerts, m.conf.TlsIntermediateCerts)
	if err != nil {
		return nil, fmt.Errorf("MSP %s: TLS CA certificates: %w", m.name, err)
	}
	m.tlsRoots = tls
	return m, nil
}

// ID returns the MSP identifier (e.g. "Org1MSP").
func (m *MSP) ID() string { return m.name }

// Config returns a copy of the definition the MSP was built from.
func (m *MSP) Config() *mspproto.FabricMSPConfig {
	return proto.Clone(m.conf).(*mspproto.FabricMSPConfig)
}

// TLSRootCAs returns a pool with the MSP's TLS root and intermediate CAs, for
// verifying the TLS certificates of the organisation's nodes and clients.
func (m *MSP) TLSRootCAs() *x509.CertPool { return m.tlsRoots.Clone() }

// NodeOUsEnabled reports whether identities are classified by NodeOU.
func (m *MSP) NodeOUsEnabled() bool { return m.nodeOUs }

func (m *MSP) setupCAs() error {
	if len(m.conf.RootCerts) == 0 {
		return fmt.Errorf("no root CA certificate; an MSP needs at least one")
	}
	m.verifyRoots = x509.NewCertPool()
	for i, raw := range m.conf.RootCerts {
		cert, err := parseCertPEM(raw)
		if err != nil {
			return fmt.Errorf("root certificate %d: %w", i, err)
		}
		if !cert.IsCA {
			return fmt.Errorf("root certificate %q is not a CA (basic constraints CA:FALSE)", cert.Subject.String())
		}
		if cert, err = sanitizeCert(cert, cert); err != nil {
			return fmt.Errorf("root certificate: %w", err)
		}
		m.roots = append(m.roots, cert)
		m.verifyRoots.AddCert(cert)
	}
	parsed := make([]*x509.Certificate, 0, len(m.conf.IntermediateCerts))
	pending := x509.NewCertPool()
	for i, raw := range m.conf.IntermediateCerts {
		cert, err := parseCertPEM(raw)
		if err != nil {
			return fmt.Errorf("intermediate certificate %d: %w", i, err)
		}
		if !cert.IsCA {
			return fmt.Errorf("intermediate certificate %q is not a CA (basic constraints CA:FALSE)", cert.Subject.String())
		}
		parsed = append(parsed, cert)
		pending.AddCert(cert)
	}
	m.verifyInter = x509.NewCertPool()
	for _, cert := range parsed {
		chain, err := verifyChain(cert, m.verifyRoots, pending)
		if err != nil {
			return fmt.Errorf("intermediate certificate %q does not chain to a root CA: %w", cert.Subject.String(), err)
		}
		if cert, err = sanitizeCert(cert, chain[1]); err != nil {
			return fmt.Errorf("intermediate certificate: %w", err)
		}
		m.intermediates = append(m.intermediates, cert)
		m.verifyInter.AddCert(cert)
	}
	return nil
}

func (m *MSP) setupCRLs() error {
	for i, raw := range m.conf.RevocationList {
		block, _ := pem.Decode(raw)
		der := raw
		if block != nil {
			der = block.Bytes
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return fmt.Errorf("revocation list %d: %w", i, err)
		}
		m.crls = append(m.crls, crl)
	}
	return nil
}

// checkIntermediatesNotRevoked refuses a definition whose CRLs revoke one of
// its own intermediate CAs (or a CA above one), as Fabric refuses it when it
// sets the MSP up: every identity issued under it would be invalid anyway.
func (m *MSP) checkIntermediatesNotRevoked() error {
	for _, ic := range m.intermediates {
		chain, err := verifyChain(ic, m.verifyRoots, m.verifyInter)
		if err != nil {
			return fmt.Errorf("intermediate certificate %q does not chain to a root CA: %w", ic.Subject.String(), err)
		}
		if err := m.revoked(chain); err != nil {
			return fmt.Errorf("intermediate certificate %q cannot be used: %w", ic.Subject.String(), err)
		}
	}
	return nil
}

// revoked returns why a certificate of chain (leaf first, root last) is
// revoked by a CRL of the MSP that its issuer, the next certificate in the
// chain, signed; nil when none is. A CRL signed by anyone else does not count.
// Revocation applies whatever the CRL's dates say, as in Fabric.
func (m *MSP) revoked(chain []*x509.Certificate) error {
	for k := 0; k+1 < len(chain); k++ {
		cert, issuer := chain[k], chain[k+1]
		for _, crl := range m.crls {
			if crl.CheckSignatureFrom(issuer) != nil {
				continue
			}
			for _, rc := range crl.RevokedCertificateEntries {
				if rc.SerialNumber.Cmp(cert.SerialNumber) == 0 {
					return fmt.Errorf("certificate %q (serial %s) is revoked by the CRL of %q", cert.Subject.String(), cert.SerialNumber, issuer.Subject.String())
				}
			}
		}
	}
	return nil
}

// certifiersIdentifier resolves a CA certificate of the MSP (root or
// intermediate) to the SHA-256 over its chain up to the root, the value that
// ties an OU to the CA that issued it.
func (m *MSP) certifiersIdentifier(pemCert []byte) ([]byte, error) {
	cert, err := parseCertPEM(pemCert)
	if err != nil {
		return nil, err
	}
	for _, r := range m.roots {
		if s, err := sanitizeCert(cert, r); err == nil && bytes.Equal(s.Raw, r.Raw) {
			return chainIdentifier([]*x509.Certificate{r}), nil
		}
	}
	for _, ic := range m.intermediates {
		if bytes.Equal(cert.RawTBSCertificate, ic.RawTBSCertificate) {
			chain, err := verifyChain(ic, m.verifyRoots, m.verifyInter)
			if err != nil {
				return nil, err
			}
			return chainIdentifier(chain), nil
		}
	}
	return nil, fmt.Errorf("certificate %q is neither a root nor an intermediate CA of the MSP", cert.Subject.String())
}

func (m *MSP) setupOUs() error {
	m.ouIdentifiers = map[string][][]byte{}
	for _, ou := range m.conf.OrganizationalUnitIdentifiers {
		cid, err := m.certifiersIdentifier(ou.Certificate)
		if err != nil {
			return fmt.Errorf("organizational unit identifier %q: %w", ou.OrganizationalUnitIdentifier, err)
		}
		m.ouIdentifiers[ou.OrganizationalUnitIdentifier] = append(m.ouIdentifiers[ou.OrganizationalUnitIdentifier], cid)
	}
	n := m.conf.FabricNodeOus
	if n == nil || !n.Enable {
		return nil
	}
	m.nodeOUs = true
	for role, cfg := range map[mspproto.MSPRole_MSPRoleType]*mspproto.FabricOUIdentifier{
		mspproto.MSPRole_CLIENT:  n.ClientOuIdentifier,
		mspproto.MSPRole_PEER:    n.PeerOuIdentifier,
		mspproto.MSPRole_ADMIN:   n.AdminOuIdentifier,
		mspproto.MSPRole_ORDERER: n.OrdererOuIdentifier,
	} {
		if cfg == nil || cfg.OrganizationalUnitIdentifier == "" {
			continue
		}
		oi := &ouIdentifier{name: cfg.OrganizationalUnitIdentifier}
		if len(cfg.Certificate) > 0 {
			cid, err := m.certifiersIdentifier(cfg.Certificate)
			if err != nil {
				return fmt.Errorf("NodeOUs %s OU %q: %w", role, cfg.OrganizationalUnitIdentifier, err)
			}
			oi.certifiers = cid
		}
		m.nodeOU[role] = oi
	}
	return nil
}

func (m *MSP) setupAdmins() error {
	for i, raw := range m.conf.Admins {
		cert, err := parseCertPEM(raw)
		if err != nil {
			return fmt.Errorf("admin certificate %d: %w", i, err)
		}
		norm := cert.Raw
		if chain, err := verifyChain(cert, m.verifyRoots, m.verifyInter); err == nil {
			if s, err := sanitizeCert(cert, chain[1]); err == nil {
				norm = s.Raw
			}
		}
		m.admins[string(norm)] = true
	}
	if len(m.admins) == 0 && (!m.nodeOUs || m.nodeOU[mspproto.MSPRole_ADMIN] == nil) {
		return fmt.Errorf("no admin: declare admin certificates (admincerts) or enable NodeOUs with an AdminOUIdentifier")
	}
	return nil
}

// DeserializeIdentity decodes a marshalled msp.SerializedIdentity of this MSP.
// It parses only; call Validate to check the identity.
func (m *MSP) DeserializeIdentity(serialized []byte) (*Identity, error) {
	id, err := ParseSerializedIdentity(serialized)
	if err != nil {
		return nil, fmt.Errorf("deserialize identity for MSP %s: %w", m.name, err)
	}
	if id.MSPID != m.name {
		return nil, fmt.Errorf("%w: identity %s is not of MSP %s", ErrInvalidIdentity, id, m.name)
	}
	return id, nil
}

// Validate checks that id belongs to this MSP: its certificate is not a CA,
// chains to exactly one root through the configured intermediates, neither it
// nor a CA of its chain is revoked by a CRL of the MSP, it carries a
// configured OU when OU identifiers are set, and exactly one node OU (client,
// peer, admin, orderer) when NodeOUs are enabled. Like Fabric, it does not
// check expiry, so its verdict never depends on the time: see
// Identity.CheckExpiry. Results are cached per certificate.
func (m *MSP) Validate(id *Identity) error {
	_, err := m.validate(id)
	return err
}

func (m *MSP) validate(id *Identity) (*validation, error) {
	if id == nil || id.Cert == nil {
		return nil, fmt.Errorf("%w: nil identity", ErrInvalidIdentity)
	}
	if id.MSPID != m.name {
		return nil, fmt.Errorf("%w: identity %s is not of MSP %s", ErrInvalidIdentity, id, m.name)
	}
	var v *validation
	if memo := id.valid.Load(); memo != nil && memo.by == m {
		v = memo.v
	} else {
		key := sha256.Sum256(id.Cert.Raw)
		var ok bool
		if v, ok = m.cache.get(key); !ok {
			v = m.check(id.Cert)
			m.cache.put(key, v)
		}
		id.valid.Store(&validity{by: m, v: v})
	}
	if v.err != nil {
		return nil, fmt.Errorf("%w: identity %s: %v", ErrInvalidIdentity, id, v.err)
	}
	return v, nil
}

func (m *MSP) check(cert *x509.Certificate) *validation {
	if cert.IsCA {
		return &validation{err: fmt.Errorf("a CA certificate (basic constraints CA:TRUE) cannot be used as an identity")}
	}
	chain, err := verifyChain(cert, m.verifyRoots, m.verifyInter)
	if err != nil {
		return &validation{err: fmt.Errorf("certificate issued by %q does not chain to a CA of MSP %s: %v",
			cert.Issuer.String(), m.name, err)}
	}
	// Every link is checked: a CA above the identity's issuer may have
	// revoked the intermediate that issued it.
	if err := m.revoked(chain); err != nil {
		return &validation{err: err}
	}
	norm, err := sanitizeCert(cert, chain[1])
	if err != nil {
		return &validation{err: err}
	}
	v := &validation{cert: norm, normalised: norm.Raw}
	cid := chainIdentifier(chain[1:])
	for _, ou := range cert.Subject.OrganizationalUnit {
		v.ous = append(v.ous, ouIdentifier{name: ou, certifiers: cid})
	}
	if len(m.ouIdentifiers) > 0 && !m.hasConfiguredOU(v.ous) {
		v.err = fmt.Errorf("none of the certificate's OUs %v is an organizational unit identifier of MSP %s", cert.Subject.OrganizationalUnit, m.name)
		return v
	}
	if m.nodeOUs {
		if _, err := m.nodeRole(v.ous); err != nil {
			v.err = err
		}
	}
	return v
}

func (m *MSP) hasConfiguredOU(ous []ouIdentifier) bool {
	for _, ou := range ous {
		for _, cid := range m.ouIdentifiers[ou.name] {
			if bytes.Equal(cid, ou.certifiers) {
				return true
			}
		}
	}
	return false
}

// nodeRole finds the single node OU among ous.
func (m *MSP) nodeRole(ous []ouIdentifier) (mspproto.MSPRole_MSPRoleType, error) {
	var found []mspproto.MSPRole_MSPRoleType
	for _, ou := range ous {
		for _, role := range []mspproto.MSPRole_MSPRoleType{mspproto.MSPRole_CLIENT, mspproto.MSPRole_PEER, mspproto.MSPRole_ADMIN, mspproto.MSPRole_ORDERER} {
			nou := m.nodeOU[role]
			if nou == nil || nou.name != ou.name {
				continue
			}
			if len(nou.certifiers) > 0 && !bytes.Equal(nou.certifiers, ou.certifiers) {
				return 0, fmt.Errorf("OU %q was issued by a CA other than the one NodeOUs require for %s", ou.name, role)
			}
			found = append(found, role)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return 0, fmt.Errorf("the certificate carries no node OU (client, peer, admin or orderer) of MSP %s; its OUs are %s",
			m.name, ouNames(ous))
	default:
		return 0, fmt.Errorf("the certificate carries several node OUs %v of MSP %s; an identity must be exactly one of client, peer, admin or orderer", found, m.name)
	}
}

// NodeRole validates id and returns its node OU role (CLIENT, PEER, ADMIN or
// ORDERER). It fails when NodeOUs are not enabled in the MSP.
func (m *MSP) NodeRole(id *Identity) (mspproto.MSPRole_MSPRoleType, error) {
	if !m.nodeOUs {
		return 0, fmt.Errorf("MSP %s has NodeOUs disabled: it cannot tell clients, peers, admins and orderers apart", m.name)
	}
	v, err := m.validate(id)
	if err != nil {
		return 0, err
	}
	return m.nodeRole(v.ous)
}

func ouNames(ous []ouIdentifier) string {
	names := make([]string, 0, len(ous))
	for _, ou := range ous {
		names = append(names, ou.name)
	}
	return "[" + strings.Join(names, ", ") + "]"
}

func verifyChain(cert *x509.Certificate, roots, inter *x509.CertPool) ([]*x509.Certificate, error) {
	// Fabric verifies at NotBefore+1s: an MSP decides membership, expiry is
	// checked separately by whoever cares about time.
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   cert.NotBefore.Add(time.Second),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, err
	}
	if len(chains) != 1 {
		return nil, fmt.Errorf("found %d certification chains, an MSP accepts exactly one", len(chains))
	}
	if len(chains[0]) < 2 {
		return nil, fmt.Errorf("certification chain has length %d, want at least 2", len(chains[0]))
	}
	return chains[0], nil
}

func chainIdentifier(chain []*x509.Certificate) []byte {
	h := sha256.New()
	for _, c := range chain {
		h.Write(c.Raw)
	}
	return h.Sum(nil)
}

func certPool(pems ...[][]byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, list := range pems {
		for _, raw := range list {
			cert, err := parseCertPEM(raw)
			if err != nil {
				return nil, err
			}
			pool.AddCert(cert)
		}
	}
	return pool, nil
}
