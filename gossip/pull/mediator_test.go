package pull

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/gossiptest"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/internal/eventually"
)

// blockStore holds items as Fabric's block pull does: the digest of an item
// is its sequence number in decimal.
type blockStore struct {
	mu     sync.Mutex
	items  map[string]*gp.Envelope
	refuse map[string]bool // Add refuses these
}

func newBlockStore(seqs ...uint64) *blockStore {
	s := &blockStore{items: map[string]*gp.Envelope{}, refuse: map[string]bool{}}
	for _, n := range seqs {
		s.items[strconv.FormatUint(n, 10)] = blockEnvelope(n)
	}
	return s
}

func blockEnvelope(n uint64) *gp.Envelope {
	payload, err := proto.Marshal(&gp.GossipMessage{
		Tag:     gp.GossipMessage_CHAN_AND_ORG,
		Channel: []byte("mychannel"),
		Content: &gp.GossipMessage_DataMsg{DataMsg: &gp.DataMessage{Payload: &gp.Payload{SeqNum: n, Data: []byte("block " + strconv.FormatUint(n, 10))}}},
	})
	if err != nil {
		panic(err)
	}
	return &gp.Envelope{Payload: payload}
}

func (s *blockStore) Digests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for k := range s.items {
		out = append(out, []byte(k))
	}
	return out
}

func (s *blockStore) Get(digest []byte) *gp.Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items[string(digest)]
}

func (s *blockStore) Add(env *gp.Envelope, msg *gp.GossipMessage) error {
	dm := msg.GetDataMsg()
	if dm == nil || dm.Payload == nil {
		return errors.New("not a data message")
	}
	key := strconv.FormatUint(dm.Payload.SeqNum, 10)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse[key] {
		return errors.New("block " + key + " refused")
	}
	s.items[key] = env
	return nil
}

func (s *blockStore) seqs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.items {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// network delivers envelopes between mediators synchronously, decoding the
// bytes as the transport would, and records every message it carried.
type network struct {
	mu    sync.Mutex
	nodes map[string]*Mediator
	log   []string // "from->to kind"
	// holdUpdates keeps updates in held instead of delivering them.
	holdUpdates bool
	held        []func()
}

type node struct {
	net  *network
	name string
}

func (n node) Send(env *gp.Envelope, to ...comm.RemotePeer) {
	for _, p := range to {
		n.net.deliver(n.name, p.Endpoint, env)
	}
}

func (nw *network) deliver(from, to string, env *gp.Envelope) {
	msg := &gp.GossipMessage{}
	if err := proto.Unmarshal(env.Payload, msg); err != nil {
		panic(err)
	}
	nw.mu.Lock()
	dst := nw.nodes[to]
	nw.log = append(nw.log, from+"->"+to+" "+kind(msg))
	nw.mu.Unlock()
	if dst == nil {
		return
	}
	if nw.holdUpdates && msg.GetDataUpdate() != nil {
		nw.mu.Lock()
		nw.held = append(nw.held, func() { nw.holdUpdates = false; nw.deliver(from, to, env) })
		nw.mu.Unlock()
		return
	}
	dst.Handle(&comm.ReceivedMessage{
		Envelope: env,
		Message:  msg,
		Conn:     comm.ConnInfo{PKIID: identity.PKIID(from), Endpoint: from, MSPID: "Org1MSP"},
		Respond: func(reply *gp.Envelope) error {
			nw.deliver(to, from, reply)
			return nil
		},
	})
}

func (nw *network) messages() []string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return slices.Clone(nw.log)
}

func kind(m *gp.GossipMessage) string {
	switch {
	case m.GetHello() != nil:
		return "hello"
	case m.GetDataDig() != nil:
		return "digest"
	case m.GetDataReq() != nil:
		return "request"
	case m.GetDataUpdate() != nil:
		return "update"
	}
	return "other"
}

func peersOf(names ...string) func() []comm.RemotePeer {
	return func() []comm.RemotePeer {
		var out []comm.RemotePeer
		for _, n := range names {
			out = append(out, comm.RemotePeer{Endpoint: n, PKIID: identity.PKIID(n)})
		}
		return out
	}
}

func blockConfig(c *gossiptest.Clock) Config {
	return Config{MsgType: gp.PullMsgType_BLOCK_MSG, Channel: []byte("mychannel"), Tag: gp.GossipMessage_CHAN_AND_ORG, Now: c.Now}
}

// pair sets up mediators a and b, each pulling from the other.
func pair(t *testing.T, cfg Config, a, b *blockStore) (*network, *Mediator, *Mediator) {
	t.Helper()
	nw := &network{nodes: map[string]*Mediator{}}
	ma := New(cfg, a, node{nw, "a"}, peersOf("b"), nil)
	mb := New(cfg, b, node{nw, "b"}, peersOf("a"), nil)
	nw.nodes["a"], nw.nodes["b"] = ma, mb
	return nw, ma, mb
}

func TestPullConvergesBetweenTwoStores(t *testing.T) {
	c := gossiptest.NewClock(time.Unix(1000, 0))
	sa, sb := newBlockStore(1, 2), newBlockStore(2, 3, 4)
	nw, a, b := pair(t, blockConfig(c), sa, sb)

	if next := a.Tick(); !next.Equal(c.Now().Add(DefaultInterval)) {
		t.Fatalf("first Tick schedules the first round at %v, want one interval later", next)
	}
	b.Tick()
	if got := nw.messages(); len(got) != 0 {
		t.Fatalf("first Tick sent %v, want nothing before the first interval", got)
	}

	c.Advance(DefaultInterval)
	next := a.Tick()
	if !next.Equal(c.Now().Add(DefaultDigestWait)) {
		t.Fatalf("after hello, next Tick at %v, want digest wait end %v", next, c.Now().Add(DefaultDigestWait))
	}
	b.Tick()
	// a's and b's hellos were answered by digests; nothing requested yet.
	c.Advance(DefaultDigestWait)
	a.Tick()
	b.Tick()

	if got, want := sa.seqs(), []string{"1", "2", "3", "4"}; !slices.Equal(got, want) {
		t.Fatalf("store a holds %v, want %v", got, want)
	}
	if got, want := sb.seqs(), []string{"1", "2", "3", "4"}; !slices.Equal(got, want) {
		t.Fatalf("store b holds %v, want %v", got, want)
	}
	want := []string{
		"a->b hello", "b->a digest",
		"b->a hello", "a->b digest",
		"a->b request", "b->a update",
		"b->a request", "a->b update",
	}
	if got := nw.messages(); !slices.Equal(got, want) {
		t.Fatalf("messages:\n got %v\nwant %v", got, want)
	}

	// Next round: both hold everything, so digests cause no request.
	c.Advance(DefaultInterval - DefaultDigestWait)
	a.Tick()
	c.Advance(DefaultDigestWait)
	a.Tick()
	got := nw.messages()[len(want):]
	if !slices.Equal(got, []string{"a->b hello", "b->a digest"}) {
		t.Fatalf("second round of a sent %v, want only hello and digest", got)
	}
}

func TestPullRequestsOnlyWhatIsWantedAndAllowed(t *testing.T) {
	c := gossiptest.NewClock(time.Unix(1000, 0))
	cfg := blockConfig(c)
	cfg.Wanted = func(d []byte) bool { return string(d) != "5" }
	cfg.DigestFilter = func(from comm.ConnInfo) func([]byte) bool {
		return func(d []byte) bool { return string(from.PKIID) != "a" || string(d) != "6" }
	}
	sa, sb := newBlockStore(), newBlockStore(4, 5, 6)
	sa.refuse["4"] = true
	nw, a, _ := pair(t, cfg, sa, sb)
	a.StartRound()
	c.Advance(DefaultDigestWait)
	a.Tick()
	if got := sa.seqs(); len(got) != 0 {
		t.Fatalf("store a holds %v, want nothing (4 refused by the store, 5 not wanted, 6 filtered by b)", got)
	}
	log := nw.messages()
	if !slices.Contains(log, "b->a update") {
		t.Fatalf("b sent no update for 4: %v", log)
	}
}

func TestPullIgnoresUnknownNoncesAndLateMessages(t *testing.T) {
	c := gossiptest.NewClock(time.Unix(1000, 0))
	sa, sb := newBlockStore(), newBlockStore(7)
	nw, a, b := pair(t, blockConfig(c), sa, sb)

	conn := comm.ConnInfo{PKIID: identity.PKIID("b"), Endpoint: "b"}
	var replies []*gp.GossipMessage
	respond := func(env *gp.Envelope) error {
		m := &gp.GossipMessage{}
		if err := proto.Unmarshal(env.Payload, m); err != nil {
			t.Fatal(err)
		}
		replies = append(replies, m)
		return nil
	}
	handle := func(m *Mediator, content *gp.GossipMessage) {
		payload, err := proto.Marshal(content)
		if err != nil {
			t.Fatal(err)
		}
		m.Handle(&comm.ReceivedMessage{Envelope: &gp.Envelope{Payload: payload}, Message: content, Conn: conn, Respond: respond})
	}
	update := func(nonce uint64) *gp.GossipMessage {
		return &gp.GossipMessage{Content: &gp.GossipMessage_DataUpdate{DataUpdate: &gp.DataUpdate{
			Nonce: nonce, MsgType: gp.PullMsgType_BLOCK_MSG, Data: []*gp.Envelope{blockEnvelope(7)}}}}
	}

	// An unsolicited update outside any round.
	handle(a, update(42))
	if got := sa.seqs(); len(got) != 0 {
		t.Fatalf("unsolicited update was kept: %v", got)
	}

	// During a round: a digest and an update whose nonce a did not send.
	nw.nodes["b"] = nil // b does not answer; the test plays b
	a.StartRound()
	handle(a, &gp.GossipMessage{Content: &gp.GossipMessage_DataDig{DataDig: &gp.DataDigest{
		Nonce: 42, MsgType: gp.PullMsgType_BLOCK_MSG, Digests: [][]byte{[]byte("7")}}}})
	c.Advance(DefaultDigestWait)
	a.Tick()
	if slices.ContainsFunc(nw.messages(), func(m string) bool { return strings.HasSuffix(m, " request") }) {
		t.Fatalf("a requested digests offered with an unknown nonce: %v", nw.messages())
	}
	handle(a, update(42))
	if got := sa.seqs(); len(got) != 0 {
		t.Fatalf("update with an unknown nonce was kept: %v", got)
	}

	// A request b never got a hello for, and one after RequestWait.
	request := func(nonce uint64) *gp.GossipMessage {
		return &gp.GossipMessage{Content: &gp.GossipMessage_DataReq{DataReq: &gp.DataRequest{
			Nonce: nonce, MsgType: gp.PullMsgType_BLOCK_MSG, Digests: [][]byte{[]byte("7")}}}}
	}
	handle(b, request(9))
	if len(replies) != 0 {
		t.Fatalf("request with an unknown nonce was answered: %v", replies)
	}
	handle(b, &gp.GossipMessage{Content: &gp.GossipMessage_Hello{Hello: &gp.GossipHello{Nonce: 10, MsgType: gp.PullMsgType_BLOCK_MSG}}})
	if len(replies) != 1 || replies[0].GetDataDig().GetNonce() != 10 {
		t.Fatalf("hello answered with %v, want one digest with nonce 10", replies)
	}
	c.Advance(DefaultRequestWait + time.Millisecond)
	handle(b, request(10))
	if len(replies) != 1 {
		t.Fatalf("request after the request wait was answered: %v", replies[1:])
	}

	// Another message type is none of this mediator's business.
	handle(b, &gp.GossipMessage{Content: &gp.GossipMessage_Hello{Hello: &gp.GossipHello{Nonce: 11, MsgType: gp.PullMsgType_IDENTITY_MSG}}})
	if len(replies) != 1 {
		t.Fatalf("hello of another message type was answered: %v", replies[1:])
	}
}

func TestPullAcceptsUpdatesOnlyUntilTheRoundEnds(t *testing.T) {
	c := gossiptest.NewClock(time.Unix(1000, 0))
	sa, sb := newBlockStore(), newBlockStore(3)
	nw, a, _ := pair(t, blockConfig(c), sa, sb)
	nw.holdUpdates = true
	a.StartRound()
	c.Advance(DefaultDigestWait)
	a.Tick()
	c.Advance(DefaultResponseWait)
	a.Tick()
	if len(nw.held) != 1 {
		t.Fatalf("held %d updates, want b's one", len(nw.held))
	}
	nw.held[0]()
	if got := sa.seqs(); len(got) != 0 {
		t.Fatalf("update after the round ended was kept: %v", got)
	}
}

func TestPullRunStopsWithItsContext(t *testing.T) {
	cfg := Config{MsgType: gp.PullMsgType_BLOCK_MSG, Interval: 20 * time.Millisecond,
		DigestWait: 10 * time.Millisecond, ResponseWait: 10 * time.Millisecond}
	sa, sb := newBlockStore(1), newBlockStore(2)
	_, a, b := pair(t, cfg, sa, sb)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, m := range []*Mediator{a, b} {
		wg.Go(func() { m.Run(ctx) })
	}
	eventually.True(t, 5*time.Second, "both stores hold 1 and 2", func() bool {
		return slices.Equal(sa.seqs(), []string{"1", "2"}) && slices.Equal(sb.seqs(), []string{"1", "2"})
	})
	cancel()
	wg.Wait()
}
