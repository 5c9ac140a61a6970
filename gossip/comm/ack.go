package comm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
)

// ErrNoAck is wrapped by a SendResult's error when the peer did not
// acknowledge before the context ended.
var ErrNoAck = errors.New("no acknowledgement")

// AckError is a peer's acknowledgement that carries an error: the peer
// received the message and refused it, for Reason.
type AckError struct{ Reason string }

func (e *AckError) Error() string { return "the peer refused it: " + e.Reason }

// SendResult is what became of a message SendWithAck sent to one peer.
type SendResult struct {
	// Peer is the peer as given, its PKI-ID filled in from the connection
	// when it was not given.
	Peer RemotePeer
	// Err is nil when the peer acknowledged without error; otherwise an
	// *AckError, ErrNoAck, ErrConnClosed or the connection's failure.
	Err error
}

// SendWithAck sends env, whose GossipMessage carries nonce, to each peer
// and waits for their acknowledgements: GossipMessage{Nonce: nonce,
// Content: Ack} sent back by the same peer. Unlike Send it makes the
// connections it needs and waits for room in a full send buffer, as
// Fabric's acknowledged send does.
//
// It returns once minAck peers acknowledged without error (the peers that
// had not answered by then are left out of the results, and their later
// acknowledgements dropped), or else once every peer answered, failed or
// ctx ended; with minAck 0 it waits for every peer. Fabric's timeout is
// ctx's deadline here.
func (c *Comm) SendWithAck(ctx context.Context, env *gp.Envelope, nonce uint64, minAck int, to ...RemotePeer) []SendResult {
	if len(to) == 0 {
		return nil
	}
	ctx, cancel := c.bound(ctx)
	defer cancel()
	results := make(chan SendResult, len(to))
	for _, p := range to {
		go func() { results <- c.sendOneWithAck(ctx, env, nonce, p) }()
	}
	out := make([]SendResult, 0, len(to))
	acked := 0
	for range to {
		r := <-results
		out = append(out, r)
		if r.Err == nil {
			acked++
		}
		if minAck > 0 && acked >= minAck {
			break
		}
	}
	return out
}

// sendOneWithAck sends env to p and waits for p's acknowledgement of nonce.
func (c *Comm) sendOneWithAck(ctx context.Context, env *gp.Envelope, nonce uint64, p RemotePeer) SendResult {
	cn, err := c.connFor(ctx, p)
	if err != nil {
		if errors.Is(err, errClosed) {
			err = fmt.Errorf("%w: gossip is shutting down", ErrConnClosed)
		}
		return SendResult{Peer: p, Err: err}
	}
	if len(p.PKIID) == 0 {
		p.PKIID = cn.info.PKIID
	}
	wait, ok := c.acks.add(nonce, cn.info.PKIID)
	if !ok {
		return SendResult{Peer: p, Err: fmt.Errorf("nonce %d already awaits an acknowledgement from this peer", nonce)}
	}
	defer c.acks.remove(nonce, cn.info.PKIID)
	if err := cn.enqueueWait(ctx, env); err != nil {
		return SendResult{Peer: p, Err: err}
	}
	connDone := cn.done
	for {
		select {
		case ack := <-wait:
			if ack.Error != "" {
				return SendResult{Peer: p, Err: &AckError{Reason: ack.Error}}
			}
			return SendResult{Peer: p}
		case <-ctx.Done():
			return SendResult{Peer: p, Err: fmt.Errorf("%w: %w", ErrNoAck, ctx.Err())}
		case <-connDone:
			// A connection replaced by a newer one to the same peer (two
			// dials crossing) may still bring the acknowledgement; a peer
			// with no connection left will not.
			c.mu.Lock()
			live := c.conns[string(cn.info.PKIID)]
			c.mu.Unlock()
			if live == nil || live.closed() {
				return SendResult{Peer: p, Err: fmt.Errorf("%w before the peer acknowledged", ErrConnClosed)}
			}
			connDone = nil
		}
	}
}

// SendTo sends env to one peer, making a connection when there is none and
// waiting for room in the send buffer, within ctx. It returns what the
// handshake established about the peer, so that the caller can match an
// answer to it.
func (c *Comm) SendTo(ctx context.Context, env *gp.Envelope, to RemotePeer) (ConnInfo, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	cn, err := c.connFor(ctx, to)
	if err != nil {
		if errors.Is(err, errClosed) {
			err = fmt.Errorf("%w: gossip is shutting down", ErrConnClosed)
		}
		return ConnInfo{}, err
	}
	return cn.info, cn.enqueueWait(ctx, env)
}

type ackKey struct {
	nonce uint64
	pkiID string
}

// pendingAcks are the acknowledgements SendWithAck waits for, by nonce and
// the PKI-ID of the peer that must send them.
type pendingAcks struct {
	log     *slog.Logger
	mu      sync.Mutex
	waiting map[ackKey]chan *gp.Acknowledgement
}

func (p *pendingAcks) add(nonce uint64, pkiID []byte) (<-chan *gp.Acknowledgement, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := ackKey{nonce, string(pkiID)}
	if _, dup := p.waiting[k]; dup {
		return nil, false
	}
	ch := make(chan *gp.Acknowledgement, 1)
	p.waiting[k] = ch
	return ch, true
}

func (p *pendingAcks) remove(nonce uint64, pkiID []byte) {
	p.mu.Lock()
	delete(p.waiting, ackKey{nonce, string(pkiID)})
	p.mu.Unlock()
}

// deliver hands ack to the SendWithAck waiting for it from the connection's
// peer; an acknowledgement nobody waits for (late, repeated, or for another
// peer's nonce) is dropped.
func (p *pendingAcks) deliver(nonce uint64, from ConnInfo, ack *gp.Acknowledgement) {
	p.mu.Lock()
	ch := p.waiting[ackKey{nonce, string(from.PKIID)}]
	p.mu.Unlock()
	if ch == nil {
		p.log.Debug("gossip acknowledgement nobody waits for dropped", "remote_endpoint", from.Endpoint, "pki_id", from.PKIID.String(), "nonce", nonce)
		return
	}
	select {
	case ch <- ack:
	default: // a second acknowledgement of the same message
	}
}
