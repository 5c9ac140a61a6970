package comm_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/message"
	"github.com/weft-ledger/weft/internal/testnet"
)

// privateData is an unsigned private data message with nonce, as Fabric
// sends one for acknowledgement.
func privateData(t *testing.T, nonce uint64) *gp.Envelope {
	t.Helper()
	env, err := message.NoopSign(&gp.GossipMessage{Tag: gp.GossipMessage_CHAN_ONLY, Channel: []byte("mychannel"), Nonce: nonce,
		Content: &gp.GossipMessage_PrivateData{PrivateData: &gp.PrivateDataMessage{Payload: &gp.PrivatePayload{
			Namespace: "cc", CollectionName: "col", TxId: "tx1", PrivateRwset: []byte("rwset"),
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func ack(t *testing.T, nonce uint64, reason string) *gp.Envelope {
	t.Helper()
	env, err := message.NoopSign(&gp.GossipMessage{Nonce: nonce, Content: &gp.GossipMessage_Ack{Ack: &gp.Acknowledgement{Error: reason}}})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// acker answers every message it receives on in with an acknowledgement of
// the message's nonce shifted by shift, carrying reason, until the test ends.
func acker(t *testing.T, in <-chan *comm.ReceivedMessage, shift uint64, reason string) {
	ctx := t.Context()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				env, err := message.NoopSign(&gp.GossipMessage{Nonce: m.Message.Nonce + shift, Content: &gp.GossipMessage_Ack{Ack: &gp.Acknowledgement{Error: reason}}})
				if err == nil {
					_ = m.Respond(env)
				}
			}
		}
	}()
}

func TestSendWithAckCollectsAcknowledgements(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer1.org1.example.com", nodeOpt{})
	c := startNode(t, n, "peer0.org2.example.com", nodeOpt{})
	acker(t, b.comm.Messages(), 0, "")
	acker(t, c.comm.Messages(), 0, "transient store is full")

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	// c is given by endpoint only: its PKI-ID comes from the connection.
	res := a.comm.SendWithAck(ctx, privateData(t, 42), 42, 0, b.peer(t), comm.RemotePeer{Endpoint: c.addr})
	if len(res) != 2 {
		t.Fatalf("%d results, want 2: %+v", len(res), res)
	}
	for _, r := range res {
		switch {
		case bytes.Equal(r.Peer.PKIID, b.pkiID(t)):
			if r.Err != nil {
				t.Errorf("peer1.org1: %v, want acknowledged", r.Err)
			}
		case bytes.Equal(r.Peer.PKIID, c.pkiID(t)):
			var ae *comm.AckError
			if !errors.As(r.Err, &ae) || ae.Reason != "transient store is full" {
				t.Errorf("peer0.org2: %v, want its acknowledgement's error", r.Err)
			}
		default:
			t.Errorf("result for an unknown peer %+v", r.Peer)
		}
	}
}

func TestSendWithAckConsumesAcks(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer1.org1.example.com", nodeOpt{})
	inA, inB := a.comm.Messages(), b.comm.Messages()

	done := make(chan []comm.SendResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		done <- a.comm.SendWithAck(ctx, privateData(t, 7), 7, 1, b.peer(t))
	}()
	m := receive(t, inB)
	if m.Message.Nonce != 7 || m.Message.GetPrivateData() == nil {
		t.Fatalf("b received %v", m.Message)
	}
	// The acknowledgement, a late repeat of it, and one for no pending
	// send: none reaches a's subscribers; the alive message after them does.
	for _, env := range []*gp.Envelope{ack(t, 7, ""), ack(t, 7, ""), ack(t, 1234, "")} {
		if err := m.Respond(env); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Respond(alive(t, b, 99)); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("results %+v, want one acknowledgement", res)
	}
	if got := receive(t, inA); got.Message.GetAliveMsg() == nil || got.Message.Nonce != 99 {
		t.Fatalf("a's subscriber got %v, want the alive message after the acknowledgements", got.Message)
	}
}

func TestSendWithAckTimesOutOnWrongNonceOrPeer(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer1.org1.example.com", nodeOpt{})
	c := startNode(t, n, "peer0.org2.example.com", nodeOpt{})
	acker(t, b.comm.Messages(), 1, "") // acknowledges nonce+1
	// c acknowledges a's nonce although a never sent c anything.
	c.comm.Send(ack(t, 5, ""), a.peer(t))

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res := a.comm.SendWithAck(ctx, privateData(t, 5), 5, 1, b.peer(t))
	if len(res) != 1 || !errors.Is(res[0].Err, comm.ErrNoAck) || !errors.Is(res[0].Err, context.DeadlineExceeded) {
		t.Fatalf("results %+v, want no acknowledgement before the deadline", res)
	}
}

func TestSendWithAckReturnsAtMinAck(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer1.org1.example.com", nodeOpt{})
	c := startNode(t, n, "peer0.org2.example.com", nodeOpt{})
	acker(t, b.comm.Messages(), 0, "")
	_ = c.comm.Messages() // c reads and never acknowledges

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	res := a.comm.SendWithAck(ctx, privateData(t, 9), 9, 1, b.peer(t), c.peer(t))
	if len(res) != 1 || res[0].Err != nil || !bytes.Equal(res[0].Peer.PKIID, b.pkiID(t)) {
		t.Fatalf("results %+v, want peer1.org1's acknowledgement alone", res)
	}
	if time.Since(start) > wait/2 {
		t.Fatal("SendWithAck waited for the peer that never acknowledges")
	}
}

func TestSendWithAckNamesUnreachablePeer(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := lis.Addr().String()
	lis.Close() // nothing listens there any more

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res := a.comm.SendWithAck(ctx, privateData(t, 3), 3, 1, comm.RemotePeer{Endpoint: down})
	if len(res) != 1 || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), down) {
		t.Fatalf("results %+v, want the connection failure naming %s", res, down)
	}
	if errors.Is(res[0].Err, comm.ErrNoAck) {
		t.Fatalf("a peer that cannot be reached is reported as not acknowledging: %v", res[0].Err)
	}
}

func TestSendToReturnsThePeer(t *testing.T) {
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer0.org2.example.com", nodeOpt{})
	in := b.comm.Messages()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	info, err := a.comm.SendTo(ctx, alive(t, a, 1), comm.RemotePeer{Endpoint: b.addr})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.PKIID, b.pkiID(t)) || info.MSPID != "Org2MSP" {
		t.Fatalf("SendTo returned %+v, want peer0.org2", info)
	}
	if got := receive(t, in).Message.Nonce; got != 1 {
		t.Fatalf("b got nonce %d", got)
	}
}
