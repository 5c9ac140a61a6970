package privdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/message"
)

// Defaults. ResponseTimeout is Fabric's wait for a pulled digest
// (gossip/privdata/pull.go, responseWaitTime); the bounds are Weft's.
const (
	DefaultResponseTimeout  = 5 * time.Second
	DefaultMaxConcurrent    = 16
	DefaultMaxResponseBytes = 64 << 20
	DefaultMaxDigests       = 4096
)

// Store is the peer's side of private data gossip.
type Store interface {
	// Received keeps a private write set another peer pushed at endorsement
	// (transient store); an error is returned to the sender in the Ack.
	Received(from comm.ConnInfo, p *gp.PrivatePayload) error
	// Serve returns what peer `from` asked for and may read (elements it
	// cannot serve are left out).
	Serve(from comm.ConnInfo, digests []*gp.PvtDataDigest) []*gp.PvtDataElement
}

// Sender sends to remote peers and waits as comm.Comm does.
type Sender interface {
	SendWithAck(ctx context.Context, env *gp.Envelope, nonce uint64, minAck int, to ...comm.RemotePeer) []comm.SendResult
	SendTo(ctx context.Context, env *gp.Envelope, to comm.RemotePeer) (comm.ConnInfo, error)
}

// Policy checks identities against the channel's configuration.
type Policy interface {
	// Readers returns nil when signature is identity's valid signature over
	// signedData and identity satisfies the channel's Readers policy.
	Readers(identity, signedData, signature []byte) error
}

// Config sets up the private data gossip of one channel; zero durations
// and sizes take the defaults.
type Config struct {
	ChannelID string
	// Orgs are the MSP IDs of the channel's application organisations,
	// read on every message.
	Orgs func() []string

	// ResponseTimeout is how long a pull waits for one peer's answer
	// before it asks the next.
	ResponseTimeout time.Duration
	// MaxConcurrent bounds the Store calls in flight.
	MaxConcurrent int
	// MaxResponseBytes bounds the payload of one response this peer sends;
	// keep it well under the gRPC message limit (peer.maxSendMsgSize).
	MaxResponseBytes int
	// MaxDigests bounds the digests of one request: a pull asks at most
	// that many at a time, and serves at most that many of a request.
	MaxDigests int
}

// Deps are what a Channel uses. Store may be nil: then pushes are refused
// in their acknowledgement and requests dropped. Log may be nil.
type Deps struct {
	Store  Store
	Sender Sender
	Policy Policy
	Log    *slog.Logger
}

// Channel is one channel's private data gossip. It is safe for concurrent
// use.
type Channel struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	sem  chan struct{} // one token per Store call in flight

	mu      sync.Mutex
	closed  bool
	pending map[uint64]*awaiting // pulls awaiting an answer, by nonce
	wg      sync.WaitGroup       // Store calls in flight
}

// response is a PrivateRes as received, with who sent it.
type response struct {
	from     comm.ConnInfo
	elements []*gp.PvtDataElement
}

// awaiting is a pull request waiting for its answer from peer (nil until
// known: then the pull checks the sender itself).
type awaiting struct {
	peer    identity.PKIID
	answers chan response
}

// New returns the private data gossip of cfg.ChannelID.
func New(cfg Config, deps Deps) (*Channel, error) {
	if cfg.ChannelID == "" || cfg.Orgs == nil {
		return nil, errors.New("gossip private data: ChannelID and Orgs are required")
	}
	if deps.Sender == nil || deps.Policy == nil {
		return nil, fmt.Errorf("gossip private data of channel %s: Sender and Policy are required", cfg.ChannelID)
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.MaxDigests <= 0 {
		cfg.MaxDigests = DefaultMaxDigests
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	return &Channel{
		cfg:     cfg,
		deps:    deps,
		log:     deps.Log.With("channel", cfg.ChannelID),
		sem:     make(chan struct{}, cfg.MaxConcurrent),
		pending: map[uint64]*awaiting{},
	}, nil
}

// Close stops taking messages and waits for the Store calls in flight.
func (c *Channel) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
}

// Handle takes a private data message of this channel (PrivateData,
// PrivateReq, PrivateRes) from a remote peer without waiting for the Store.
func (c *Channel) Handle(m *comm.ReceivedMessage) {
	if m == nil || m.Message == nil || !message.IsPrivateData(m.Message) {
		return
	}
	msg := m.Message
	log := c.log.With("peer", m.Conn.PKIID.String(), "endpoint", m.Conn.Endpoint, "msp_id", m.Conn.MSPID, "type", message.Kind(msg))
	if string(msg.Channel) != c.cfg.ChannelID {
		log.Warn("private data message of another channel dropped", "message_channel", string(msg.Channel))
		return
	}
	if m.Conn.MSPID == "" || !slices.Contains(c.cfg.Orgs(), m.Conn.MSPID) {
		log.Warn("private data message from a peer whose organisation is not in the channel dropped")
		return
	}
	switch {
	case msg.GetPrivateRes() != nil:
		c.handleResponse(m, log)
	case msg.GetPrivateData() != nil:
		c.handlePush(m, log)
	case msg.GetPrivateReq() != nil:
		c.handleRequest(m, log)
	}
}

// spawn runs f on a goroutine Close waits for, if a Store call may start
// now; false when all are busy or the Channel is closed.
func (c *Channel) spawn(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	select {
	case c.sem <- struct{}{}:
	default:
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() { <-c.sem }()
		f()
	}()
	return true
}

func (c *Channel) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// handlePush keeps a pushed write set through the Store and acknowledges
// it, with the Store's error if any.
func (c *Channel) handlePush(m *comm.ReceivedMessage, log *slog.Logger) {
	p := m.Message.GetPrivateData().Payload
	log = log.With("tx_id", p.TxId, "namespace", p.Namespace, "collection", p.CollectionName)
	// Fabric takes private data only from peers its channel's Readers
	// policy admits, judged on the handshake's signature.
	if err := c.deps.Policy.Readers(m.Conn.Identity, m.Conn.SignedData, m.Conn.Signature); err != nil {
		log.Warn("private data pushed by a peer the channel's Readers policy refuses dropped", "err", err)
		return
	}
	if c.deps.Store == nil {
		log.Debug("private data pushed to a peer that takes none refused")
		c.ack(m, log, fmt.Errorf("this peer does not take private data on channel %s", c.cfg.ChannelID))
		return
	}
	if c.isClosed() {
		return
	}
	if !c.spawn(func() { c.ack(m, log, c.deps.Store.Received(m.Conn, p)) }) && !c.isClosed() {
		log.Warn("private data push refused: too many private data messages in progress", "max", c.cfg.MaxConcurrent)
		c.ack(m, log, fmt.Errorf("peer busy: %d private data messages in progress on channel %s; try again", c.cfg.MaxConcurrent, c.cfg.ChannelID))
	}
}

// ack answers m with an acknowledgement of its nonce carrying err's text.
func (c *Channel) ack(m *comm.ReceivedMessage, log *slog.Logger, err error) {
	a := &gp.Acknowledgement{}
	if err != nil {
		a.Error = err.Error()
		log.Debug("private data push refused", "err", err)
	}
	env, serr := message.NoopSign(&gp.GossipMessage{Nonce: m.Message.Nonce, Content: &gp.GossipMessage_Ack{Ack: a}})
	if serr == nil {
		serr = m.Respond(env)
	}
	if serr != nil {
		log.Debug("private data acknowledgement not sent", "err", serr)
	}
}

// handleRequest answers a pull request with what the Store serves, within
// the response bounds.
func (c *Channel) handleRequest(m *comm.ReceivedMessage, log *slog.Logger) {
	if c.deps.Store == nil {
		log.Debug("private data request dropped: this peer serves no private data")
		return
	}
	digests := m.Message.GetPrivateReq().Digests
	if len(digests) > c.cfg.MaxDigests {
		log.Warn("private data request of too many digests: serving the first ones only", "digests", len(digests), "max", c.cfg.MaxDigests)
		digests = digests[:c.cfg.MaxDigests]
	}
	if !c.spawn(func() { c.serve(m, digests, log) }) && !c.isClosed() {
		log.Warn("private data request dropped: too many private data messages in progress", "max", c.cfg.MaxConcurrent)
	}
}

func (c *Channel) serve(m *comm.ReceivedMessage, digests []*gp.PvtDataDigest, log *slog.Logger) {
	elements := c.deps.Store.Serve(m.Conn, digests)
	// Each element goes back under the digest exactly as asked: Fabric
	// matches answers by a hash of the digest's bytes, and its
	// reconciliation asks without transaction IDs.
	asked := map[digestKey]*gp.PvtDataDigest{}
	for _, d := range digests {
		asked[keyOf(d)] = d
	}
	var out []*gp.PvtDataElement
	size := 0
	for _, e := range elements {
		if e.GetDigest() == nil {
			continue
		}
		d, ok := asked[keyOf(e.Digest)]
		if !ok {
			k := keyOf(e.Digest)
			k.txID = ""
			d, ok = asked[k]
		}
		if !ok {
			log.Warn("private data served for a digest not asked left out", "digest", digestName(e.Digest))
			continue
		}
		delete(asked, keyOf(d)) // one element per digest
		e = &gp.PvtDataElement{Digest: d, Payload: e.Payload}
		n := 0
		for _, p := range e.Payload {
			n += len(p)
		}
		if size+n > c.cfg.MaxResponseBytes {
			log.Warn("private data left out of a response over the size bound", "max_bytes", c.cfg.MaxResponseBytes,
				"block", d.BlockSeq, "tx", d.SeqInBlock, "tx_id", d.TxId, "namespace", d.Namespace, "collection", d.Collection)
			continue
		}
		size += n
		out = append(out, e)
	}
	env, err := message.NoopSign(&gp.GossipMessage{
		Channel: []byte(c.cfg.ChannelID),
		Tag:     gp.GossipMessage_CHAN_ONLY,
		Nonce:   m.Message.Nonce,
		Content: &gp.GossipMessage_PrivateRes{PrivateRes: &gp.RemotePvtDataResponse{Elements: out}},
	})
	if err == nil {
		err = m.Respond(env)
	}
	if err != nil {
		log.Warn("private data response not sent", "err", err)
		return
	}
	log.Debug("private data request served", "asked", len(digests), "served", len(out))
}

// handleResponse hands a response to the pull that awaits its nonce.
func (c *Channel) handleResponse(m *comm.ReceivedMessage, log *slog.Logger) {
	c.mu.Lock()
	w := c.pending[m.Message.Nonce]
	var asked identity.PKIID
	if w != nil {
		asked = w.peer
	}
	c.mu.Unlock()
	if w == nil {
		log.Debug("private data response nobody asked for dropped", "nonce", m.Message.Nonce)
		return
	}
	if asked != nil && !bytes.Equal(asked, m.Conn.PKIID) {
		log.Warn("private data response from a peer not asked dropped", "asked", asked.String())
		return
	}
	select {
	case w.answers <- response{from: m.Conn, elements: m.Message.GetPrivateRes().Elements}:
	default:
		log.Debug("private data response dropped: its pull has one to read already", "nonce", m.Message.Nonce)
	}
}
