package pull

import (
	"context"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/comm"
)

// Fabric's defaults (peer.gossip.pullInterval, pullPeerNum, digestWaitTime,
// requestWaitTime, responseWaitTime in sampleconfig/core.yaml).
const (
	DefaultInterval     = 4 * time.Second
	DefaultPeerCount    = 3
	DefaultDigestWait   = 1 * time.Second
	DefaultRequestWait  = 1500 * time.Millisecond
	DefaultResponseWait = 2 * time.Second
)

// Store holds the items that are pulled. It is supplied by the user of the
// Mediator and must be safe for concurrent use.
type Store interface {
	// Digests names every item held.
	Digests() [][]byte
	// Get returns the envelope of an item, nil if it is not held.
	Get(digest []byte) *gp.Envelope
	// Add keeps an item received in an update; msg is env decoded. The
	// store verifies the item and returns an error naming the cause when
	// it refuses it.
	Add(env *gp.Envelope, msg *gp.GossipMessage) error
}

// Sender sends an envelope to remote peers without waiting for delivery.
type Sender interface {
	Send(env *gp.Envelope, to ...comm.RemotePeer)
}

// Config sets up a Mediator. Zero durations and counts take Fabric's
// defaults.
type Config struct {
	MsgType gp.PullMsgType
	Channel []byte               // set on every message; nil for identities
	Tag     gp.GossipMessage_Tag // EMPTY for identities, CHAN_AND_ORG for blocks

	PeerCount    int           // peers a round says Hello to (pullPeerNum)
	Interval     time.Duration // between the starts of rounds (pullInterval)
	DigestWait   time.Duration // digests accepted for this long after Hello
	RequestWait  time.Duration // a remote's nonce is honoured this long
	ResponseWait time.Duration // updates accepted this long after requests

	// DigestFilter, when set, says which digests a remote may see in a
	// digest and receive in an update (Fabric's egress filter).
	DigestFilter func(from comm.ConnInfo) func(digest []byte) bool
	// Wanted, when set, says which digests offered by remotes are worth
	// requesting (Fabric's ingress filter, e.g. blocks below the ledger
	// height are not). Digests already held are never requested.
	Wanted func(digest []byte) bool

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.PeerCount <= 0 {
		c.PeerCount = DefaultPeerCount
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.DigestWait <= 0 {
		c.DigestWait = DefaultDigestWait
	}
	if c.RequestWait <= 0 {
		c.RequestWait = DefaultRequestWait
	}
	if c.ResponseWait <= 0 {
		c.ResponseWait = DefaultResponseWait
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

type phase int

const (
	idle      phase = iota
	digesting       // Hellos sent, digests accepted until digestsEnd
	receiving       // requests sent, updates accepted until roundEnd
)

// Mediator runs pull rounds for one message type. All methods are safe for
// concurrent use.
type Mediator struct {
	cfg   Config
	store Store
	send  Sender
	peers func() []comm.RemotePeer
	log   *slog.Logger

	mu sync.Mutex // guards the fields below
	// nextRound is when the next round starts; zero until the first Tick.
	nextRound  time.Time
	phase      phase
	digestsEnd time.Time
	roundEnd   time.Time
	// outgoing maps the nonce of each Hello of the current round to the
	// peer it went to.
	outgoing map[uint64]comm.RemotePeer
	// offers maps a digest offered in the current round (hex of the bytes
	// as key) to the nonces of the peers that offered it.
	offers map[string][]uint64
	// incoming maps the nonces of remotes' Hellos to when they expire.
	incoming map[uint64]time.Time
}

// New returns a Mediator that pulls into store from the peers that peers
// returns at the start of each round. log may be nil.
func New(cfg Config, store Store, send Sender, peers func() []comm.RemotePeer, log *slog.Logger) *Mediator {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mediator{
		cfg:      cfg,
		store:    store,
		send:     send,
		peers:    peers,
		log:      log.With("pull_type", cfg.MsgType.String(), "channel", string(cfg.Channel)),
		outgoing: map[uint64]comm.RemotePeer{},
		offers:   map[string][]uint64{},
		incoming: map[uint64]time.Time{},
	}
}

// Run calls Tick whenever it asks to be called again, on real timers,
// until ctx is done. The first round starts one Interval after Run starts,
// as in Fabric.
func (m *Mediator) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next := m.Tick()
		timer.Reset(max(next.Sub(m.cfg.Now()), time.Millisecond))
	}
}

// Tick moves the current round on to Config.Now (starts a round, sends the
// requests after DigestWait, closes the round after ResponseWait) and
// returns when it next needs to be called. The first Tick only schedules
// the first round one Interval later.
func (m *Mediator) Tick() time.Time {
	now := m.cfg.Now()
	var out []outgoing
	m.mu.Lock()
	m.expireIncoming(now)
	if m.nextRound.IsZero() {
		m.nextRound = now.Add(m.cfg.Interval)
	}
	if m.phase == digesting && !now.Before(m.digestsEnd) {
		out = m.requestsLocked(now)
	}
	if m.phase == receiving && !now.Before(m.roundEnd) {
		m.endRoundLocked()
	}
	if !now.Before(m.nextRound) {
		m.endRoundLocked() // a round longer than Interval ends here
		out = append(out, m.startRoundLocked(now)...)
	}
	next := m.nextRound
	switch m.phase {
	case digesting:
		next = earliest(next, m.digestsEnd)
	case receiving:
		next = earliest(next, m.roundEnd)
	}
	m.mu.Unlock()
	m.sendAll(out)
	return next
}

// StartRound starts a round at once, ending any round in progress; the
// next scheduled round moves to one Interval from now. Tick (or Run) must
// still be called to send the requests and close the round.
func (m *Mediator) StartRound() {
	now := m.cfg.Now()
	m.mu.Lock()
	m.endRoundLocked()
	out := m.startRoundLocked(now)
	m.mu.Unlock()
	m.sendAll(out)
}

type outgoing struct {
	env *gp.Envelope
	to  comm.RemotePeer
}

func (m *Mediator) sendAll(out []outgoing) {
	for _, o := range out {
		m.send.Send(o.env, o.to)
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (m *Mediator) expireIncoming(now time.Time) {
	for n, exp := range m.incoming {
		if now.After(exp) {
			delete(m.incoming, n)
		}
	}
}

func (m *Mediator) endRoundLocked() {
	m.phase = idle
	clear(m.outgoing)
	clear(m.offers)
}

func (m *Mediator) startRoundLocked(now time.Time) []outgoing {
	m.nextRound = now.Add(m.cfg.Interval)
	peers := m.peers()
	rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	if len(peers) > m.cfg.PeerCount {
		peers = peers[:m.cfg.PeerCount]
	}
	if len(peers) == 0 {
		return nil
	}
	m.phase = digesting
	m.digestsEnd = now.Add(m.cfg.DigestWait)
	var out []outgoing
	for _, p := range peers {
		nonce := m.newNonceLocked()
		m.outgoing[nonce] = p
		env, err := m.envelope(func(g *gp.GossipMessage) {
			g.Content = &gp.GossipMessage_Hello{Hello: &gp.GossipHello{Nonce: nonce, MsgType: m.cfg.MsgType}}
		})
		if err != nil {
			m.log.Error("cannot encode pull hello", "error", err)
			continue
		}
		out = append(out, outgoing{env, p})
	}
	m.log.Debug("pull round started", "peers", len(out))
	return out
}

func (m *Mediator) newNonceLocked() uint64 {
	for {
		n := rand.Uint64()
		if _, used := m.outgoing[n]; !used && n != 0 {
			return n
		}
	}
}

// requestsLocked ends the digest phase: each digest offered is asked of
// one of the peers that offered it, chosen at random.
func (m *Mediator) requestsLocked(now time.Time) []outgoing {
	byNonce := map[uint64][][]byte{}
	for key, owners := range m.offers {
		digest, _ := hex.DecodeString(key)
		n := owners[rand.IntN(len(owners))]
		byNonce[n] = append(byNonce[n], digest)
	}
	m.phase = receiving
	m.roundEnd = now.Add(m.cfg.ResponseWait)
	var out []outgoing
	for nonce, digests := range byNonce {
		env, err := m.envelope(func(g *gp.GossipMessage) {
			g.Content = &gp.GossipMessage_DataReq{DataReq: &gp.DataRequest{Nonce: nonce, Digests: digests, MsgType: m.cfg.MsgType}}
		})
		if err != nil {
			m.log.Error("cannot encode pull request", "error", err)
			continue
		}
		out = append(out, outgoing{env, m.outgoing[nonce]})
	}
	return out
}

// envelope wraps content in an unsigned GossipMessage of this mediator's
// channel and tag: pull messages go point to point on authenticated
// connections, so Fabric does not sign them.
func (m *Mediator) envelope(set func(*gp.GossipMessage)) (*gp.Envelope, error) {
	msg := &gp.GossipMessage{Channel: m.cfg.Channel, Tag: m.cfg.Tag}
	set(msg)
	payload, err := proto.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return &gp.Envelope{Payload: payload}, nil
}

// Handle takes a Hello, DataDigest, DataRequest or DataUpdate of this
// Mediator's MsgType; anything else is ignored.
func (m *Mediator) Handle(msg *comm.ReceivedMessage) {
	if msg == nil || msg.Message == nil {
		return
	}
	g := msg.Message
	switch {
	case g.GetHello() != nil && g.GetHello().MsgType == m.cfg.MsgType:
		m.onHello(msg, g.GetHello())
	case g.GetDataDig() != nil && g.GetDataDig().MsgType == m.cfg.MsgType:
		m.onDigest(g.GetDataDig())
	case g.GetDataReq() != nil && g.GetDataReq().MsgType == m.cfg.MsgType:
		m.onRequest(msg, g.GetDataReq())
	case g.GetDataUpdate() != nil && g.GetDataUpdate().MsgType == m.cfg.MsgType:
		m.onUpdate(msg, g.GetDataUpdate())
	}
}

func (m *Mediator) filter(from comm.ConnInfo) func([]byte) bool {
	if m.cfg.DigestFilter == nil {
		return func([]byte) bool { return true }
	}
	return m.cfg.DigestFilter(from)
}

func (m *Mediator) onHello(msg *comm.ReceivedMessage, h *gp.GossipHello) {
	now := m.cfg.Now()
	m.mu.Lock()
	m.incoming[h.Nonce] = now.Add(m.cfg.RequestWait)
	m.mu.Unlock()

	allow := m.filter(msg.Conn)
	var digests [][]byte
	for _, d := range m.store.Digests() {
		if allow(d) {
			digests = append(digests, d)
		}
	}
	if len(digests) == 0 {
		return
	}
	m.respond(msg, func(g *gp.GossipMessage) {
		g.Content = &gp.GossipMessage_DataDig{DataDig: &gp.DataDigest{Nonce: h.Nonce, Digests: digests, MsgType: m.cfg.MsgType}}
	})
}

func (m *Mediator) onDigest(d *gp.DataDigest) {
	held := map[string]bool{}
	for _, h := range m.store.Digests() {
		held[hex.EncodeToString(h)] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.phase != digesting {
		return
	}
	if _, ours := m.outgoing[d.Nonce]; !ours {
		return
	}
	for _, digest := range d.Digests {
		key := hex.EncodeToString(digest)
		if held[key] || (m.cfg.Wanted != nil && !m.cfg.Wanted(digest)) {
			continue
		}
		m.offers[key] = append(m.offers[key], d.Nonce)
	}
}

func (m *Mediator) onRequest(msg *comm.ReceivedMessage, r *gp.DataRequest) {
	now := m.cfg.Now()
	m.mu.Lock()
	exp, ok := m.incoming[r.Nonce]
	m.mu.Unlock()
	if !ok || now.After(exp) {
		return
	}
	allow := m.filter(msg.Conn)
	var items []*gp.Envelope
	for _, d := range r.Digests {
		if !allow(d) {
			continue
		}
		if env := m.store.Get(d); env != nil {
			items = append(items, env)
		}
	}
	if len(items) == 0 {
		return
	}
	m.respond(msg, func(g *gp.GossipMessage) {
		g.Content = &gp.GossipMessage_DataUpdate{DataUpdate: &gp.DataUpdate{Nonce: r.Nonce, Data: items, MsgType: m.cfg.MsgType}}
	})
}

func (m *Mediator) onUpdate(msg *comm.ReceivedMessage, u *gp.DataUpdate) {
	m.mu.Lock()
	_, ours := m.outgoing[u.Nonce]
	accepting := m.phase == receiving && ours
	m.mu.Unlock()
	if !accepting {
		return
	}
	for i, env := range u.Data {
		item := &gp.GossipMessage{}
		if env == nil {
			continue
		}
		if err := proto.Unmarshal(env.Payload, item); err != nil {
			m.log.Warn("pull update item is not a gossip message", "from_pki_id", msg.Conn.PKIID.String(), "endpoint", msg.Conn.Endpoint, "item", i, "error", err)
			continue
		}
		if err := m.store.Add(env, item); err != nil {
			m.log.Warn("pull update item refused", "from_pki_id", msg.Conn.PKIID.String(), "endpoint", msg.Conn.Endpoint, "item", i, "error", err)
		}
	}
}

func (m *Mediator) respond(msg *comm.ReceivedMessage, set func(*gp.GossipMessage)) {
	env, err := m.envelope(set)
	if err != nil {
		m.log.Error("cannot encode pull reply", "error", err)
		return
	}
	if msg.Respond == nil {
		m.log.Warn("pull message has no connection to answer on", "from_pki_id", msg.Conn.PKIID.String())
		return
	}
	if err := msg.Respond(env); err != nil {
		m.log.Debug("pull reply not sent", "to_pki_id", msg.Conn.PKIID.String(), "endpoint", msg.Conn.Endpoint, "error", err)
	}
}
