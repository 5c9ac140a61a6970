package membership

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/pull"
)

// Transport is the part of gossip/comm membership uses.
type Transport interface {
	// Send queues env for each peer; it does not wait for delivery.
	Send(env *gp.Envelope, to ...comm.RemotePeer)
	// Handshake connects to endpoint and returns who answered.
	Handshake(ctx context.Context, endpoint string) (comm.ConnInfo, error)
	// Probe checks that endpoint answers (Fabric's Ping).
	Probe(ctx context.Context, endpoint string) error
	// CloseConn closes the connection to a peer, if there is one.
	CloseConn(pkiID identity.PKIID)
}

// IdentityStore keeps peer identities by PKI-ID (gossip/identity's Store).
type IdentityStore interface {
	// Put learns serialized as the identity of pkiID; it fails when the
	// PKI-ID is not the identity's or the identity is not valid.
	Put(pkiID identity.PKIID, serialized []byte) error
	// Get returns the identity of pkiID and its MSP ID; ok is false when
	// it is unknown.
	Get(pkiID identity.PKIID) (serialized []byte, mspID string, ok bool)
	// Verify checks a signature by the identity of pkiID.
	Verify(pkiID identity.PKIID, signature, message []byte) error
}

// Signer signs as this peer; *msp.SigningIdentity is one.
type Signer interface {
	Sign(msg []byte) ([]byte, error)
	Serialize() ([]byte, error)
}

// Member is a peer as membership knows it.
type Member struct {
	PKIID identity.PKIID
	// Endpoint is the external endpoint; empty when the peer is not
	// reachable from other organisations.
	Endpoint string
	// InternalEndpoint is known for peers of this organisation only.
	InternalEndpoint string
	MSPID            string
	Identity         []byte // serialized identity
	Metadata         []byte
	// Envelope is the peer's latest signed alive message, as received.
	Envelope *gp.Envelope
}

// PreferredEndpoint is where to reach the member: its internal endpoint
// when known, else its external one (Fabric's PreferredEndpoint).
func (m Member) PreferredEndpoint() string {
	if m.InternalEndpoint != "" {
		return m.InternalEndpoint
	}
	return m.Endpoint
}

// record is what membership holds about one remote peer.
type record struct {
	member   Member
	ts       *gp.PeerTime // of member.Envelope
	lastSeen time.Time    // when the latest newer alive message arrived
	alive    bool
}

// Membership is this peer's membership. Its methods are safe for
// concurrent use.
type Membership struct {
	cfg       Config
	signer    Signer
	transport Transport
	ids       IdentityStore
	log       *slog.Logger
	idPull    *pull.Mediator
	idStore   *identityStore
	wake      chan struct{} // Connect asks Run for an early Tick

	// Fixed at New.
	selfPKIID    identity.PKIID
	selfIdentity []byte
	selfMSPID    string
	incNum       uint64
	publishCert  time.Time // alive messages carry the identity until then
	bootstrap    map[string]bool

	stopOnce sync.Once
	stopped  chan struct{}
	ioCtx    context.Context // cancelled by Stop: ends handshakes and probes
	ioCancel context.CancelFunc

	mu sync.Mutex // guards the fields below
	// seqNum is the seq_num of the latest own alive message.
	seqNum    uint64
	selfAlive *gp.Envelope // latest own alive message, with its secret
	members   map[string]*record
	anchors   map[string]bool // endpoints passed to Connect as anchors
	connects  map[string]*pendingConnect
	nextAlive time.Time
	nextCheck time.Time
	nextDead  time.Time
	nextSync  time.Time
	nextTrack time.Time
	tracked   []string // PKI-IDs alive at the last membership tracker log
}

// New returns the membership of the peer that signer signs for. It starts
// nothing: call Run, or Tick under a test's clock. log may be nil.
func New(cfg Config, signer Signer, transport Transport, ids IdentityStore, log *slog.Logger) (*Membership, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	serialized, err := signer.Serialize()
	if err != nil {
		return nil, fmt.Errorf("membership: serialize own identity: %w", err)
	}
	pkiID, err := identity.PKIIDOf(serialized)
	if err != nil {
		return nil, fmt.Errorf("membership: own identity: %w", err)
	}
	mspID := mspOf(serialized)
	if err := ids.Put(pkiID, serialized); err != nil {
		return nil, fmt.Errorf("membership: the identity store refuses this peer's own identity (MSP %s): %w", mspID, err)
	}
	now := cfg.Now()
	ctx, cancel := context.WithCancel(context.Background())
	m := &Membership{
		cfg:          cfg,
		signer:       signer,
		transport:    transport,
		ids:          ids,
		log:          log.With("pki_id", pkiID.String(), "endpoint", cfg.Endpoint),
		wake:         make(chan struct{}, 1),
		selfPKIID:    pkiID,
		selfIdentity: serialized,
		selfMSPID:    mspID,
		incNum:       uint64(now.UnixNano()),
		publishCert:  now.Add(cfg.PublishCertPeriod),
		bootstrap:    map[string]bool{},
		stopped:      make(chan struct{}),
		ioCtx:        ctx,
		ioCancel:     cancel,
		members:      map[string]*record{},
		anchors:      map[string]bool{},
		connects:     map[string]*pendingConnect{},
	}
	if cfg.ExternalEndpoint == "" {
		m.log.Warn("peer.gossip.externalEndpoint is empty: other organisations will not learn of this peer")
	}
	m.idStore, err = newIdentityStore(m)
	if err != nil {
		return nil, err
	}
	m.idPull = pull.New(pull.Config{
		MsgType:      gp.PullMsgType_IDENTITY_MSG,
		Tag:          gp.GossipMessage_EMPTY,
		PeerCount:    cfg.PullPeerNum,
		Interval:     cfg.PullInterval,
		DigestWait:   cfg.DigestWaitTime,
		RequestWait:  cfg.RequestWaitTime,
		ResponseWait: cfg.ResponseWaitTime,
		DigestFilter: m.identityFilter,
		Now:          cfg.Now,
	}, m.idStore, transport, m.pullPeers, m.log)
	for _, ep := range cfg.Bootstrap {
		m.bootstrap[ep] = true
		if m.isSelf(ep) {
			continue
		}
		m.connects[ep] = &pendingConnect{endpoint: ep, next: now}
	}
	return m, nil
}

// mspOf is the MSP ID of a serialized identity, "" if it has none.
func mspOf(serialized []byte) string {
	sid := &mspproto.SerializedIdentity{}
	if proto.Unmarshal(serialized, sid) != nil {
		return ""
	}
	return sid.Mspid
}

// orgOf is the MSP of a PKI-ID as the identity store knows it.
func (m *Membership) orgOf(pkiID identity.PKIID) string {
	if bytes.Equal(pkiID, m.selfPKIID) {
		return m.selfMSPID
	}
	_, mspID, ok := m.ids.Get(pkiID)
	if !ok {
		return ""
	}
	return mspID
}

func (m *Membership) isSelf(endpoint string) bool {
	return endpoint == m.cfg.Endpoint || (m.cfg.ExternalEndpoint != "" && endpoint == m.cfg.ExternalEndpoint)
}

// Self is this peer as others see it; Envelope is its latest alive
// message (nil before the first one).
func (m *Membership) Self() Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Member{
		PKIID:            m.selfPKIID,
		Endpoint:         m.cfg.ExternalEndpoint,
		InternalEndpoint: m.cfg.Endpoint,
		MSPID:            m.selfMSPID,
		Identity:         m.selfIdentity,
		Metadata:         []byte{},
		Envelope:         m.selfAlive,
	}
}

// Alive returns the alive members, sorted by PKI-ID.
func (m *Membership) Alive() []Member { return m.list(true) }

// Dead returns the members presumed dead and not yet forgotten, sorted by
// PKI-ID.
func (m *Membership) Dead() []Member { return m.list(false) }

func (m *Membership) list(alive bool) []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Member
	for _, r := range m.members {
		if r.alive == alive {
			out = append(out, r.member)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return bytes.Compare(a.PKIID, b.PKIID) })
	return out
}

// Lookup returns a member, alive or dead, or this peer itself.
func (m *Membership) Lookup(pkiID identity.PKIID) (Member, bool) {
	if bytes.Equal(pkiID, m.selfPKIID) {
		return m.Self(), true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.members[string(pkiID)]
	if !ok {
		return Member{}, false
	}
	return r.member, true
}

// IsAlive reports whether pkiID is an alive member.
func (m *Membership) IsAlive(pkiID identity.PKIID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.members[string(pkiID)]
	return ok && r.alive
}

// Handle takes an alive message, a membership request or response, or an
// identity pull message; anything else is ignored.
func (m *Membership) Handle(msg *comm.ReceivedMessage) {
	if msg == nil || msg.Message == nil || m.isStopped() {
		return
	}
	m.learnConnIdentity(msg.Conn)
	g := msg.Message
	switch {
	case g.GetAliveMsg() != nil:
		m.onAlive(msg)
	case g.GetMemReq() != nil:
		m.onMembershipRequest(msg)
	case g.GetMemRes() != nil:
		m.onMembershipResponse(msg)
	case isIdentityPull(g):
		m.idPull.Handle(msg)
	}
}

func isIdentityPull(g *gp.GossipMessage) bool {
	switch {
	case g.GetHello() != nil:
		return g.GetHello().MsgType == gp.PullMsgType_IDENTITY_MSG
	case g.GetDataDig() != nil:
		return g.GetDataDig().MsgType == gp.PullMsgType_IDENTITY_MSG
	case g.GetDataReq() != nil:
		return g.GetDataReq().MsgType == gp.PullMsgType_IDENTITY_MSG
	case g.GetDataUpdate() != nil:
		return g.GetDataUpdate().MsgType == gp.PullMsgType_IDENTITY_MSG
	}
	return false
}

// learnConnIdentity keeps the identity a connection's handshake proved, so
// the sender's own alive messages verify even when they carry no identity.
func (m *Membership) learnConnIdentity(c comm.ConnInfo) {
	if len(c.PKIID) == 0 || len(c.Identity) == 0 {
		return
	}
	if _, _, known := m.ids.Get(c.PKIID); known {
		return
	}
	if err := m.ids.Put(c.PKIID, c.Identity); err != nil {
		m.log.Warn("identity of a connected peer refused", "remote_pki_id", c.PKIID.String(), "remote_endpoint", c.Endpoint, "error", err)
	}
}

// Run ticks until ctx is done or Stop is called, then waits for the
// handshakes and probes in flight.
func (m *Membership) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.stopped:
			return
		case <-m.wake:
		case <-timer.C:
		}
		next := m.Tick()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(next.Sub(m.cfg.Now()), time.Millisecond))
	}
}

// Stop ends Run and cuts short the handshakes and probes in flight; later
// messages are ignored.
func (m *Membership) Stop() {
	m.stopOnce.Do(func() {
		close(m.stopped)
		m.ioCancel()
	})
}

func (m *Membership) isStopped() bool {
	select {
	case <-m.stopped:
		return true
	default:
		return false
	}
}

// Tick does what is due at Config.Now: sends the own alive message, marks
// silent peers dead and forgets old dead ones, probes dead peers, syncs
// membership, connects to bootstrap and anchor peers, runs the identity
// pull. It returns when it next needs to be called, after the handshakes
// and probes it started have ended (each is bounded by DialTimeout).
func (m *Membership) Tick() time.Time {
	if m.isStopped() {
		return m.cfg.Now().Add(time.Hour)
	}
	now := m.cfg.Now()
	m.mu.Lock()
	if m.nextAlive.IsZero() {
		// The first alive message waits an interval, as in Fabric; the
		// first sync too, while bootstrap requests go at once.
		m.nextAlive = now.Add(m.cfg.AliveTimeInterval)
		m.nextCheck = now.Add(m.cfg.AliveExpirationCheckInterval)
		m.nextDead = now.Add(m.cfg.ReconnectInterval)
		m.nextSync = now.Add(m.cfg.PullInterval)
		m.nextTrack = now
	}
	var sends []send
	var closes []identity.PKIID
	if !now.Before(m.nextCheck) {
		m.nextCheck = now.Add(m.cfg.AliveExpirationCheckInterval)
		closes = m.expireLocked(now)
	}
	sendAlive := !now.Before(m.nextAlive)
	if sendAlive {
		m.nextAlive = now.Add(m.cfg.AliveTimeInterval)
	}
	var probe []Member
	if !now.Before(m.nextDead) {
		m.nextDead = now.Add(m.cfg.ReconnectInterval)
		for _, r := range m.members {
			if !r.alive {
				probe = append(probe, r.member)
			}
		}
	}
	var syncTo []Member
	if !now.Before(m.nextSync) {
		m.nextSync = now.Add(m.cfg.PullInterval)
		syncTo = m.randomAliveLocked(m.cfg.PullPeerNum, nil)
	}
	handshakes, joins := m.dueConnectsLocked(now)
	m.trackLocked(now)
	m.mu.Unlock()

	for _, id := range closes {
		m.transport.CloseConn(id)
	}
	if sendAlive {
		sends = append(sends, m.aliveSends()...)
	}
	for _, p := range syncTo {
		sends = append(sends, m.membershipRequestTo(p.PKIID, p.PreferredEndpoint(), 0)...)
	}
	sends = append(sends, m.joinSends(joins)...)
	m.sendAll(sends)

	var wg sync.WaitGroup
	for _, c := range handshakes {
		wg.Go(func() { m.handshake(c) })
	}
	for _, p := range probe {
		wg.Go(func() { m.probeDead(p) })
	}
	wg.Wait()

	pullNext := m.idPull.Tick()

	m.mu.Lock()
	defer m.mu.Unlock()
	next := slices.MinFunc([]time.Time{m.nextAlive, m.nextCheck, m.nextDead, m.nextSync, pullNext}, func(a, b time.Time) int { return a.Compare(b) })
	for _, c := range m.connects {
		if !c.busy {
			next = earliest(next, c.due())
		}
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// send is one envelope for one peer, sent after the lock is released.
type send struct {
	env *gp.Envelope
	to  comm.RemotePeer
}

func (m *Membership) sendAll(sends []send) {
	for _, s := range sends {
		m.transport.Send(s.env, s.to)
	}
}

// trackLocked logs changes of the alive set at most every
// MembershipTrackerInterval (Fabric's membership tracker).
func (m *Membership) trackLocked(now time.Time) {
	if m.cfg.MembershipTrackerInterval <= 0 || now.Before(m.nextTrack) {
		return
	}
	m.nextTrack = now.Add(m.cfg.MembershipTrackerInterval)
	var alive []string
	for _, r := range m.members {
		if r.alive {
			alive = append(alive, r.member.PKIID.String()+"@"+r.member.PreferredEndpoint())
		}
	}
	slices.Sort(alive)
	if !slices.Equal(alive, m.tracked) {
		m.log.Info("membership changed", "alive", alive, "was", m.tracked)
		m.tracked = alive
	}
}
