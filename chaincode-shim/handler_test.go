package shim

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/eventually"
)

// chanStream is a PeerChaincodeStream over channels: the test plays the
// peer by writing to in and reading out. Send fails with sendErr for the
// message types listed in failOn.
type chanStream struct {
	in     chan *pb.ChaincodeMessage
	out    chan *pb.ChaincodeMessage
	closed chan struct{} // closing it makes Recv fail, as a torn-down stream does

	mu      sync.Mutex
	sending bool // a Send is running: two at once would be a bug
	failOn  map[pb.ChaincodeMessage_Type]error
}

func newChanStream() *chanStream {
	return &chanStream{in: make(chan *pb.ChaincodeMessage, 64), out: make(chan *pb.ChaincodeMessage, 256), closed: make(chan struct{}), failOn: map[pb.ChaincodeMessage_Type]error{}}
}

func (s *chanStream) Send(m *pb.ChaincodeMessage) error {
	s.mu.Lock()
	if s.sending {
		s.mu.Unlock()
		panic("two Sends at once on one stream")
	}
	s.sending = true
	err := s.failOn[m.Type]
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.sending = false
		s.mu.Unlock()
	}()
	if err != nil {
		return err
	}
	s.out <- m
	return nil
}

func (s *chanStream) Recv() (*pb.ChaincodeMessage, error) {
	select {
	case m := <-s.in:
		return m, nil
	case <-s.closed:
		return nil, errors.New("stream torn down")
	}
}

// next returns the next message the shim sent.
func (s *chanStream) next(t testing.TB) *pb.ChaincodeMessage {
	t.Helper()
	select {
	case m := <-s.out:
		return m
	case <-time.After(waitLimit):
		t.Fatal("the shim sent nothing")
		return nil
	}
}

// startChat runs the chat on a fresh chanStream up to READY and returns the
// stream, the handler and the chat's outcome.
func startChat(t testing.TB, cc Chaincode) (*chanStream, *handler, <-chan error) {
	t.Helper()
	s := newChanStream()
	h := newHandler("cc", s, cc, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		done <- h.chat("cc")
	}()
	t.Cleanup(func() {
		close(s.closed)
		select {
		case <-ended:
		case <-time.After(waitLimit):
			t.Error("the chat did not end after its stream was torn down")
		}
	})
	if m := s.next(t); m.Type != pb.ChaincodeMessage_REGISTER {
		t.Fatalf("first message %s, want REGISTER", m.Type)
	}
	s.in <- &pb.ChaincodeMessage{Type: pb.ChaincodeMessage_REGISTERED}
	s.in <- &pb.ChaincodeMessage{Type: pb.ChaincodeMessage_READY}
	return s, h, done
}

func transaction(t testing.TB, txid string, args ...string) *pb.ChaincodeMessage {
	t.Helper()
	in := &pb.ChaincodeInput{}
	for _, a := range args {
		in.Args = append(in.Args, []byte(a))
	}
	payload, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.ChaincodeMessage{Type: pb.ChaincodeMessage_TRANSACTION, Txid: txid, ChannelId: "ch", Payload: payload}
}

// A send that fails ends the chat even though its receive loop is blocked
// in Recv with nothing coming.
func TestSendFailureEndsChatWhileRecvBlocks(t *testing.T) {
	s, _, done := startChat(t, funcCC(func(stub ChaincodeStubInterface) *pb.Response { return Success(nil) }))
	s.mu.Lock()
	s.failOn[pb.ChaincodeMessage_COMPLETED] = errors.New("message too large")
	s.mu.Unlock()
	s.in <- transaction(t, "tx1", "f")
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "send to peer") || !strings.Contains(err.Error(), "message too large") {
			t.Fatalf("chat ended with %v, want the send failure", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the chat kept running after a send failed")
	}
}

// Many transactions, at once and one after another, each get their own
// answer (the receive loop routes responses, invocations reuse goroutines),
// and no more than maxIdleWorkers goroutines stay waiting afterwards.
func TestInvocationsReuseWorkers(t *testing.T) {
	const n = 3 * maxIdleWorkers
	cc := funcCC(func(stub ChaincodeStubInterface) *pb.Response {
		v, err := stub.GetState("k")
		if err != nil {
			return Error(err.Error())
		}
		return Success(append([]byte(stub.GetTxID()+"="), v...))
	})
	s, h, _ := startChat(t, cc)

	// The peer side: answer each GET_STATE with the txid, and collect the
	// COMPLETED messages.
	round := func(ids []string) {
		t.Helper()
		for _, id := range ids {
			s.in <- transaction(t, id, "get")
		}
		got := map[string]string{}
		for len(got) < len(ids) {
			m := s.next(t)
			switch m.Type {
			case pb.ChaincodeMessage_GET_STATE:
				s.in <- &pb.ChaincodeMessage{Type: pb.ChaincodeMessage_RESPONSE, Txid: m.Txid, ChannelId: m.ChannelId, Payload: []byte("v-" + m.Txid)}
			case pb.ChaincodeMessage_COMPLETED:
				res := &pb.Response{}
				if err := proto.Unmarshal(m.Payload, res); err != nil {
					t.Fatal(err)
				}
				got[m.Txid] = string(res.Payload)
			default:
				t.Fatalf("unexpected %s for %s: %q", m.Type, m.Txid, m.Payload)
			}
		}
		for _, id := range ids {
			if want := id + "=v-" + id; got[id] != want {
				t.Fatalf("%s answered %q, want %q", id, got[id], want)
			}
		}
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("tx%d", i)
	}
	round(ids) // at once
	eventually.True(t, waitLimit, "idle workers to reach maxIdleWorkers", func() bool { return h.idleCount.Load() == maxIdleWorkers })
	for i := range n { // one after another, on the idle workers
		round([]string{fmt.Sprintf("seq%d", i)})
		if idle := h.idleCount.Load(); idle > maxIdleWorkers {
			t.Fatalf("%d workers idle, want at most %d", idle, maxIdleWorkers)
		}
	}
}
