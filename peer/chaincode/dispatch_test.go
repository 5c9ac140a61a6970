package chaincode

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
)

// The requests of a transaction are served by the goroutine waiting for it:
// those a shim sends without waiting for answers are served in the order
// sent, more than the backlog still all get answers, and a request for a
// transaction that has ended gets an ERROR rather than silence.
func TestRequestsOfATransaction(t *testing.T) {
	rt := NewRuntime(Config{Logger: testLogger(t)}, nil)
	addr := cctest.ServeRegister(t, rt)
	cc := dialRegister(t, addr, "raw_1:ff")
	cc.expect(pb.ChaincodeMessage_REGISTERED)
	cc.expect(pb.ChaincodeMessage_READY)

	state := map[string][]byte{}
	for i := range 3 * requestBacklog {
		state[fmt.Sprintf("raw\x00k%d", i)] = []byte(fmt.Sprintf("v%d", i))
	}
	sim := newFakeSim(state)
	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "raw", sim, nil, "go")
	done := make(chan error, 1)
	go func() {
		_, _, err := rt.Execute(context.Background(), "raw_1:ff", txc, in)
		done <- err
	}()
	tx := cc.expect(pb.ChaincodeMessage_TRANSACTION)
	request := func(typ pb.ChaincodeMessage_Type, m proto.Message) {
		cc.send(&pb.ChaincodeMessage{Type: typ, Txid: tx.Txid, ChannelId: tx.ChannelId, Payload: mustMarshal(t, m)})
	}

	// Writes of one key sent back to back: the last one sent wins.
	for i := range requestBacklog - 1 {
		request(pb.ChaincodeMessage_PUT_STATE, &pb.PutState{Key: "w", Value: []byte(fmt.Sprint(i))})
	}
	for range requestBacklog - 1 {
		cc.expect(pb.ChaincodeMessage_RESPONSE)
	}
	// More reads at once than the backlog: every one answered.
	for i := range 3 * requestBacklog {
		request(pb.ChaincodeMessage_GET_STATE, &pb.GetState{Key: fmt.Sprintf("k%d", i)})
	}
	got := map[string]bool{}
	for range 3 * requestBacklog {
		got[string(cc.expect(pb.ChaincodeMessage_RESPONSE).Payload)] = true
	}
	for i := range 3 * requestBacklog {
		if !got[fmt.Sprintf("v%d", i)] {
			t.Fatalf("no answer v%d among %v", i, got)
		}
	}
	cc.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_COMPLETED, Txid: tx.Txid, ChannelId: tx.ChannelId,
		Payload: mustMarshal(t, &pb.Response{Status: 200})})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, ok := sim.write("raw", "w"); !ok || string(v) != fmt.Sprint(requestBacklog-2) {
		t.Fatalf("w = %q (written %v), want the last write sent, %d", v, ok, requestBacklog-2)
	}

	// A transaction that timed out: its late request is refused.
	rt.cfg.ExecuteTimeout = time.Millisecond
	txc, in = newTx(t, cctest.Signer(t, "Org1MSP"), "raw", newFakeSim(nil), nil, "go")
	go func() {
		_, _, err := rt.Execute(context.Background(), "raw_1:ff", txc, in)
		done <- err
	}()
	tx = cc.expect(pb.ChaincodeMessage_TRANSACTION)
	if err := <-done; !errors.Is(err, ErrTimeout) {
		t.Fatalf("execute = %v, want ErrTimeout", err)
	}
	request(pb.ChaincodeMessage_GET_STATE, &pb.GetState{Key: "k0"})
	if m := cc.expect(pb.ChaincodeMessage_ERROR); !strings.Contains(string(m.Payload), "no such transaction") {
		t.Fatalf("late request answered %q, want a refusal naming no such transaction", m.Payload)
	}
}

// ctxInvoker keeps the context of each call to other chaincode and, when
// block is set, waits for it to end.
type ctxInvoker struct {
	block   bool
	started chan context.Context
}

func (i *ctxInvoker) InvokeChaincode(ctx context.Context, _ *TxContext, _, _ string, _ *pb.ChaincodeInput) (*pb.Response, error) {
	i.started <- ctx
	if i.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &pb.Response{Status: 200}, nil
}

// A call to other chaincode runs under the transaction's context: it ends
// when the caller of Execute gives up, and when the transaction is over.
func TestCallsEndWithTheTransaction(t *testing.T) {
	rt := NewRuntime(Config{Logger: testLogger(t)}, nil)
	addr := cctest.ServeRegister(t, rt)
	cc := dialRegister(t, addr, "calls_1:ff")
	cc.expect(pb.ChaincodeMessage_REGISTERED)
	cc.expect(pb.ChaincodeMessage_READY)
	invokeOther := func(tx *pb.ChaincodeMessage) {
		cc.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_INVOKE_CHAINCODE, Txid: tx.Txid, ChannelId: tx.ChannelId,
			Payload: mustMarshal(t, &pb.ChaincodeSpec{ChaincodeId: &pb.ChaincodeID{Name: "other"}})})
	}

	// Completed: the call's context ends once Execute has returned.
	inv := &ctxInvoker{started: make(chan context.Context, 1)}
	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "calls", newFakeSim(nil), nil, "go")
	txc.Invoker = inv
	done := make(chan error, 1)
	go func() {
		_, _, err := rt.Execute(context.Background(), "calls_1:ff", txc, in)
		done <- err
	}()
	tx := cc.expect(pb.ChaincodeMessage_TRANSACTION)
	invokeOther(tx)
	callCtx := <-inv.started
	cc.expect(pb.ChaincodeMessage_RESPONSE)
	if err := callCtx.Err(); err != nil {
		t.Fatalf("the call's context ended (%v) while its transaction runs", err)
	}
	cc.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_COMPLETED, Txid: tx.Txid, ChannelId: tx.ChannelId,
		Payload: mustMarshal(t, &pb.Response{Status: 200})})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := callCtx.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("the call's context after the transaction: %v, want context.Canceled", err)
	}

	// Abandoned by the caller of Execute: a call under way ends too.
	inv = &ctxInvoker{block: true, started: make(chan context.Context, 1)}
	txc, in = newTx(t, cctest.Signer(t, "Org1MSP"), "calls", newFakeSim(nil), nil, "go")
	txc.Invoker = inv
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _, err := rt.Execute(ctx, "calls_1:ff", txc, in)
		done <- err
	}()
	tx = cc.expect(pb.ChaincodeMessage_TRANSACTION)
	invokeOther(tx)
	<-inv.started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("execute = %v, want the transaction abandoned with context.Canceled", err)
	}
}

// A timer from the pool fires only for the duration it was started with
// again, even after an earlier one expired unreceived, under either timer
// semantics (go test with GODEBUG=asynctimerchan=1 too).
func TestPooledTimerFiresOnlyForItsNewDuration(t *testing.T) {
	for range 100 {
		old := startTimer(time.Nanosecond)
		// Let it expire without receiving from it.
		for start := time.Now(); time.Since(start) < 50*time.Microsecond; {
		}
		stopTimer(old)
		nt := startTimer(time.Hour)
		select {
		case <-nt.C:
			t.Fatal("a pooled timer started for an hour fired at once: a stale expiry")
		default:
		}
		stopTimer(nt)
	}
	nt := startTimer(time.Millisecond)
	<-nt.C // and it does fire for its new duration
	stopTimer(nt)
}
