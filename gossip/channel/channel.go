package channel

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/message"
	"github.com/weft-ledger/weft/gossip/pull"
)

// Fabric's defaults (sampleconfig/core.yaml, peer.gossip.*; gossip/election
// and gossip/state of Fabric v2.5).
const (
	DefaultPublishStateInfoInterval = 4 * time.Second
	DefaultRequestStateInfoInterval = 4 * time.Second
	DefaultPullInterval             = 4 * time.Second
	DefaultPullPeerNum              = 3
	DefaultPropagatePeerNum         = 3
	DefaultMaxBlockCountToStore     = 10

	DefaultStartupGracePeriod       = 15 * time.Second
	DefaultMembershipSampleInterval = time.Second
	DefaultLeaderAliveThreshold     = 10 * time.Second
	DefaultLeaderElectionDuration   = 5 * time.Second

	DefaultStateCheckInterval   = 10 * time.Second
	DefaultStateResponseTimeout = 3 * time.Second
	DefaultStateBatchSize       = 10
	DefaultStateBlockBufferSize = 20
	DefaultStateMaxRetries      = 3
)

// Self is this peer as the channel's messages name it.
type Self struct {
	PKIID identity.PKIID
	MSPID string
	// Endpoint is the external endpoint (peer.gossip.externalEndpoint), ""
	// when the peer has none: then its state info stays in its organisation.
	Endpoint string
}

// Config sets up one channel. Zero durations and counts take Fabric's
// defaults; the booleans default as in Fabric v2.5's core.yaml except
// OrgLeader (set it explicitly: Fabric's sample sets it true).
type Config struct {
	ChannelID string
	Self      Self
	// Orgs are the MSP IDs of the channel's application organisations, read
	// from the current channel configuration on every use (so a
	// configuration update applies at once); called from several
	// goroutines.
	Orgs func() []string
	// AnchorPeers are the anchor peers' endpoints (host:port) of the
	// channel configuration; the channel asks membership to connect to them.
	AnchorPeers func() []string

	UseLeaderElection bool // peer.gossip.useLeaderElection
	OrgLeader         bool // peer.gossip.orgLeader (static leader)

	PublishStateInfoInterval time.Duration // peer.gossip.publishStateInfoInterval
	RequestStateInfoInterval time.Duration // peer.gossip.requestStateInfoInterval
	PullInterval             time.Duration // peer.gossip.pullInterval
	PullPeerNum              int           // peer.gossip.pullPeerNum
	PropagatePeerNum         int           // peer.gossip.propagatePeerNum
	MaxBlockCountToStore     int           // peer.gossip.maxBlockCountToStore

	StartupGracePeriod       time.Duration // peer.gossip.election.startupGracePeriod
	MembershipSampleInterval time.Duration // peer.gossip.election.membershipSampleInterval
	LeaderAliveThreshold     time.Duration // peer.gossip.election.leaderAliveThreshold
	LeaderElectionDuration   time.Duration // peer.gossip.election.leaderElectionDuration

	// StateTransfer is peer.gossip.state.enabled (false by default in
	// Fabric v2.5): ask peers for missing blocks. Requests from others are
	// answered either way.
	StateTransfer        bool
	StateCheckInterval   time.Duration // peer.gossip.state.checkInterval
	StateResponseTimeout time.Duration // peer.gossip.state.responseTimeout
	StateBatchSize       int           // peer.gossip.state.batchSize
	StateBlockBufferSize int           // peer.gossip.state.blockBufferSize
	StateMaxRetries      int           // peer.gossip.state.maxRetries
}

func (c *Config) setDefaults() {
	setDur := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	setInt := func(n *int, def int) {
		if *n <= 0 {
			*n = def
		}
	}
	setDur(&c.PublishStateInfoInterval, DefaultPublishStateInfoInterval)
	setDur(&c.RequestStateInfoInterval, DefaultRequestStateInfoInterval)
	setDur(&c.PullInterval, DefaultPullInterval)
	setInt(&c.PullPeerNum, DefaultPullPeerNum)
	setInt(&c.PropagatePeerNum, DefaultPropagatePeerNum)
	setInt(&c.MaxBlockCountToStore, DefaultMaxBlockCountToStore)
	setDur(&c.StartupGracePeriod, DefaultStartupGracePeriod)
	setDur(&c.MembershipSampleInterval, DefaultMembershipSampleInterval)
	setDur(&c.LeaderAliveThreshold, DefaultLeaderAliveThreshold)
	setDur(&c.LeaderElectionDuration, DefaultLeaderElectionDuration)
	setDur(&c.StateCheckInterval, DefaultStateCheckInterval)
	setDur(&c.StateResponseTimeout, DefaultStateResponseTimeout)
	setInt(&c.StateBatchSize, DefaultStateBatchSize)
	setInt(&c.StateBlockBufferSize, DefaultStateBlockBufferSize)
	if c.StateMaxRetries <= 0 {
		c.StateMaxRetries = DefaultStateMaxRetries
	}
	if c.AnchorPeers == nil {
		c.AnchorPeers = func() []string { return nil }
	}
}

func (c *Config) validate() error {
	switch {
	case c.ChannelID == "":
		return errors.New("gossip channel: no channel ID")
	case len(c.Self.PKIID) == 0:
		return fmt.Errorf("gossip channel %s: no PKI-ID for this peer", c.ChannelID)
	case c.Self.MSPID == "":
		return fmt.Errorf("gossip channel %s: no MSP ID for this peer", c.ChannelID)
	case c.Orgs == nil:
		return fmt.Errorf("gossip channel %s: no source of the channel's organisations (Config.Orgs)", c.ChannelID)
	case c.UseLeaderElection && c.OrgLeader:
		return fmt.Errorf("gossip channel %s: peer.gossip.useLeaderElection and peer.gossip.orgLeader are both true; choose one", c.ChannelID)
	}
	return nil
}

// Committer is the peer's ledger of the channel.
type Committer interface {
	// Height is the number of blocks committed.
	Height() uint64
	// Commit verifies and commits the next block exactly as one from the
	// orderer (signatures, hash chain, validation); an error means the
	// block was refused.
	Commit(block *cb.Block) error
	// Block returns a committed block, for state transfer and block pull.
	Block(num uint64) (*cb.Block, error)
}

// Sender sends envelopes to remote peers without waiting for delivery.
type Sender interface {
	Send(env *gp.Envelope, to ...comm.RemotePeer)
}

// Member is an alive peer as membership knows it.
type Member struct {
	PKIID            identity.PKIID
	Endpoint         string // external endpoint, "" when the peer has none
	InternalEndpoint string
	MSPID            string
	Identity         []byte // serialized identity
}

// address is where to reach m: its internal endpoint when we know it
// (peers of our organisation), otherwise its external one.
func (m Member) address() comm.RemotePeer {
	ep := m.InternalEndpoint
	if ep == "" {
		ep = m.Endpoint
	}
	return comm.RemotePeer{Endpoint: ep, PKIID: m.PKIID}
}

// Members is the peer's membership view.
type Members interface {
	// Alive lists the peers currently alive, without this peer.
	Alive() []Member
	// Connect asks membership to reach a peer known only by endpoint.
	Connect(endpoint string, isAnchor bool)
}

// Identities finds the identity of a peer by PKI-ID (*identity.Store
// satisfies it).
type Identities interface {
	Get(pkiID identity.PKIID) (serialized []byte, mspID string, ok bool)
}

// Signer signs this peer's messages (msp.SigningIdentity satisfies it).
type Signer interface {
	Sign(msg []byte) ([]byte, error)
}

// Policy checks identities against the channel's configuration.
type Policy interface {
	// Readers returns nil when signature is identity's valid signature over
	// signedData and identity satisfies the channel's Readers policy.
	Readers(identity, signedData, signature []byte) error
}

// Deps are the services a Channel uses. Clock and Log may be nil.
type Deps struct {
	Committer  Committer
	Sender     Sender
	Members    Members
	Identities Identities
	Signer     Signer
	Policy     Policy
	Clock      Clock
	Log        *slog.Logger
}

// PeerState is a peer of the channel with what it last published.
type PeerState struct {
	PKIID            identity.PKIID
	Endpoint         string
	InternalEndpoint string
	MSPID            string
	Identity         []byte
	Height           uint64
	Chaincodes       []*gp.Chaincode
	// StateInfo is the peer's signed StateInfo message as received.
	StateInfo *gp.Envelope
}

// Channel is this peer's gossip for one joined channel.
type Channel struct {
	cfg       Config
	deps      Deps
	clock     Clock
	log       *slog.Logger
	mac       []byte // our channel MAC
	incNum    uint64 // PeerTime.inc_num of our messages: when we started
	puller    *pull.Mediator
	committed chan struct{} // signalled after each commit; the commit loop
	wake      chan struct{} // signalled when a block enters the buffer

	mu sync.Mutex // guards the fields below
	// Own state info.
	height      uint64
	chaincodes  []*gp.Chaincode
	stateSeq    uint64
	selfInfo    *gp.Envelope
	selfChanged bool // selfInfo must be signed again
	unpublished bool // our state changed since we last published it
	// Others' state info, by string(PKI-ID).
	states  map[string]stateEntry
	buffer  *orderedBuffer
	store   *blockStore
	leaders map[string]*gp.PeerTime // newest leadership message per PKI-ID
	anchors map[string]bool         // anchor endpoints handed to membership
	// transferNonce is the nonce of the state request awaiting an answer,
	// 0 when none.
	transferNonce uint64
	responses     chan *gp.RemoteStateResponse
	heightChanged chan struct{} // closed and replaced on each commit

	leader    atomic.Bool
	callbacks []func(bool) // guarded by mu
	election  *election

	stop     chan struct{}
	stopOnce sync.Once
	runDone  chan struct{} // closed when Run returns; guarded by mu
}

// New returns the gossip of cfg.ChannelID. Call Run to start it.
func New(cfg Config, deps Deps) (*Channel, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	switch {
	case deps.Committer == nil, deps.Sender == nil, deps.Members == nil,
		deps.Identities == nil, deps.Signer == nil, deps.Policy == nil:
		return nil, fmt.Errorf("gossip channel %s: Committer, Sender, Members, Identities, Signer and Policy are all required", cfg.ChannelID)
	}
	if deps.Clock == nil {
		deps.Clock = wallClock{}
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	c := &Channel{
		cfg:           cfg,
		deps:          deps,
		clock:         deps.Clock,
		log:           deps.Log.With("channel", cfg.ChannelID),
		mac:           MAC(cfg.Self.PKIID, cfg.ChannelID),
		incNum:        uint64(deps.Clock.Now().UnixNano()),
		committed:     make(chan struct{}, 1),
		wake:          make(chan struct{}, 1),
		height:        deps.Committer.Height(),
		selfChanged:   true,
		unpublished:   true,
		states:        map[string]stateEntry{},
		buffer:        newOrderedBuffer(cfg.StateBlockBufferSize),
		store:         newBlockStore(cfg.MaxBlockCountToStore),
		leaders:       map[string]*gp.PeerTime{},
		anchors:       map[string]bool{},
		responses:     make(chan *gp.RemoteStateResponse, 1),
		heightChanged: make(chan struct{}),
		stop:          make(chan struct{}),
	}
	c.puller = pull.New(pull.Config{
		MsgType:   gp.PullMsgType_BLOCK_MSG,
		Channel:   []byte(cfg.ChannelID),
		Tag:       gp.GossipMessage_CHAN_AND_ORG,
		PeerCount: cfg.PullPeerNum,
		Interval:  cfg.PullInterval,
		Wanted:    c.wantBlock,
		Now:       c.clock.Now,
	}, (*pullStore)(c), deps.Sender, c.pullPeers, c.log)
	if cfg.UseLeaderElection {
		c.election = newElection(c)
	} else {
		c.leader.Store(cfg.OrgLeader)
	}
	return c, nil
}

// MAC is Fabric's channel MAC of a peer: SHA-256 over its PKI-ID followed
// by the channel ID. StateInfo and StateInfoPullRequest carry it instead
// of the channel name, so that the router finds the channel by it.
func MAC(pkiID identity.PKIID, channelID string) []byte {
	h := sha256.New()
	h.Write(pkiID)
	h.Write([]byte(channelID))
	return h.Sum(nil)
}

// OnLeadership registers f, called (from the channel's goroutines) each
// time this peer becomes or stops being its organisation's leader for the
// channel; an elected leader is also told false when Run ends, a static
// leader is told true once, when Run starts. The peer starts and stops
// pulling blocks from the orderer in f; f must not call back into the
// Channel's Stop. Register before Run.
func (c *Channel) OnLeadership(f func(isLeader bool)) {
	c.mu.Lock()
	c.callbacks = append(c.callbacks, f)
	c.mu.Unlock()
}

// IsLeader says whether this peer pulls the channel's blocks from the
// orderer for its organisation.
func (c *Channel) IsLeader() bool { return c.leader.Load() }

func (c *Channel) setLeader(on bool) {
	if c.leader.Swap(on) == on {
		return
	}
	c.log.Info("gossip leadership changed", "leader", on)
	c.mu.Lock()
	cbs := slices.Clone(c.callbacks)
	c.mu.Unlock()
	for _, f := range cbs {
		f(on)
	}
}

// Run starts the channel's periodic work (state info, block pull, leader
// election, state transfer, commits) and returns when ctx is done or Stop
// is called, after all of it has stopped.
func (c *Channel) Run(ctx context.Context) {
	c.mu.Lock()
	if c.runDone != nil {
		c.mu.Unlock()
		panic("gossip channel " + c.cfg.ChannelID + ": Run called twice")
	}
	done := make(chan struct{})
	c.runDone = done
	c.mu.Unlock()
	defer close(done)
	select {
	case <-c.stop:
		return
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()

	var wg sync.WaitGroup
	start := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	c.connectAnchors()
	start(c.commitLoop)
	start(c.publishLoop)
	start(c.requestLoop)
	start(c.pullLoop)
	if c.election != nil {
		start(c.election.run)
	} else if c.cfg.OrgLeader {
		c.mu.Lock()
		cbs := slices.Clone(c.callbacks)
		c.mu.Unlock()
		for _, f := range cbs {
			f(true)
		}
	}
	if c.cfg.StateTransfer {
		start(c.transferLoop)
	}
	wg.Wait()
}

// Stop ends Run and waits for it to return; a Run called after Stop
// returns at once.
func (c *Channel) Stop() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.mu.Lock()
	done := c.runDone
	c.mu.Unlock()
	if done != nil {
		<-done
	}
}

// every calls f each interval d until ctx is done.
func (c *Channel) every(ctx context.Context, d time.Duration, f func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.clock.After(d):
			f()
		}
	}
}

// pullLoop drives block pull rounds on the channel's clock.
func (c *Channel) pullLoop(ctx context.Context) {
	for {
		next := c.puller.Tick()
		select {
		case <-ctx.Done():
			return
		case <-c.clock.After(max(next.Sub(c.clock.Now()), time.Millisecond)):
		}
	}
}

// Handle takes a message of this channel that came from a remote peer:
// state info and its pull, blocks (push and pull), leadership, state
// transfer. Messages that fail a check are dropped and logged with the
// sender.
func (c *Channel) Handle(m *comm.ReceivedMessage) {
	if m == nil || m.Message == nil || len(m.Conn.PKIID) == 0 {
		return
	}
	msg := m.Message
	log := c.log.With("peer", m.Conn.PKIID.String(), "endpoint", m.Conn.Endpoint, "msp_id", m.Conn.MSPID)
	// StateInfo and its pull request name the channel by MAC only.
	if msg.GetStateInfo() == nil && msg.GetStateInfoPullReq() == nil && string(msg.Channel) != c.cfg.ChannelID {
		log.Warn("gossip message of another channel dropped", "message_channel", string(msg.Channel))
		return
	}
	switch {
	case msg.GetStateRequest() != nil:
		c.handleStateRequest(m, log)
		return
	case msg.GetStateResponse() != nil:
		c.handleStateResponse(m, log)
		return
	}
	if !c.orgInChannel(m.Conn.MSPID) {
		log.Warn("gossip message from a peer whose organisation is not in the channel dropped", "type", message.Kind(msg))
		return
	}
	switch {
	case msg.GetStateInfo() != nil:
		c.handleStateInfo(m, log)
	case msg.GetStateInfoPullReq() != nil:
		c.handleStateInfoPullRequest(m, log)
	case msg.GetStateSnapshot() != nil:
		c.handleStateSnapshot(m, log)
	case msg.GetDataMsg() != nil:
		c.handleDataMessage(m, log)
	case msg.GetHello() != nil, msg.GetDataDig() != nil, msg.GetDataReq() != nil, msg.GetDataUpdate() != nil:
		c.handlePull(m, log)
	case msg.GetLeadershipMsg() != nil:
		c.handleLeadership(m, log)
	default:
		log.Debug("gossip message not for a channel dropped", "type", message.Kind(msg))
	}
}

func (c *Channel) orgInChannel(mspID string) bool {
	return mspID != "" && slices.Contains(c.cfg.Orgs(), mspID)
}

// mspOf is the MSP ID and serialized identity of a peer, "" and nil when
// the identity is unknown.
func (c *Channel) mspOf(pkiID identity.PKIID) (string, []byte) {
	id, mspID, ok := c.deps.Identities.Get(pkiID)
	if !ok {
		return "", nil
	}
	return mspID, id
}

// members returns the alive peers that pass keep, in random order.
func (c *Channel) members(keep func(Member) bool) []Member {
	var out []Member
	for _, m := range c.deps.Members.Alive() {
		if keep(m) {
			out = append(out, m)
		}
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// addresses returns the addresses of at most n of ms (all when n < 0).
func addresses(ms []Member, n int) []comm.RemotePeer {
	if n >= 0 && len(ms) > n {
		ms = ms[:n]
	}
	out := make([]comm.RemotePeer, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.address())
	}
	return out
}

// sign marshals msg into an envelope signed by this peer, as Fabric
// sends state info and leadership messages.
func (c *Channel) sign(msg *gp.GossipMessage) (*gp.Envelope, error) {
	return message.Sign(msg, c.deps.Signer.Sign)
}

func (c *Channel) connectAnchors() {
	var fresh []string
	c.mu.Lock()
	for _, ep := range c.cfg.AnchorPeers() {
		if ep == "" || ep == c.cfg.Self.Endpoint || c.anchors[ep] {
			continue
		}
		c.anchors[ep] = true
		fresh = append(fresh, ep)
	}
	c.mu.Unlock()
	for _, ep := range fresh {
		c.log.Info("connecting to anchor peer", "endpoint", ep)
		c.deps.Members.Connect(ep, true)
	}
}
