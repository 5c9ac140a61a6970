package chaincode

import (
	"context"
	"net"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-ledger/weft/internal/flowcontrol"
	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
)

// With ServerOptions the peer's side of the chaincode stream sends no PING
// per message received: its flow-control window is fixed, so gRPC does not
// probe the bandwidth after each DATA frame (which cost a PING, a PING ack
// and a WINDOW_UPDATE per message).
func TestServerOptionsSendNoBandwidthPings(t *testing.T) {
	rt := NewRuntime(Config{Logger: testLogger(t)}, nil)
	addr := cctest.ServeRegister(t, rt, ServerOptions()...)
	var conn *flowcontrol.PingConn
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			conn = flowcontrol.CountPings(c, false)
			return conn, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); cc.Close() })
	st, err := pb.NewChaincodeSupportClient(cc).Register(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := &rawChaincode{t: t, stream: st}
	r.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_REGISTER, Payload: mustMarshal(t, &pb.ChaincodeID{Name: "win_1:ff"})})
	r.expect(pb.ChaincodeMessage_REGISTERED)
	r.expect(pb.ChaincodeMessage_READY)

	for range 20 {
		txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "win", newFakeSim(nil), nil, "put")
		done := make(chan error, 1)
		go func() {
			_, _, err := rt.Execute(context.Background(), "win_1:ff", txc, in)
			done <- err
		}()
		tx := r.expect(pb.ChaincodeMessage_TRANSACTION)
		r.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_PUT_STATE, Txid: tx.Txid, ChannelId: tx.ChannelId,
			Payload: mustMarshal(t, &pb.PutState{Key: "k", Value: []byte("v")})})
		r.expect(pb.ChaincodeMessage_RESPONSE)
		r.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_COMPLETED, Txid: tx.Txid, ChannelId: tx.ChannelId,
			Payload: mustMarshal(t, &pb.Response{Status: 200})})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := conn.Pings(); n != 0 {
		t.Fatalf("the peer sent %d PINGs over 20 transactions, want none", n)
	}
}
