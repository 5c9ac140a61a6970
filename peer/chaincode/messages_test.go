package chaincode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
	"github.com/weft-ledger/weft/statedb"
)

// pagerSim gives fakeSim the RangePager capability.
type pagerSim struct {
	*fakeSim
	mu    sync.Mutex
	pages []string // "start..end/size" asked, in order
}

func (p *pagerSim) GetStateRangePage(ns, start, end string, size int32) ([]*statedb.KV, string, error) {
	p.mu.Lock()
	p.pages = append(p.pages, fmt.Sprintf("%s..%s/%d", start, end, size))
	p.mu.Unlock()
	it, err := p.GetStateRange(ns, start, end)
	if err != nil {
		return nil, "", err
	}
	defer it.Close()
	var page []*statedb.KV
	for {
		kv, err := it.Next()
		if err != nil || kv == nil {
			return page, "", err
		}
		if int32(len(page)) == size {
			return page, kv.Key, nil
		}
		page = append(page, kv)
	}
}

// fakeHistory is a HistoryReader over a fixed list of changes per key.
type fakeHistory map[string][]*queryresult.KeyModification // by ns + "\x00" + key

func (f fakeHistory) GetHistoryForKey(ns, key string) (HistoryIterator, error) {
	if key == "broken" {
		return nil, errors.New("history index unreadable")
	}
	return &historyIter{mods: f[ns+"\x00"+key]}, nil
}

type historyIter struct {
	mu     sync.Mutex
	mods   []*queryresult.KeyModification
	closed bool
}

func (h *historyIter) Next() (*queryresult.KeyModification, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.mods) == 0 {
		return nil, nil
	}
	m := h.mods[0]
	h.mods = h.mods[1:]
	return m, nil
}

func (h *historyIter) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
}

// runtimeInvoker plays the endorser for chaincode-to-chaincode calls: it runs
// the named chaincode's package on rt, on the caller's simulator, or on a
// fresh one for another channel.
type runtimeInvoker struct {
	rt    *Runtime
	pkgs  map[string]string // chaincode name -> package ID
	other map[string]*fakeSim
}

func (i *runtimeInvoker) InvokeChaincode(ctx context.Context, caller *TxContext, name, channel string, input *pb.ChaincodeInput) (*pb.Response, error) {
	pkg, ok := i.pkgs[name]
	if !ok {
		return nil, fmt.Errorf("chaincode %s is not defined", name)
	}
	txc := caller.Callee(name)
	if channel != "" && channel != caller.ChannelID {
		txc.ChannelID, txc.Simulator = channel, i.other[channel]
	}
	resp, _, err := i.rt.Execute(ctx, pkg, txc, input)
	return resp, err
}

func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
}

func TestPaginatedRangeQueries(t *testing.T) {
	rt, id := peerLaunched(t, Config{QueryBatchSize: 2})
	state := map[string][]byte{}
	for i := 0; i < 7; i++ {
		state[fmt.Sprintf("testcc\x00p%d", i)] = []byte(fmt.Sprint(i))
	}
	for _, k := range []string{"a1", "a2", "a3"} {
		state["testcc\x00\x00asset\x00blue\x00"+k+"\x00"] = []byte(k)
	}
	state["testcc\x00\x00asset\x00red\x00a9\x00"] = []byte("a9")
	type page struct {
		Keys     []string
		Count    int32
		Bookmark string
	}
	get := func(sim TxSimulator, args ...string) page {
		t.Helper()
		resp := mustOK(t)(invoke(t, rt, id, sim, args...))
		var p page
		decodeJSON(t, resp.Payload, &p)
		return p
	}

	// Pages of 3 over p0..p6 (batch size 2: a page is still one response).
	sim := &pagerSim{fakeSim: newFakeSim(state)}
	var got []string
	bookmark := ""
	for _, want := range []struct {
		keys     string
		bookmark string
	}{{"p0=0,p1=1,p2=2", "p3"}, {"p3=3,p4=4,p5=5", "p6"}, {"p6=6", ""}} {
		p := get(sim, "pagerange", "p", "q", "3", bookmark)
		if strings.Join(p.Keys, ",") != want.keys || p.Bookmark != want.bookmark || int(p.Count) != len(p.Keys) {
			t.Fatalf("page after bookmark %q = %+v, want keys %s and bookmark %q", bookmark, p, want.keys, want.bookmark)
		}
		got = append(got, p.Keys...)
		bookmark = p.Bookmark
	}
	if len(got) != 7 {
		t.Fatalf("pages returned %d keys, want 7", len(got))
	}
	// The bookmark replaces the start key, as in Fabric.
	if sim.pages[1] != "p3..q/3" {
		t.Fatalf("second page asked the simulator for %q, want p3..q/3", sim.pages[1])
	}
	// Page size 0 with a bookmark is still paginated: Fabric's total query limit.
	if p := get(sim, "pagerange", "p", "q", "0", "p5"); strings.Join(p.Keys, ",") != "p5=5,p6=6" || p.Count != 2 {
		t.Fatalf("page size 0 from bookmark p5 = %+v", p)
	}
	if last := sim.pages[len(sim.pages)-1]; last != fmt.Sprintf("p5..q/%d", totalQueryLimit) {
		t.Fatalf("page size 0 asked for %q", last)
	}

	// Composite keys: pages within one partial key.
	p := get(sim, "pagecomposite", "asset", "blue", "2", "")
	if p.Count != 2 || p.Bookmark != "\x00asset\x00blue\x00a3\x00" {
		t.Fatalf("first composite page = %+v", p)
	}
	p = get(sim, "pagecomposite", "asset", "blue", "2", p.Bookmark)
	if p.Count != 1 || p.Bookmark != "" || !strings.HasSuffix(p.Keys[0], "=a3") {
		t.Fatalf("second composite page = %+v", p)
	}

	// A simulator without the capability: a clear refusal.
	resp, _, err := invoke(t, rt, id, newFakeSim(state), "pagerange", "p", "q", "3", "")
	if err != nil || resp.Status != 500 || !strings.Contains(resp.Message, "paginated range queries") || !strings.Contains(resp.Message, "use GetStateByRange") {
		t.Fatalf("pagination without RangePager = %v, %v", resp, err)
	}

	// With the ledger's simulator, paginated queries and writes exclude each
	// other within one transaction, as in Fabric.
	l, err := ledger.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, fn := range []string{"putthenpage", "pagethenput"} {
		sim := l.NewSimulator("tx-" + fn)
		resp, _, err := invoke(t, rt, id, sim, fn, "k")
		sim.Done()
		if err != nil || resp.Status != 500 || !strings.Contains(resp.Message, "paginated") || !strings.Contains(resp.Message, "write") {
			t.Errorf("%s on a ledger simulator = %v, %v; want a failure naming the paginated query and the write", fn, resp, err)
		}
	}
	// A read-only paginated query on the ledger's simulator works.
	lsim := l.NewSimulator("tx-ro")
	defer lsim.Done()
	if p := get(lsim, "pagerange", "", "", "5", ""); p.Count != 0 || p.Bookmark != "" {
		t.Fatalf("page of an empty ledger = %+v", p)
	}
}

func TestHistoryForKey(t *testing.T) {
	rt, id := peerLaunched(t, Config{QueryBatchSize: 2})
	hist := fakeHistory{}
	for i := 5; i > 0; i-- { // newest first, as Fabric v2 returns them
		hist["testcc\x00k"] = append(hist["testcc\x00k"], &queryresult.KeyModification{
			TxId: fmt.Sprintf("tx%d", i), Value: []byte(fmt.Sprintf("v%d", i)), IsDelete: i == 4,
			Timestamp: timestamppb.New(time.Unix(int64(1000+i), 0)),
		})
	}
	hist["other\x00k"] = []*queryresult.KeyModification{{TxId: "not-mine"}}
	run := func(h HistoryReader, key string) (*pb.Response, error) {
		txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "testcc", newFakeSim(nil), nil, "history", key)
		txc.History = h
		resp, _, err := rt.Execute(context.Background(), id, txc, in)
		return resp, err
	}
	resp, err := run(hist, "k")
	if err != nil || resp.Status != 200 {
		t.Fatalf("history = %v, %v", resp, err)
	}
	var mods []struct {
		TxID    string `json:"txid"`
		Value   string
		Delete  bool
		Seconds int64
	}
	decodeJSON(t, resp.Payload, &mods)
	if len(mods) != 5 {
		t.Fatalf("history has %d entries over 3 batches, want 5: %+v", len(mods), mods)
	}
	for n, m := range mods {
		i := 5 - n
		if m.TxID != fmt.Sprintf("tx%d", i) || m.Value != fmt.Sprintf("v%d", i) || m.Delete != (i == 4) || m.Seconds != int64(1000+i) {
			t.Errorf("entry %d = %+v", n, m)
		}
	}
	if resp, err := run(hist, "none"); err != nil || resp.Status != 200 || string(resp.Payload) != "null" {
		t.Fatalf("history of a key never written = %v, %v", resp, err)
	}
	if resp, err := run(hist, "broken"); err != nil || resp.Status != 500 || !strings.Contains(resp.Message, "history index unreadable") || !strings.Contains(resp.Message, `"broken"`) {
		t.Fatalf("history read failure = %v, %v", resp, err)
	}
	resp, err = run(nil, "k")
	if err != nil || resp.Status != 500 || !strings.Contains(resp.Message, "GET_HISTORY_FOR_KEY") || !strings.Contains(resp.Message, "no history database") {
		t.Fatalf("history without a history database = %v, %v", resp, err)
	}
}

func TestInvokeChaincode(t *testing.T) {
	rt, id := peerLaunched(t, Config{})
	// A second package of the same code: another chaincode to call.
	id2 := cctest.WritePackage(t, filepath.Join(workDir, "packages"), "golang", "testcc2_1", testCCSource(t))
	other := newFakeSim(map[string][]byte{"testcc2\x00k": []byte("other-channel")})
	inv := &runtimeInvoker{rt: rt, pkgs: map[string]string{"testcc": id, "testcc2": id2}, other: map[string]*fakeSim{"otherchannel": other}}
	type callResult struct {
		Status  int32
		Message string
		Payload string
	}
	call := func(sim TxSimulator, args ...string) callResult {
		t.Helper()
		txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "testcc", sim, nil, append([]string{"call"}, args...)...)
		txc.Invoker = inv
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		resp := mustOK(t)(rt.Execute(ctx, id, txc, in))
		var r callResult
		decodeJSON(t, resp.Payload, &r)
		return r
	}

	state := map[string][]byte{"testcc2\x00k": []byte("callee-state"), "testcc\x00k": []byte("caller-state")}
	sim := newFakeSim(state)
	if r := call(sim, "testcc2", "", "put", "k2", "v2"); r.Status != 200 {
		t.Fatalf("call testcc2 put = %+v", r)
	}
	if v, ok := sim.write("testcc2", "k2"); !ok || string(v) != "v2" {
		t.Fatalf("callee's write of k2 = %q %v, want it in namespace testcc2 of the caller's simulator", v, ok)
	}
	if _, ok := sim.write("testcc", "k2"); ok {
		t.Fatal("callee's write landed in the caller's namespace")
	}
	if r := call(sim, "testcc2", "", "get", "k"); r.Status != 200 || r.Payload != "callee-state" {
		t.Fatalf("call testcc2 get k = %+v, want the callee's own state", r)
	}
	if r := call(sim, "testcc2", "", "status", "404", "no such asset"); r.Status != 404 || r.Message != "no such asset" {
		t.Fatalf("callee status 404 = %+v", r)
	}
	if r := call(sim, "testcc2", "", "fail", "callee says no"); r.Status != 500 || r.Message != "callee says no" {
		t.Fatalf("callee failure = %+v", r)
	}
	// "name:version" is accepted; the version is ignored.
	if r := call(sim, "testcc2:1.0", "", "get", "k"); r.Status != 200 || r.Payload != "callee-state" {
		t.Fatalf("call testcc2:1.0 = %+v", r)
	}
	// Another channel: the callee sees that channel's state.
	if r := call(sim, "testcc2", "otherchannel", "get", "k"); r.Status != 200 || r.Payload != "other-channel" {
		t.Fatalf("call testcc2 on otherchannel = %+v", r)
	}
	// The official shim returns a failed call's text as the Response payload.
	if r := call(sim, "nosuchcc", "", "get", "k"); r.Status != 500 || !strings.Contains(r.Payload, "chaincode testcc calling chaincode nosuchcc") || !strings.Contains(r.Payload, "nosuchcc is not defined") {
		t.Fatalf("call of an undefined chaincode = %+v", r)
	}

	// A chaincode calling itself fails at once with a clear error.
	start := time.Now()
	r := call(sim, "testcc", "", "get", "k")
	if r.Status != 500 || !strings.Contains(r.Payload, "cannot call itself") || !strings.Contains(r.Payload, id) {
		t.Fatalf("self call = %+v", r)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("self call took %s", d)
	}
	// Without an invoker: a clear refusal.
	resp := mustOK(t)(invoke(t, rt, id, newFakeSim(nil), "call", "testcc2", "", "get", "k"))
	decodeJSON(t, resp.Payload, &r)
	if r.Status != 500 || !strings.Contains(r.Payload, "calls between chaincodes are not available") {
		t.Fatalf("call without an invoker = %+v", r)
	}
}

// A transaction that hangs times out alone: other transactions on the same
// chaincode keep completing, and the chaincode stays connected.
func TestHungTransactionTimesOutAlone(t *testing.T) {
	rt, id := peerLaunched(t, Config{ExecuteTimeout: 2 * time.Second})
	mustOK(t)(invoke(t, rt, id, newFakeSim(nil), "put", "warm", "up")) // launched before timing anything

	hung := make(chan error, 1)
	go func() {
		_, _, err := invoke(t, rt, id, newFakeSim(nil), "sleep", "30000")
		hung <- err
	}()
	eventually.True(t, 20*time.Second, "the hung transaction in flight", func() bool { return inFlight(rt, id) == 1 })
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sim := newFakeSim(nil)
			key := fmt.Sprintf("k%d", i)
			if _, _, err := invoke(t, rt, id, sim, "put", key, "v"); err != nil {
				t.Errorf("put %s while another transaction hangs: %v", key, err)
				return
			}
			if v, _ := sim.write("testcc", key); string(v) != "v" {
				t.Errorf("put %s wrote %q", key, v)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-hung:
		t.Fatalf("the hung transaction ended before its timeout: %v", err)
	default:
	}
	select {
	case err := <-hung:
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "within 2s") {
			t.Fatalf("hung transaction: err = %v, want ErrTimeout naming %s and the timeout", err, id)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the hung transaction did not time out")
	}
	mustOK(t)(invoke(t, rt, id, newFakeSim(nil), "put", "after", "timeout"))
}

// Every message a shim may send gets a deliberate answer.
func TestProtocolAnswersEveryShimMessage(t *testing.T) {
	rt := NewRuntime(Config{Logger: testLogger(t)}, nil)
	addr := cctest.ServeRegister(t, rt)
	cc := dialRegister(t, addr, "raw_2:ff")
	cc.expect(pb.ChaincodeMessage_REGISTERED)
	cc.expect(pb.ChaincodeMessage_READY)

	inv := &recordingInvoker{}
	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "raw", newFakeSim(nil), nil, "go")
	txc.Invoker = inv
	txc.ApplicationCapabilities = []string{"V2_5"} // past the purge capability check
	done := make(chan error, 1)
	go func() {
		_, _, err := rt.Execute(context.Background(), "raw_2:ff", txc, in)
		done <- err
	}()
	tx := cc.expect(pb.ChaincodeMessage_TRANSACTION)
	req := func(typ pb.ChaincodeMessage_Type, m proto.Message) *pb.ChaincodeMessage {
		t.Helper()
		cc.send(&pb.ChaincodeMessage{Type: typ, Txid: tx.Txid, ChannelId: tx.ChannelId, Payload: mustMarshal(t, m)})
		r, err := cc.recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.Txid != tx.Txid || r.ChannelId != tx.ChannelId {
			t.Fatalf("%s: answer for txid %q channel %q", typ, r.Txid, r.ChannelId)
		}
		return r
	}
	inner := func(m *pb.ChaincodeMessage) *pb.ChaincodeMessage {
		t.Helper()
		if m.Type != pb.ChaincodeMessage_RESPONSE {
			t.Fatalf("INVOKE_CHAINCODE answer = %s %s, want RESPONSE", m.Type, m.Payload)
		}
		x := &pb.ChaincodeMessage{}
		if err := proto.Unmarshal(m.Payload, x); err != nil {
			t.Fatal(err)
		}
		return x
	}
	spec := func(name string, args ...string) *pb.ChaincodeSpec {
		var b [][]byte
		for _, a := range args {
			b = append(b, []byte(a))
		}
		return &pb.ChaincodeSpec{ChaincodeId: &pb.ChaincodeID{Name: name}, Input: &pb.ChaincodeInput{Args: b}}
	}

	// INVOKE_CHAINCODE: success is COMPLETED with the callee's Response.
	x := inner(req(pb.ChaincodeMessage_INVOKE_CHAINCODE, spec("ok:2.0/otherchannel", "fn", "a")))
	res := &pb.Response{}
	if x.Type != pb.ChaincodeMessage_COMPLETED || proto.Unmarshal(x.Payload, res) != nil || res.Status != 200 || string(res.Payload) != "hi" {
		t.Fatalf("successful call = %s %v", x.Type, res)
	}
	if got := inv.last(); got != "ok|otherchannel|fn,a|raw" {
		t.Fatalf("invoker called with %q, want name ok on otherchannel with args fn,a from namespace raw", got)
	}
	// The callee's own failure is an ERROR inside the RESPONSE, verbatim.
	if x := inner(req(pb.ChaincodeMessage_INVOKE_CHAINCODE, spec("boom"))); x.Type != pb.ChaincodeMessage_ERROR || string(x.Payload) != "callee failed" {
		t.Fatalf("callee failure = %s %q", x.Type, x.Payload)
	}
	// A failure to call at all is an ERROR answer naming both chaincodes.
	if m := req(pb.ChaincodeMessage_INVOKE_CHAINCODE, spec("missing")); m.Type != pb.ChaincodeMessage_ERROR ||
		!strings.Contains(string(m.Payload), "chaincode raw calling chaincode missing") || !strings.Contains(string(m.Payload), "not defined") {
		t.Fatalf("call of an undefined chaincode = %s %q", m.Type, m.Payload)
	}
	if m := req(pb.ChaincodeMessage_INVOKE_CHAINCODE, spec("")); m.Type != pb.ChaincodeMessage_ERROR || !strings.Contains(string(m.Payload), "without naming it") {
		t.Fatalf("call without a name = %s %q", m.Type, m.Payload)
	}

	refusals := []struct {
		typ  pb.ChaincodeMessage_Type
		msg  proto.Message
		want []string
	}{
		{pb.ChaincodeMessage_GET_STATE_BY_RANGE, &pb.GetStateByRange{StartKey: "a", EndKey: "z", Collection: "collA"}, []string{"GetPrivateDataByRange", `"collA"`}},
		{pb.ChaincodeMessage_GET_STATE_BY_RANGE, &pb.GetStateByRange{Metadata: mustMarshal(t, &pb.QueryMetadata{PageSize: 2})}, []string{"GetStateByRangeWithPagination", "not supported"}},
		{pb.ChaincodeMessage_GET_STATE_BY_RANGE, &pb.GetStateByRange{Metadata: []byte{0xff}}, []string{"QueryMetadata"}},
		{pb.ChaincodeMessage_PURGE_PRIVATE_DATA, &pb.DelState{Key: "k", Collection: "collA"}, []string{"PurgePrivateData", `"collA"`, "not supported"}},
		{pb.ChaincodeMessage_PURGE_PRIVATE_DATA, &pb.DelState{Key: "k"}, []string{"names no collection"}},
		{pb.ChaincodeMessage_GET_HISTORY_FOR_KEY, &pb.GetHistoryForKey{Key: "k"}, []string{"GET_HISTORY_FOR_KEY", "no history database", `"mychannel"`}},
		{pb.ChaincodeMessage_GET_STATE_MULTIPLE, &pb.GetStateMultiple{Keys: []string{"a", "b"}}, []string{"GET_STATE_MULTIPLE", "not offered", "UseGetMultipleKeys"}},
		{pb.ChaincodeMessage_WRITE_BATCH_STATE, &pb.WriteBatchState{}, []string{"WRITE_BATCH_STATE", "not offered"}},
		{pb.ChaincodeMessage_REGISTER, &pb.ChaincodeID{Name: "again"}, []string{"REGISTER", "not supported"}},
	}
	for _, r := range refusals {
		m := req(r.typ, r.msg)
		if m.Type != pb.ChaincodeMessage_ERROR {
			t.Errorf("%s: answer %s, want ERROR", r.typ, m.Type)
			continue
		}
		for _, w := range r.want {
			if !strings.Contains(string(m.Payload), w) {
				t.Errorf("%s: refusal %q does not mention %s", r.typ, m.Payload, w)
			}
		}
	}
	// A plain range query (metadata without page size or bookmark) still works.
	if m := req(pb.ChaincodeMessage_GET_STATE_BY_RANGE, &pb.GetStateByRange{Metadata: mustMarshal(t, &pb.QueryMetadata{})}); m.Type != pb.ChaincodeMessage_RESPONSE {
		t.Fatalf("range with empty metadata = %s %q", m.Type, m.Payload)
	}
	cc.send(&pb.ChaincodeMessage{Type: pb.ChaincodeMessage_COMPLETED, Txid: tx.Txid, ChannelId: tx.ChannelId,
		Payload: mustMarshal(t, &pb.Response{Status: 200})})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// recordingInvoker answers calls by chaincode name: "ok" succeeds, "boom"
// fails in the callee, anything else is not defined.
type recordingInvoker struct {
	mu    sync.Mutex
	calls []string
}

func (r *recordingInvoker) InvokeChaincode(_ context.Context, caller *TxContext, name, channel string, in *pb.ChaincodeInput) (*pb.Response, error) {
	var args []string
	for _, a := range in.GetArgs() {
		args = append(args, string(a))
	}
	r.mu.Lock()
	r.calls = append(r.calls, strings.Join([]string{name, channel, strings.Join(args, ","), caller.namespace()}, "|"))
	r.mu.Unlock()
	switch name {
	case "ok":
		return &pb.Response{Status: 200, Payload: []byte("hi")}, nil
	case "boom":
		return nil, &TransactionError{PackageID: "boom_1:00", TxID: caller.TxID, Message: "callee failed"}
	}
	return nil, fmt.Errorf("chaincode %s is not defined on channel %s", name, caller.ChannelID)
}

func (r *recordingInvoker) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return ""
	}
	return r.calls[len(r.calls)-1]
}
