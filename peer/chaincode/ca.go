package chaincode

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"time"

	"google.golang.org/grpc/credentials"
	grpcpeer "google.golang.org/grpc/peer"
)

// CA is the peer's chaincode certificate authority: a key pair made when the
// peer starts, kept in memory only, that signs the chaincode listener's
// server certificate and one client certificate per chaincode launch. The
// listener trusts no other CA, so only chaincode the peer launched can open
// a connection to it; the Runtime then binds each certificate to the launch
// it was issued for (see Config.CA).
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	pool    *x509.CertPool
}

// caValidity bounds the CA and the listener's certificate; a peer makes a new
// CA each time it starts.
const caValidity = 10 * 365 * 24 * time.Hour

// clockSkew backdates certificates, for hosts whose clocks differ slightly.
const clockSkew = 5 * time.Minute

// NewCA makes a chaincode CA (ECDSA P-256).
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("chaincode CA: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "weft peer chaincode CA"},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("chaincode CA: self-sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("chaincode CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, pool: pool, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// CertPEM is the CA certificate: the root chaincode trusts for the peer's
// chaincode listener (CORE_PEER_TLS_ROOTCERT_FILE).
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("chaincode CA: serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

// issue signs a new P-256 key with tmpl and returns the certificate and key.
func (ca *CA) issue(tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("chaincode CA: generate key: %w", err)
	}
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("chaincode CA: sign certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// LaunchTLS is the TLS material of one chaincode launch, PEM-encoded: the
// client key pair the runtime issued for this launch (its certificate's
// common name is the package ID) and the CA certificate that signs the
// chaincode listener's certificate. A launcher hands it to the chaincode:
// Fabric's environment variables for a process, chaincode.json for an
// external builder's bin/run.
type LaunchTLS struct {
	ClientCertPEM []byte
	ClientKeyPEM  []byte
	RootCertPEM   []byte
}

// issueClient makes the client certificate of one launch of packageID, valid
// for validFor (plus clock skew), and the SHA-256 of its DER.
func (ca *CA) issueClient(packageID string, validFor time.Duration) (*LaunchTLS, [sha256.Size]byte, error) {
	now := time.Now()
	cert, key, err := ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: packageID},
		NotBefore:   now.Add(-clockSkew),
		NotAfter:    now.Add(validFor + clockSkew),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, [sha256.Size]byte{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, [sha256.Size]byte{}, err
	}
	return &LaunchTLS{
		ClientCertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		ClientKeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		RootCertPEM:   ca.CertPEM(),
	}, sha256.Sum256(cert.Raw), nil
}

// ServerTLSConfig returns the chaincode listener's TLS configuration: a
// server certificate for hosts (the host of the address chaincode dials, a
// DNS name or an IP address) signed by ca, and a client certificate signed by
// ca required from every connection.
func (ca *CA) ServerTLSConfig(hosts ...string) (*tls.Config, error) {
	if len(hosts) == 0 {
		return nil, errors.New("chaincode CA: the listener's certificate needs at least one host name or address")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		NotBefore:   time.Now().Add(-clockSkew),
		NotAfter:    time.Now().Add(caValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	cert, key, err := ca.issue(tmpl)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.pool,
	}, nil
}

// ServerCredentials is ServerTLSConfig as gRPC transport credentials that log
// every refused handshake (a client without a certificate from ca, or with
// one from elsewhere) at warning level with the remote address and cause.
func (ca *CA) ServerCredentials(log *slog.Logger, hosts ...string) (credentials.TransportCredentials, error) {
	tc, err := ca.ServerTLSConfig(hosts...)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &loggedCreds{TransportCredentials: credentials.NewTLS(tc), log: log}, nil
}

type loggedCreds struct {
	credentials.TransportCredentials
	log *slog.Logger
}

func (c *loggedCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		c.log.Warn("chaincode listener refused a connection: TLS handshake failed (chaincode must present the client certificate this peer issued when it launched it)",
			"remote", raw.RemoteAddr().String(), "err", err)
	}
	return conn, info, err
}

func (c *loggedCreds) Clone() credentials.TransportCredentials {
	return &loggedCreds{TransportCredentials: c.TransportCredentials.Clone(), log: c.log}
}

// clientCertificate returns the verified client certificate of the TLS
// connection ctx belongs to (nil without TLS or without a certificate).
func clientCertificate(ctx context.Context) *x509.Certificate {
	p, ok := grpcpeer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return nil
	}
	return info.State.PeerCertificates[0]
}
