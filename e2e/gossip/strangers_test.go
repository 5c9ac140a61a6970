package gossip

import (
	"bytes"
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
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/message"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
)

// TestGossipRefusesStrangers dials the gossip service of peer0.org1
// (gossip.Gossip/GossipStream) as others than the channel's peers: a peer
// of an organisation outside the channel, through gossip/comm as a Weft peer
// would dial, and raw clients whose ConnEstablish claims the hash of another
// TLS certificate than the one presented. Each is refused, and the peer's
// log names the cause. A probe by an identity of Org1MSP, made the same way,
// is accepted: the refusals are not an artefact of the test's clients.
func TestGossipRefusesStrangers(t *testing.T) {
	t.Parallel()
	peer := node(t, peer0Org1)
	addr := network.Config().PeerEndpoint(peer).Address
	member := testnet.IssueIdentity(t, network.Config().Path("organizations", "peerOrganizations", peer.Domain),
		peer.MSPID, "peer9."+peer.Domain, "peer", time.Now().Add(time.Hour))
	stranger := strangerOrg(t, "Org3MSP").identity(t, "peer0.org3.example.com", "peer")

	t.Run("member probe accepted", func(t *testing.T) {
		from := logSize(t, peer0Org1)
		cert := selfSignedTLS(t, "peer9.org1.example.com")
		hello, err := rawHandshake(t, addr, member, cert, certHash(cert), true)
		if hello == nil || !errors.Is(err, io.EOF) {
			t.Fatalf("probe as %s: peer's ConnEstablish %v, end of stream %v; want a ConnEstablish and a clean end", member.MSPID, hello, err)
		}
		waitLog(t, peer0Org1, from, "probed by a peer", peer.MSPID)
	})

	t.Run("organisation outside the channel", func(t *testing.T) {
		from := logSize(t, peer0Org1)
		logs := &syncBuffer{}
		cert := selfSignedTLS(t, "peer0.org3.example.com")
		c := strangerComm(t, stranger, cert, logs)
		hello, err := message.Sign(&gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_Empty{Empty: &gp.Empty{}}}, stranger.Sign)
		if err != nil {
			t.Fatal(err)
		}
		c.Send(hello, comm.RemotePeer{Endpoint: addr})
		// Both sides send their ConnEstablish before reading the other's,
		// so the dialler learns of the refusal only as the end of the
		// stream: while it reads the peer's ConnEstablish (the connection
		// fails), or after (the connection ends, or sending on it fails).
		// The peer's log says why.
		err = eventually.Wait(gossipTimeout, func(context.Context) error {
			s := logs.String()
			if !strings.Contains(s, "gossip connection failed") && !strings.Contains(s, "gossip connection refused by the remote peer") &&
				!strings.Contains(s, "gossip connection ended") && !strings.Contains(s, "gossip send failed") {
				return errors.New("the connection has not ended")
			}
			if conns := c.Conns(); len(conns) != 0 {
				return fmt.Errorf("still connected to %v", conns)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("the stranger's gossip/comm: %v; its log:\n%s", err, logs.String())
		}
		line := waitLog(t, peer0Org1, from, "gossip handshake refused", stranger.MSPID)
		if !strings.Contains(line, "not valid") {
			t.Errorf("the peer's log does not say the identity is not valid: %s", line)
		}
	})

	t.Run("organisation outside the channel, raw client", func(t *testing.T) {
		cert := selfSignedTLS(t, "peer1.org3.example.com")
		_, err := rawHandshake(t, addr, stranger, cert, certHash(cert), false)
		wantRefused(t, err, stranger.MSPID)
	})

	t.Run("TLS certificate hash of another certificate", func(t *testing.T) {
		from := logSize(t, peer0Org1)
		cert := selfSignedTLS(t, "peer9.org1.example.com")
		other := selfSignedTLS(t, "peer9.org1.example.com")
		_, err := rawHandshake(t, addr, member, cert, certHash(other), false)
		wantRefused(t, err, "TLS certificate hash does not match")
		waitLog(t, peer0Org1, from, "gossip handshake refused", "TLS certificate hash does not match", member.MSPID)
	})

	t.Run("no TLS certificate hash", func(t *testing.T) {
		cert := selfSignedTLS(t, "peer9.org1.example.com")
		_, err := rawHandshake(t, addr, member, cert, nil, false)
		wantRefused(t, err, "TLS certificate hash does not match")
	})
}

// wantRefused fails unless err is the peer's refusal (Unauthenticated)
// naming cause.
func wantRefused(t *testing.T, err error, cause string) {
	t.Helper()
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), cause) {
		t.Fatalf("handshake ended with %v, want Unauthenticated naming %q", err, cause)
	}
}

// rawHandshake opens a GossipStream to addr presenting cert, sends a
// ConnEstablish of id claiming hash as its TLS certificate's, and reads
// the peer's ConnEstablish and then the end of the stream: io.EOF when the
// peer ended it cleanly (a probe), else the peer's status. The peer keeps
// an accepted connection that is no probe, so then the wait ends with a
// deadline exceeded.
func rawHandshake(t *testing.T, addr string, id *msp.SigningIdentity, cert tls.Certificate, hash []byte, probe bool) (*gp.GossipMessage, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: peerTLSRoots(t), MinVersion: tls.VersionTLS12,
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := gp.NewGossipClient(conn).GossipStream(ctx)
	if err != nil {
		t.Fatalf("open a gossip stream to %s: %v", addr, err)
	}
	pkiID, err := identity.PKIIDOf(id.Serialized)
	if err != nil {
		t.Fatal(err)
	}
	env, err := message.Sign(&gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_Conn{Conn: &gp.ConnEstablish{
		PkiId: pkiID, Identity: id.Serialized, TlsCertHash: hash, Probe: probe,
	}}}, id.Sign)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(env); err != nil {
		return nil, err
	}
	first, err := s.Recv()
	if err != nil {
		return nil, err
	}
	hello, err := message.Decode(first)
	if err != nil || hello.GetConn() == nil {
		t.Fatalf("the peer's first message is not a ConnEstablish: %v (%v)", hello, err)
	}
	_, err = s.Recv()
	return hello, err
}

// peerTLSRoots trusts the TLS CAs of both organisations.
func peerTLSRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, o := range network.Orgs {
		raw, err := os.ReadFile(filepath.Join(network.Config().PeerDir(o), "tls", "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(raw)
	}
	return pool
}

// strangerComm is the gossip transport of a peer of an organisation the
// channel does not know, with id as its identity; it trusts every identity
// that verifies (it has no channel to check them against). It is closed
// when the test ends.
func strangerComm(t *testing.T, id *msp.SigningIdentity, cert tls.Certificate, logs io.Writer) *comm.Comm {
	t.Helper()
	store, err := identity.NewStore(id.Serialized, anyIdentity{})
	if err != nil {
		t.Fatal(err)
	}
	roots := peerTLSRoots(t)
	c, err := comm.New(comm.Config{
		Signer:   id,
		Identity: id.Serialized,
		Store:    store,
		TLSCert:  &cert,
		TLSRoots: func() *x509.CertPool { return roots },
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// anyIdentity validates every parsable identity and checks signatures
// with its key.
type anyIdentity struct{}

func (anyIdentity) Validate(serialized []byte) (string, error) {
	id, err := msp.ParseSerializedIdentity(serialized)
	if err != nil {
		return "", err
	}
	return id.MSPID, nil
}

func (anyIdentity) Verify(serialized, sig, msg []byte) error {
	id, err := msp.ParseSerializedIdentity(serialized)
	if err != nil {
		return err
	}
	return id.Verify(msg, sig)
}

// syncBuffer is a bytes.Buffer safe for a logger's goroutines and the
// test's.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// org is an organisation made by a test: a CA in dir/ca, as cryptogen lays
// it out, that testnet.IssueIdentity issues from.
type org struct {
	dir, mspID string
}

// strangerOrg makes the CA of an organisation no channel of the network
// knows.
func strangerOrg(t *testing.T, mspID string) org {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ca." + strings.ToLower(strings.TrimSuffix(mspID, "MSP")) + ".example.com", Organization: []string{mspID}},
		NotBefore:             time.Now().Add(-5 * time.Minute),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caDir := filepath.Join(dir, "ca")
	if err := os.MkdirAll(caDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(caDir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca-cert.pem", "CERTIFICATE", der)
	write("priv_sk", "PRIVATE KEY", pkcs8)
	return org{dir: dir, mspID: mspID}
}

// identity issues a signing identity of the organisation.
func (o org) identity(t *testing.T, cn, ou string) *msp.SigningIdentity {
	t.Helper()
	return testnet.IssueIdentity(t, o.dir, o.mspID, cn, ou, time.Now().Add(time.Hour))
}

// selfSignedTLS is a TLS certificate of host signed by its own key: a peer
// requests a client certificate on gossip connections but checks it only
// against the ConnEstablish.
func selfSignedTLS(t *testing.T, host string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-5 * time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// certHash is what a ConnEstablish claims for cert: SHA-256 over its DER.
func certHash(cert tls.Certificate) []byte {
	h := sha256.Sum256(cert.Certificate[0])
	return h[:]
}
