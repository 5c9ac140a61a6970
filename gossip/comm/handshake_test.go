package comm_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"strings"
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
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
)

// rawStream opens a GossipStream to server as a hand-written client
// presenting clientCert (none when nil).
func rawStream(t *testing.T, n *testnet.Net, server *node, clientCert *tls.Certificate) grpc.BidiStreamingClient[gp.Envelope, gp.Envelope] {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots(t, n), MinVersion: tls.VersionTLS12}
	if clientCert != nil {
		cfg.Certificates = []tls.Certificate{*clientCert}
	}
	cc, err := grpc.NewClient(server.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	s, err := gp.NewGossipClient(cc).GossipStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hashOf(c tls.Certificate) []byte {
	h := sha256.Sum256(c.Certificate[0])
	return h[:]
}

// connEstablish is a ConnEstablish claiming who's identity and PKI-ID,
// signed with sign.
func connEstablish(t *testing.T, who *msp.SigningIdentity, pkiID identity.PKIID, certHash []byte, sign func([]byte) ([]byte, error)) *gp.Envelope {
	t.Helper()
	env, err := message.Sign(&gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_Conn{Conn: &gp.ConnEstablish{
		PkiId: pkiID, Identity: who.Serialized, TlsCertHash: certHash,
	}}}, sign)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestServerConnEstablishOnTheWire(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	org2 := n.TLSCert(t, "peer0.org2.example.com")
	s := rawStream(t, n, a, &org2)
	env, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	m, err := message.Decode(env)
	if err != nil {
		t.Fatal(err)
	}
	ce := m.GetConn()
	if m.Tag != gp.GossipMessage_EMPTY || ce == nil || ce.Probe {
		t.Fatalf("server's first message = %v", m)
	}
	if !bytes.Equal(ce.PkiId, a.pkiID(t)) || !bytes.Equal(ce.Identity, a.signer.Serialized) {
		t.Fatal("server's ConnEstablish names another identity")
	}
	if !bytes.Equal(ce.TlsCertHash, hashOf(a.tlsCert)) {
		t.Fatal("server's tls_cert_hash is not SHA-256 of its TLS certificate's DER")
	}
	if err := a.signer.Verify(env.Payload, env.Signature); err != nil {
		t.Fatalf("server's ConnEstablish signature: %v", err)
	}
}

func TestServerRefusesBadConnEstablish(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{tweak: func(c *comm.Config) { c.ConnTimeout = 300 * time.Millisecond }})
	b := n.Signer(t, "peer0.org2.example.com")
	bTLS := n.TLSCert(t, "peer0.org2.example.com")
	otherTLS := n.TLSCert(t, "peer1.org1.example.com")
	bID, _ := identity.PKIIDOf(b.Serialized)
	org1 := n.Signer(t, "peer1.org1.example.com")
	org1ID, _ := identity.PKIIDOf(org1.Serialized)
	alive := &gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_AliveMsg{AliveMsg: &gp.AliveMessage{
		Membership: &gp.Member{PkiId: bID}, Timestamp: &gp.PeerTime{}}}}
	aliveEnv, _ := message.Sign(alive, b.Sign)

	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		send   *gp.Envelope // nil: send nothing
		says   string
		stored identity.PKIID // must not be in a's store afterwards
	}{
		{"TLS hash of another certificate", &bTLS, connEstablish(t, b, bID, hashOf(otherTLS), b.Sign),
			"ConnEstablish TLS certificate hash does not match the certificate presented on the connection", bID},
		{"no TLS hash", &bTLS, connEstablish(t, b, bID, nil, b.Sign),
			"ConnEstablish TLS certificate hash does not match", bID},
		{"signed by another key", &bTLS, connEstablish(t, b, bID, hashOf(bTLS), org1.Sign),
			"signature of PKI-ID " + bID.String() + " (Org2MSP): msp: invalid signature", bID},
		{"unsigned", &bTLS, connEstablish(t, b, bID, hashOf(bTLS), func([]byte) ([]byte, error) { return nil, nil }),
			"no signature", bID},
		{"PKI-ID of another peer", &bTLS, connEstablish(t, b, org1ID, hashOf(bTLS), b.Sign),
			"does not match its PKI-ID", org1ID},
		{"no client certificate", nil, connEstablish(t, b, bID, hashOf(bTLS), b.Sign),
			"presented no TLS certificate", bID},
		{"alive message first", &bTLS, aliveEnv, "expected a ConnEstablish first, got a AliveMsg message", bID},
		{"nothing sent", &bTLS, nil, "no ConnEstablish within 300ms", bID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := rawStream(t, n, a, tc.cert)
			if tc.send != nil {
				// io.EOF when the server refused before reading: Recv says why.
				if err := s.Send(tc.send); err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
			}
			var err error
			for err == nil { // the server's ConnEstablish first (unless it refused before sending)
				_, err = s.Recv()
			}
			st, _ := status.FromError(err)
			if st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), "handshake with 127.0.0.1:") || !strings.Contains(st.Message(), tc.says) {
				t.Fatalf("refusal: %v, want Unauthenticated saying %q", err, tc.says)
			}
			if tc.stored != nil {
				if _, _, ok := a.store.Get(tc.stored); ok {
					t.Fatal("identity of a refused handshake stored")
				}
			}
			if len(a.comm.Conns()) != 0 {
				t.Fatal("a refused connection is kept")
			}
		})
	}
}
