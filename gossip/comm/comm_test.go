package comm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/gossiptest"
	"github.com/weft-ledger/weft/gossip/message"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testnet"
)

const wait = 10 * time.Second

// alive is a signed alive message of nd numbered seq.
func alive(t *testing.T, nd *node, seq uint64) *gp.Envelope {
	t.Helper()
	m := &gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Nonce: seq, Content: &gp.GossipMessage_AliveMsg{AliveMsg: &gp.AliveMessage{
		Membership: &gp.Member{Endpoint: nd.addr, PkiId: nd.pkiID(t)},
		Timestamp:  &gp.PeerTime{IncNum: 1, SeqNum: seq},
	}}}
	env, err := message.Sign(m, nd.signer.Sign)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func receive(t *testing.T, ch <-chan *comm.ReceivedMessage) *comm.ReceivedMessage {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return m
	case <-time.After(wait):
		t.Fatal("no message within", wait)
	}
	return nil
}

func TestSendBothWaysOneConnection(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer0.org2.example.com", nodeOpt{})
	inA, inB := a.comm.Messages(), b.comm.Messages()

	a.comm.Send(alive(t, a, 1), b.peer(t))
	got := receive(t, inB)
	if !bytes.Equal(got.Conn.PKIID, a.pkiID(t)) || got.Conn.MSPID != "Org1MSP" || !bytes.Equal(got.Conn.Identity, a.signer.Serialized) {
		t.Fatalf("ConnInfo of a message from peer0.org1 = %+v", got.Conn)
	}
	if got.Message.GetAliveMsg().GetTimestamp().GetSeqNum() != 1 {
		t.Fatalf("message = %v", got.Message)
	}
	if err := message.Verify(got.Envelope, got.Conn.Identity, func(_, sig, msg []byte) error { return a.signer.Verify(msg, sig) }); err != nil {
		t.Fatalf("envelope as received does not verify: %v", err)
	}
	// ConnInfo carries the signed ConnEstablish: proof of the identity.
	if err := a.signer.Verify(got.Conn.SignedData, got.Conn.Signature); err != nil {
		t.Fatalf("ConnInfo signature: %v", err)
	}

	// Respond goes back on the same connection.
	if err := got.Respond(alive(t, b, 2)); err != nil {
		t.Fatal(err)
	}
	back := receive(t, inA)
	if !bytes.Equal(back.Conn.PKIID, b.pkiID(t)) || back.Conn.MSPID != "Org2MSP" || back.Message.GetAliveMsg().Timestamp.SeqNum != 2 {
		t.Fatalf("response arrived as %+v: %v", back.Conn, back.Message)
	}

	// b sends to a: the connection a dialled carries it.
	b.comm.Send(alive(t, b, 3), a.peer(t))
	if m := receive(t, inA); m.Message.GetAliveMsg().Timestamp.SeqNum != 3 {
		t.Fatalf("got %v, want seq 3", m.Message)
	}
	if a.streams.Load() != 0 || b.streams.Load() != 1 {
		t.Fatalf("GossipStreams accepted: a %d, b %d; want one connection, dialled by a", a.streams.Load(), b.streams.Load())
	}
	if len(a.comm.Conns()) != 1 || len(b.comm.Conns()) != 1 {
		t.Fatalf("connections: a %d, b %d, want 1 each", len(a.comm.Conns()), len(b.comm.Conns()))
	}

	// A peer given by endpoint alone reuses the connection found there.
	a.comm.Send(alive(t, a, 4), comm.RemotePeer{Endpoint: b.addr})
	if m := receive(t, inB); m.Message.GetAliveMsg().Timestamp.SeqNum != 4 {
		t.Fatalf("got %v, want seq 4", m.Message)
	}
	if b.streams.Load() != 1 {
		t.Fatalf("a send by endpoint opened another connection (%d streams)", b.streams.Load())
	}
}

func TestMessagesKeepOrderWhileConnecting(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer1.org1.example.com", nodeOpt{})
	in := b.comm.Messages()
	for i := uint64(1); i <= 50; i++ {
		a.comm.Send(alive(t, a, i), b.peer(t))
	}
	for i := uint64(1); i <= 50; i++ {
		if got := receive(t, in).Message.GetAliveMsg().Timestamp.SeqNum; got != i {
			t.Fatalf("message %d arrived as number %d", got, i)
		}
	}
}

func TestSubscribeFilters(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer0.org2.example.com", nodeOpt{})
	even, cancelEven := b.comm.Subscribe(func(m *comm.ReceivedMessage) bool { return m.Message.Nonce%2 == 0 })
	defer cancelEven()
	all, cancelAll := b.comm.Subscribe(nil)
	defer cancelAll()
	for i := uint64(1); i <= 4; i++ {
		a.comm.Send(alive(t, a, i), b.peer(t))
	}
	for i := uint64(1); i <= 4; i++ {
		if got := receive(t, all).Message.Nonce; got != i {
			t.Fatalf("all: got nonce %d, want %d", got, i)
		}
	}
	for _, want := range []uint64{2, 4} {
		if got := receive(t, even).Message.Nonce; got != want {
			t.Fatalf("even: got nonce %d, want %d", got, want)
		}
	}
}

func TestProbeAndPing(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer0.org2.example.com", nodeOpt{})
	ctx := t.Context()
	info, err := a.comm.Handshake(ctx, b.addr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.PKIID, b.pkiID(t)) || info.MSPID != "Org2MSP" || info.Endpoint != b.addr {
		t.Fatalf("Handshake = %+v, want peer0.org2 at %s", info, b.addr)
	}
	if _, mspID, ok := a.store.Get(b.pkiID(t)); !ok || mspID != "Org2MSP" {
		t.Fatal("the identity learned by the probe is not in the store")
	}
	// The probed side keeps no connection; the prober neither.
	eventually.True(t, wait, "b drops the probe's connection", func() bool { return len(b.comm.Conns()) == 0 })
	if len(a.comm.Conns()) != 0 {
		t.Fatalf("prober kept %d connections", len(a.comm.Conns()))
	}
	if err := a.comm.Probe(ctx, b.addr); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	// Nothing listens there any more.
	b.stop()
	err = a.comm.Probe(ctx, b.addr)
	if err == nil || !strings.Contains(err.Error(), b.addr) {
		t.Fatalf("Probe of a stopped peer: %v, want an error naming %s", err, b.addr)
	}
}

func TestDialerRefusesAnotherPKIID(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer0.org2.example.com", nodeOpt{})
	c := startNode(t, n, "peer1.org1.example.com", nodeOpt{})
	// a believes c lives at b's address.
	a.comm.Send(alive(t, a, 1), comm.RemotePeer{Endpoint: b.addr, PKIID: c.pkiID(t)})
	select {
	case dead := <-a.comm.PresumedDead():
		if !bytes.Equal(dead, c.pkiID(t)) {
			t.Fatalf("presumed dead %s, want %s", dead, c.pkiID(t))
		}
	case <-time.After(wait):
		t.Fatal("a refused connection was not reported")
	}
	if len(a.comm.Conns()) != 0 {
		t.Fatalf("a kept %d connections to the wrong peer", len(a.comm.Conns()))
	}
}

func TestHandshakeRefusesUnknownOrganisation(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	org3 := testnet.IssueIdentity(t, n.OrgDir(t, "Org1MSP"), "Org3MSP", "peer0.org3.example.com", "peer", time.Now().Add(time.Hour))
	x := startNode(t, n, "peer0.org2.example.com", nodeOpt{signer: org3, verifier: gossiptest.TrustAll{}})

	// a dials x: a refuses x's identity.
	_, err := a.comm.Handshake(t.Context(), x.addr)
	want := fmt.Sprintf("handshake with %s: identity of %s (Org3MSP) is not valid for any organisation this peer knows", x.addr, x.addr)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a's handshake with an Org3MSP peer: %v, want %q", err, want)
	}
	// x dials a: a refuses again, as the server. x's side of the handshake
	// completes (each side sends before it reads, as in Fabric), so x only
	// learns it when a ends the stream.
	x.comm.Send(alive(t, x, 1), a.peer(t))
	eventually.True(t, wait, "a ends x's connection and x notices", func() bool {
		return a.streams.Load() == 1 && len(x.comm.Conns()) == 0 && len(a.comm.Conns()) == 0
	})
	if _, _, ok := a.store.Get(x.pkiID(t)); ok {
		t.Fatal("the Org3MSP identity is stored")
	}
}

func TestWithoutTLS(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{noTLS: true})
	b := startNode(t, n, "peer0.org2.example.com", nodeOpt{noTLS: true})
	in := b.comm.Messages()
	a.comm.Send(alive(t, a, 1), b.peer(t))
	if m := receive(t, in); m.Conn.MSPID != "Org1MSP" {
		t.Fatalf("ConnInfo = %+v", m.Conn)
	}
}

func TestTLSDiallerMeetsPlainServer(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer0.org2.example.com", nodeOpt{noTLS: true})
	_, err := a.comm.Handshake(t.Context(), b.addr)
	if err == nil || !strings.Contains(err.Error(), b.addr) {
		t.Fatalf("TLS handshake with a plain server: %v", err)
	}
}

func TestUndecodableMessageDropped(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer0.org2.example.com", nodeOpt{})
	in := b.comm.Messages()
	wrongTag := proto.Clone(alive(t, a, 1)).(*gp.Envelope)
	m, err := message.Decode(wrongTag)
	if err != nil {
		t.Fatal(err)
	}
	m.Tag = gp.GossipMessage_ORG_ONLY
	wrongTag, err = message.Sign(m, a.signer.Sign)
	if err != nil {
		t.Fatal(err)
	}
	a.comm.Send(wrongTag, b.peer(t))
	a.comm.Send(&gp.Envelope{Payload: []byte{0xff, 0xff, 0xff}}, b.peer(t))
	a.comm.Send(alive(t, a, 2), b.peer(t))
	if got := receive(t, in).Message.Nonce; got != 2 {
		t.Fatalf("first message delivered has nonce %d, want 2 (the two before do not decode)", got)
	}
	if len(b.comm.Conns()) != 1 {
		t.Fatal("the connection did not survive undecodable messages")
	}
}

func TestCloseConnAndReconnect(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer0.org2.example.com", nodeOpt{})
	in := b.comm.Messages()
	a.comm.Send(alive(t, a, 1), b.peer(t))
	receive(t, in)
	a.comm.CloseConn(b.pkiID(t))
	if len(a.comm.Conns()) != 0 {
		t.Fatal("CloseConn left the connection")
	}
	eventually.True(t, wait, "b sees the connection end", func() bool { return len(b.comm.Conns()) == 0 })
	a.comm.Send(alive(t, a, 2), b.peer(t))
	if got := receive(t, in).Message.Nonce; got != 2 {
		t.Fatalf("after reconnecting got nonce %d", got)
	}
	if b.streams.Load() != 2 {
		t.Fatalf("b accepted %d streams, want 2 (one closed, one new)", b.streams.Load())
	}
}

func TestCloseStopsEverything(t *testing.T) {
	n := testnet.SampleNet(t)
	runtime.GC()
	before := runtime.NumGoroutine()
	func() {
		nodes := make([]*node, 0, len(hosts))
		for _, h := range hosts {
			nodes = append(nodes, startNode(t, n, h, nodeOpt{}))
		}
		var subs []<-chan *comm.ReceivedMessage
		for _, nd := range nodes {
			subs = append(subs, nd.comm.Messages())
		}
		// The lower index dials: crossing dials would close both connections
		// (TestCrossingDials).
		for i, from := range nodes {
			for j, to := range nodes {
				if i < j {
					from.comm.Send(alive(t, from, uint64(10*i+j)), to.peer(t))
				}
			}
		}
		for j := range nodes {
			for range j {
				receive(t, subs[j])
			}
		}
		for i, from := range nodes {
			for j, to := range nodes {
				if i > j {
					from.comm.Send(alive(t, from, uint64(10*i+j)), to.peer(t))
				}
			}
		}
		for j := range nodes {
			for range len(nodes) - 1 - j {
				receive(t, subs[j])
			}
		}
		for _, nd := range nodes {
			if len(nd.comm.Conns()) != len(nodes)-1 {
				t.Fatalf("%d connections, want one per other peer", len(nd.comm.Conns()))
			}
		}
		// A message nobody reads holds a reader in delivery while Close runs.
		nodes[0].comm.Send(alive(t, nodes[0], 99), nodes[1].peer(t))
		for _, nd := range nodes {
			nd.stop()
		}
		for _, ch := range subs {
			for range ch { // drains what was delivered, ends when closed
			}
		}
		nodes[0].comm.Send(alive(t, nodes[0], 100), nodes[1].peer(t)) // no-op after Close
		if _, err := nodes[0].comm.Handshake(context.Background(), nodes[1].addr); err == nil {
			t.Fatal("Handshake after Close succeeded")
		}
	}()
	eventually.True(t, wait, "goroutines back to where they were", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// TestCrossingDials: two peers that dial each other at once end up, as in
// Fabric (gossip/comm/conn.go), each keeping the connection the other
// dialled and closing its own, which loses both; the next send connects
// again and gets through.
func TestCrossingDials(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer0.org2.example.com", nodeOpt{})
	inA, inB := a.comm.Messages(), b.comm.Messages()
	a.comm.Send(alive(t, a, 1), b.peer(t))
	b.comm.Send(alive(t, b, 1), a.peer(t))
	for _, tc := range []struct {
		from, to *node
		in       <-chan *comm.ReceivedMessage
	}{{a, b, inB}, {b, a, inA}} {
		seq := uint64(2)
		eventually.NoError(t, wait, "a message gets through after crossing dials", func(ctx context.Context) error {
			tc.from.comm.Send(alive(t, tc.from, seq), tc.to.peer(t))
			seq++
			for {
				select {
				case m := <-tc.in:
					if m.Message.Nonce >= 2 {
						return nil
					}
				case <-time.After(200 * time.Millisecond):
					return errors.New("nothing arrived")
				}
			}
		})
	}
	for _, nd := range []*node{a, b} {
		if c := len(nd.comm.Conns()); c > 1 {
			t.Fatalf("%d connections between two peers", c)
		}
	}
}
