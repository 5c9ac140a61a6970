package comm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/message"
)

// Errors a refused handshake wraps, for callers and tests that branch on
// the cause.
var (
	// ErrTLSMismatch: the ConnEstablish names a TLS certificate other than
	// the one its sender presented on the connection.
	ErrTLSMismatch = errors.New("ConnEstablish TLS certificate hash does not match the certificate presented on the connection")
	// ErrNoTLSCert: TLS is on and the remote presented no certificate.
	ErrNoTLSCert = errors.New("the remote presented no TLS certificate (gossip needs one on both sides)")
	// ErrUnexpectedPeer: the peer at the endpoint is not the one expected.
	ErrUnexpectedPeer = errors.New("another peer answered")
)

// errProbe ends an inbound handshake that was a probe: authenticated, but
// not to be kept.
var errProbe = errors.New("probe")

// stream is what both ends of a GossipStream offer.
type stream interface {
	Send(*gp.Envelope) error
	Recv() (*gp.Envelope, error)
	Context() context.Context
}

// handshake runs Fabric's ConnEstablish exchange on s, the same on both
// sides. probe asks the remote not to keep the connection; a remote's probe
// comes back as errProbe with the ConnInfo. remote names the other side in
// errors.
func (c *Comm) handshake(s stream, probe bool, remote string) (ConnInfo, error) {
	fail := func(err error) (ConnInfo, error) {
		return ConnInfo{}, fmt.Errorf("handshake with %s: %w", remote, err)
	}
	remoteHash := certHash(s.Context())
	if c.selfCertHash != nil && remoteHash == nil {
		return fail(ErrNoTLSCert)
	}
	hello := &gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_Conn{Conn: &gp.ConnEstablish{
		PkiId: c.self, Identity: c.cfg.Identity, TlsCertHash: c.selfCertHash, Probe: probe,
	}}}
	env, err := message.Sign(hello, c.cfg.Signer.Sign)
	if err != nil {
		return fail(err)
	}
	if err := s.Send(env); err != nil {
		return fail(fmt.Errorf("send ConnEstablish: %w", err))
	}
	got, err := c.recvWithin(s, c.cfg.ConnTimeout)
	if err != nil {
		return fail(err)
	}
	m, err := message.Decode(got)
	if err != nil {
		return fail(fmt.Errorf("first message: %w", err))
	}
	ce := m.GetConn()
	if ce == nil {
		return fail(fmt.Errorf("expected a ConnEstablish first, got a %s message", message.Kind(m)))
	}
	pkiID := identity.PKIID(ce.PkiId)
	if c.selfCertHash != nil && !bytes.Equal(remoteHash, ce.TlsCertHash) {
		return fail(fmt.Errorf("%w (PKI-ID %s, MSP %s)", ErrTLSMismatch, pkiID, identity.MSPIDOf(ce.Identity)))
	}
	// The identity is stored only once its signature over this message
	// verifies: a refused handshake leaves nothing in the Store.
	if err := c.cfg.Store.PutSigned(pkiID, ce.Identity, got.Signature, got.Payload); err != nil {
		if errors.Is(err, identity.ErrInvalid) {
			return fail(fmt.Errorf("identity of %s (%s) is not valid for any organisation this peer knows: %w",
				remote, identity.MSPIDOf(ce.Identity), err))
		}
		return fail(fmt.Errorf("ConnEstablish of %s (%s): %w", remote, identity.MSPIDOf(ce.Identity), err))
	}
	if got.SecretEnvelope != nil { // Fabric verifies a secret wherever one comes
		verify := func(_, sig, msg []byte) error { return c.cfg.Store.Verify(pkiID, sig, msg) }
		if err := message.Verify(got, ce.Identity, verify); err != nil {
			return fail(fmt.Errorf("ConnEstablish of PKI-ID %s (%s): %w", pkiID, identity.MSPIDOf(ce.Identity), err))
		}
	}
	_, mspID, _ := c.cfg.Store.Get(pkiID)
	info := ConnInfo{
		PKIID:      pkiID,
		Identity:   ce.Identity,
		MSPID:      mspID,
		Endpoint:   remoteAddr(s.Context(), remote),
		Signature:  got.Signature,
		SignedData: got.Payload,
	}
	if ce.Probe {
		return info, errProbe
	}
	return info, nil
}

// recvWithin reads one envelope from s, giving up after d. The read goes on
// in a goroutine of its own, which ends when the stream does: the caller
// ends the stream when this fails.
func (c *Comm) recvWithin(s stream, d time.Duration) (*gp.Envelope, error) {
	type result struct {
		env *gp.Envelope
		err error
	}
	ch := make(chan result, 1)
	if !c.spawn(func() {
		env, err := s.Recv()
		ch <- result{env, err}
	}) {
		return nil, errClosed
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("read ConnEstablish: %w", r.err)
		}
		return r.env, nil
	case <-t.C:
		return nil, fmt.Errorf("no ConnEstablish within %v (peer.gossip.connTimeout)", d)
	case <-c.ctx.Done():
		return nil, errClosed
	}
}

// certHash is SHA-256 over the DER of the certificate the remote presented
// on the connection of ctx, nil without TLS or without a certificate.
func certHash(ctx context.Context) []byte {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		return nil
	}
	h := sha256.Sum256(ti.State.PeerCertificates[0].Raw)
	return h[:]
}

// remoteAddr is the remote address of the connection of ctx, or fallback.
func remoteAddr(ctx context.Context, fallback string) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return fallback
}
