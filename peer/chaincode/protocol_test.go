package chaincode

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
)

// rawChaincode is a hand-driven chaincode stream for protocol edge cases.
type rawChaincode struct {
	t       *testing.T
	stream  pb.ChaincodeSupport_RegisterClient
	openErr error // the stream could not be opened
}

func dialRegister(t *testing.T, addr, name string) *rawChaincode {
	t.Helper()
	return dialRegisterCreds(t, addr, name, insecure.NewCredentials())
}

// dialRegisterCreds opens ChaincodeSupport/Register at addr with creds and
// sends REGISTER as name. A refused connection or registration shows on the
// first recv.
func dialRegisterCreds(t *testing.T, addr, name string, creds credentials.TransportCredentials) *rawChaincode {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); cc.Close() })
	r := &rawChaincode{t: t}
	st, err := pb.NewChaincodeSupportClient(cc).Register(ctx)
	if err != nil {
		r.openErr = err
		return r
	}
	r.stream = st
	// A send on a stream the peer refused fails with io.EOF; the cause comes
	// with the next recv.
	_ = st.Send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_REGISTER, Payload: mustMarshal(t, &pb.ChaincodeID{Name: name})})
	return r
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *rawChaincode) send(m *pb.ChaincodeMessage) {
	r.t.Helper()
	if err := r.stream.Send(m); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawChaincode) recv() (*pb.ChaincodeMessage, error) {
	if r.openErr != nil {
		return nil, r.openErr
	}
	type res struct {
		m   *pb.ChaincodeMessage
		err error
	}
	ch := make(chan res, 1)
	go func() {
		m, err := r.stream.Recv()
		ch <- res{m, err}
	}()
	select {
	case x := <-ch:
		return x.m, x.err
	case <-time.After(10 * time.Second):
		r.t.Fatal("no message from the peer within 10s")
		return nil, nil
	}
}

func (r *rawChaincode) expect(typ pb.ChaincodeMessage_Type) *pb.ChaincodeMessage {
	r.t.Helper()
	m, err := r.recv()
	if err != nil {
		r.t.Fatalf("want %s, got error %v", typ, err)
	}
	if m.Type != typ {
		r.t.Fatalf("want %s, got %s (%s)", typ, m.Type, m.Payload)
	}
	return m
}

func TestProtocolEdgeCases(t *testing.T) {
	rt := NewRuntime(Config{Logger: testLogger(t), QueryBatchSize: 2}, nil)
	addr := cctest.ServeRegister(t, rt)
	cc := dialRegister(t, addr, "raw_1:ff")
	cc.expect(pb.ChaincodeMessage_REGISTERED)
	if m := cc.expect(pb.ChaincodeMessage_READY); len(m.Payload) != 0 {
		t.Fatalf("READY payload %x, want empty (plain shim mode)", m.Payload)
	}

	// KEEPALIVE is echoed.
	cc.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_KEEPALIVE, Txid: "ka"})
	if m := cc.expect(pb.ChaincodeMessage_KEEPALIVE); m.Txid != "ka" {
		t.Fatalf("keepalive echo = %v", m)
	}
	// Unknown types are refused by name.
	cc.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_REGISTERED, Txid: "t1", ChannelId: "mychannel"})
	if m := cc.expect(pb.ChaincodeMessage_ERROR); !strings.Contains(string(m.Payload), "REGISTERED") || m.Txid != "t1" {
		t.Fatalf("refusal = %s (txid %s)", m.Payload, m.Txid)
	}
	// Requests outside a transaction are refused.
	cc.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_GET_STATE, Txid: "nope", ChannelId: "mychannel", Payload: mustMarshal(t, &pb.GetState{Key: "k"})})
	if m := cc.expect(pb.ChaincodeMessage_ERROR); !strings.Contains(string(m.Payload), "no such transaction") {
		t.Fatalf("refusal = %s", m.Payload)
	}

	// A second registration under the same name is refused.
	dup := dialRegister(t, addr, "raw_1:ff")
	if _, err := dup.recv(); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("duplicate registration: err = %v", err)
	}

	// A transaction driven by hand: range paging, unknown iterator, close.
	state := map[string][]byte{}
	for _, k := range []string{"a", "b", "c"} {
		state["raw\x00"+k] = []byte(k)
	}
	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "raw", newFakeSim(state), nil, "go")
	done := make(chan error, 1)
	var resp *pb.Response
	go func() {
		var err error
		resp, _, err = rt.Execute(context.Background(), "raw_1:ff", txc, in)
		done <- err
	}()
	tx := cc.expect(pb.ChaincodeMessage_TRANSACTION)
	if tx.Txid != txc.TxID || tx.ChannelId != "mychannel" || !proto.Equal(tx.Proposal, txc.SignedProposal) {
		t.Fatalf("TRANSACTION = txid %s channel %s proposal set %v", tx.Txid, tx.ChannelId, tx.Proposal != nil)
	}
	req := func(typ pb.ChaincodeMessage_Type, m proto.Message) *pb.ChaincodeMessage {
		cc.send(&pb.ChaincodeMessage{Type: typ, Txid: tx.Txid, ChannelId: tx.ChannelId, Payload: mustMarshal(t, m)})
		r, err := cc.recv()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	qr := &pb.QueryResponse{}
	m := req(pb.ChaincodeMessage_GET_STATE_BY_RANGE, &pb.GetStateByRange{StartKey: "", EndKey: ""})
	if m.Type != pb.ChaincodeMessage_RESPONSE || proto.Unmarshal(m.Payload, qr) != nil || len(qr.Results) != 2 || !qr.HasMore {
		t.Fatalf("first batch = %s %v", m.Type, qr)
	}
	if m := req(pb.ChaincodeMessage_QUERY_STATE_NEXT, &pb.QueryStateNext{Id: "bogus"}); m.Type != pb.ChaincodeMessage_ERROR || !strings.Contains(string(m.Payload), "bogus") {
		t.Fatalf("unknown iterator = %s %s", m.Type, m.Payload)
	}
	m = req(pb.ChaincodeMessage_QUERY_STATE_NEXT, &pb.QueryStateNext{Id: qr.Id})
	qr2 := &pb.QueryResponse{}
	if m.Type != pb.ChaincodeMessage_RESPONSE || proto.Unmarshal(m.Payload, qr2) != nil || len(qr2.Results) != 1 || qr2.HasMore {
		t.Fatalf("second batch = %s %v", m.Type, qr2)
	}
	// The exhausted iterator is gone; closing it is still fine.
	if m := req(pb.ChaincodeMessage_QUERY_STATE_NEXT, &pb.QueryStateNext{Id: qr.Id}); m.Type != pb.ChaincodeMessage_ERROR {
		t.Fatalf("next on an exhausted iterator = %s", m.Type)
	}
	if m := req(pb.ChaincodeMessage_QUERY_STATE_CLOSE, &pb.QueryStateClose{Id: qr.Id}); m.Type != pb.ChaincodeMessage_RESPONSE {
		t.Fatalf("close = %s %s", m.Type, m.Payload)
	}
	cc.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_COMPLETED, Txid: tx.Txid, ChannelId: tx.ChannelId,
		Payload: mustMarshal(t, &pb.Response{Status: 200, Payload: []byte("done")})})
	if err := <-done; err != nil || string(resp.Payload) != "done" {
		t.Fatalf("execute = %v, %v", resp, err)
	}

	// The stream breaking fails the transactions in flight, naming the chaincode.
	txc, in = newTx(t, cctest.Signer(t, "Org1MSP"), "raw", newFakeSim(nil), nil, "go")
	go func() {
		_, _, err := rt.Execute(context.Background(), "raw_1:ff", txc, in)
		done <- err
	}()
	cc.expect(pb.ChaincodeMessage_TRANSACTION)
	if err := cc.stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "raw_1:ff") {
		t.Fatalf("after the stream ended: err = %v", err)
	}
	// With no launcher, a dead chaincode cannot be restarted: a clear error.
	_, _, err := rt.Execute(context.Background(), "raw_1:ff", txc, in)
	if err == nil || !strings.Contains(err.Error(), "no chaincode launcher") {
		t.Fatalf("execute after the stream ended: err = %v", err)
	}
}

// Rich queries are refused with an answer that names the missing CouchDB, and
// the refusal leaves the transaction and the stream usable.
func TestRichQueriesNeedCouchDB(t *testing.T) {
	rt := NewRuntime(Config{Logger: testLogger(t)}, nil)
	addr := cctest.ServeRegister(t, rt)
	cc := dialRegister(t, addr, "rich_1:ff")
	cc.expect(pb.ChaincodeMessage_REGISTERED)
	cc.expect(pb.ChaincodeMessage_READY)

	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "rich", newFakeSim(map[string][]byte{"rich\x00a": []byte("1")}), nil, "query")
	type result struct {
		resp *pb.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, _, err := rt.Execute(context.Background(), "rich_1:ff", txc, in)
		done <- result{resp, err}
	}()
	tx := cc.expect(pb.ChaincodeMessage_TRANSACTION)
	req := func(typ pb.ChaincodeMessage_Type, m proto.Message) *pb.ChaincodeMessage {
		t.Helper()
		cc.send(&pb.ChaincodeMessage{Type: typ, Txid: tx.Txid, ChannelId: tx.ChannelId, Payload: mustMarshal(t, m)})
		r, err := cc.recv()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	selector := `{"selector":{"owner":"Tom"}}`
	tests := []struct {
		name string
		req  *pb.GetQueryResult
		call string
	}{
		{"plain", &pb.GetQueryResult{Query: selector}, "GetQueryResult:"},
		{"paginated", &pb.GetQueryResult{Query: selector, Metadata: mustMarshal(t, &pb.QueryMetadata{PageSize: 10, Bookmark: ""})}, "GetQueryResultWithPagination:"},
		{"private data", &pb.GetQueryResult{Query: selector, Collection: "collA"}, "GetPrivateDataQueryResult:"},
	}
	for _, tt := range tests {
		m := req(pb.ChaincodeMessage_GET_QUERY_RESULT, tt.req)
		msg := string(m.Payload)
		if m.Type != pb.ChaincodeMessage_ERROR || m.Txid != tx.Txid || m.ChannelId != tx.ChannelId {
			t.Fatalf("%s: answer = %s txid %q channel %q (%s), want ERROR for txid %q", tt.name, m.Type, m.Txid, m.ChannelId, msg, tx.Txid)
		}
		if !strings.HasPrefix(msg, tt.call) || !strings.Contains(msg, "need a CouchDB state database") || !strings.Contains(msg, "this peer uses LevelDB") {
			t.Errorf("%s: refusal = %q, want it to start with %q and name CouchDB and LevelDB", tt.name, msg, tt.call)
		}
		if strings.Contains(msg, "not supported by this peer") {
			t.Errorf("%s: refusal is the generic unsupported-message error: %q", tt.name, msg)
		}
	}
	// The same transaction can still read state after the refusals.
	m := req(pb.ChaincodeMessage_GET_STATE, &pb.GetState{Key: "a"})
	if m.Type != pb.ChaincodeMessage_RESPONSE || string(m.Payload) != "1" {
		t.Fatalf("GET_STATE after the refusals = %s %q", m.Type, m.Payload)
	}
	cc.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_COMPLETED, Txid: tx.Txid, ChannelId: tx.ChannelId,
		Payload: mustMarshal(t, &pb.Response{Status: 200, Payload: []byte("ok")})})
	if r := <-done; r.err != nil || string(r.resp.Payload) != "ok" {
		t.Fatalf("execute = %v, %v", r.resp, r.err)
	}
}

func TestChaincodeAsAServiceWrongCCID(t *testing.T) {
	bin := buildTestCC(t)
	addr := cctest.FreeAddr(t)
	cctest.StartService(t, bin, addr, "someone_else:00")
	rt := NewRuntime(Config{Logger: testLogger(t)}, launcherFunc(func(ctx context.Context, id string) (*Instance, error) {
		return DialChaincode(ctx, &ConnectionInfo{Address: addr, DialTimeout: "20s"})
	}))
	t.Cleanup(rt.Close)
	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "svc", newFakeSim(nil), nil, "get", "a")
	_, _, err := rt.Execute(context.Background(), "svc_1:aa", txc, in)
	if err == nil || !strings.Contains(err.Error(), `registered as "someone_else:00"`) || !strings.Contains(err.Error(), "svc_1:aa") {
		t.Fatalf("err = %v", err)
	}
}

type launcherFunc func(ctx context.Context, packageID string) (*Instance, error)

func (f launcherFunc) Launch(ctx context.Context, id string, _ *LaunchTLS) (*Instance, error) {
	return f(ctx, id)
}

func TestLaunchedChaincodeMustRegister(t *testing.T) {
	exited := make(chan struct{})
	close(exited)
	stopped := 0
	rt := NewRuntime(Config{Logger: testLogger(t), RegisterTimeout: 200 * time.Millisecond}, launcherFunc(func(_ context.Context, id string) (*Instance, error) {
		inst := &Instance{Stop: func() { stopped++ }}
		if id == "dies_1:00" {
			inst.Exited = exited
		}
		return inst, nil
	}))
	t.Cleanup(rt.Close)
	for id, want := range map[string]string{"silent_1:00": "did not register within 200ms", "dies_1:00": "exited before it registered"} {
		txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "cc", newFakeSim(nil), nil, "get", "a")
		_, _, err := rt.Execute(context.Background(), id, txc, in)
		if !errors.Is(err, ErrChaincodeUnavailable) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), id) {
			t.Errorf("%s: err = %v, want %q", id, err, want)
		}
	}
	if stopped != 2 {
		t.Errorf("failed launches stopped %d instances, want 2", stopped)
	}
}
