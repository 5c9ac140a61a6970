package chaincode

import (
	"context"
	"strings"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
)

// panicSim panics on every read, as a bug in the ledger met by one request
// would.
type panicSim struct{ *fakeSim }

func (panicSim) GetState(ns, key string) ([]byte, error) { panic("injected fault reading " + key) }

// A chaincode request whose handling panics gets an ERROR answer naming the
// panic: that transaction fails, the stream stays up and the next
// transaction on it is served.
func TestChaincodeRequestPanicFailsOnlyThatRequest(t *testing.T) {
	rt := NewRuntime(Config{Logger: testLogger(t)}, nil)
	addr := cctest.ServeRegister(t, rt)
	cc := dialRegister(t, addr, "raw_3:ff")
	cc.expect(pb.ChaincodeMessage_REGISTERED)
	cc.expect(pb.ChaincodeMessage_READY)

	run := func(sim TxSimulator) (*pb.ChaincodeMessage, error) {
		txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "raw", sim, nil, "go")
		done := make(chan error, 1)
		go func() {
			_, _, err := rt.Execute(context.Background(), "raw_3:ff", txc, in)
			done <- err
		}()
		tx := cc.expect(pb.ChaincodeMessage_TRANSACTION)
		cc.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_GET_STATE, Txid: tx.Txid, ChannelId: tx.ChannelId,
			Payload: mustMarshal(t, &pb.GetState{Key: "k"})})
		answer, err := cc.recv()
		if err != nil {
			t.Fatal(err)
		}
		cc.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_COMPLETED, Txid: tx.Txid, ChannelId: tx.ChannelId,
			Payload: mustMarshal(t, &pb.Response{Status: 200})})
		return answer, <-done
	}

	answer, err := run(panicSim{newFakeSim(nil)})
	if err != nil {
		t.Fatalf("execute: %v", err)
	}
	if answer.Type != pb.ChaincodeMessage_ERROR || !strings.Contains(string(answer.Payload), "GET_STATE failed") ||
		!strings.Contains(string(answer.Payload), "panic: injected fault reading k") {
		t.Fatalf("answer to the panicking GET_STATE = %s %q, want an ERROR naming the panic", answer.Type, answer.Payload)
	}
	answer, err = run(newFakeSim(map[string][]byte{"raw\x00k": []byte("v")}))
	if err != nil {
		t.Fatalf("execute after the panic: %v", err)
	}
	if answer.Type != pb.ChaincodeMessage_RESPONSE || string(answer.Payload) != "v" {
		t.Fatalf("answer after the panic = %s %q, want RESPONSE v", answer.Type, answer.Payload)
	}
}
