package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Member is one consenter of a channel, as the channel configuration names it.
type Member struct {
	// ID is the consenter id, which is also its Raft node id on the channel.
	ID uint64
	// Endpoint is the host:port of the node's cluster service.
	Endpoint string
	// ServerTLSCert and ClientTLSCert are PEM certificates. The node's server
	// certificate is pinned when dialling it; its client certificate is the
	// only one accepted for messages from ID.
	ServerTLSCert, ClientTLSCert []byte
}

// Handler receives the authenticated Raft messages of every channel.
type Handler interface {
	Step(ctx context.Context, channel string, from uint64, m *raftpb.Message) error
}

// ErrClosed is returned by Configure after Close.
var ErrClosed = errors.New("cluster: comm is closed")

// CommConfig holds what a Comm needs; zero durations take the defaults.
type CommConfig struct {
	// Certificate is this node's TLS key pair, presented as client certificate.
	Certificate tls.Certificate
	// RootCAs verify the server certificates of the other nodes.
	RootCAs *x509.CertPool
	// QueueSize bounds the messages waiting for one remote node (default 100).
	QueueSize int
	// MinBackoff and MaxBackoff bound the wait before re-opening a broken
	// stream (defaults 100ms and 5s); the wait doubles after each failure.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds one connection attempt, TCP and TLS (default 5s).
	DialTimeout time.Duration
	// KeepaliveInterval, if set, pings idle connections so that a vanished
	// peer is noticed; the server's keepalive.EnforcementPolicy.MinTime must
	// then be at most this value.
	KeepaliveInterval time.Duration
	Logger            *slog.Logger
}

// Comm is a node's side of the cluster: who the consenters of each channel
// are, and one outgoing stream per remote node. Safe for concurrent use.
type Comm struct {
	cfg     CommConfig
	log     *slog.Logger
	dropped atomic.Uint64
	// roots verify the other nodes' server certificates; SetRootCAs
	// replaces them when a channel config brings a new orderer TLS CA.
	roots atomic.Pointer[x509.CertPool]

	mu       sync.RWMutex // guards channels, remotes, closed
	channels map[string]*channelState
	remotes  map[string]*remote // by remoteKey
	closed   bool
}

type channelState struct {
	self    uint64
	members map[uint64]*member
}

type member struct {
	Member
	clientDER []byte
	subject   string
	remote    *remote // nil for this node
}

// NewComm returns a Comm with no channels.
func NewComm(cfg CommConfig) (*Comm, error) {
	if len(cfg.Certificate.Certificate) == 0 {
		return nil, errors.New("cluster: CommConfig.Certificate has no certificate: give this orderer's TLS key pair (General.Cluster.ClientCertificate/ClientPrivateKey)")
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 100
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Comm{
		cfg:      cfg,
		log:      cfg.Logger,
		channels: map[string]*channelState{},
		remotes:  map[string]*remote{},
	}
	c.roots.Store(cfg.RootCAs)
	return c, nil
}

// SetRootCAs replaces the CAs that verify the other nodes' server
// certificates, for connections made from now on (open streams keep going).
func (c *Comm) SetRootCAs(p *x509.CertPool) { c.roots.Store(p) }

// Configure sets (or replaces) the consenters of channel; self is this
// node's consenter id there (it may be absent from members, e.g. after an
// eviction). Streams to nodes that no channel needs any more are closed.
func (c *Comm) Configure(channel string, self uint64, members []Member) error {
	if channel == "" {
		return errors.New("cluster: configure: empty channel name")
	}
	st := &channelState{self: self, members: map[uint64]*member{}}
	for i, m := range members {
		pm, err := parseMember(m)
		if err != nil {
			return fmt.Errorf("cluster: configure channel %s: member %d of the list (id %d): %w", channel, i+1, m.ID, err)
		}
		if _, dup := st.members[m.ID]; dup {
			return fmt.Errorf("cluster: configure channel %s: consenter id %d appears twice; ids must be unique", channel, m.ID)
		}
		st.members[m.ID] = pm
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	for id, m := range st.members {
		if id == self {
			continue
		}
		key := remoteKey(m.Endpoint, m.ServerTLSCert)
		r, ok := c.remotes[key]
		if !ok {
			var err error
			r, err = c.newRemote(m.Endpoint, m.ServerTLSCert)
			if err != nil {
				stale := c.unusedRemotes() // those started for this call
				c.mu.Unlock()
				c.stop(stale)
				return fmt.Errorf("cluster: configure channel %s: consenter %d: %w", channel, id, err)
			}
			c.remotes[key] = r
		}
		m.remote = r
	}
	c.channels[channel] = st
	stale := c.unusedRemotes()
	c.mu.Unlock()

	c.stop(stale)
	c.log.Info("cluster channel configured", "channel", channel, "self", self, "consenters", ids(st))
	return nil
}

// Remove forgets channel and closes the streams no other channel needs.
func (c *Comm) Remove(channel string) {
	c.mu.Lock()
	delete(c.channels, channel)
	stale := c.unusedRemotes()
	c.mu.Unlock()
	c.stop(stale)
}

// Close closes every stream; Transport.Send drops everything afterwards.
func (c *Comm) Close() {
	c.mu.Lock()
	c.closed = true
	c.channels = map[string]*channelState{}
	stale := c.unusedRemotes()
	c.mu.Unlock()
	c.stop(stale)
}

// Reachable returns the consenter ids of channel that have a live stream,
// this node's id included, in increasing order; nil for an unknown channel.
func (c *Comm) Reachable(channel string) []uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st, ok := c.channels[channel]
	if !ok {
		return nil
	}
	out := []uint64{}
	for id, m := range st.members {
		if id == st.self || (m.remote != nil && m.remote.live.Load()) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Dropped returns how many outgoing messages were dropped so far: queue
// full, unknown destination, or comm closed.
func (c *Comm) Dropped() uint64 { return c.dropped.Load() }

// Transport returns the sender of channel's Raft messages (it satisfies
// raftchain.Transport).
func (c *Comm) Transport(channel string) *Transport {
	return &Transport{comm: c, channel: channel}
}

// Transport sends the Raft messages of one channel through a Comm.
type Transport struct {
	comm    *Comm
	channel string
}

// Send queues msgs for their destinations and returns at once. A message to
// a node that is not a consenter of the channel, or whose queue is full, is
// dropped and counted. channelID must be the transport's channel.
func (t *Transport) Send(channelID string, msgs []*raftpb.Message) {
	if channelID != t.channel {
		t.comm.log.Error("cluster transport used for another channel; messages dropped", "channel", t.channel, "requested_channel", channelID)
		t.comm.dropped.Add(uint64(len(msgs)))
		return
	}
	t.comm.send(channelID, msgs)
}

func (c *Comm) send(channel string, msgs []*raftpb.Message) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st, ok := c.channels[channel]
	for _, m := range msgs {
		var dst *member
		if ok {
			dst = st.members[m.GetTo()]
		}
		if dst == nil || dst.remote == nil {
			c.dropped.Add(1)
			c.log.Debug("cluster message dropped: destination is not a remote consenter", "channel", channel, "to", m.GetTo())
			continue
		}
		payload, err := proto.Marshal(m)
		if err != nil {
			c.dropped.Add(1)
			c.log.Error("cluster message dropped: encode raft message", "channel", channel, "to", m.GetTo(), "error", err)
			continue
		}
		req := &ab.StepRequest{Payload: &ab.StepRequest_ConsensusRequest{
			ConsensusRequest: &ab.ConsensusRequest{Channel: channel, Payload: payload},
		}}
		if !dst.remote.enqueue(req) {
			c.dropped.Add(1)
		}
	}
}

// authorize checks a message received with client certificate der; it
// returns the reason it must be refused, or nil.
func (c *Comm) authorize(channel string, from, to uint64, der []byte) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st, ok := c.channels[channel]
	if !ok {
		return fmt.Errorf("channel %s is not configured on this orderer", channel)
	}
	m, ok := st.members[from]
	if !ok {
		return fmt.Errorf("%d is not a consenter id of channel %s", from, channel)
	}
	if !equalBytes(m.clientDER, der) {
		return fmt.Errorf("the TLS client certificate is not consenter %d's ClientTLSCert on channel %s", from, channel)
	}
	if to != st.self {
		return fmt.Errorf("message is addressed to consenter %d, this orderer is consenter %d of channel %s", to, st.self, channel)
	}
	return nil
}

// knownClient reports whether der is the client certificate of a consenter
// of any configured channel.
func (c *Comm) knownClient(der []byte) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, st := range c.channels {
		for _, m := range st.members {
			if equalBytes(m.clientDER, der) {
				return true
			}
		}
	}
	return false
}

// unusedRemotes removes and returns the remotes no channel refers to.
// Called with c.mu held.
func (c *Comm) unusedRemotes() []*remote {
	used := map[*remote]bool{}
	for _, st := range c.channels {
		for _, m := range st.members {
			if m.remote != nil {
				used[m.remote] = true
			}
		}
	}
	var stale []*remote
	for key, r := range c.remotes {
		if !used[r] {
			delete(c.remotes, key)
			stale = append(stale, r)
		}
	}
	return stale
}

func (c *Comm) stop(rs []*remote) {
	for _, r := range rs {
		r.close()
		c.log.Info("cluster stream closed: no configured channel needs this node", "endpoint", r.endpoint)
	}
}

func parseMember(m Member) (*member, error) {
	if m.ID == 0 {
		return nil, errors.New("consenter id must be > 0")
	}
	if m.Endpoint == "" {
		return nil, errors.New("no endpoint (host:port)")
	}
	cert, err := parseCertPEM(m.ClientTLSCert)
	if err != nil {
		return nil, fmt.Errorf("ClientTLSCert: %w", err)
	}
	if len(m.ServerTLSCert) > 0 {
		if _, err := parseCertPEM(m.ServerTLSCert); err != nil {
			return nil, fmt.Errorf("ServerTLSCert: %w", err)
		}
	}
	return &member{Member: m, clientDER: cert.Raw, subject: cert.Subject.String()}, nil
}

func parseCertPEM(raw []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(raw)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

func remoteKey(endpoint string, serverPEM []byte) string {
	if cert, err := parseCertPEM(serverPEM); err == nil {
		return endpoint + "|" + string(cert.Raw)
	}
	return endpoint
}

func ids(st *channelState) []uint64 {
	out := make([]uint64, 0, len(st.members))
	for id := range st.members {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func equalBytes(a, b []byte) bool { return len(a) > 0 && string(a) == string(b) }
