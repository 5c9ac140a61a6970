package membership

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testnet"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	os.Exit(code)
}

// twoOrgs is the network of the script tests: three peers of Org1 (peer2
// without an external endpoint) and two of Org2 (peer1 without one),
// bootstrapping within the organisation; the anchor peers are peer0 of each.
type twoOrgs struct {
	*fakeNet
	o1p0, o1p1, o1p2, o2p0, o2p1 *fakePeer
}

func ext(host string) string { return host + ":7051" }

func newTwoOrgs(t *testing.T) *twoOrgs {
	nw := newFakeNet(t)
	n := &twoOrgs{fakeNet: nw}
	boot := func(hosts ...string) func(*Config) {
		return func(c *Config) {
			for _, h := range hosts {
				c.Bootstrap = append(c.Bootstrap, h+".internal:7051")
			}
		}
	}
	n.o1p0 = nw.add("peer0.org1.example.com", "Org1MSP", ext("peer0.org1.example.com"), boot("peer1.org1.example.com"))
	n.o1p1 = nw.add("peer1.org1.example.com", "Org1MSP", ext("peer1.org1.example.com"), boot("peer0.org1.example.com"))
	n.o1p2 = nw.add("peer2.org1.example.com", "Org1MSP", "", boot("peer0.org1.example.com"))
	n.o2p0 = nw.add("peer0.org2.example.com", "Org2MSP", ext("peer0.org2.example.com"), nil)
	n.o2p1 = nw.add("peer1.org2.example.com", "Org2MSP", "", boot("peer0.org2.example.com"))
	// The channel code connects every peer to the anchor peers.
	for _, p := range []*fakePeer{n.o1p0, n.o1p1, n.o1p2, n.o2p0, n.o2p1} {
		p.m.Connect(ext("peer0.org1.example.com"), true)
		p.m.Connect(ext("peer0.org2.example.com"), true)
	}
	return n
}

// want is who each peer must know as alive once membership settles.
func (n *twoOrgs) want() map[*fakePeer][]string {
	return map[*fakePeer][]string{
		n.o1p0: {n.o1p1.name, n.o1p2.name, n.o2p0.name},
		n.o1p1: {n.o1p0.name, n.o1p2.name, n.o2p0.name},
		n.o1p2: {n.o1p0.name, n.o1p1.name},
		n.o2p0: {n.o1p0.name, n.o1p1.name, n.o2p1.name},
		n.o2p1: {n.o2p0.name},
	}
}

func (n *twoOrgs) settled() bool {
	for p, want := range n.want() {
		got := n.names(p.m.Alive())
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return false
		}
	}
	return true
}

func (n *twoOrgs) report(t *testing.T) {
	t.Helper()
	for p, want := range n.want() {
		t.Logf("%s knows %v, want %v", p.name, n.names(p.m.Alive()), want)
	}
}

func TestMembershipAcrossTwoOrganisations(t *testing.T) {
	n := newTwoOrgs(t)
	n.run(time.Second, 60*time.Second, "every peer knows whom it may know", n.settled)
	// Keep gossiping a while: nothing more may be learnt, nothing leaked.
	for range 60 {
		n.step(time.Second)
	}
	if !n.settled() {
		n.report(t)
		t.Fatal("membership changed after it settled")
	}
	if len(n.leaks) > 0 {
		t.Fatalf("across organisations went:\n%s", strings.Join(n.leaks, "\n"))
	}

	// Endpoints as each side may see them.
	m, ok := n.o1p0.m.Lookup(n.o1p1.pkiID)
	if !ok || m.InternalEndpoint != n.o1p1.internal || m.Endpoint != n.o1p1.external || m.MSPID != "Org1MSP" {
		t.Fatalf("peer0.org1 sees peer1.org1 as %+v, want internal %s, external %s, Org1MSP", m, n.o1p1.internal, n.o1p1.external)
	}
	for _, id := range [][]byte{n.o1p0.pkiID, n.o1p1.pkiID} {
		m, _ := n.o2p0.m.Lookup(id)
		if m.InternalEndpoint != "" || m.Envelope.GetSecretEnvelope() != nil {
			t.Fatalf("peer0.org2 learnt the internal endpoint %q of %s", m.InternalEndpoint, m.Endpoint)
		}
		if m.PreferredEndpoint() != m.Endpoint || m.Endpoint == "" {
			t.Fatalf("peer0.org2 would reach an Org1 peer at %q", m.PreferredEndpoint())
		}
	}
	if alive := n.o1p0.m.Alive(); !slices.IsSortedFunc(alive, func(a, b Member) int { return strings.Compare(string(a.PKIID), string(b.PKIID)) }) {
		t.Fatal("Alive is not sorted by PKI-ID")
	}
}

func TestMembershipDeadPeerComesBackWithANewerIncarnation(t *testing.T) {
	n := newTwoOrgs(t)
	n.run(time.Second, 60*time.Second, "every peer knows whom it may know", n.settled)
	old, _ := n.o1p0.m.Lookup(n.o1p1.pkiID)

	n.o1p1.stop()
	observers := []*fakePeer{n.o1p0, n.o1p2, n.o2p0}
	start := n.clock.Now()
	n.run(time.Second, 60*time.Second, "peer1.org1 presumed dead by all", func() bool {
		for _, p := range observers {
			if p.m.IsAlive(n.o1p1.pkiID) {
				return false
			}
		}
		return true
	})
	if silent := n.clock.Now().Sub(start); silent <= DefaultAliveExpirationTimeout-DefaultAliveTimeInterval {
		t.Fatalf("peer1.org1 was presumed dead after %v, before the alive expiration timeout", silent)
	}
	if dead := n.names(n.o1p0.m.Dead()); !slices.Equal(dead, []string{n.o1p1.name}) {
		t.Fatalf("peer0.org1 lists dead %v, want peer1.org1", dead)
	}

	// A replay of its old alive message brings nobody back.
	n.o1p0.m.Handle(received(t, old.Envelope, n.o1p2))
	if n.o1p0.m.IsAlive(n.o1p1.pkiID) {
		t.Fatal("a replayed alive message resurrected a dead peer")
	}

	// It restarts later: a newer inc_num.
	n.clock.Advance(time.Second)
	n.o1p1.start(func(c *Config) { c.Bootstrap = []string{n.o1p0.internal} })
	n.run(time.Second, 60*time.Second, "peer1.org1 alive again for all", func() bool {
		for _, p := range observers {
			if !p.m.IsAlive(n.o1p1.pkiID) {
				return false
			}
		}
		return true
	})
	now, _ := n.o1p0.m.Lookup(n.o1p1.pkiID)
	if inc := aliveOf(t, now.Envelope).Timestamp.IncNum; inc <= aliveOf(t, old.Envelope).Timestamp.IncNum {
		t.Fatalf("inc_num after the restart %d is not above %d", inc, aliveOf(t, old.Envelope).Timestamp.IncNum)
	}

	// Replaying the old incarnation's message changes nothing.
	n.o1p0.m.Handle(received(t, old.Envelope, n.o1p2))
	after, _ := n.o1p0.m.Lookup(n.o1p1.pkiID)
	if !proto.Equal(after.Envelope, now.Envelope) {
		t.Fatal("a replayed older alive message replaced the newer one")
	}
	n.run(time.Second, 30*time.Second, "settled again", n.settled)
}

func TestMembershipForgetsLongDeadPeersButNotBootstrapOnes(t *testing.T) {
	nw := newFakeNet(t)
	a := nw.add("peer0.org1.example.com", "Org1MSP", "", nil)
	b := nw.add("peer1.org1.example.com", "Org1MSP", "", func(c *Config) { c.Bootstrap = []string{a.internal} })
	c := nw.add("peer2.org1.example.com", "Org1MSP", "", func(c *Config) { c.Bootstrap = []string{a.internal} })
	nw.run(time.Second, 60*time.Second, "all know each other", func() bool {
		return len(a.m.Alive()) == 2 && len(b.m.Alive()) == 2 && len(c.m.Alive()) == 2
	})
	a.stop()
	c.stop()
	forget := DefaultAliveExpirationTimeout * DefaultMsgExpirationFactor
	nw.run(10*time.Second, forget+time.Minute, "peer2 forgotten by peer1", func() bool {
		_, known := b.m.Lookup(c.pkiID)
		return !known
	})
	if _, known := b.m.Lookup(a.pkiID); !known {
		t.Fatal("peer1 forgot its bootstrap peer")
	}
	if b.m.IsAlive(a.pkiID) {
		t.Fatal("stopped bootstrap peer still alive")
	}
}

func TestMembershipRefusesAnAliveMessageSignedBySomeoneElse(t *testing.T) {
	n := newTwoOrgs(t)
	n.run(time.Second, 60*time.Second, "every peer knows whom it may know", n.settled)
	victim, _ := n.o1p0.m.Lookup(n.o1p1.pkiID)
	va := aliveOf(t, victim.Envelope)

	// peer0.org2 claims to be peer1.org1 with a newer timestamp, signing
	// with its own key; once without, once with its own identity attached.
	for _, attach := range []bool{false, true} {
		forged := proto.Clone(va).(*gp.AliveMessage)
		forged.Timestamp.SeqNum += 1000
		forged.Membership.Endpoint = "evil.example.com:7051"
		forged.Identity = nil
		if attach {
			forged.Identity = n.o2p0.serialized
		}
		env, err := sign(n.o2p0.signer, &gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_AliveMsg{AliveMsg: forged}})
		if err != nil {
			t.Fatal(err)
		}
		n.o1p0.m.Handle(received(t, env, n.o2p0))
		got, _ := n.o1p0.m.Lookup(n.o1p1.pkiID)
		if got.Endpoint != n.o1p1.external {
			t.Fatalf("forged alive message (identity attached: %v) was believed: endpoint now %s", attach, got.Endpoint)
		}
	}
	refused := n.o1p0.logs.lines("alive message refused")
	if len(refused) != 2 {
		t.Fatalf("want 2 refusals logged, got:\n%s", strings.Join(refused, "\n"))
	}
	for _, l := range refused {
		if !strings.Contains(l, "member_pki_id="+n.o1p1.pkiID.String()) {
			t.Fatalf("refusal does not name the PKI-ID claimed: %s", l)
		}
	}
}

func TestMembershipIdentityPullReachesAPeerThatNeverMetItsOwner(t *testing.T) {
	nw := newFakeNet(t)
	noCert := func(boot ...string) func(*Config) {
		return func(c *Config) { c.PublishCertPeriod = time.Nanosecond; c.Bootstrap = boot }
	}
	x := nw.add("peer0.org1.example.com", "Org1MSP", "", noCert())
	y := nw.add("peer1.org1.example.com", "Org1MSP", "", noCert(x.internal))
	z := nw.add("peer2.org1.example.com", "Org1MSP", "", noCert(y.internal))
	nw.cutLink(x, z)
	nw.run(time.Second, 2*time.Minute, "z knows x as alive", func() bool { return z.m.IsAlive(x.pkiID) })
	if nw.talked[[2]string{x.name, z.name}] {
		t.Fatal("x and z exchanged messages despite the cut link")
	}
	if !z.ids.has(x.pkiID) {
		t.Fatal("z knows x alive without its identity")
	}
	if z.m.idStore.Get(x.pkiID) == nil {
		t.Fatal("z's identity pull store does not hold x's identity message")
	}
	// Before the pull, z dropped x's alive messages for want of the identity.
	if len(z.logs.lines("dropped until the identity of its peer is known")) == 0 {
		t.Fatal("z never saw x's alive message before it had x's identity: the test shows nothing")
	}
}

func TestMembershipRefusesABootstrapPeerOfAnotherOrganisation(t *testing.T) {
	nw := newFakeNet(t)
	o2 := nw.add("peer0.org2.example.com", "Org2MSP", ext("peer0.org2.example.com"), nil)
	o1 := nw.add("peer0.org1.example.com", "Org1MSP", ext("peer0.org1.example.com"), func(c *Config) { c.Bootstrap = []string{o2.internal} })
	for range 10 {
		nw.step(time.Second)
	}
	if len(o1.m.Alive()) != 0 || len(o2.m.Alive()) != 0 {
		t.Fatalf("joined through a bootstrap peer of another organisation: %v / %v", nw.names(o1.m.Alive()), nw.names(o2.m.Alive()))
	}
	lines := o1.logs.lines("cannot join through peer")
	if len(lines) == 0 || !strings.Contains(lines[0], "is of MSP Org2MSP, not of this peer's MSP Org1MSP") {
		t.Fatalf("refusal not logged with both MSPs: %v", lines)
	}
	// As an anchor peer it is fine.
	o1.m.Connect(o2.external, true)
	nw.run(time.Second, 30*time.Second, "joined through the anchor", func() bool {
		return o1.m.IsAlive(o2.pkiID) && o2.m.IsAlive(o1.pkiID)
	})
}

func TestMembershipRefusesARequestWhoseSelfInformationIsAnotherPeer(t *testing.T) {
	n := newTwoOrgs(t)
	n.run(time.Second, 60*time.Second, "settled", n.settled)
	other, _ := n.o1p0.m.Lookup(n.o1p1.pkiID)
	env, err := noopSign(&gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Nonce: 7, Content: &gp.GossipMessage_MemReq{MemReq: &gp.MembershipRequest{SelfInformation: other.Envelope}}})
	if err != nil {
		t.Fatal(err)
	}
	var answered bool
	msg := received(t, env, n.o1p2)
	msg.Respond = func(*gp.Envelope) error { answered = true; return nil }
	n.o1p0.m.Handle(msg)
	if answered {
		t.Fatal("answered a membership request whose self information is another peer's")
	}
}

func TestMembershipRunStopsAndJoins(t *testing.T) {
	nw := newFakeNet(t)
	fast := func(boot ...string) func(*Config) {
		return func(c *Config) {
			c.Now = time.Now
			c.Bootstrap = boot
			c.AliveTimeInterval = 20 * time.Millisecond
			c.PullInterval = 20 * time.Millisecond
		}
	}
	a := nw.add("peer0.org1.example.com", "Org1MSP", "", fast())
	b := nw.add("peer1.org1.example.com", "Org1MSP", "", fast(a.internal))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*fakePeer{a, b} {
		wg.Go(func() { p.m.Run(ctx) })
	}
	done := make(chan struct{})
	var fl sync.WaitGroup
	fl.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
				nw.flush()
			}
		}
	})
	eventually.True(t, 10*time.Second, "a and b know each other", func() bool {
		return a.m.IsAlive(b.pkiID) && b.m.IsAlive(a.pkiID)
	})
	cancel()
	wg.Wait()
	b.m.Stop()
	close(done)
	fl.Wait()
}

// received wraps env as a message from peer p.
func received(t *testing.T, env *gp.Envelope, from *fakePeer) *comm.ReceivedMessage {
	t.Helper()
	msg, err := decode(env)
	if err != nil {
		t.Fatal(err)
	}
	return &comm.ReceivedMessage{Envelope: env, Message: msg, Conn: from.connInfo(), Respond: func(*gp.Envelope) error { return nil }}
}

func aliveOf(t *testing.T, env *gp.Envelope) *gp.AliveMessage {
	t.Helper()
	msg, err := decode(env)
	if err != nil || msg.GetAliveMsg() == nil {
		t.Fatalf("not an alive message: %v", err)
	}
	return msg.GetAliveMsg()
}
