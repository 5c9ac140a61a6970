package channel

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/gossiptest"
	"github.com/weft-ledger/weft/gossip/message"
)

func follower(*Config) {}

func staticLeader(c *Config) { c.OrgLeader = true }

func withTransfer(c *Config) { c.StateTransfer = true }

// lead commits blocks from..to on the leader's ledger, as its orderer
// puller would, and gossips each.
func lead(t *testing.T, leader *node, blocks []*cb.Block, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if err := leader.ledger.Commit(blocks[i]); err != nil {
			t.Fatalf("leader commit %d: %v", i, err)
		}
		leader.ch.UpdateHeight(uint64(i + 1))
		leader.ch.Gossip(blocks[i])
	}
}

func TestLeaderPushesBlocksToFollowersInOrder(t *testing.T) {
	f := newFakeNet(t)
	blocks := gossiptest.Chain(16)
	leader := f.add("peer0.org1.example.com", "Org1MSP", blocks[:1], staticLeader)
	f1 := f.add("peer1.org1.example.com", "Org1MSP", blocks[:1], follower)
	f2 := f.add("peer2.org1.example.com", "Org1MSP", blocks[:1], follower)
	// No pull: only pushes may bring the blocks.
	f.setDrop(func(_, _ *node, m *gp.GossipMessage) bool { return m.GetHello() != nil })

	f.until("leader knows both followers", func() bool { return knows(leader, f1, f2) })
	lead(t, leader, blocks, 1, 15)
	f.until("followers have all 16 blocks", func() bool {
		return f1.ledger.Height() == 16 && f2.ledger.Height() == 16
	})
	for _, n := range []*node{f1, f2} {
		if r := n.ledger.Refused(); len(r) != 0 {
			t.Errorf("%s refused blocks %v", n.name, r)
		}
	}
	if !leader.ch.IsLeader() || f1.ch.IsLeader() || f2.ch.IsLeader() {
		t.Errorf("leaders: %v %v %v, want only the static leader", leader.ch.IsLeader(), f1.ch.IsLeader(), f2.ch.IsLeader())
	}
}

func TestFollowerMissingPushesGetsBlocksByPull(t *testing.T) {
	f := newFakeNet(t)
	blocks := gossiptest.Chain(8)
	leader := f.add("peer0.org1.example.com", "Org1MSP", blocks[:1], staticLeader)
	f1 := f.add("peer1.org1.example.com", "Org1MSP", blocks[:1], follower)
	f2 := f.add("peer2.org1.example.com", "Org1MSP", blocks[:1], follower)
	f.setDrop(func(_, to *node, m *gp.GossipMessage) bool { return to == f2 && m.GetDataMsg() != nil })

	f.until("leader knows both followers", func() bool { return knows(leader, f1, f2) && knows(f2, leader, f1) })
	lead(t, leader, blocks, 1, 7)
	f.until("the follower missing pushes has all 8 blocks", func() bool { return f2.ledger.Height() == 8 })
	if f1.ledger.Height() != 8 {
		t.Errorf("pushed follower at height %d, want 8", f1.ledger.Height())
	}
}

// A leader with nobody to push to keeps its blocks unencoded; a peer that
// turns up later still gets them by block pull, encoded on its request.
func TestBlocksGossipedToNobodyAreOfferedByPull(t *testing.T) {
	f := newFakeNet(t)
	blocks := gossiptest.Chain(6)
	leader := f.add("peer0.org1.example.com", "Org1MSP", blocks[:1], staticLeader)
	lead(t, leader, blocks, 1, 5)
	leader.ch.mu.Lock()
	for n := uint64(1); n <= 5; n++ {
		if b := leader.ch.store.blocks[n]; b == nil || b.env != nil || b.block == nil {
			t.Errorf("block %d stored as %+v, want the block, not yet encoded", n, b)
		}
	}
	leader.ch.mu.Unlock()

	late := f.add("peer1.org1.example.com", "Org1MSP", blocks[:1], follower)
	f.setDrop(func(_, to *node, m *gp.GossipMessage) bool { return to == late && m.GetDataMsg() != nil })
	f.until("the late follower has all 6 blocks by pull", func() bool { return late.ledger.Height() == 6 })
	if r := late.ledger.Refused(); len(r) != 0 {
		t.Errorf("late follower refused blocks %v", r)
	}
}

func TestLateFollowerCatchesUpByStateTransfer(t *testing.T) {
	for _, tc := range []struct {
		name, host, msp string
	}{
		{"same org", "peer0.org1.example.com", "Org1MSP"},
		{"other org", "peer0.org2.example.com", "Org2MSP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNet(t)
			blocks := gossiptest.Chain(25)
			source := f.add(tc.host, tc.msp, blocks, follower)
			late := f.add("peer1.org1.example.com", "Org1MSP", blocks[:1], withTransfer)
			// State transfer only: no block pull.
			f.setDrop(func(_, _ *node, m *gp.GossipMessage) bool { return m.GetHello() != nil })
			source.ch.UpdateHeight(25)
			f.until("the late peer has all 25 blocks", func() bool { return late.ledger.Height() == 25 })
			if r := late.ledger.Refused(); len(r) != 0 {
				t.Errorf("late peer refused blocks %v", r)
			}
		})
	}
}

func TestStateRequestFromNonMemberIsRefused(t *testing.T) {
	f := newFakeNet(t)
	blocks := gossiptest.Chain(5)
	peer := f.add("peer0.org1.example.com", "Org1MSP", blocks, follower)
	outsider := f.add("orderer.example.com", "OrdererMSP", nil, nil)
	member := f.add("peer0.org2.example.com", "Org2MSP", nil, nil)

	req, err := message.NoopSign(&gp.GossipMessage{
		Nonce: 42, Channel: []byte(chanID), Tag: gp.GossipMessage_CHAN_OR_ORG,
		Content: &gp.GossipMessage_StateRequest{StateRequest: &gp.RemoteStateRequest{StartSeqNum: 1, EndSeqNum: 4}},
	})
	if err != nil {
		t.Fatal(err)
	}
	to := comm.RemotePeer{Endpoint: peer.endpoint, PKIID: peer.pkiID}
	f.send(outsider, to, req)
	f.send(member, to, req)
	// The peer handles its messages in order: once the member has its
	// answer, the outsider's request has been handled too.
	f.until("the member gets an answer", func() bool { return len(member.got()) == 1 })
	resp := member.got()[0].Message.GetStateResponse()
	if resp == nil || len(resp.Payloads) != 4 || resp.Payloads[0].SeqNum != 1 || member.got()[0].Message.Nonce != 42 {
		t.Fatalf("member's answer: %v", member.got()[0].Message)
	}
	if got := outsider.got(); len(got) != 0 {
		t.Fatalf("the outsider got %d answers", len(got))
	}
	if !strings.Contains(peer.logs.String(), "state request refused") {
		t.Errorf("refusal not logged:\n%s", peer.logs.String())
	}
}

func leaders(nodes ...*node) []*node {
	var out []*node
	for _, n := range nodes {
		if n.isUp() && n.ch.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

func TestElectionPicksOneLeaderPerOrgAndReplacesIt(t *testing.T) {
	f := newFakeNet(t)
	blocks := gossiptest.Chain(1)
	elect := func(c *Config) { c.UseLeaderElection = true }
	org1 := []*node{
		f.add("peer0.org1.example.com", "Org1MSP", blocks, elect),
		f.add("peer1.org1.example.com", "Org1MSP", blocks, elect),
		f.add("peer2.org1.example.com", "Org1MSP", blocks, elect),
	}
	org2 := []*node{
		f.add("peer0.org2.example.com", "Org2MSP", blocks, elect),
		f.add("peer1.org2.example.com", "Org2MSP", blocks, elect),
	}
	var mu sync.Mutex
	changes := map[string][]bool{}
	for _, n := range append(slices.Clone(org1), org2...) {
		n.ch.OnLeadership(func(on bool) {
			mu.Lock()
			changes[n.name] = append(changes[n.name], on)
			mu.Unlock()
		})
	}
	f.until("one leader per organisation", func() bool {
		return len(leaders(org1...)) == 1 && len(leaders(org2...)) == 1
	})
	// It stays so.
	for range 30 {
		f.clock.Advance(time.Second)
	}
	l1 := leaders(org1...)
	if len(l1) != 1 || len(leaders(org2...)) != 1 {
		t.Fatalf("leaders after 30s: org1 %d, org2 %d", len(l1), len(leaders(org2...)))
	}
	mu.Lock()
	if got := changes[l1[0].name]; len(got) == 0 || !got[len(got)-1] {
		t.Errorf("the leader's callback saw %v", got)
	}
	mu.Unlock()

	old := l1[0]
	old.down()
	old.ch.Stop()
	f.until("a new leader in org1", func() bool {
		l := leaders(org1...)
		return len(l) == 1 && l[0] != old
	})
}

func TestStaticLeader(t *testing.T) {
	f := newFakeNet(t)
	blocks := gossiptest.Chain(1)
	var mu sync.Mutex
	var calls []bool
	leader := f.add("peer0.org1.example.com", "Org1MSP", blocks, staticLeader)
	other := f.add("peer1.org1.example.com", "Org1MSP", blocks, follower)
	if !leader.ch.IsLeader() || other.ch.IsLeader() {
		t.Fatalf("IsLeader: leader %v, other %v", leader.ch.IsLeader(), other.ch.IsLeader())
	}
	// A Channel not yet running tells a callback registered now when it runs.
	c, err := New(leader.ch.cfg, leader.ch.deps)
	if err != nil {
		t.Fatal(err)
	}
	c.OnLeadership(func(on bool) { mu.Lock(); calls = append(calls, on); mu.Unlock() })
	done := make(chan struct{})
	go func() { defer close(done); c.Run(t.Context()) }()
	f.until("the static leader is told", func() bool { mu.Lock(); defer mu.Unlock(); return len(calls) == 1 })
	c.Stop()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(calls, []bool{true}) {
		t.Errorf("callbacks: %v", calls)
	}

	both := leader.ch.cfg
	both.UseLeaderElection = true
	if _, err := New(both, leader.ch.deps); err == nil || !strings.Contains(err.Error(), "orgLeader") {
		t.Errorf("New with both election and static leader: %v", err)
	}
}

func TestStateInfoSpreadsToChannelMembers(t *testing.T) {
	f := newFakeNet(t)
	blocks := gossiptest.Chain(1)
	nodes := []*node{
		f.add("peer0.org1.example.com", "Org1MSP", blocks, follower),
		f.add("peer1.org1.example.com", "Org1MSP", blocks, follower),
		f.add("peer0.org2.example.com", "Org2MSP", blocks, follower),
		f.add("peer1.org2.example.com", "Org2MSP", blocks, follower),
	}
	// peer2.org1 has no external endpoint: only its organisation sees it.
	internal := f.add("peer2.org1.example.com", "Org1MSP", blocks, func(c *Config) { c.Self.Endpoint = "" })
	all := append(slices.Clone(nodes), internal)
	for i, n := range all {
		n.ch.UpdateHeight(uint64(10 + i))
		n.ch.UpdateChaincodes([]*gp.Chaincode{{Name: "cc" + n.name, Version: "1"}})
	}
	check := func(n, o *node, i int) bool {
		for _, p := range n.ch.Peers() {
			if bytes.Equal(p.PKIID, o.pkiID) {
				return p.Height == uint64(10+i) && len(p.Chaincodes) == 1 && p.Chaincodes[0].Name == "cc"+o.name &&
					p.MSPID == o.mspID && p.StateInfo != nil
			}
		}
		return false
	}
	f.until("every peer sees the others' heights and chaincodes", func() bool {
		for _, n := range all {
			for i, o := range all {
				if n == o || (o == internal && n.mspID != "Org1MSP") {
					continue
				}
				if !check(n, o, i) {
					return false
				}
			}
		}
		return true
	})
	for _, n := range nodes[2:] {
		if knows(n, internal) {
			t.Errorf("%s (Org2) sees %s, which has no external endpoint", n.name, internal.name)
		}
	}
	if self := nodes[0].ch.Self(); self.Height != 10 || self.StateInfo == nil {
		t.Errorf("Self: %+v", self)
	}
}

func TestRefusedBlockIsNotForwarded(t *testing.T) {
	f := newFakeNet(t)
	blocks := gossiptest.Chain(6)
	leader := f.add("peer0.org1.example.com", "Org1MSP", blocks[:1], staticLeader)
	f1 := f.add("peer1.org1.example.com", "Org1MSP", blocks[:1], follower)
	f1.ledger.Refuse = func(b *cb.Block) bool { return b.Header.Number == 3 }
	f2 := f.add("peer2.org1.example.com", "Org1MSP", blocks[:1], follower)
	f.until("everyone knows everyone", func() bool {
		return knows(leader, f1, f2) && knows(f1, leader, f2) && knows(f2, leader, f1)
	})
	// f2 hears only from f1.
	f.setDrop(func(from, to *node, _ *gp.GossipMessage) bool {
		return (from == leader && to == f2) || (from == f2 && to == leader)
	})
	lead(t, leader, blocks, 1, 5)
	f.until("f1 refused block 3 and f2 has blocks 1 and 2", func() bool {
		return len(f1.ledger.Refused()) > 0 && f2.ledger.Height() == 3
	})
	for range 20 { // several pull rounds
		f.clock.Advance(time.Second)
	}
	if slices.Contains(f.blocksSentBy(f1), 3) {
		t.Fatalf("f1 sent block 3 it refused: %v", f.blocksSentBy(f1))
	}
	if h := f2.ledger.Height(); h != 3 {
		t.Fatalf("f2 at height %d, want 3", h)
	}
	logged := false
	for _, line := range strings.Split(f1.logs.String(), "\n") {
		if strings.Contains(line, "refused by the ledger") && strings.Contains(line, "peer="+leader.pkiID.String()) {
			logged = true
		}
	}
	if !logged {
		t.Errorf("refusal not logged with the sender:\n%s", f1.logs.String())
	}
}

func TestStateResponseHoldsAtMostBatchSize(t *testing.T) {
	f := newFakeNet(t)
	blocks := gossiptest.Chain(30)
	peer := f.add("peer0.org1.example.com", "Org1MSP", blocks[:20], follower)
	member := f.add("peer0.org2.example.com", "Org2MSP", nil, nil)
	to := comm.RemotePeer{Endpoint: peer.endpoint, PKIID: peer.pkiID}
	ask := func(nonce, start, end uint64) {
		req, err := message.NoopSign(&gp.GossipMessage{
			Nonce: nonce, Channel: []byte(chanID), Tag: gp.GossipMessage_CHAN_OR_ORG,
			Content: &gp.GossipMessage_StateRequest{StateRequest: &gp.RemoteStateRequest{StartSeqNum: start, EndSeqNum: end}},
		})
		if err != nil {
			t.Fatal(err)
		}
		f.send(member, to, req)
	}
	ask(1, 0, 11)  // past Fabric's bound: refused
	ask(2, 0, 10)  // Fabric's request of batchSize+1 blocks
	ask(3, 15, 25) // past our height
	f.until("two answers", func() bool { return len(member.got()) == 2 })
	want := map[uint64][2]uint64{2: {0, 9}, 3: {15, 19}}
	for _, m := range member.got() {
		w, ok := want[m.Message.Nonce]
		ps := m.Message.GetStateResponse().GetPayloads()
		if !ok || len(ps) != int(w[1]-w[0]+1) || ps[0].SeqNum != w[0] || ps[len(ps)-1].SeqNum != w[1] {
			t.Errorf("answer to nonce %d: %d payloads", m.Message.Nonce, len(ps))
		}
	}
}
