package comm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weft-ledger/weft/gossip/identity"
)

// Fabric's defaults (sampleconfig/core.yaml, gossip/comm/comm_impl.go,
// internal/pkg/comm/config.go).
const (
	DefaultDialTimeout    = 3 * time.Second   // peer.gossip.dialTimeout
	DefaultConnTimeout    = 2 * time.Second   // peer.gossip.connTimeout
	DefaultSendBufferSize = 200               // peer.gossip.sendBuffSize
	DefaultRecvBufferSize = 20                // peer.gossip.recvBuffSize
	DefaultMaxMessageSize = 100 * 1024 * 1024 // peer.maxRecvMsgSize, peer.maxSendMsgSize

	// handshakeTimeout bounds a probe (Handshake) from the stream's start.
	handshakeTimeout = 10 * time.Second
	// Keepalive of the gossip client connections: Fabric's
	// peer.keepalive.client.interval and timeout.
	keepaliveInterval = 60 * time.Second
	keepaliveTimeout  = 20 * time.Second
	// deadBuffer is how many presumed-dead PKI-IDs wait for a reader.
	deadBuffer = 100
)

// Config is what a Comm needs; zero durations and sizes take Fabric's
// defaults.
type Config struct {
	Signer   interface{ Sign([]byte) ([]byte, error) } // the peer's signing identity
	Identity []byte                                    // its serialized identity
	Store    *identity.Store                           // holds Identity as Self
	// TLSCert is the peer's TLS certificate, presented as client
	// certificate when dialling and hashed into ConnEstablish; nil turns
	// TLS off (then the peer's gRPC server must not use TLS either).
	TLSCert *tls.Certificate
	// TLSRoots returns the roots to trust when dialling out (the TLS CAs of
	// every channel's organisations and the local ones), read at every
	// dial; required with TLS on.
	TLSRoots func() *x509.CertPool

	DialTimeout time.Duration // connecting and the Ping after it; peer.gossip.dialTimeout
	ConnTimeout time.Duration // waiting for the remote's ConnEstablish; peer.gossip.connTimeout

	SendBufferSize int // messages waiting to be sent, per connection; peer.gossip.sendBuffSize
	RecvBufferSize int // messages read ahead of subscribers, per subscription; peer.gossip.recvBuffSize

	MaxRecvMsgSize int // on dialled connections; peer.maxRecvMsgSize
	MaxSendMsgSize int // on dialled connections; peer.maxSendMsgSize

	// SkipHandshake is peer.gossip.skipHandshake, which Fabric removed in
	// v1.0 (FAB-3359): Fabric v2.5 always runs the handshake and refuses a
	// peer that does not. It is accepted so that old configurations load,
	// and changes nothing but a warning at New.
	SkipHandshake bool

	Logger *slog.Logger
}

// Comm is the gossip transport of one peer. It is safe for concurrent use.
type Comm struct {
	cfg          Config
	self         identity.PKIID
	selfCertHash []byte // nil with TLS off
	log          *slog.Logger
	ctx          context.Context // done at Close
	cancel       context.CancelFunc
	dead         chan identity.PKIID

	mu         sync.Mutex
	closed     bool
	conns      map[string]*conn    // by PKI-ID: the one connection per remote peer
	byEndpoint map[string]string   // endpoint dialled -> PKI-ID that answered there
	dialing    map[string]*dialing // by dial key (PKI-ID or endpoint)
	subs       []*subscription     // copy on write
	all        *subscription       // Messages'
	wg         sync.WaitGroup      // every goroutine Comm started

	acks pendingAcks // what SendWithAck waits for
}

// New checks cfg and returns a Comm; it serves nothing until Register.
func New(cfg Config) (*Comm, error) {
	if cfg.Signer == nil || len(cfg.Identity) == 0 || cfg.Store == nil {
		return nil, errors.New("gossip comm: Signer, Identity and Store are required")
	}
	self, err := identity.PKIIDOf(cfg.Identity)
	if err != nil {
		return nil, fmt.Errorf("gossip comm: %w", err)
	}
	if !bytes.Equal(self, cfg.Store.Self()) {
		return nil, fmt.Errorf("gossip comm: Identity (PKI-ID %s) is not the Store's own identity (PKI-ID %s)", self, cfg.Store.Self())
	}
	var certHash []byte
	if cfg.TLSCert != nil {
		if len(cfg.TLSCert.Certificate) == 0 {
			return nil, errors.New("gossip comm: TLSCert holds no certificate")
		}
		if cfg.TLSRoots == nil {
			return nil, errors.New("gossip comm: TLSRoots is required with TLS on")
		}
		h := sha256.Sum256(cfg.TLSCert.Certificate[0])
		certHash = h[:]
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.ConnTimeout <= 0 {
		cfg.ConnTimeout = DefaultConnTimeout
	}
	if cfg.SendBufferSize <= 0 {
		cfg.SendBufferSize = DefaultSendBufferSize
	}
	if cfg.RecvBufferSize <= 0 {
		cfg.RecvBufferSize = DefaultRecvBufferSize
	}
	if cfg.MaxRecvMsgSize <= 0 {
		cfg.MaxRecvMsgSize = DefaultMaxMessageSize
	}
	if cfg.MaxSendMsgSize <= 0 {
		cfg.MaxSendMsgSize = DefaultMaxMessageSize
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "gossip_comm")
	if cfg.SkipHandshake {
		log.Warn("peer.gossip.skipHandshake is ignored: Fabric v2.5 peers always run the gossip handshake")
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Comm{
		cfg:          cfg,
		self:         self,
		selfCertHash: certHash,
		log:          log,
		ctx:          ctx,
		cancel:       cancel,
		dead:         make(chan identity.PKIID, deadBuffer),
		conns:        map[string]*conn{},
		byEndpoint:   map[string]string{},
		dialing:      map[string]*dialing{},
		acks:         pendingAcks{log: log, waiting: map[ackKey]chan *gp.Acknowledgement{}},
	}, nil
}

// PKIID is the peer's own PKI-ID.
func (c *Comm) PKIID() identity.PKIID { return c.self }

// Register serves gossip.Gossip (GossipStream, Ping) on s, the peer's own
// gRPC server. With TLS on, s must request client certificates
// (tls.RequestClientCert or stricter): the handshake refuses a dialler
// without one.
func (c *Comm) Register(s *grpc.Server) { gp.RegisterGossipServer(s, server{c: c}) }

type server struct {
	gp.UnimplementedGossipServer
	c *Comm
}

// Ping answers Fabric's liveness probe.
func (server) Ping(context.Context, *gp.Empty) (*gp.Empty, error) { return &gp.Empty{}, nil }

// GossipStream authenticates a dialler and then serves its connection: this
// goroutine writes, another reads, until either side closes.
func (sv server) GossipStream(s grpc.BidiStreamingServer[gp.Envelope, gp.Envelope]) error {
	c := sv.c
	remote := remoteAddr(s.Context(), "unknown address")
	if c.isClosed() {
		return status.Error(codes.Unavailable, "gossip is shutting down")
	}
	info, err := c.handshake(s, false, remote)
	if errors.Is(err, errProbe) {
		c.log.Info("probed by a peer", "remote_endpoint", info.Endpoint, "pki_id", info.PKIID.String(), "msp_id", info.MSPID)
		return nil
	}
	if err != nil {
		if !errors.Is(err, errClosed) {
			c.log.Warn("gossip handshake refused", "remote_endpoint", remote, "err", err)
		}
		return status.Error(codes.Unauthenticated, err.Error())
	}
	cn := newConn(info, s, false, nil, nil, c.cfg.SendBufferSize)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return status.Error(codes.Unavailable, "gossip is shutting down")
	}
	// An inbound connection replaces whatever connection this peer had with
	// the remote: the remote closes its own old one when it dials anew.
	old := c.conns[string(info.PKIID)]
	c.conns[string(info.PKIID)] = cn
	c.wg.Add(1)
	c.mu.Unlock()
	if old != nil {
		old.close()
	}
	c.log.Debug("gossip connection accepted", "remote_endpoint", info.Endpoint, "pki_id", info.PKIID.String(), "msp_id", info.MSPID)
	go func() {
		defer c.wg.Done()
		c.readLoop(cn)
	}()
	// Writing from the handler's own goroutine means no Send runs after the
	// handler returned; returning ends the stream, which ends the reader.
	c.writeLoop(cn)
	c.drop(cn)
	return nil
}

// Send sends env to each peer, asynchronously and best effort: through the
// connection to the peer's PKI-ID (or to the PKI-ID last found at its
// endpoint) when there is one, else through a new one made for it. A
// message that finds the send buffer full is dropped; failures are logged
// and reported on PresumedDead.
func (c *Comm) Send(env *gp.Envelope, to ...RemotePeer) {
	for _, p := range to {
		c.send(env, p)
	}
}

func (c *Comm) send(env *gp.Envelope, p RemotePeer) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	cn := c.lookup(p)
	if cn == nil {
		c.queueDial(p, env) // unlocks
		return
	}
	c.mu.Unlock()
	if err := cn.enqueue(env); err != nil {
		c.log.Debug("gossip message dropped", "remote_endpoint", p.Endpoint, "pki_id", cn.info.PKIID.String(), "err", err)
	}
}

// lookup is the live connection for p; c.mu held.
func (c *Comm) lookup(p RemotePeer) *conn {
	key := string(p.PKIID)
	if len(p.PKIID) == 0 {
		id, ok := c.byEndpoint[p.Endpoint]
		if !ok {
			return nil
		}
		key = id
	}
	cn := c.conns[key]
	if cn == nil || cn.closed() {
		return nil
	}
	return cn
}

// Subscribe returns a channel of the received messages accept returns true
// for (every message when accept is nil), buffered RecvBufferSize deep.
// Each message goes to every subscription that accepts it, and its
// connection reads nothing more until all of them took it: read promptly.
// cancel ends the subscription (its channel then stays open and receives
// nothing more); the channels of subscriptions still on are closed at Close.
func (c *Comm) Subscribe(accept func(*ReceivedMessage) bool) (msgs <-chan *ReceivedMessage, cancel func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sub := c.subscribe(accept)
	return sub.ch, func() { c.unsubscribe(sub) }
}

// Messages is one subscription to every received message, the same channel
// on every call. Only use it when nothing else subscribes, or read it too:
// an unread subscription holds up every connection.
func (c *Comm) Messages() <-chan *ReceivedMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.all == nil {
		c.all = c.subscribe(nil)
	}
	return c.all.ch
}

// subscribe adds a subscription; c.mu held.
func (c *Comm) subscribe(accept func(*ReceivedMessage) bool) *subscription {
	sub := &subscription{accept: accept, ch: make(chan *ReceivedMessage, c.cfg.RecvBufferSize), done: make(chan struct{})}
	if c.closed {
		close(sub.ch)
		return sub
	}
	c.subs = append(append([]*subscription(nil), c.subs...), sub)
	return sub
}

type subscription struct {
	accept   func(*ReceivedMessage) bool
	ch       chan *ReceivedMessage
	done     chan struct{} // closed when cancelled
	doneOnce sync.Once
}

func (c *Comm) unsubscribe(sub *subscription) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeSub(sub)
}

// removeSub drops sub from the list; c.mu held.
func (c *Comm) removeSub(sub *subscription) {
	sub.doneOnce.Do(func() { close(sub.done) })
	subs := make([]*subscription, 0, len(c.subs))
	for _, s := range c.subs {
		if s != sub {
			subs = append(subs, s)
		}
	}
	c.subs = subs
}

// deliver hands rm to every subscription accepting it; false when cn or the
// Comm closed meanwhile.
func (c *Comm) deliver(cn *conn, rm *ReceivedMessage) bool {
	c.mu.Lock()
	subs := c.subs
	c.mu.Unlock()
	for _, s := range subs {
		if s.accept != nil && !s.accept(rm) {
			continue
		}
		select {
		case s.ch <- rm:
		case <-s.done:
		case <-cn.done:
			return false
		case <-c.ctx.Done():
			return false
		}
	}
	return true
}

// PresumedDead reports the PKI-IDs of peers a send or a connection attempt
// failed for (Fabric's PresumedDead), for membership to check them. It is
// buffered; reports that find it full are dropped. It is never closed.
func (c *Comm) PresumedDead() <-chan identity.PKIID { return c.dead }

// Conns is the ConnInfo of every open connection.
func (c *Comm) Conns() []ConnInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ConnInfo, 0, len(c.conns))
	for _, cn := range c.conns {
		if !cn.closed() {
			out = append(out, cn.info)
		}
	}
	return out
}

// CloseConn closes the connection to pkiID, if there is one.
func (c *Comm) CloseConn(pkiID identity.PKIID) {
	c.mu.Lock()
	cn := c.conns[string(pkiID)]
	delete(c.conns, string(pkiID))
	c.mu.Unlock()
	if cn != nil {
		cn.close()
	}
}

// Close closes every connection, stops every goroutine the Comm started and
// waits for them, then closes the subscription channels. A connection
// accepted by the gRPC server ends when its handler returns, which Close
// causes but does not wait for beyond the Comm's own goroutines.
func (c *Comm) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	conns := c.conns
	c.conns = map[string]*conn{}
	subs := c.subs
	c.mu.Unlock()
	c.cancel()
	for _, cn := range conns {
		cn.close()
	}
	c.wg.Wait()
	for _, s := range subs {
		close(s.ch)
	}
}

func (c *Comm) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// spawn runs f on a goroutine Close waits for; false once closed.
func (c *Comm) spawn(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}
