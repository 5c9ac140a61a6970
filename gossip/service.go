package gossip

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/discovery"
	"github.com/weft-ledger/weft/gossip/channel"
	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/membership"
	"github.com/weft-ledger/weft/gossip/message"
	"github.com/weft-ledger/weft/gossip/privdata"
)

// Signer is the peer's signing identity (*msp.SigningIdentity).
type Signer interface {
	Sign(msg []byte) ([]byte, error)
	Serialize() ([]byte, error)
}

// Config builds a Service.
type Config struct {
	Signer Signer
	// Verifier checks remote identities: the local MSP and every joined
	// channel's MSPs (identity.Managers).
	Verifier identity.Verifier
	// TLSCert is the peer's TLS certificate (nil: TLS off); TLSRoots the
	// CAs trusted when dialling other peers.
	TLSCert  *tls.Certificate
	TLSRoots func() *x509.CertPool
	// Comm and Membership are the transport's and membership's settings;
	// their Signer, Identity, Store and TLS fields are filled in here.
	Comm       comm.Config
	Membership membership.Config
	// PrivateData bounds private data gossip; its ChannelID and Orgs are
	// filled in for each channel joined.
	PrivateData privdata.Config
	Log         *slog.Logger
}

// Service is the peer's gossip: one transport, one membership, and a
// channel.Channel per joined channel. Messages are routed by kind:
// membership (alive, membership request and response, identities) to
// membership; private data to the channel's privdata.Channel; the rest to
// the channel they name (state info by its MAC).
type Service struct {
	log       *slog.Logger
	signer    Signer
	store     *identity.Store
	comm      *comm.Comm
	members   *membership.Membership
	privateCf privdata.Config

	mu       sync.RWMutex // guards channels, private and runCtx
	channels map[string]*channel.Channel
	private  map[string]*privdata.Channel
	runCtx   context.Context
	wg       sync.WaitGroup
}

// New builds the service; Register serves it and Run starts it.
func New(cfg Config) (*Service, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	log := cfg.Log.With("component", "gossip")
	self, err := cfg.Signer.Serialize()
	if err != nil {
		return nil, fmt.Errorf("gossip: serialize the peer's identity: %w", err)
	}
	store, err := identity.NewStore(self, cfg.Verifier)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	cc := cfg.Comm
	cc.Signer, cc.Identity, cc.Store = cfg.Signer, self, store
	cc.TLSCert, cc.TLSRoots, cc.Logger = cfg.TLSCert, cfg.TLSRoots, log
	c, err := comm.New(cc)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	m, err := membership.New(cfg.Membership, cfg.Signer, c, store, log)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("gossip: %w", err)
	}
	return &Service{log: log, signer: cfg.Signer, store: store, comm: c, members: m, privateCf: cfg.PrivateData,
		channels: map[string]*channel.Channel{}, private: map[string]*privdata.Channel{}}, nil
}

// Register serves gossip.Gossip (GossipStream, Ping) on the peer's gRPC
// server, as Fabric peers do on their main port.
func (s *Service) Register(srv *grpc.Server) { s.comm.Register(srv) }

// PKIID is this peer's PKI-ID.
func (s *Service) PKIID() identity.PKIID { return s.store.Self() }

// Start runs the service (Run) in a goroutine, ready for JoinChannel when
// it returns; done is closed once everything stopped after ctx ended.
func (s *Service) Start(ctx context.Context) (done <-chan struct{}) {
	s.mu.Lock()
	s.runCtx = ctx
	s.mu.Unlock()
	d := make(chan struct{})
	go func() {
		defer close(d)
		s.Run(ctx)
	}()
	return d
}

// Run routes messages, keeps membership and expires identities until ctx
// ends; then it stops every channel and closes the transport.
func (s *Service) Run(ctx context.Context) {
	s.mu.Lock()
	s.runCtx = ctx
	s.mu.Unlock()
	memberMsgs, cancelMember := s.comm.Subscribe(isMembership)
	chanMsgs, cancelChan := s.comm.Subscribe(func(m *comm.ReceivedMessage) bool { return !isMembership(m) })
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); s.members.Run(ctx) }()
	go func() {
		defer wg.Done()
		s.store.Run(ctx, func(gone []identity.PKIID) {
			for _, id := range gone {
				s.comm.CloseConn(id)
			}
		})
	}()
	go func() { defer wg.Done(); s.route(ctx, memberMsgs, s.members.Handle) }()
	go func() { defer wg.Done(); s.route(ctx, chanMsgs, s.toChannel) }()
	<-ctx.Done()
	s.mu.Lock()
	s.runCtx = nil
	chans, private := s.channels, s.private
	s.channels, s.private = map[string]*channel.Channel{}, map[string]*privdata.Channel{}
	s.mu.Unlock()
	for _, ch := range chans {
		ch.Stop()
	}
	for _, p := range private {
		p.Close()
	}
	s.wg.Wait()
	s.members.Stop()
	cancelMember()
	cancelChan()
	s.comm.Close()
	wg.Wait()
}

func (s *Service) route(ctx context.Context, msgs <-chan *comm.ReceivedMessage, handle func(*comm.ReceivedMessage)) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			handle(m)
		}
	}
}

// isMembership reports whether a message is membership's: alive,
// membership request and response, peer identities and their pull.
func isMembership(m *comm.ReceivedMessage) bool {
	g := m.Message
	switch {
	case g.GetAliveMsg() != nil, g.GetMemReq() != nil, g.GetMemRes() != nil, g.GetPeerIdentity() != nil:
		return true
	}
	for _, t := range []gp.PullMsgType{g.GetHello().GetMsgType(), g.GetDataDig().GetMsgType(), g.GetDataReq().GetMsgType(), g.GetDataUpdate().GetMsgType()} {
		if t == gp.PullMsgType_IDENTITY_MSG {
			return true
		}
	}
	return false
}

// toChannel hands a message to the channel it belongs to: by name, or for
// state info and its pull request by MAC (the channel is not named in them).
func (s *Service) toChannel(m *comm.ReceivedMessage) {
	g := m.Message
	if message.IsPrivateData(g) {
		s.mu.RLock()
		p := s.private[string(g.GetChannel())]
		s.mu.RUnlock()
		if p == nil {
			s.log.Debug("private data message for no joined channel dropped", "peer", m.Conn.PKIID.String(), "endpoint", m.Conn.Endpoint, "type", message.Kind(g))
			return
		}
		p.Handle(m)
		return
	}
	var mac, pki []byte
	switch {
	case g.GetStateInfo() != nil:
		mac, pki = g.GetStateInfo().GetChannel_MAC(), g.GetStateInfo().GetPkiId()
	case g.GetStateInfoPullReq() != nil:
		mac, pki = g.GetStateInfoPullReq().GetChannel_MAC(), m.Conn.PKIID
	}
	s.mu.RLock()
	var target *channel.Channel
	if mac != nil {
		for id, ch := range s.channels {
			if bytes.Equal(channel.MAC(pki, id), mac) {
				target = ch
				break
			}
		}
	} else {
		target = s.channels[string(g.GetChannel())]
	}
	s.mu.RUnlock()
	if target == nil {
		// Fabric keeps state info of channels it has not joined; Weft
		// needs none of it.
		s.log.Debug("gossip message for no joined channel dropped", "peer", m.Conn.PKIID.String(), "endpoint", m.Conn.Endpoint)
		return
	}
	target.Handle(m)
}

// ErrNotRunning is returned by JoinChannel before Run or after it ended.
var ErrNotRunning = errors.New("gossip service is not running")

// ChannelDeps are what a joined channel needs from the peer.
type ChannelDeps struct {
	Committer channel.Committer
	Policy    channel.Policy
	// Private keeps private data pushed to this peer and serves what other
	// peers pull; nil: pushes are refused in their acknowledgement and
	// requests dropped.
	Private privdata.Store
}

// JoinChannel starts gossip for a channel: cfg.Self and the transport,
// membership and signing dependencies are filled in here.
func (s *Service) JoinChannel(cfg channel.Config, deps ChannelDeps) (*channel.Channel, error) {
	self := s.members.Self()
	cfg.Self = channel.Self{PKIID: self.PKIID, MSPID: self.MSPID, Endpoint: self.Endpoint}
	ch, err := channel.New(cfg, channel.Deps{
		Committer:  deps.Committer,
		Policy:     deps.Policy,
		Sender:     s.comm,
		Members:    members{s.members},
		Identities: s.store,
		Signer:     s.signer,
		Log:        s.log,
	})
	if err != nil {
		return nil, err
	}
	pcfg := s.privateCf
	pcfg.ChannelID, pcfg.Orgs = cfg.ChannelID, cfg.Orgs
	pd, err := privdata.New(pcfg, privdata.Deps{Store: deps.Private, Sender: s.comm, Policy: deps.Policy, Log: s.log})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runCtx == nil {
		return nil, ErrNotRunning
	}
	if old, ok := s.channels[cfg.ChannelID]; ok {
		return old, nil
	}
	s.channels[cfg.ChannelID] = ch
	s.private[cfg.ChannelID] = pd
	ctx := s.runCtx
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ch.Run(ctx)
	}()
	return ch, nil
}

// PushPrivateData sends p to the peers `to` and waits for minAck
// acknowledgements (or ctx; with minAck 0, for every peer's answer or ctx);
// it returns how many acknowledged and an error naming the peers that
// failed and why when fewer than minAck did.
func (s *Service) PushPrivateData(ctx context.Context, channelID string, p *gp.PrivatePayload, to []comm.RemotePeer, minAck int) (acked int, err error) {
	pd, err := s.privateOf(channelID)
	if err != nil {
		return 0, fmt.Errorf("push private data of transaction %s: %w", p.GetTxId(), err)
	}
	return pd.Push(ctx, p, to, minAck)
}

// PullPrivateData asks the peers `from`, one after the other in the order
// given (as Fabric asks the next peer for what the previous one did not
// serve), for digests and returns the elements received until every digest
// is answered, the peers are exhausted or ctx ends; the error says which
// digests stay unanswered and what each peer did.
func (s *Service) PullPrivateData(ctx context.Context, channelID string, digests []*gp.PvtDataDigest, from []comm.RemotePeer) ([]*gp.PvtDataElement, error) {
	pd, err := s.privateOf(channelID)
	if err != nil {
		return nil, fmt.Errorf("pull private data: %w", err)
	}
	return pd.Pull(ctx, digests, from)
}

func (s *Service) privateOf(channelID string) (*privdata.Channel, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	pd, ok := s.private[channelID]
	if !ok {
		return nil, fmt.Errorf("gossip has not joined channel %s (or has stopped)", channelID)
	}
	return pd, nil
}

// members adapts membership to what a channel needs.
type members struct{ m *membership.Membership }

func (a members) Alive() []channel.Member {
	alive := a.m.Alive()
	out := make([]channel.Member, len(alive))
	for i, m := range alive {
		out[i] = channel.Member{PKIID: m.PKIID, Endpoint: m.Endpoint, InternalEndpoint: m.InternalEndpoint, MSPID: m.MSPID, Identity: m.Identity}
	}
	return out
}

func (a members) Connect(endpoint string, isAnchor bool) { a.m.Connect(endpoint, isAnchor) }

// Channel returns the gossip of a joined channel.
func (s *Service) Channel(id string) (*channel.Channel, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ch, ok := s.channels[id]
	return ch, ok
}

// ChannelPeers are the peers of a channel for service discovery: this peer
// and every alive peer that published state info for the channel, each with
// its latest alive message and state info.
func (s *Service) ChannelPeers(id string) []discovery.Peer {
	ch, ok := s.Channel(id)
	if !ok {
		return nil
	}
	self := ch.Self()
	out := []discovery.Peer{{MSPID: self.MSPID, Identity: s.members.Self().Identity, Alive: s.members.Self().Envelope, StateInfo: self.StateInfo}}
	for _, p := range ch.Peers() {
		m, ok := s.members.Lookup(p.PKIID)
		if !ok || m.Envelope == nil {
			continue
		}
		out = append(out, discovery.Peer{MSPID: p.MSPID, Identity: p.Identity, Alive: m.Envelope, StateInfo: p.StateInfo})
	}
	return out
}

// LocalPeers are this peer and every alive peer it knows, for service
// discovery's local peers query.
func (s *Service) LocalPeers() []discovery.Peer {
	self := s.members.Self()
	out := []discovery.Peer{{MSPID: self.MSPID, Identity: self.Identity, Alive: self.Envelope}}
	alive := s.members.Alive()
	sort.Slice(alive, func(i, j int) bool { return bytes.Compare(alive[i].PKIID, alive[j].PKIID) < 0 })
	for _, m := range alive {
		out = append(out, discovery.Peer{MSPID: m.MSPID, Identity: m.Identity, Alive: m.Envelope})
	}
	return out
}

// Alive lists the alive peers this peer knows (not itself).
func (s *Service) Alive() []membership.Member { return s.members.Alive() }
