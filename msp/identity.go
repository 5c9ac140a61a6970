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
	"sort"
	"sync/atomic"
	"time"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// Sentinel errors callers may branch on with errors.Is.
var (
	// ErrBadSignature: the signature does not verify, is malformed or is high-S.
	ErrBadSignature = errors.New("msp: invalid signature")
	// ErrUnknownMSP: the identity names an MSP that is not part of the channel.
	ErrUnknownMSP = errors.New("msp: unknown MSP")
	// ErrInvalidIdentity: the identity does not chain to the MSP's CAs or breaks its rules.
	ErrInvalidIdentity = errors.New("msp: invalid identity")
	// ErrPrincipalNotSatisfied: a valid identity does not satisfy the principal.
	ErrPrincipalNotSatisfied = errors.New("msp: principal not satisfied")
	// ErrExpired: the identity's certificate has expired at the time it is checked at.
	ErrExpired = errors.New("msp: certificate expired")
)

// Identity is an X.509 identity of one MSP, as carried in a serialized
// msp.SerializedIdentity (the creator of a proposal or envelope, an endorser).
// In identities a Manager returns, Cert is normalised (see
// Manager.DeserializeIdentity), so MSPID and Cert.Raw identify the signer.
type Identity struct {
	MSPID      string
	Cert       *x509.Certificate
	Serialized []byte // marshalled mspproto.SerializedIdentity{Mspid, IdBytes = PEM certificate}

	name  atomic.Pointer[string]   // String, computed once (identities are shared through caches)
	valid atomic.Pointer[validity] // the last MSP that validated this identity and its verdict
}

// validity is an MSP's verdict on an identity, kept on the identity so that
// checking it against several principals for each signature does not hash its
// certificate and take the MSP's cache lock every time. An MSP never changes,
// so its verdict on one certificate never does either.
type validity struct {
	by *MSP
	v  *validation
}

// String names the identity in errors and logs: subject and MSP.
func (id *Identity) String() string {
	if id == nil || id.Cert == nil {
		return "<nil identity>"
	}
	if n := id.name.Load(); n != nil {
		return *n
	}
	n := fmt.Sprintf("%q of MSP %s", id.Cert.Subject.String(), id.MSPID)
	id.name.Store(&n)
	return n
}

// Verify checks an ECDSA signature by the identity over SHA-256(msg). Like
// Fabric it requires a DER SEQUENCE{r, s} with positive r and s, and refuses
// signatures whose s is in the upper half of the curve order (high-S), so each
// signature has exactly one accepted encoding.
func (id *Identity) Verify(msg, sig []byte) error {
	pub, ok := id.Cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: identity %s has a %T key, only ECDSA is supported", ErrBadSignature, id, id.Cert.PublicKey)
	}
	r, s, canonical := parseCanonicalECDSASignature(sig)
	if !canonical {
		var err error
		if r, s, err = unmarshalECDSASignature(sig); err != nil {
			return fmt.Errorf("%w by identity %s: %v", ErrBadSignature, id, err)
		}
	}
	if !isLowS(pub.Curve, s) {
		return fmt.Errorf("%w by identity %s: S is in the upper half of the curve order (high-S); sign with low-S normalisation", ErrBadSignature, id)
	}
	digest := sha256.Sum256(msg)
	var valid bool
	if canonical && wholeDER(sig) {
		// ecdsa.Verify would encode (r, s) back into these very bytes.
		valid = ecdsa.VerifyASN1(pub, digest[:], sig)
	} else {
		valid = ecdsa.Verify(pub, digest[:], r, s)
	}
	if !valid {
		return fmt.Errorf("%w by identity %s: the signature does not match the message and the certificate's public key", ErrBadSignature, id)
	}
	return nil
}

// wholeDER reports whether sig's SEQUENCE, in the short length form, takes
// all of sig. A canonical signature (parseCanonicalECDSASignature) that is
// whole is the form crypto/ecdsa encodes (r, s) into, which VerifyASN1
// reads; anything else keeps to ecdsa.Verify with the (r, s) decoded as
// before, so trailing bytes and other forms encoding/asn1 accepts are judged
// as they always were.
func wholeDER(sig []byte) bool {
	return len(sig) >= 2 && sig[1] < 0x80 && len(sig) == 2+int(sig[1])
}

// CheckExpiry returns an error wrapping ErrExpired, naming the identity and
// its certificate's NotAfter, when the certificate has expired at t (t is
// after NotAfter). The caller chooses t: the current time where a node admits
// a request, a transaction's own timestamp where every peer must reach the
// same verdict at any time. Like Fabric it looks at the identity's own
// certificate only, not at NotBefore nor at the CAs above it.
func (id *Identity) CheckExpiry(t time.Time) error {
	if id == nil || id.Cert == nil {
		return fmt.Errorf("%w: nil identity", ErrInvalidIdentity)
	}
	if na := id.Cert.NotAfter; t.After(na) {
		return fmt.Errorf("%w: identity %s: its certificate expired at %s (NotAfter), before %s",
			ErrExpired, id, na.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}
	return nil
}

// CheckExpiry is Identity.CheckExpiry for a marshalled msp.SerializedIdentity.
// It returns nil when serialized holds no parsable certificate: whoever
// validates the identity refuses it then, and this check is only about time
// (Fabric's orderer and deliver service decide the same way).
func CheckExpiry(serialized []byte, t time.Time) error {
	id, err := ParseSerializedIdentity(serialized)
	if err != nil {
		return nil
	}
	return id.CheckExpiry(t)
}

// SigningIdentity is an Identity with its private key. It satisfies protos.Signer.
type SigningIdentity struct {
	*Identity
	Key *ecdsa.PrivateKey
}

// Sign returns a low-S DER ECDSA signature over SHA-256(msg).
func (s *SigningIdentity) Sign(msg []byte) ([]byte, error) {
	digest := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, s.Key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("sign as %s: %w", s.Identity, err)
	}
	// Fabric accepts only low-S signatures; about half come out high and
	// are re-encoded.
	return signatureToLowS(&s.Key.PublicKey, sig)
}

// Serialize returns the marshalled msp.SerializedIdentity of the signer.
func (s *SigningIdentity) Serialize() ([]byte, error) {
	if len(s.Serialized) == 0 {
		return nil, fmt.Errorf("identity %s has no serialized form", s.Identity)
	}
	return s.Serialized, nil
}

// NewIdentity builds the Identity of cert in MSP mspID, serializing it as Fabric does.
func NewIdentity(mspID string, cert *x509.Certificate) *Identity {
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	ser, _ := proto.Marshal(&mspproto.SerializedIdentity{Mspid: mspID, IdBytes: pemBytes})
	return &Identity{MSPID: mspID, Cert: cert, Serialized: ser}
}

// ParseSerializedIdentity decodes a marshalled msp.SerializedIdentity into an
// Identity without validating it against any MSP.
func ParseSerializedIdentity(serialized []byte) (*Identity, error) {
	sid := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(serialized, sid); err != nil {
		return nil, fmt.Errorf("decode msp.SerializedIdentity: %w", err)
	}
	if sid.Mspid == "" {
		return nil, fmt.Errorf("serialized identity has no mspid")
	}
	cert, err := parseCertPEM(sid.IdBytes)
	if err != nil {
		return nil, fmt.Errorf("identity of MSP %s: %w", sid.Mspid, err)
	}
	return &Identity{MSPID: sid.Mspid, Cert: cert, Serialized: serialized}, nil
}

// LoadSigningIdentity loads the signing identity of an MSP folder: the first
// certificate in <mspDir>/signcerts and the PKCS#8 (or SEC1) EC private key in
// <mspDir>/keystore that matches it, whatever the key file is called.
func LoadSigningIdentity(mspDir, mspID string) (*SigningIdentity, error) {
	certs, err := readPEMDir(filepath.Join(mspDir, "signcerts"))
	if err != nil {
		return nil, fmt.Errorf("load signing certificate of MSP %s: %w", mspID, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("load signing certificate of MSP %s: no PEM certificate in %s", mspID, filepath.Join(mspDir, "signcerts"))
	}
	cert, err := parseCertPEM(certs[0].data)
	if err != nil {
		return nil, fmt.Errorf("signing certificate %s: %w", certs[0].path, err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("signing certificate %s holds a %T key, only ECDSA is supported", certs[0].path, cert.PublicKey)
	}
	keyDir := filepath.Join(mspDir, "keystore")
	entries, err := os.ReadDir(keyDir)
	if err != nil {
		return nil, fmt.Errorf("read keystore of MSP %s: %w", mspID, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(keyDir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read key %s: %w", filepath.Join(keyDir, e.Name()), err)
		}
		key, err := ParsePrivateKeyPEM(raw)
		if err != nil {
			continue // not a key file we understand; keep looking
		}
		if key.PublicKey.Equal(pub) {
			return &SigningIdentity{Identity: NewIdentity(mspID, cert), Key: key}, nil
		}
	}
	return nil, fmt.Errorf("no EC private key in %s matches the certificate %s (subject %q)", keyDir, certs[0].path, cert.Subject.String())
}

// ParsePrivateKeyPEM decodes a PEM "PRIVATE KEY" (PKCS#8) or "EC PRIVATE KEY" (SEC1) ECDSA key.
func ParsePrivateKeyPEM(raw []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("PKCS#8 key is %T, not ECDSA", k)
		}
		return ek, nil
	}
	k, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("neither a PKCS#8 nor a SEC1 EC private key: %w", err)
	}
	return k, nil
}

type ecdsaSignature struct{ R, S *big.Int }

// unmarshalECDSASignature decodes DER SEQUENCE{r, s}. Trailing bytes after the
// SEQUENCE are ignored, as Fabric does, so Weft and Fabric peers agree on every
// transaction's validity.
func unmarshalECDSASignature(raw []byte) (*big.Int, *big.Int, error) {
	// Nearly every signature is in the canonical form, which a few byte
	// comparisons decode; encoding/asn1's reflection cost a few µs per
	// signature, on every proposal and every endorsement. Anything else
	// goes to encoding/asn1, whose verdict stays the rule.
	if r, s, ok := parseCanonicalECDSASignature(raw); ok {
		return r, s, nil
	}
	var sig ecdsaSignature
	if _, err := asn1.Unmarshal(raw, &sig); err != nil {
		return nil, nil, fmt.Errorf("signature is not DER SEQUENCE{r, s}: %v", err)
	}
	if sig.R == nil || sig.S == nil {
		return nil, nil, fmt.Errorf("signature lacks r or s")
	}
	if sig.R.Sign() <= 0 || sig.S.Sign() <= 0 {
		return nil, nil, fmt.Errorf("signature r and s must be positive")
	}
	return sig.R, sig.S, nil
}

// parseCanonicalECDSASignature decodes raw when it starts with a DER
// SEQUENCE holding exactly two positive, minimally encoded INTEGERs with
// minimal lengths (bytes after the SEQUENCE are ignored). For every input it
// accepts, encoding/asn1 accepts it too and decodes the same r and s; it
// reports false for everything else, leaving the decision to encoding/asn1.
func parseCanonicalECDSASignature(raw []byte) (r, s *big.Int, ok bool) {
	if len(raw) < 2 || raw[0] != 0x30 { // universal, constructed, SEQUENCE
		return nil, nil, false
	}
	body, _, ok := derContents(raw[1:])
	if !ok {
		return nil, nil, false
	}
	if r, body, ok = derPositiveInt(body); !ok {
		return nil, nil, false
	}
	if s, body, ok = derPositiveInt(body); !ok || len(body) != 0 {
		return nil, nil, false
	}
	return r, s, true
}

// derContents splits b, which starts with a DER length, into the contents
// that length covers and what follows. Only the short form and the one-byte
// long form (lengths 128 to 255) are taken: signatures are shorter.
func derContents(b []byte) (contents, rest []byte, ok bool) {
	if len(b) == 0 {
		return nil, nil, false
	}
	n := int(b[0])
	switch {
	case n < 0x80:
		b = b[1:]
	case n == 0x81 && len(b) >= 2 && b[1] >= 0x80:
		n, b = int(b[1]), b[2:]
	default:
		return nil, nil, false
	}
	if n > len(b) {
		return nil, nil, false
	}
	return b[:n], b[n:], true
}

// derPositiveInt decodes a DER INTEGER at the start of b that is positive
// and minimally encoded, and returns what follows it.
func derPositiveInt(b []byte) (*big.Int, []byte, bool) {
	if len(b) < 2 || b[0] != 0x02 {
		return nil, nil, false
	}
	v, rest, ok := derContents(b[1:])
	if !ok || len(v) == 0 || v[0]&0x80 != 0 {
		return nil, nil, false // empty or negative
	}
	if v[0] == 0 && (len(v) == 1 || v[1]&0x80 == 0) {
		return nil, nil, false // zero, or a leading zero byte not needed
	}
	return new(big.Int).SetBytes(v), rest, true
}

// marshalECDSASignature encodes (r, s) as DER SEQUENCE{INTEGER r, INTEGER
// s}, the bytes encoding/asn1 writes, without its reflection; a body too
// long for a one-byte length (curves beyond P-384) goes to encoding/asn1.
func marshalECDSASignature(r, s *big.Int) ([]byte, error) {
	if r.Sign() < 0 || s.Sign() < 0 {
		return asn1.Marshal(ecdsaSignature{R: r, S: s})
	}
	rb, sb := r.Bytes(), s.Bytes()
	n := derIntegerLen(rb) + derIntegerLen(sb)
	if n > 127 {
		return asn1.Marshal(ecdsaSignature{R: r, S: s})
	}
	out := make([]byte, 0, 2+n)
	out = append(out, 0x30, byte(n))
	out = appendDERInteger(out, rb)
	return appendDERInteger(out, sb), nil
}

// derIntegerLen is the length of the DER INTEGER of the non-negative
// big-endian magnitude b (no leading zeros, as big.Int.Bytes gives it).
func derIntegerLen(b []byte) int {
	if len(b) == 0 || b[0]&0x80 != 0 {
		return 3 + len(b) // tag, length, a zero byte that keeps it positive
	}
	return 2 + len(b)
}

func appendDERInteger(out, b []byte) []byte {
	switch {
	case len(b) == 0:
		return append(out, 0x02, 0x01, 0x00)
	case b[0]&0x80 != 0:
		out = append(out, 0x02, byte(len(b)+1), 0x00)
	default:
		out = append(out, 0x02, byte(len(b)))
	}
	return append(out, b...)
}

func isLowS(curve elliptic.Curve, s *big.Int) bool {
	return s.Cmp(halfOrder(curve)) <= 0
}

// halfOrders holds N/2 of the NIST curves, asked for with every signature.
var halfOrders = map[elliptic.Curve]*big.Int{}

func init() {
	for _, c := range []elliptic.Curve{elliptic.P224(), elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		halfOrders[c] = new(big.Int).Rsh(c.Params().N, 1)
	}
}

func halfOrder(curve elliptic.Curve) *big.Int {
	if h, ok := halfOrders[curve]; ok {
		return h
	}
	return new(big.Int).Rsh(curve.Params().N, 1)
}

func toLowS(curve elliptic.Curve, s *big.Int) *big.Int {
	if isLowS(curve, s) {
		return s
	}
	return new(big.Int).Sub(curve.Params().N, s)
}

// signatureToLowS re-encodes a DER ECDSA signature with low S; it returns sig
// unchanged when it already is low-S.
func signatureToLowS(pub *ecdsa.PublicKey, sig []byte) ([]byte, error) {
	r, s, err := unmarshalECDSASignature(sig)
	if err != nil {
		return nil, err
	}
	if isLowS(pub.Curve, s) {
		return sig, nil
	}
	return marshalECDSASignature(r, toLowS(pub.Curve, s))
}

// rawCertificate mirrors the outer structure of an X.509 certificate so its
// signature can be replaced without touching the signed part.
type rawCertificate struct {
	TBSCertificate     asn1.RawValue
	SignatureAlgorithm asn1.RawValue
	SignatureValue     asn1.BitString
}

// sanitizeCert returns cert with its ECDSA signature in low-S form, as Fabric
// normalises every certificate it handles (roots, intermediates, identities):
// certificate equality and the certifiers identifier (a hash over the CA chain)
// are computed on the normalised bytes. parent is the issuer (cert itself for a
// self-signed root).
func sanitizeCert(cert, parent *x509.Certificate) (*x509.Certificate, error) {
	switch cert.SignatureAlgorithm {
	case x509.ECDSAWithSHA1, x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
	default:
		return cert, nil
	}
	pub, ok := parent.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return cert, nil
	}
	lowS, err := signatureToLowS(pub, cert.Signature)
	if err != nil {
		return nil, fmt.Errorf("certificate %q has a malformed ECDSA signature: %w", cert.Subject.String(), err)
	}
	if string(lowS) == string(cert.Signature) {
		return cert, nil
	}
	var rc rawCertificate
	if _, err := asn1.Unmarshal(cert.Raw, &rc); err != nil {
		return nil, fmt.Errorf("re-encode certificate %q: %w", cert.Subject.String(), err)
	}
	rc.SignatureValue = asn1.BitString{Bytes: lowS, BitLength: 8 * len(lowS)}
	der, err := asn1.Marshal(rc)
	if err != nil {
		return nil, fmt.Errorf("re-encode certificate %q: %w", cert.Subject.String(), err)
	}
	return x509.ParseCertificate(der)
}

func parseCertPEM(raw []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("id_bytes hold no PEM block")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE", block.Type)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse X.509 certificate: %w", err)
	}
	return cert, nil
}

type pemFile struct {
	path string
	data []byte
}

// readPEMDir returns the regular files of dir that start with a PEM block, in
// name order, skipping the others as Fabric does. A missing dir is an
// os.ErrNotExist error.
func readPEMDir(dir string) ([]pemFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var out []pemFile
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		if b, _ := pem.Decode(data); b == nil {
			continue
		}
		out = append(out, pemFile{path: p, data: data})
	}
	return out, nil
}
