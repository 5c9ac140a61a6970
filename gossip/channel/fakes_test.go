package channel

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/gossiptest"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/message"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testlog"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	os.Exit(code)
}

const chanID = testnet.Channel

// fakeClock is a Clock that moves only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.timers = append(f.timers, fakeTimer{at: f.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock on by d and fires every timer due.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.timers[:0]
	for _, t := range f.timers {
		if t.at.After(f.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- f.now
	}
	f.timers = kept
}

// fakeNet passes envelopes between nodes as bytes, each node handling its
// messages in order on its own goroutine, as one connection would.
type fakeNet struct {
	t     *testing.T
	tn    *testnet.Net
	clock *fakeClock
	mu    sync.Mutex
	nodes []*node
	// drop, when set, loses the messages it returns true for.
	drop func(from, to *node, msg *gp.GossipMessage) bool
	// sentBlocks records, per sender, the block numbers it sent in
	// DataMessages and DataUpdates.
	sentBlocks map[string][]uint64
}

type node struct {
	net      *fakeNet
	name     string
	signer   *msp.SigningIdentity
	pkiID    identity.PKIID
	mspID    string
	endpoint string
	conn     comm.ConnInfo // what a handshake with this node shows
	ledger   *gossiptest.Ledger
	ch       *Channel
	logs     *testlog.Buffer
	// internalOnly: the node has no external endpoint, so membership
	// shows only its internal one.
	internalOnly bool

	mu       sync.Mutex
	up       bool
	queue    []delivery
	wake     chan struct{}
	received []*comm.ReceivedMessage // for nodes without a Channel
}

type delivery struct {
	from *node
	raw  []byte
}

func newFakeNet(t *testing.T) *fakeNet {
	return &fakeNet{t: t, tn: testnet.SampleNet(t), clock: newFakeClock(), sentBlocks: map[string][]uint64{}}
}

// signer returns the identity of a peer: the generated peer0 of each
// organisation, or a new one issued by the organisation's CA.
func (f *fakeNet) signer(host, mspID string) *msp.SigningIdentity {
	if host == "peer0.org1.example.com" || host == "peer0.org2.example.com" || host == "orderer.example.com" {
		return f.tn.Signer(f.t, host)
	}
	return testnet.IssueIdentity(f.t, f.tn.OrgDir(f.t, mspID), mspID, host, "peer", time.Now().Add(time.Hour))
}

// add creates a node; with cfg non-nil it also runs a Channel on it.
func (f *fakeNet) add(host, mspID string, blocks []*cb.Block, tweak func(*Config)) *node {
	t := f.t
	s := f.signer(host, mspID)
	serialized, err := s.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	pkiID, err := identity.PKIIDOf(serialized)
	if err != nil {
		t.Fatal(err)
	}
	handshake := []byte("handshake of " + host)
	sig, err := s.Sign(handshake)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{
		net: f, name: host, signer: s, pkiID: pkiID, mspID: mspID, endpoint: host + ":7051",
		conn: comm.ConnInfo{PKIID: pkiID, Identity: serialized, MSPID: mspID, Endpoint: host + ":7051",
			Signature: sig, SignedData: handshake},
		ledger: gossiptest.NewLedger(blocks),
		logs:   &testlog.Buffer{},
		up:     true,
		wake:   make(chan struct{}, 1),
	}
	defer func() {
		f.mu.Lock()
		f.nodes = append(f.nodes, n)
		f.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); n.loop(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}()
	if tweak == nil {
		return n
	}
	cfg := Config{
		ChannelID: chanID,
		Self:      Self{PKIID: pkiID, MSPID: mspID, Endpoint: n.endpoint},
		Orgs:      func() []string { return []string{"Org1MSP", "Org2MSP"} },
	}
	tweak(&cfg)
	n.internalOnly = cfg.Self.Endpoint == ""
	ch, err := New(cfg, Deps{
		Committer:  n.ledger,
		Sender:     (*nodeSender)(n),
		Members:    (*nodeMembers)(n),
		Identities: (*fakeIdentities)(f),
		Signer:     s,
		Policy:     readersPolicy{f.tn},
		Clock:      f.clock,
		Log:        slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.ch = ch
	ran := make(chan struct{})
	go func() { defer close(ran); ch.Run(context.Background()) }()
	t.Cleanup(func() {
		ch.Stop()
		<-ran
		if t.Failed() {
			t.Logf("log of %s:\n%s", host, n.logs.String())
		}
	})
	return n
}

// down takes a node off the network (it neither sends nor receives).
func (n *node) down() {
	n.mu.Lock()
	n.up = false
	n.mu.Unlock()
}

func (n *node) isUp() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up
}

// send puts env on the wire from n to the node to.
func (f *fakeNet) send(from *node, to comm.RemotePeer, env *gp.Envelope) {
	raw, err := proto.Marshal(env)
	if err != nil {
		f.t.Errorf("marshal envelope: %v", err)
		return
	}
	var dest *node
	f.mu.Lock()
	for _, n := range f.nodes {
		if bytes.Equal(n.pkiID, to.PKIID) || (len(to.PKIID) == 0 && n.endpoint == to.Endpoint) {
			dest = n
		}
	}
	drop := f.drop
	f.mu.Unlock()
	if dest == nil || !from.isUp() || !dest.isUp() {
		return
	}
	msg := &gp.GossipMessage{}
	if err := proto.Unmarshal(env.Payload, msg); err != nil {
		f.t.Errorf("%s sent an envelope that is not a gossip message: %v", from.name, err)
		return
	}
	if drop != nil && drop(from, dest, msg) {
		return
	}
	f.recordBlocks(from, msg)
	dest.mu.Lock()
	dest.queue = append(dest.queue, delivery{from: from, raw: raw})
	dest.mu.Unlock()
	select {
	case dest.wake <- struct{}{}:
	default:
	}
}

func (f *fakeNet) recordBlocks(from *node, msg *gp.GossipMessage) {
	var nums []uint64
	if d := msg.GetDataMsg(); d != nil {
		nums = append(nums, d.GetPayload().GetSeqNum())
	}
	for _, env := range msg.GetDataUpdate().GetData() {
		m := &gp.GossipMessage{}
		if proto.Unmarshal(env.Payload, m) == nil {
			nums = append(nums, m.GetDataMsg().GetPayload().GetSeqNum())
		}
	}
	if len(nums) > 0 {
		f.mu.Lock()
		f.sentBlocks[from.name] = append(f.sentBlocks[from.name], nums...)
		f.mu.Unlock()
	}
}

func (f *fakeNet) blocksSentBy(n *node) []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sentBlocks[n.name])
}

func (f *fakeNet) setDrop(drop func(from, to *node, msg *gp.GossipMessage) bool) {
	f.mu.Lock()
	f.drop = drop
	f.mu.Unlock()
}

// loop hands n's messages to its Channel (or keeps them) one at a time.
func (n *node) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		}
		for {
			n.mu.Lock()
			if len(n.queue) == 0 {
				n.mu.Unlock()
				break
			}
			d := n.queue[0]
			n.queue = n.queue[1:]
			n.mu.Unlock()
			n.deliver(d)
		}
	}
}

func (n *node) deliver(d delivery) {
	env := &gp.Envelope{}
	if err := proto.Unmarshal(d.raw, env); err != nil {
		n.net.t.Errorf("%s got bytes that are not an envelope: %v", n.name, err)
		return
	}
	msg, err := message.Decode(env)
	if err != nil {
		n.net.t.Errorf("%s got a message that gossip/message refuses from %s: %v", n.name, d.from.name, err)
		return
	}
	from := d.from
	rm := &comm.ReceivedMessage{
		Envelope: env,
		Message:  msg,
		Conn:     from.conn,
		Respond: func(e *gp.Envelope) error {
			n.net.send(n, comm.RemotePeer{Endpoint: from.endpoint, PKIID: from.pkiID}, e)
			return nil
		},
	}
	if n.ch == nil {
		n.mu.Lock()
		n.received = append(n.received, rm)
		n.mu.Unlock()
		return
	}
	n.ch.Handle(rm)
}

func (n *node) got() []*comm.ReceivedMessage {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.received)
}

type nodeSender node

func (s *nodeSender) Send(env *gp.Envelope, to ...comm.RemotePeer) {
	n := (*node)(s)
	for _, p := range to {
		n.net.send(n, p, env)
	}
}

type nodeMembers node

func (s *nodeMembers) Alive() []Member {
	n := (*node)(s)
	n.net.mu.Lock()
	nodes := slices.Clone(n.net.nodes)
	n.net.mu.Unlock()
	var out []Member
	for _, o := range nodes {
		if o == n || !o.isUp() || o.ch == nil {
			continue
		}
		m := Member{PKIID: o.pkiID, Endpoint: o.endpoint, MSPID: o.mspID, Identity: o.conn.Identity}
		if o.internalOnly {
			m.Endpoint, m.InternalEndpoint = "", o.endpoint
		}
		out = append(out, m)
	}
	return out
}

func (s *nodeMembers) Connect(string, bool) {}

type fakeIdentities fakeNet

func (s *fakeIdentities) Get(pkiID identity.PKIID) ([]byte, string, bool) {
	f := (*fakeNet)(s)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nodes {
		if bytes.Equal(n.pkiID, pkiID) {
			return n.conn.Identity, n.mspID, true
		}
	}
	return nil, "", false
}

// readersPolicy is the real /Channel/Application/Readers of mychannel.
type readersPolicy struct{ tn *testnet.Net }

func (p readersPolicy) Readers(id, data, sig []byte) error {
	pol, err := p.tn.Bundle.Policy("/Channel/Application/Readers")
	if err != nil {
		return err
	}
	return pol.Evaluate([]protos.SignedData{{Data: data, Identity: id, Signature: sig}})
}

// until advances the clock a second at a time until cond holds.
func (f *fakeNet) until(what string, cond func() bool) {
	f.t.Helper()
	eventually.True(f.t, 20*time.Second, what, func() bool {
		if cond() {
			return true
		}
		f.clock.Advance(time.Second)
		return false
	})
}

// knows reports whether n lists every peer of others among its channel peers.
func knows(n *node, others ...*node) bool {
	peers := n.ch.Peers()
	for _, o := range others {
		if !slices.ContainsFunc(peers, func(p PeerState) bool { return bytes.Equal(p.PKIID, o.pkiID) }) {
			return false
		}
	}
	return true
}
