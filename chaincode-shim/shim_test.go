package shim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/weft-ledger/weft/chaincode-shim/internal/fakepeer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testCC is a small chaincode whose functions exercise the stub.
type testCC struct {
	barrier *barrier
}

// barrier releases its waiters once n of them have arrived, proving that
// invocations run concurrently (a serial shim would deadlock and time out).
type barrier struct {
	mu      sync.Mutex
	n       int
	arrived int
	open    chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, open: make(chan struct{})} }

func (b *barrier) wait() error {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.open)
	}
	b.mu.Unlock()
	select {
	case <-b.open:
		return nil
	case <-time.After(waitLimit):
		return errors.New("barrier: the other invocations never arrived")
	}
}

func (c *testCC) Init(stub ChaincodeStubInterface) *pb.Response {
	fn, params := stub.GetFunctionAndParameters()
	if fn == "initfail" {
		_ = stub.SetEvent("init-failed", nil)
		return Error("init refused: " + strings.Join(params, " "))
	}
	if err := stub.PutState("initialised", []byte("yes")); err != nil {
		return Error(err.Error())
	}
	return Success([]byte("init ok"))
}

func (c *testCC) Invoke(stub ChaincodeStubInterface) *pb.Response {
	fn, p := stub.GetFunctionAndParameters()
	switch fn {
	case "put":
		if err := stub.PutState(p[0], []byte(p[1])); err != nil {
			return Error(err.Error())
		}
		return Success(nil)
	case "get":
		v, err := stub.GetState(p[0])
		if err != nil {
			return Error(err.Error())
		}
		if v == nil {
			return Success([]byte("<nil>"))
		}
		return Success(v)
	case "del":
		if err := stub.DelState(p[0]); err != nil {
			return Error(err.Error())
		}
		return Success(nil)
	case "range":
		it, err := stub.GetStateByRange(p[0], p[1])
		if err != nil {
			return Error(err.Error())
		}
		return collect(it, nil)
	case "partial":
		it, err := stub.GetStateByPartialCompositeKey(p[0], p[1:])
		if err != nil {
			return Error(err.Error())
		}
		return collect(it, stub)
	case "composite":
		k, err := stub.CreateCompositeKey(p[0], p[1:])
		if err != nil {
			return Error(err.Error())
		}
		if err := stub.PutState(k, []byte(strings.Join(p, "/"))); err != nil {
			return Error(err.Error())
		}
		return Success(nil)
	case "event":
		if err := stub.SetEvent(p[0], []byte(p[1])); err != nil {
			return Error(err.Error())
		}
		return Success(nil)
	case "fail":
		return Error(p[0])
	case "panic":
		panic("boom")
	case "nil":
		return nil
	case "barrier":
		// Write, wait for the others, then read back: the read must see this
		// transaction's own answer even though the others interleave.
		key := "k-" + stub.GetChannelID() + "-" + stub.GetTxID()
		if err := stub.PutState(key, []byte(stub.GetTxID())); err != nil {
			return Error(err.Error())
		}
		if err := c.barrier.wait(); err != nil {
			return Error(err.Error())
		}
		v, err := stub.GetState(key)
		if err != nil {
			return Error(err.Error())
		}
		return Success(v)
	case "info":
		return info(stub)
	case "multi":
		vals, err := stub.GetMultipleStates(p...)
		if err != nil {
			return Error(err.Error())
		}
		var out []string
		for _, v := range vals {
			if v == nil {
				out = append(out, "<nil>")
			} else {
				out = append(out, string(v))
			}
		}
		return Success([]byte(strings.Join(out, ",")))
	case "hash":
		h, err := stub.GetPrivateDataHash(p[0], p[1])
		if err != nil {
			return Error(err.Error())
		}
		return Success(h)
	default:
		return Error("unknown function " + fn)
	}
}

// collect drains an iterator into "key=value;..." (composite keys split when stub is set).
func collect(it StateQueryIteratorInterface, stub ChaincodeStubInterface) *pb.Response {
	var parts []string
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			it.Close()
			return Error(err.Error())
		}
		k := kv.Key
		if stub != nil {
			typ, attrs, err := stub.SplitCompositeKey(k)
			if err != nil {
				return Error(err.Error())
			}
			k = typ + ":" + strings.Join(attrs, ",")
		}
		parts = append(parts, k+"="+string(kv.Value))
	}
	if _, err := it.Next(); !errors.Is(err, ErrNoMoreResults) {
		return Error(fmt.Sprintf("Next after the end returned %v, want ErrNoMoreResults", err))
	}
	if err := it.Close(); err != nil {
		return Error(err.Error())
	}
	return Success([]byte(strings.Join(parts, ";")))
}

type txInfo struct {
	TxID, ChannelID, Creator, Binding string
	Transient                         map[string]string
	Timestamp                         int64
	Args                              []string
	ArgsSlice                         string
	HasProposal                       bool
}

func info(stub ChaincodeStubInterface) *pb.Response {
	creator, _ := stub.GetCreator()
	binding, _ := stub.GetBinding()
	transient, _ := stub.GetTransient()
	sp, _ := stub.GetSignedProposal()
	slice, _ := stub.GetArgsSlice()
	ti := txInfo{TxID: stub.GetTxID(), ChannelID: stub.GetChannelID(), Creator: string(creator), Binding: hex.EncodeToString(binding),
		Transient: map[string]string{}, Args: stub.GetStringArgs(), ArgsSlice: string(slice), HasProposal: sp != nil}
	for k, v := range transient {
		ti.Transient[k] = string(v)
	}
	if ts, err := stub.GetTxTimestamp(); err == nil {
		ti.Timestamp = ts.Seconds
	}
	b, _ := json.Marshal(ti)
	return Success(b)
}

// signedProposal builds a proposal as a client SDK would.
func signedProposal(t testing.TB, channel, txid string, creator, nonce []byte, epoch uint64, ts time.Time, transient map[string][]byte) *pb.SignedProposal {
	t.Helper()
	must := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hdr := &cb.Header{
		ChannelHeader:   must(&cb.ChannelHeader{Type: int32(cb.HeaderType_ENDORSER_TRANSACTION), ChannelId: channel, TxId: txid, Epoch: epoch, Timestamp: timestamppb.New(ts)}),
		SignatureHeader: must(&cb.SignatureHeader{Creator: creator, Nonce: nonce}),
	}
	prop := &pb.Proposal{Header: must(hdr), Payload: must(&pb.ChaincodeProposalPayload{TransientMap: transient})}
	return &pb.SignedProposal{ProposalBytes: must(prop), Signature: []byte("sig")}
}

func TestRegistrationHandshakeAndInit(t *testing.T) {
	s, peer := connectInProc(t, &testCC{}, "basic_1.0:abc")

	m := s.Call(t, pb.ChaincodeMessage_INIT, "mychannel", "tx-init", nil, "Init")
	if m.Type != pb.ChaincodeMessage_COMPLETED {
		t.Fatalf("INIT answered %s %q, want COMPLETED", m.Type, m.Payload)
	}
	res := &pb.Response{}
	if err := proto.Unmarshal(m.Payload, res); err != nil || res.Status != OK || string(res.Payload) != "init ok" {
		t.Fatalf("INIT response = %v (%v), want status 200 payload %q", res, err, "init ok")
	}
	if v, _ := peer.Ledger.Get("initialised"); string(v) != "yes" {
		t.Fatalf("Init's PutState did not reach the peer: %q", v)
	}

	// A failing Init is an ERROR message carrying the response message and the event.
	m = s.Call(t, pb.ChaincodeMessage_INIT, "mychannel", "tx-init2", nil, "initfail", "bad", "args")
	if m.Type != pb.ChaincodeMessage_ERROR || string(m.Payload) != "init refused: bad args" {
		t.Fatalf("failing INIT answered %s %q, want ERROR %q", m.Type, m.Payload, "init refused: bad args")
	}
	if m.ChaincodeEvent.GetEventName() != "init-failed" || m.Txid != "tx-init2" || m.ChannelId != "mychannel" {
		t.Fatalf("failing INIT reply = %v, want event init-failed and the tx's ids", m)
	}
}

func TestKeepaliveIsEchoed(t *testing.T) {
	s, _ := connectInProc(t, &testCC{}, "cc")
	if err := s.Send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_KEEPALIVE, Txid: "ka-1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-s.Keepalives():
		if m.Txid != "ka-1" {
			t.Fatalf("echoed keepalive has txid %q, want ka-1", m.Txid)
		}
	case <-time.After(waitLimit):
		t.Fatal("KEEPALIVE was not echoed")
	}
}

func TestStateCallsAndArgs(t *testing.T) {
	s, peer := connectInProc(t, &testCC{}, "cc")

	res, _ := s.Invoke(t, "tx1", "put", "a", "1")
	if res.Status != OK {
		t.Fatalf("put: %v", res)
	}
	if v, _ := peer.Ledger.Get("a"); string(v) != "1" {
		t.Fatalf("ledger a = %q, want 1", v)
	}
	if res, _ = s.Invoke(t, "tx2", "get", "a"); string(res.Payload) != "1" {
		t.Fatalf("get a = %q, want 1", res.Payload)
	}
	if res, _ = s.Invoke(t, "tx3", "get", "missing"); string(res.Payload) != "<nil>" {
		t.Fatalf("get missing = %q, want nil value", res.Payload)
	}
	s.Invoke(t, "tx4", "del", "a")
	if _, ok := peer.Ledger.Get("a"); ok {
		t.Fatal("DelState did not reach the peer")
	}
	if res, _ = s.Invoke(t, "tx5", "put", "", "x"); res.Status != ERROR || !strings.Contains(res.Message, "empty") {
		t.Fatalf("PutState with empty key = %v, want an error naming the empty key", res)
	}
	if res, _ = s.Invoke(t, "tx6", "fail", "nope"); res.Status != ERROR || res.Message != "nope" {
		t.Fatalf("shim.Error response = %v, want status 500 message nope", res)
	}
	if got := peer.Ledger.Count(pb.ChaincodeMessage_PUT_STATE); got != 1 {
		t.Fatalf("peer saw %d PUT_STATE, want 1 (the empty key must be rejected in the shim)", got)
	}
}

func TestProposalFields(t *testing.T) {
	s, _ := connectInProc(t, &testCC{}, "cc")
	creator, nonce := []byte("creator-identity"), []byte("nonce-123")
	ts := time.Unix(1700000000, 0)
	sp := signedProposal(t, "mychannel", "tx-p", creator, nonce, 7, ts, map[string][]byte{"secret": []byte("s3")})

	m := s.Call(t, pb.ChaincodeMessage_TRANSACTION, "mychannel", "tx-p", sp, "info", "x", "y")
	res := &pb.Response{}
	if err := proto.Unmarshal(m.Payload, res); err != nil || m.Type != pb.ChaincodeMessage_COMPLETED {
		t.Fatalf("info: %s %q %v", m.Type, m.Payload, err)
	}
	var got txInfo
	if err := json.Unmarshal(res.Payload, &got); err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(append(append(append([]byte{}, nonce...), creator...), binary.LittleEndian.AppendUint64(nil, 7)...))
	want := txInfo{TxID: "tx-p", ChannelID: "mychannel", Creator: string(creator), Binding: hex.EncodeToString(d[:]),
		Transient: map[string]string{"secret": "s3"}, Timestamp: ts.Unix(), Args: []string{"info", "x", "y"}, ArgsSlice: "infoxy", HasProposal: true}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("stub fields\n got %s\nwant %s", gb, wb)
	}

	// A proposal with a header type a chaincode cannot run is refused with ERROR.
	bad := signedProposal(t, "mychannel", "tx-bad", creator, nonce, 0, ts, nil)
	prop := &pb.Proposal{}
	_ = proto.Unmarshal(bad.ProposalBytes, prop)
	hdr := &cb.Header{}
	_ = proto.Unmarshal(prop.Header, hdr)
	hdr.ChannelHeader, _ = proto.Marshal(&cb.ChannelHeader{Type: int32(cb.HeaderType_MESSAGE)})
	prop.Header, _ = proto.Marshal(hdr)
	bad.ProposalBytes, _ = proto.Marshal(prop)
	m = s.Call(t, pb.ChaincodeMessage_TRANSACTION, "mychannel", "tx-bad", bad, "info")
	if m.Type != pb.ChaincodeMessage_ERROR || !strings.Contains(string(m.Payload), "header type") {
		t.Fatalf("bad proposal answered %s %q, want ERROR about the header type", m.Type, m.Payload)
	}
}

func TestConcurrentTransactionsOnOneStream(t *testing.T) {
	const n = 6
	cc := &testCC{barrier: newBarrier(n)}
	s, _ := connectInProc(t, cc, "cc")

	type result struct {
		channel, txid string
		m             *pb.ChaincodeMessage
		err           error
	}
	results := make(chan result, n)
	for i := range n {
		// The same txid on two channels must stay two transactions.
		channel := "ch" + strconv.Itoa(i%2)
		txid := "tx" + strconv.Itoa(i/2)
		go func() {
			m, err := s.TryCall(pb.ChaincodeMessage_TRANSACTION, channel, txid, nil, "barrier")
			results <- result{channel, txid, m, err}
		}()
	}
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		res := &pb.Response{}
		if err := proto.Unmarshal(r.m.Payload, res); err != nil || r.m.Type != pb.ChaincodeMessage_COMPLETED {
			t.Fatalf("%s/%s: %s %q", r.channel, r.txid, r.m.Type, r.m.Payload)
		}
		if res.Status != OK || string(res.Payload) != r.txid || r.m.ChannelId != r.channel {
			t.Fatalf("%s/%s got response %v on channel %s; responses were mixed up", r.channel, r.txid, res, r.m.ChannelId)
		}
	}
}

func TestRangeQueryPagination(t *testing.T) {
	s, peer := connectInProc(t, &testCC{}, "cc")
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		peer.Ledger.Put(k, []byte("v"+k))
	}
	// A composite key must stay out of an open-ended simple range.
	ck, _ := CreateCompositeKey("color", []string{"blue"})
	peer.Ledger.Put(ck, []byte("x"))

	res, _ := s.Invoke(t, "tx1", "range", "", "")
	if want := "a=va;b=vb;c=vc;d=vd;e=ve"; string(res.Payload) != want {
		t.Fatalf("range = %q, want %q", res.Payload, want)
	}
	// 5 results in pages of 2: the first page, then two QUERY_STATE_NEXT.
	if got := peer.Ledger.Count(pb.ChaincodeMessage_QUERY_STATE_NEXT); got != 2 {
		t.Fatalf("QUERY_STATE_NEXT sent %d times, want 2", got)
	}
	if got := peer.Ledger.Count(pb.ChaincodeMessage_QUERY_STATE_CLOSE); got != 1 {
		t.Fatalf("QUERY_STATE_CLOSE sent %d times, want 1", got)
	}
	res, _ = s.Invoke(t, "tx2", "range", "b", "d")
	if want := "b=vb;c=vc"; string(res.Payload) != want {
		t.Fatalf("range [b,d) = %q, want %q", res.Payload, want)
	}
	res, _ = s.Invoke(t, "tx3", "range", "\x00x", "")
	if res.Status != ERROR || !strings.Contains(res.Message, "U+0000") {
		t.Fatalf("range from a composite-namespace key = %v, want an error", res)
	}
}

func TestCompositeKeys(t *testing.T) {
	s, _ := connectInProc(t, &testCC{}, "cc")
	for i, a := range [][]string{{"color", "blue", "asset1"}, {"color", "blue", "asset2"}, {"color", "red", "asset3"}, {"size", "5", "asset1"}} {
		s.Invoke(t, "put"+strconv.Itoa(i), append([]string{"composite"}, a...)...)
	}
	res, _ := s.Invoke(t, "q1", "partial", "color", "blue")
	if want := "color:blue,asset1=color/blue/asset1;color:blue,asset2=color/blue/asset2"; string(res.Payload) != want {
		t.Fatalf("partial color/blue = %q, want %q", res.Payload, want)
	}
	res, _ = s.Invoke(t, "q2", "partial", "color")
	if n := strings.Count(string(res.Payload), ";") + 1; n != 3 {
		t.Fatalf("partial color returned %d keys (%q), want 3", n, res.Payload)
	}
	res, _ = s.Invoke(t, "q3", "composite", "color", "bad\x00attr")
	if res.Status != ERROR || !strings.Contains(res.Message, "U+0000") {
		t.Fatalf("attribute with U+0000 = %v, want an error", res)
	}
}

func TestCompositeKeyValidation(t *testing.T) {
	k, err := CreateCompositeKey("asset", []string{"a", "b"})
	if err != nil || k != "\x00asset\x00a\x00b\x00" {
		t.Fatalf("CreateCompositeKey = %q, %v", k, err)
	}
	typ, attrs, err := SplitCompositeKey(k)
	if err != nil || typ != "asset" || strings.Join(attrs, ",") != "a,b" {
		t.Fatalf("SplitCompositeKey = %q %q %v", typ, attrs, err)
	}
	for _, bad := range []struct {
		typ   string
		attrs []string
		want  string
	}{
		{"as\xffset", nil, "UTF-8"},
		{"asset", []string{"a\x00"}, "U+0000"},
		{"asset", []string{string(rune(0x10FFFF))}, "U+10FFFF"},
	} {
		if _, err := CreateCompositeKey(bad.typ, bad.attrs); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("CreateCompositeKey(%q, %q) error = %v, want one mentioning %s", bad.typ, bad.attrs, err, bad.want)
		}
	}
	for _, bad := range []string{"", "plain", "\x00unterminated"} {
		if _, _, err := SplitCompositeKey(bad); err == nil {
			t.Errorf("SplitCompositeKey(%q) succeeded, want an error", bad)
		}
	}
}

func TestPeerErrorsSurfaceInChaincode(t *testing.T) {
	s, peer := connectInProc(t, &testCC{}, "cc")
	peer.Ledger.FailOn("locked", "key locked is not readable: access denied")

	res, _ := s.Invoke(t, "tx1", "get", "locked")
	if res.Status != ERROR || res.Message != "key locked is not readable: access denied" {
		t.Fatalf("GetState on a key the peer refuses = %v, want the peer's message", res)
	}
	res, _ = s.Invoke(t, "tx2", "put", "locked", "x")
	if res.Status != ERROR || !strings.Contains(res.Message, "access denied") {
		t.Fatalf("PutState refused by the peer = %v", res)
	}
	// Private data hash requests carry the collection.
	res, _ = s.Invoke(t, "tx3", "hash", "coll", "k")
	if res.Status != OK {
		t.Fatalf("GetPrivateDataHash = %v", res)
	}
	// The stream survives peer errors.
	if res, _ = s.Invoke(t, "tx4", "put", "ok", "1"); res.Status != OK {
		t.Fatalf("put after errors = %v", res)
	}
}

func TestGetMultipleStates(t *testing.T) {
	for _, advertised := range []bool{false, true} {
		t.Run(fmt.Sprintf("advertised=%v", advertised), func(t *testing.T) {
			peer, addr := fakepeer.StartPeer(t)
			if advertised {
				b, err := proto.Marshal(&pb.ChaincodeAdditionalParams{UseGetMultipleKeys: true, MaxSizeGetMultipleKeys: 2})
				if err != nil {
					t.Fatal(err)
				}
				peer.SetReadyPayload(b)
			}
			t.Setenv(EnvChaincodeIDName, "cc")
			t.Setenv(EnvPeerAddress, addr)
			t.Setenv(EnvTLSEnabled, "false")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- StartWithContext(ctx, &testCC{}) }()
			defer func() { cancel(); <-done }()
			s := peer.NextSession(t)
			s.WaitRegistered(t)
			for _, k := range []string{"a", "c", "e"} {
				peer.Ledger.Put(k, []byte("v"+k))
			}
			keys := []string{"a", "b", "c", "d", "e"}
			res, _ := s.Invoke(t, "tx1", append([]string{"multi"}, keys...)...)
			if want := "va,<nil>,vc,<nil>,ve"; string(res.Payload) != want {
				t.Fatalf("GetMultipleStates = %q (%s), want %q", res.Payload, res.Message, want)
			}
			multi, single := peer.Ledger.Count(pb.ChaincodeMessage_GET_STATE_MULTIPLE), peer.Ledger.Count(pb.ChaincodeMessage_GET_STATE)
			// Advertised: batches of at least 100 keys (the floor), so one request.
			if advertised && (multi != 1 || single != 0) || !advertised && (multi != 0 || single != len(keys)) {
				t.Fatalf("requests: %d GET_STATE_MULTIPLE, %d GET_STATE (advertised=%v)", multi, single, advertised)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	s, _ := connectInProc(t, &testCC{}, "cc")
	_, m := s.Invoke(t, "tx1", "event", "AssetCreated", `{"ID":"a1"}`)
	ev := m.ChaincodeEvent
	if ev.GetEventName() != "AssetCreated" || string(ev.GetPayload()) != `{"ID":"a1"}` {
		t.Fatalf("COMPLETED event = %v, want AssetCreated with payload", ev)
	}
	res, m := s.Invoke(t, "tx2", "event", "", "x")
	if res.Status != ERROR || m.ChaincodeEvent != nil {
		t.Fatalf("empty event name: response %v event %v, want an error and no event", res, m.ChaincodeEvent)
	}
}

func TestPanicAndNilResponseBecomeErrors(t *testing.T) {
	s, _ := connectInProc(t, &testCC{}, "cc")
	m := s.Call(t, pb.ChaincodeMessage_TRANSACTION, "mychannel", "tx1", nil, "panic")
	if m.Type != pb.ChaincodeMessage_ERROR || !strings.Contains(string(m.Payload), "boom") {
		t.Fatalf("panic answered %s %q, want ERROR mentioning boom", m.Type, m.Payload)
	}
	m = s.Call(t, pb.ChaincodeMessage_TRANSACTION, "mychannel", "tx2", nil, "nil")
	if m.Type != pb.ChaincodeMessage_ERROR || !strings.Contains(string(m.Payload), "nil response") {
		t.Fatalf("nil response answered %s %q", m.Type, m.Payload)
	}
	// Still serving.
	if res, _ := s.Invoke(t, "tx3", "put", "k", "v"); res.Status != OK {
		t.Fatalf("after panic: %v", res)
	}
}

func TestProtocolViolationEndsChat(t *testing.T) {
	peer, addr := fakepeer.StartPeer(t)
	t.Setenv(EnvChaincodeIDName, "cc")
	t.Setenv(EnvPeerAddress, addr)
	t.Setenv(EnvTLSEnabled, "false")
	done := make(chan error, 1)
	go func() { done <- Start(&testCC{}) }()
	s := peer.NextSession(t)
	s.WaitRegistered(t)
	// PUT_STATE is something only a chaincode sends; a peer sending it is broken.
	if err := s.Send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_PUT_STATE, Txid: "x"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "PUT_STATE") {
			t.Fatalf("Start returned %v, want an error naming PUT_STATE", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Start kept running after a protocol violation")
	}
}

func TestPeerGoneUnblocksInvocation(t *testing.T) {
	peer, addr := fakepeer.StartPeer(t)
	t.Setenv(EnvChaincodeIDName, "cc")
	t.Setenv(EnvPeerAddress, addr)
	t.Setenv(EnvTLSEnabled, "false")
	entered := make(chan struct{})
	release := make(chan struct{})
	gotErr := make(chan error, 1)
	cc := funcCC(func(stub ChaincodeStubInterface) *pb.Response {
		close(entered)
		<-release
		_, err := stub.GetState("k")
		gotErr <- err
		return Success(nil)
	})
	done := make(chan error, 1)
	go func() { done <- Start(cc) }()
	s := peer.NextSession(t)
	s.WaitRegistered(t)
	go func() { _, _ = s.TryCall(pb.ChaincodeMessage_TRANSACTION, "ch", "tx", nil, "x") }()
	<-entered
	s.Close() // the peer ends the stream mid-transaction
	select {
	case err := <-done:
		t.Fatalf("Start returned %v before the invocation finished", err)
	default:
	}
	close(release)
	select {
	case err := <-gotErr:
		if !errors.Is(err, ErrStreamClosed) {
			t.Fatalf("GetState after the peer left = %v, want ErrStreamClosed", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("GetState blocked after the peer left")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Start returned nil after the peer closed the stream")
		}
	case <-time.After(waitLimit):
		t.Fatal("Start did not return after the peer closed the stream")
	}
}

type funcCC func(stub ChaincodeStubInterface) *pb.Response

func (f funcCC) Init(stub ChaincodeStubInterface) *pb.Response   { return f(stub) }
func (f funcCC) Invoke(stub ChaincodeStubInterface) *pb.Response { return f(stub) }

func TestStartConfigErrors(t *testing.T) {
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no name", map[string]string{EnvPeerAddress: "p:7052", EnvTLSEnabled: "false"}, nil, EnvChaincodeIDName},
		{"no address", map[string]string{EnvChaincodeIDName: "cc", EnvTLSEnabled: "false"}, nil, "peer.address"},
		{"bad tls flag", map[string]string{EnvChaincodeIDName: "cc", EnvPeerAddress: "p:7052"}, nil, EnvTLSEnabled},
		{"tls without key", map[string]string{EnvChaincodeIDName: "cc", EnvPeerAddress: "p:7052", EnvTLSEnabled: "true"}, nil, EnvTLSKeyFile},
		{"missing key file", map[string]string{EnvChaincodeIDName: "cc", EnvPeerAddress: "p:7052", EnvTLSEnabled: "true", EnvTLSKeyFile: "/nonexistent/key"}, nil, "/nonexistent/key"},
	}
	for _, c := range cases {
		if _, err := loadClientConfig(env(c.env), c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error = %v, want one naming %s", c.name, err, c.want)
		}
	}
	cfg, err := loadClientConfig(env(map[string]string{EnvChaincodeIDName: "cc", EnvPeerAddress: "env:1", EnvTLSEnabled: "false"}), []string{"-peer.address", "flag:2"})
	if err != nil || cfg.address != "flag:2" || cfg.tls != nil {
		t.Fatalf("flag address: %+v %v, want flag:2 without TLS", cfg, err)
	}
	cfg, _ = loadClientConfig(env(map[string]string{EnvChaincodeIDName: "cc", EnvTLSEnabled: "false"}), []string{"--peer.address=flag:3"})
	if cfg.address != "flag:3" {
		t.Fatalf("--peer.address=: got %q", cfg.address)
	}
}

func TestStartWithContextCancel(t *testing.T) {
	_, peer := connectInProc(t, &testCC{}, "cc")
	_ = peer // connectInProc's cleanup cancels the context and requires Start to return
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	t.Setenv(EnvChaincodeIDName, "cc2")
	if err := StartWithContext(ctx, &testCC{}); err == nil {
		t.Fatal("StartWithContext with a cancelled context returned nil")
	}
}
