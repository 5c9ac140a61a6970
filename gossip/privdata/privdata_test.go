package privdata_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/message"
	"github.com/weft-ledger/weft/gossip/privdata"
)

const channelID = "mychannel"

var (
	org1Peer = comm.ConnInfo{PKIID: identity.PKIID("peer-a"), MSPID: "Org1MSP", Endpoint: "a:7051", Identity: []byte("id-a")}
	org2Peer = comm.ConnInfo{PKIID: identity.PKIID("peer-b"), MSPID: "Org2MSP", Endpoint: "b:9051", Identity: []byte("id-b")}
)

// sender is a privdata.Sender that records requests and lets the test
// answer them through Handle.
type sender struct {
	mu      sync.Mutex
	sent    []*gp.GossipMessage
	to      []comm.RemotePeer
	conn    map[string]comm.ConnInfo // by endpoint: who answers there
	results []comm.SendResult        // SendWithAck's answer
	onSend  func(m *gp.GossipMessage, to comm.RemotePeer)
}

func (s *sender) SendWithAck(_ context.Context, env *gp.Envelope, _ uint64, _ int, to ...comm.RemotePeer) []comm.SendResult {
	m, _ := message.Decode(env)
	s.mu.Lock()
	s.sent = append(s.sent, m)
	s.to = append(s.to, to...)
	s.mu.Unlock()
	return s.results
}

func (s *sender) SendTo(_ context.Context, env *gp.Envelope, to comm.RemotePeer) (comm.ConnInfo, error) {
	m, err := message.Decode(env)
	if err != nil {
		return comm.ConnInfo{}, err
	}
	s.mu.Lock()
	s.sent = append(s.sent, m)
	s.to = append(s.to, to)
	info, ok := s.conn[to.Endpoint]
	f := s.onSend
	s.mu.Unlock()
	if !ok {
		return comm.ConnInfo{}, errors.New("connection refused")
	}
	if f != nil {
		go f(m, to)
	}
	return info, nil
}

func (s *sender) requests() []*gp.GossipMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*gp.GossipMessage(nil), s.sent...)
}

// store is a privdata.Store whose Received waits for release when set.
type store struct {
	release chan struct{}
	serve   []*gp.PvtDataElement

	mu       sync.Mutex
	received int
	asked    [][]*gp.PvtDataDigest
}

func (s *store) Received(comm.ConnInfo, *gp.PrivatePayload) error {
	s.mu.Lock()
	s.received++
	s.mu.Unlock()
	if s.release != nil {
		<-s.release
	}
	return nil
}

func (s *store) Serve(_ comm.ConnInfo, digests []*gp.PvtDataDigest) []*gp.PvtDataElement {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, digests)
	return s.serve
}

type policy struct{ err error }

func (p policy) Readers(_, _, _ []byte) error { return p.err }

// logs is a debug log kept for assertions.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newChannel(t *testing.T, cfg privdata.Config, deps privdata.Deps) (*privdata.Channel, *logs) {
	t.Helper()
	cfg.ChannelID = channelID
	cfg.Orgs = func() []string { return []string{"Org1MSP", "Org2MSP"} }
	if deps.Policy == nil {
		deps.Policy = policy{}
	}
	l := &logs{}
	deps.Log = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := privdata.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, l
}

// received wraps m as arriving from info, its answers going to out.
func received(m *gp.GossipMessage, info comm.ConnInfo, out chan<- *gp.GossipMessage) *comm.ReceivedMessage {
	return &comm.ReceivedMessage{Message: m, Conn: info, Respond: func(env *gp.Envelope) error {
		a, err := message.Decode(env)
		if err != nil {
			return err
		}
		out <- a
		return nil
	}}
}

func push(nonce uint64) *gp.GossipMessage {
	return &gp.GossipMessage{Channel: []byte(channelID), Tag: gp.GossipMessage_CHAN_ONLY, Nonce: nonce, Content: &gp.GossipMessage_PrivateData{PrivateData: &gp.PrivateDataMessage{
		Payload: &gp.PrivatePayload{TxId: "tx1", Namespace: "cc", CollectionName: "col", PrivateRwset: []byte("rw")},
	}}}
}

func request(nonce uint64, ds ...*gp.PvtDataDigest) *gp.GossipMessage {
	return &gp.GossipMessage{Channel: []byte(channelID), Tag: gp.GossipMessage_CHAN_ONLY, Nonce: nonce,
		Content: &gp.GossipMessage_PrivateReq{PrivateReq: &gp.RemotePvtDataRequest{Digests: ds}}}
}

func response(nonce uint64, es ...*gp.PvtDataElement) *gp.GossipMessage {
	return &gp.GossipMessage{Channel: []byte(channelID), Tag: gp.GossipMessage_CHAN_ONLY, Nonce: nonce,
		Content: &gp.GossipMessage_PrivateRes{PrivateRes: &gp.RemotePvtDataResponse{Elements: es}}}
}

func digest(block uint64, coll string) *gp.PvtDataDigest {
	return &gp.PvtDataDigest{Namespace: "cc", Collection: coll, BlockSeq: block}
}

func next(t *testing.T, ch <-chan *gp.GossipMessage) *gp.GossipMessage {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
		return nil
	}
}

func TestBusyPeerRefusesPushWithoutBlocking(t *testing.T) {
	st := &store{release: make(chan struct{})}
	c, _ := newChannel(t, privdata.Config{MaxConcurrent: 1}, privdata.Deps{Store: st, Sender: &sender{}})
	out := make(chan *gp.GossipMessage, 4)
	c.Handle(received(push(1), org1Peer, out)) // takes the only slot and waits
	c.Handle(received(push(2), org1Peer, out)) // returns at once, refused
	a := next(t, out)
	if a.Nonce != 2 || !strings.Contains(a.GetAck().GetError(), "peer busy") {
		t.Fatalf("second push answered %v, want a busy acknowledgement", a)
	}
	close(st.release)
	if a := next(t, out); a.Nonce != 1 || a.GetAck() == nil || a.GetAck().Error != "" {
		t.Fatalf("first push answered %v, want a plain acknowledgement", a)
	}
}

func TestPushRefusedByReadersIsDropped(t *testing.T) {
	st := &store{}
	c, l := newChannel(t, privdata.Config{}, privdata.Deps{Store: st, Sender: &sender{}, Policy: policy{err: errors.New("not a reader")}})
	out := make(chan *gp.GossipMessage, 1)
	c.Handle(received(push(1), org2Peer, out))
	c.Close()
	if st.received != 0 || len(out) != 0 {
		t.Fatalf("a push the Readers policy refuses reached the store (%d) or was answered (%d)", st.received, len(out))
	}
	if !strings.Contains(l.String(), "not a reader") {
		t.Fatalf("log does not say why: %s", l.String())
	}
}

func TestServeBoundsTheResponse(t *testing.T) {
	big := func(b uint64) *gp.PvtDataElement {
		return &gp.PvtDataElement{Digest: digest(b, "col"), Payload: [][]byte{make([]byte, 6)}}
	}
	st := &store{serve: []*gp.PvtDataElement{big(1), big(2), big(3)}}
	c, l := newChannel(t, privdata.Config{MaxResponseBytes: 7, MaxDigests: 2}, privdata.Deps{Store: st, Sender: &sender{}})
	out := make(chan *gp.GossipMessage, 1)
	c.Handle(received(request(9, digest(1, "col"), digest(2, "col"), digest(3, "col")), org2Peer, out))
	res := next(t, out)
	if res.Nonce != 9 || string(res.Channel) != channelID || res.Tag != gp.GossipMessage_CHAN_ONLY || len(res.GetPrivateRes().GetElements()) != 1 {
		t.Fatalf("response %v, want nonce 9 and one element of 6 bytes within 7", res)
	}
	if len(st.asked) != 1 || len(st.asked[0]) != 2 {
		t.Fatalf("store asked %v, want the first 2 digests (MaxDigests)", st.asked)
	}
	if !strings.Contains(l.String(), "left out of a response over the size bound") {
		t.Fatal("the element left out is not logged")
	}
}

func TestPullMatchesAnswersToTheRequest(t *testing.T) {
	d1, d2, d3 := digest(1, "col"), digest(2, "col"), digest(3, "col")
	var c *privdata.Channel
	snd := &sender{conn: map[string]comm.ConnInfo{"a:7051": org1Peer}}
	snd.onSend = func(m *gp.GossipMessage, _ comm.RemotePeer) {
		drop := make(chan *gp.GossipMessage, 1)
		// From a peer not asked: dropped although its nonce matches.
		c.Handle(received(response(m.Nonce, &gp.PvtDataElement{Digest: d1, Payload: [][]byte{[]byte("forged")}}), org2Peer, drop))
		// From the peer asked: d1 served, d2 empty (not an answer), an
		// element not asked for.
		c.Handle(received(response(m.Nonce,
			&gp.PvtDataElement{Digest: d1, Payload: [][]byte{[]byte("one")}},
			&gp.PvtDataElement{Digest: d2},
			&gp.PvtDataElement{Digest: digest(7, "col"), Payload: [][]byte{[]byte("x")}},
		), org1Peer, drop))
	}
	c, l := newChannel(t, privdata.Config{MaxDigests: 2}, privdata.Deps{Sender: snd})
	// An answer before any request: nobody asked for it.
	c.Handle(received(response(42, &gp.PvtDataElement{Digest: d1, Payload: [][]byte{[]byte("early")}}), org1Peer, nil))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := c.Pull(ctx, []*gp.PvtDataDigest{d1, d2, d3}, []comm.RemotePeer{{Endpoint: "a:7051"}, {Endpoint: "down:1"}})
	if len(got) != 1 || string(got[0].Payload[0]) != "one" {
		t.Fatalf("pulled %v, want d1 from peer a alone", got)
	}
	if err == nil || !strings.Contains(err.Error(), "2 of 3 digest(s) unanswered") || !strings.Contains(err.Error(), "peer down:1: connection refused") ||
		!strings.Contains(err.Error(), "peer a:7051 served 1 of 3") {
		t.Fatalf("error %v does not say what each peer did", err)
	}
	reqs := snd.requests()
	if len(reqs) != 3 || len(reqs[0].GetPrivateReq().Digests) != 2 || len(reqs[1].GetPrivateReq().Digests) != 1 || len(reqs[2].GetPrivateReq().Digests) != 2 {
		t.Fatalf("requests %v, want 2+1 digests to a (MaxDigests 2), then the 2 missing to down:1", reqs)
	}
	if reqs[0].Nonce == reqs[1].Nonce {
		t.Fatal("two requests share a nonce")
	}
	for _, want := range []string{"private data response nobody asked for dropped", "private data response from a peer not asked dropped", "private data element not asked for dropped"} {
		if !strings.Contains(l.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestPullTimesOutAndStopsAtContext(t *testing.T) {
	snd := &sender{conn: map[string]comm.ConnInfo{"a:7051": org1Peer, "b:9051": org2Peer}}
	c, _ := newChannel(t, privdata.Config{ResponseTimeout: 50 * time.Millisecond}, privdata.Deps{Sender: snd})
	got, err := c.Pull(context.Background(), []*gp.PvtDataDigest{digest(1, "col")}, []comm.RemotePeer{{Endpoint: "a:7051"}, {Endpoint: "b:9051"}})
	if len(got) != 0 || err == nil || strings.Count(err.Error(), "no answer within 50ms") != 2 {
		t.Fatalf("Pull = %v, %v; want both peers to time out", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Pull(ctx, []*gp.PvtDataDigest{digest(1, "col")}, []comm.RemotePeer{{Endpoint: "a:7051"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Pull with a cancelled context: %v", err)
	}
}

func TestPushChecksThePayloadAndCountsAcks(t *testing.T) {
	snd := &sender{results: []comm.SendResult{
		{Peer: comm.RemotePeer{Endpoint: "a:7051"}},
		{Peer: comm.RemotePeer{Endpoint: "b:9051"}, Err: &comm.AckError{Reason: "not a member"}},
	}}
	c, _ := newChannel(t, privdata.Config{}, privdata.Deps{Sender: snd})
	p := push(0).GetPrivateData().Payload
	to := []comm.RemotePeer{{Endpoint: "a:7051"}, {Endpoint: "b:9051"}}
	acked, err := c.Push(context.Background(), p, to, 1)
	if acked != 1 || err != nil {
		t.Fatalf("Push = %d, %v; want 1 acknowledgement, enough", acked, err)
	}
	sent := snd.requests()[0]
	if sent.Tag != gp.GossipMessage_CHAN_ONLY || string(sent.Channel) != channelID || !proto.Equal(sent.GetPrivateData().Payload, p) {
		t.Fatalf("sent %v", sent)
	}
	if acked, err := c.Push(context.Background(), p, to, 2); acked != 1 || err == nil || !strings.Contains(err.Error(), "peer b:9051: the peer refused it: not a member") {
		t.Fatalf("Push with minAck 2 = %d, %v", acked, err)
	}
	bad := proto.Clone(p).(*gp.PrivatePayload)
	bad.CollectionName = ""
	if _, err := c.Push(context.Background(), bad, to, 1); err == nil || !strings.Contains(err.Error(), "no collection name") {
		t.Fatalf("Push of a payload without collection: %v", err)
	}
	if len(snd.requests()) != 2 {
		t.Fatal("a payload receivers would drop was sent")
	}
}

func TestServeAnswersUnderTheDigestAsked(t *testing.T) {
	asked := digest(4, "col") // as Fabric's reconciliation asks: no transaction ID
	filled := proto.Clone(asked).(*gp.PvtDataDigest)
	filled.TxId = "tx4"
	st := &store{serve: []*gp.PvtDataElement{
		{Digest: filled, Payload: [][]byte{[]byte("v")}},
		{Digest: filled, Payload: [][]byte{[]byte("again")}},
		{Digest: digest(5, "col"), Payload: [][]byte{[]byte("not asked")}},
	}}
	c, l := newChannel(t, privdata.Config{}, privdata.Deps{Store: st, Sender: &sender{}})
	out := make(chan *gp.GossipMessage, 1)
	c.Handle(received(request(3, asked), org1Peer, out))
	es := next(t, out).GetPrivateRes().GetElements()
	if len(es) != 1 || !proto.Equal(es[0].Digest, asked) || string(es[0].Payload[0]) != "v" {
		t.Fatalf("elements %v, want one under the digest as asked", es)
	}
	if !strings.Contains(l.String(), "private data served for a digest not asked left out") {
		t.Fatal("the element for a digest not asked is not logged")
	}
}
