package membership

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/gossiptest"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
)

// idStore is an identity store over the channel's MSPs: an identity is
// kept when its PKI-ID matches and an MSP of mychannel validates it.
type idStore struct {
	msps *msp.Manager
	mu   sync.Mutex
	ids  map[string][]byte
}

func (s *idStore) Put(pkiID identity.PKIID, serialized []byte) error {
	got, err := identity.PKIIDOf(serialized)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, pkiID) {
		return fmt.Errorf("PKI-ID %s is not that of the identity (%s)", pkiID, got)
	}
	if _, err := s.msps.DeserializeIdentity(serialized); err != nil {
		return err
	}
	s.mu.Lock()
	s.ids[string(pkiID)] = serialized
	s.mu.Unlock()
	return nil
}

func (s *idStore) Get(pkiID identity.PKIID) ([]byte, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.ids[string(pkiID)]
	return id, mspOf(id), ok
}

func (s *idStore) Verify(pkiID identity.PKIID, sig, message []byte) error {
	serialized, _, ok := s.Get(pkiID)
	if !ok {
		return fmt.Errorf("no identity for PKI-ID %s", pkiID)
	}
	id, err := s.msps.DeserializeIdentity(serialized)
	if err != nil {
		return err
	}
	return id.Verify(message, sig)
}

func (s *idStore) has(pkiID identity.PKIID) bool {
	_, _, ok := s.Get(pkiID)
	return ok
}

// fakeNet carries envelopes between the memberships of a test: sends are
// queued and delivered by Flush on the test's goroutine, re-decoded from
// their bytes as the transport would. It checks every delivery across
// organisations for what must not cross them.
type fakeNet struct {
	t     *testing.T
	n     *testnet.Net
	clock *gossiptest.Clock

	mu     sync.Mutex
	peers  []*fakePeer
	queue  []delivery
	cut    map[[2]string]bool // names with no link between them
	talked map[[2]string]bool // names that exchanged something
	leaks  []string
}

type delivery struct {
	from, to *fakePeer
	pkiID    identity.PKIID // the PKI-ID the sender expected, if any
	env      *gp.Envelope
}

// fakePeer is one peer: its identity, endpoints and membership; it is also
// the Transport of that membership.
type fakePeer struct {
	net        *fakeNet
	name       string
	signer     *msp.SigningIdentity
	serialized []byte
	pkiID      identity.PKIID
	mspID      string
	internal   string
	external   string
	ids        *idStore
	m          *Membership
	logs       *logBuffer
	up         bool
}

func newFakeNet(t *testing.T) *fakeNet {
	return &fakeNet{t: t, n: testnet.SampleNet(t), clock: gossiptest.NewClock(time.Unix(1_700_000_000, 0)),
		cut: map[[2]string]bool{}, talked: map[[2]string]bool{}}
}

// signerFor is the identity of host: the generated one, or one issued by
// the organisation's CA for hosts cryptogen did not make.
func (nw *fakeNet) signerFor(host, mspID string) *msp.SigningIdentity {
	switch host {
	case "peer0.org1.example.com", "peer1.org1.example.com", "peer0.org2.example.com", "peer1.org2.example.com":
		return nw.n.Signer(nw.t, host)
	}
	return testnet.IssueIdentity(nw.t, nw.n.OrgDir(nw.t, mspID), mspID, host, "peer", time.Now().Add(24*time.Hour))
}

// add creates a peer; external "" means no external endpoint.
func (nw *fakeNet) add(host, mspID, external string, edit func(*Config)) *fakePeer {
	nw.t.Helper()
	s := nw.signerFor(host, mspID)
	serialized, err := s.Serialize()
	if err != nil {
		nw.t.Fatal(err)
	}
	pkiID, _ := identity.PKIIDOf(serialized)
	p := &fakePeer{net: nw, name: host, signer: s, serialized: serialized, pkiID: pkiID, mspID: mspID,
		internal: host + ".internal:7051", external: external}
	nw.mu.Lock()
	nw.peers = append(nw.peers, p)
	nw.mu.Unlock()
	p.start(edit)
	return p
}

// start runs a new membership for the peer (a restart when it ran before).
func (p *fakePeer) start(edit func(*Config)) {
	p.net.t.Helper()
	cfg := Config{Endpoint: p.internal, ExternalEndpoint: p.external, Now: p.net.clock.Now}
	if edit != nil {
		edit(&cfg)
	}
	p.ids = &idStore{msps: p.net.n.Bundle.MSPs(), ids: map[string][]byte{}}
	p.logs = &logBuffer{}
	m, err := New(cfg, p.signer, p, p.ids, slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		p.net.t.Fatal(err)
	}
	p.m = m
	p.net.mu.Lock()
	p.up = true
	p.net.mu.Unlock()
	p.net.t.Cleanup(m.Stop)
}

func (p *fakePeer) stop() {
	p.m.Stop()
	p.net.mu.Lock()
	p.up = false
	p.net.mu.Unlock()
}

func (p *fakePeer) connInfo() comm.ConnInfo {
	return comm.ConnInfo{PKIID: p.pkiID, Identity: p.serialized, MSPID: p.mspID, Endpoint: p.internal}
}

// reach finds the peer at endpoint that from can reach.
func (nw *fakeNet) reach(from *fakePeer, endpoint string) *fakePeer {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, p := range nw.peers {
		if p.internal == endpoint || (p.external != "" && p.external == endpoint) {
			if !p.up || nw.cut[[2]string{from.name, p.name}] || nw.cut[[2]string{p.name, from.name}] {
				return nil
			}
			return p
		}
	}
	return nil
}

// cutLink makes a and b unable to reach each other.
func (nw *fakeNet) cutLink(a, b *fakePeer) {
	nw.mu.Lock()
	nw.cut[[2]string{a.name, b.name}] = true
	nw.mu.Unlock()
}

func (p *fakePeer) Send(env *gp.Envelope, to ...comm.RemotePeer) {
	for _, rp := range to {
		dst := p.net.reach(p, rp.Endpoint)
		if dst == nil {
			continue
		}
		p.net.enqueue(delivery{from: p, to: dst, pkiID: rp.PKIID, env: env})
	}
}

func (p *fakePeer) Handshake(_ context.Context, endpoint string) (comm.ConnInfo, error) {
	dst := p.net.reach(p, endpoint)
	if dst == nil {
		return comm.ConnInfo{}, fmt.Errorf("dial %s: connection refused", endpoint)
	}
	p.net.mark(p, dst)
	return dst.connInfo(), nil
}

func (p *fakePeer) Probe(_ context.Context, endpoint string) error {
	if p.net.reach(p, endpoint) == nil {
		return fmt.Errorf("dial %s: connection refused", endpoint)
	}
	return nil
}

func (p *fakePeer) CloseConn(identity.PKIID) {}

func (nw *fakeNet) mark(a, b *fakePeer) {
	nw.mu.Lock()
	nw.talked[[2]string{a.name, b.name}] = true
	nw.talked[[2]string{b.name, a.name}] = true
	nw.mu.Unlock()
}

func (nw *fakeNet) enqueue(d delivery) {
	raw, err := proto.Marshal(d.env)
	if err != nil {
		nw.t.Errorf("marshal envelope: %v", err)
		return
	}
	env := &gp.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		nw.t.Errorf("unmarshal envelope: %v", err)
		return
	}
	d.env = env
	nw.mu.Lock()
	nw.queue = append(nw.queue, d)
	nw.mu.Unlock()
}

// flush delivers queued envelopes, and those sent in answer, until none
// is left.
func (nw *fakeNet) flush() {
	for i := 0; ; i++ {
		if i > 100_000 {
			nw.t.Fatal("the network does not quiesce")
		}
		nw.mu.Lock()
		if len(nw.queue) == 0 {
			nw.mu.Unlock()
			return
		}
		d := nw.queue[0]
		nw.queue = nw.queue[1:]
		deliverable := d.to.up && !nw.cut[[2]string{d.from.name, d.to.name}] && !nw.cut[[2]string{d.to.name, d.from.name}]
		nw.mu.Unlock()
		if !deliverable || (len(d.pkiID) > 0 && !bytes.Equal(d.pkiID, d.to.pkiID)) {
			continue
		}
		msg := &gp.GossipMessage{}
		if err := proto.Unmarshal(d.env.Payload, msg); err != nil {
			nw.t.Errorf("%s sent %s a payload that is not a gossip message: %v", d.from.name, d.to.name, err)
			continue
		}
		nw.check(d, msg)
		nw.mark(d.from, d.to)
		from, to := d.from, d.to
		to.m.Handle(&comm.ReceivedMessage{
			Envelope: d.env,
			Message:  msg,
			Conn:     from.connInfo(),
			Respond: func(env *gp.Envelope) error {
				nw.enqueue(delivery{from: to, to: from, env: env})
				return nil
			},
		})
	}
}

// check records a delivery across organisations that carries an internal
// endpoint, or an alive message of a peer that has no external endpoint
// and is not of the receiver's organisation.
func (nw *fakeNet) check(d delivery, msg *gp.GossipMessage) {
	if d.from.mspID == d.to.mspID {
		return
	}
	var envs []*gp.Envelope
	switch {
	case msg.GetAliveMsg() != nil:
		envs = append(envs, d.env)
	case msg.GetMemReq() != nil:
		envs = append(envs, msg.GetMemReq().SelfInformation)
	case msg.GetMemRes() != nil:
		envs = append(envs, msg.GetMemRes().Alive...)
		envs = append(envs, msg.GetMemRes().Dead...)
	}
	for _, env := range envs {
		inner := &gp.GossipMessage{}
		_ = proto.Unmarshal(env.Payload, inner)
		member := inner.GetAliveMsg().GetMembership()
		if env.SecretEnvelope != nil {
			nw.leak("%s sent %s (other MSP) the internal endpoint of %x", d.from.name, d.to.name, member.GetPkiId())
		}
		if owner := nw.byPKIID(member.GetPkiId()); owner != nil && owner.mspID != d.to.mspID && member.GetEndpoint() == "" {
			nw.leak("%s sent %s the alive message of %s, which has no external endpoint", d.from.name, d.to.name, owner.name)
		}
	}
}

func (nw *fakeNet) leak(format string, args ...any) {
	nw.mu.Lock()
	nw.leaks = append(nw.leaks, fmt.Sprintf(format, args...))
	nw.mu.Unlock()
}

func (nw *fakeNet) byPKIID(id []byte) *fakePeer {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, p := range nw.peers {
		if bytes.Equal(p.pkiID, id) {
			return p
		}
	}
	return nil
}

// step advances the clock by d, ticks every running peer and delivers
// everything sent.
func (nw *fakeNet) step(d time.Duration) {
	nw.clock.Advance(d)
	nw.mu.Lock()
	peers := append([]*fakePeer(nil), nw.peers...)
	nw.mu.Unlock()
	for _, p := range peers {
		if p.up {
			p.m.Tick()
			nw.flush()
		}
	}
}

// run steps by d until cond holds, at most for total (of fake time).
func (nw *fakeNet) run(d, total time.Duration, what string, cond func() bool) {
	nw.t.Helper()
	for elapsed := time.Duration(0); ; elapsed += d {
		if cond() {
			return
		}
		if elapsed >= total {
			nw.t.Fatalf("%s: not true after %v of fake time", what, total)
		}
		nw.step(d)
	}
}

// names lists who a peer knows as alive, by test name.
func (nw *fakeNet) names(members []Member) []string {
	var out []string
	for _, m := range members {
		if p := nw.byPKIID(m.PKIID); p != nil {
			out = append(out, p.name)
		} else {
			out = append(out, "?"+m.PKIID.String())
		}
	}
	return out
}

// logBuffer collects a peer's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) lines(substr string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}
