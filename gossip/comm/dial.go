package comm

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/weft-ledger/weft/internal/flowcontrol"
)

// dialing is a connection being made for Send; messages sent meanwhile
// wait in pending, at most SendBufferSize of them. done is closed when the
// attempt ended, err (set before) saying why it failed.
type dialing struct {
	pending []*gp.Envelope
	done    chan struct{}
	err     error
}

func dialKey(p RemotePeer) string {
	if len(p.PKIID) > 0 {
		return "pki:" + string(p.PKIID)
	}
	return "endpoint:" + p.Endpoint
}

// queueDial makes env (unless nil) wait for a connection to p, starting
// one unless one is under way, and returns the attempt. c.mu is held on
// entry and released on return.
func (c *Comm) queueDial(p RemotePeer, env *gp.Envelope) *dialing {
	key := dialKey(p)
	if d, ok := c.dialing[key]; ok {
		if env != nil {
			if len(d.pending) < c.cfg.SendBufferSize {
				d.pending = append(d.pending, env)
			} else {
				c.log.Debug("gossip message dropped: send buffer full while connecting", "remote_endpoint", p.Endpoint)
			}
		}
		c.mu.Unlock()
		return d
	}
	d := &dialing{done: make(chan struct{})}
	if env != nil {
		d.pending = []*gp.Envelope{env}
	}
	c.dialing[key] = d
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer close(d.done)
		cn, err := c.connect(c.ctx, p, false)
		if err != nil {
			c.mu.Lock()
			delete(c.dialing, key)
			d.err = err
			closed := c.closed
			c.mu.Unlock()
			if !closed {
				c.log.Warn("gossip connection failed", "remote_endpoint", p.Endpoint, "pki_id", p.PKIID.String(), "err", err)
				c.presumeDead(p.PKIID)
			}
			return
		}
		c.adopt(cn, p.Endpoint, key, d)
	}()
	return d
}

// connFor returns the live connection to p, making one (or joining the
// attempt under way) when there is none, within ctx.
func (c *Comm) connFor(ctx context.Context, p RemotePeer) (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClosed
	}
	if cn := c.lookup(p); cn != nil {
		c.mu.Unlock()
		return cn, nil
	}
	d := c.queueDial(p, nil) // unlocks
	select {
	case <-d.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("connect to %s: %w", p.Endpoint, ctx.Err())
	}
	if d.err != nil {
		return nil, d.err
	}
	c.mu.Lock()
	cn := c.lookup(p)
	c.mu.Unlock()
	if cn == nil {
		return nil, fmt.Errorf("%w: to %s, right after it was made", ErrConnClosed, p.Endpoint)
	}
	return cn, nil
}

// adopt makes cn, dialled to endpoint, the connection of its PKI-ID unless
// one is already there (then that one is kept, as Fabric keeps it, and cn is
// closed), and sends it what waited in d. Enqueueing under c.mu keeps the
// waiting messages ahead of any sent after the connection became visible.
func (c *Comm) adopt(cn *conn, endpoint, key string, d *dialing) {
	c.mu.Lock()
	delete(c.dialing, key)
	if c.closed {
		c.mu.Unlock()
		cn.close()
		return
	}
	id := string(cn.info.PKIID)
	c.byEndpoint[endpoint] = id
	use := cn
	if existing := c.conns[id]; existing != nil && !existing.closed() {
		use = existing
	} else {
		c.conns[id] = cn
		c.wg.Add(2)
		go func() {
			defer c.wg.Done()
			c.readLoop(cn)
		}()
		go func() {
			defer c.wg.Done()
			c.writeLoop(cn)
		}()
	}
	for _, env := range d.pending {
		if err := use.enqueue(env); err != nil {
			c.log.Debug("gossip message dropped", "remote_endpoint", endpoint, "err", err)
		}
	}
	c.mu.Unlock()
	if use != cn {
		cn.close()
	} else {
		c.log.Debug("gossip connection made", "remote_endpoint", cn.info.Endpoint, "pki_id", cn.info.PKIID.String(), "msp_id", cn.info.MSPID)
	}
}

// connect dials p, opens a GossipStream and runs the handshake; the stream
// lives until the connection is closed (or ctx ends). A PKI-ID in p must be
// the one that answers.
func (c *Comm) connect(ctx context.Context, p RemotePeer, probe bool) (*conn, error) {
	cc, client, err := c.dial(ctx, p.Endpoint)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	s, err := client.GossipStream(sctx)
	if err != nil {
		cancel()
		_ = cc.Close()
		return nil, fmt.Errorf("open gossip stream to %s: %w", p.Endpoint, err)
	}
	info, err := c.handshake(s, probe, p.Endpoint)
	if err == nil && len(p.PKIID) > 0 && !bytes.Equal(info.PKIID, p.PKIID) {
		err = fmt.Errorf("handshake with %s: %w: expected PKI-ID %s, got %s (%s)", p.Endpoint, ErrUnexpectedPeer, p.PKIID, info.PKIID, info.MSPID)
	}
	if err != nil {
		cancel()
		_ = cc.Close()
		return nil, err
	}
	return newConn(info, s, true, cc, cancel, c.cfg.SendBufferSize), nil
}

// dial makes a client connection to endpoint and pings it, within
// DialTimeout plus ConnTimeout.
func (c *Comm) dial(ctx context.Context, endpoint string) (*grpc.ClientConn, gp.GossipClient, error) {
	creds := insecure.NewCredentials()
	if c.cfg.TLSCert != nil {
		creds = credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{*c.cfg.TLSCert},
			RootCAs:      c.cfg.TLSRoots(),
			MinVersion:   tls.VersionTLS12,
		})
	}
	cc, err := grpc.NewClient(endpoint, append(flowcontrol.DialOptions(),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(c.cfg.MaxRecvMsgSize), grpc.MaxCallSendMsgSize(c.cfg.MaxSendMsgSize)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveInterval, Timeout: keepaliveTimeout, PermitWithoutStream: true}),
	)...)
	if err != nil {
		return nil, nil, fmt.Errorf("dial gossip endpoint %s: %w", endpoint, err)
	}
	client := gp.NewGossipClient(cc)
	pctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout+c.cfg.ConnTimeout)
	defer cancel()
	if _, err := client.Ping(pctx, &gp.Empty{}); err != nil {
		_ = cc.Close()
		return nil, nil, fmt.Errorf("connect to gossip endpoint %s: %w", endpoint, err)
	}
	return cc, client, nil
}

// Handshake probes endpoint: it connects, runs the handshake with Probe set
// and closes, returning what the handshake established about the peer that
// answered. Nothing is kept but the identity learned (in the Store).
func (c *Comm) Handshake(ctx context.Context, endpoint string) (ConnInfo, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, handshakeTimeout)
	defer cancelT()
	cn, err := c.connect(ctx, RemotePeer{Endpoint: endpoint}, true)
	if err != nil {
		if !c.isClosed() {
			c.log.Warn("gossip probe failed", "remote_endpoint", endpoint, "err", err)
		}
		return ConnInfo{}, err
	}
	cn.close()
	return cn.info, nil
}

// Probe checks that a gossip service answers Ping at endpoint.
func (c *Comm) Probe(ctx context.Context, endpoint string) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	cc, _, err := c.dial(ctx, endpoint)
	if err != nil {
		return err
	}
	return cc.Close()
}

// bound is ctx, also done when the Comm closes.
func (c *Comm) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}
