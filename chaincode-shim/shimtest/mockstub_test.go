package shimtest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	shim "github.com/weft-ledger/weft/chaincode-shim"
	"github.com/weft-ledger/weft/chaincode-shim/shimtest"
)

// assets is the example chaincode of these tests: each function exercises
// one part of the stub and reports what it saw.
type assets struct{}

// page is what the paginated query functions return.
type page struct {
	Keys     []string
	Bookmark string
	Count    int32
}

// change is one history entry as the "history" function returns it.
type change struct {
	TxID     string
	Value    string
	IsDelete bool
	Time     time.Time
}

// txContext is what the "ctx" function returns.
type txContext struct {
	TxID, Channel, Creator, Binding string
	Transient                       map[string]string
	Time                            time.Time
	Args                            []string
	ArgsSlice                       string
	Decorations                     map[string][]byte
	Proposal                        []byte
}

func (assets) Init(stub shim.ChaincodeStubInterface) *pb.Response {
	if err := stub.PutState("initialised", []byte("yes")); err != nil {
		return shim.Error(err.Error())
	}
	return shim.Success(nil)
}

func (a assets) Invoke(stub shim.ChaincodeStubInterface) *pb.Response {
	fn, p := stub.GetFunctionAndParameters()
	payload, err := a.invoke(stub, fn, p)
	if err != nil {
		return shim.Error(err.Error())
	}
	return shim.Success(payload)
}

func (a assets) invoke(stub shim.ChaincodeStubInterface, fn string, p []string) ([]byte, error) {
	switch fn {
	case "put": // key value [key value ...]
		for i := 0; i+1 < len(p); i += 2 {
			if err := stub.PutState(p[i], []byte(p[i+1])); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case "get":
		return stub.GetState(p[0])
	case "del":
		return nil, stub.DelState(p[0])
	case "putThenGet": // the peer does not show a transaction its own writes
		if err := stub.PutState(p[0], []byte(p[1])); err != nil {
			return nil, err
		}
		return stub.GetState(p[0])
	case "putThenFail":
		if err := stub.PutState(p[0], []byte(p[1])); err != nil {
			return nil, err
		}
		return nil, errors.New("refused after writing " + p[0])
	case "putThenPanic":
		_ = stub.PutState(p[0], []byte(p[1]))
		panic("chaincode bug")
	case "getMany":
		vs, err := stub.GetMultipleStates(p...)
		if err != nil {
			return nil, err
		}
		return json.Marshal(vs)
	case "range":
		it, err := stub.GetStateByRange(p[0], p[1])
		if err != nil {
			return nil, err
		}
		keys, err := drain(it)
		return []byte(strings.Join(keys, ",")), err
	case "page": // start end pageSize bookmark
		n, _ := strconv.Atoi(p[2])
		it, md, err := stub.GetStateByRangeWithPagination(p[0], p[1], int32(n), p[3])
		return pageJSON(it, md, err)
	case "putThenPage":
		if err := stub.PutState(p[0], []byte("v")); err != nil {
			return nil, err
		}
		_, _, err := stub.GetStateByRangeWithPagination("", "", 1, "")
		return nil, err
	case "pageThenPut":
		if _, _, err := stub.GetStateByRangeWithPagination("", "", 1, ""); err != nil {
			return nil, err
		}
		return nil, stub.PutState(p[0], []byte("v"))
	case "putColor": // color name: an index entry color~name
		k, err := stub.CreateCompositeKey("color~name", p[:2])
		if err != nil {
			return nil, err
		}
		return nil, stub.PutState(k, []byte(p[1]))
	case "byColor": // color [pageSize bookmark]
		if len(p) == 1 {
			it, err := stub.GetStateByPartialCompositeKey("color~name", p)
			if err != nil {
				return nil, err
			}
			keys, err := drain(it)
			return json.Marshal(keys)
		}
		n, _ := strconv.Atoi(p[1])
		it, md, err := stub.GetStateByPartialCompositeKeyWithPagination("color~name", p[:1], int32(n), p[2])
		return pageJSON(it, md, err)
	case "allComposite": // pageSize bookmark
		n, _ := strconv.Atoi(p[0])
		it, md, err := stub.GetAllStatesCompositeKeyWithPagination(int32(n), p[1])
		return pageJSON(it, md, err)
	case "split":
		k, err := stub.CreateCompositeKey(p[0], p[1:])
		if err != nil {
			return nil, err
		}
		typ, attrs, err := stub.SplitCompositeKey(k)
		return []byte(typ + ":" + strings.Join(attrs, ",")), err
	case "history":
		it, err := stub.GetHistoryForKey(p[0])
		if err != nil {
			return nil, err
		}
		defer it.Close()
		var out []change
		for it.HasNext() {
			m, err := it.Next()
			if err != nil {
				return nil, err
			}
			out = append(out, change{TxID: m.TxId, Value: string(m.Value), IsDelete: m.IsDelete, Time: m.Timestamp.AsTime()})
		}
		return json.Marshal(out)
	case "event":
		return nil, stub.SetEvent(p[0], []byte(p[1]))
	case "ctx":
		return a.context(stub)
	case "pvtPut": // collection key: the value comes from the transient field "secret"
		tm, err := stub.GetTransient()
		if err != nil {
			return nil, err
		}
		secret, ok := tm["secret"]
		if !ok {
			return nil, errors.New(`transient field "secret" is missing`)
		}
		return nil, stub.PutPrivateData(p[0], p[1], secret)
	case "pvtGet":
		return stub.GetPrivateData(p[0], p[1])
	case "pvtGetMany":
		vs, err := stub.GetMultiplePrivateData(p[0], p[1:]...)
		if err != nil {
			return nil, err
		}
		return json.Marshal(vs)
	case "pvtHash":
		return stub.GetPrivateDataHash(p[0], p[1])
	case "pvtDel":
		return nil, stub.DelPrivateData(p[0], p[1])
	case "pvtPurge":
		return nil, stub.PurgePrivateData(p[0], p[1])
	case "pvtRange":
		it, err := stub.GetPrivateDataByRange(p[0], p[1], p[2])
		if err != nil {
			return nil, err
		}
		keys, err := drain(it)
		return []byte(strings.Join(keys, ",")), err
	case "pvtPutColor": // collection color name
		k, err := stub.CreateCompositeKey("color~name", p[1:3])
		if err != nil {
			return nil, err
		}
		return nil, stub.PutPrivateData(p[0], k, []byte(p[2]))
	case "pvtByColor": // collection color
		it, err := stub.GetPrivateDataByPartialCompositeKey(p[0], "color~name", p[1:2])
		if err != nil {
			return nil, err
		}
		keys, err := drain(it)
		return json.Marshal(keys)
	case "pvtSetEP": // collection key policy
		return nil, stub.SetPrivateDataValidationParameter(p[0], p[1], []byte(p[2]))
	case "pvtGetEP":
		return stub.GetPrivateDataValidationParameter(p[0], p[1])
	case "setEP":
		return nil, stub.SetStateValidationParameter(p[0], []byte(p[1]))
	case "getEP":
		return stub.GetStateValidationParameter(p[0])
	case "rich":
		_, err := stub.GetQueryResult(`{"selector":{"color":"red"}}`)
		return nil, err
	case "richPage":
		_, _, err := stub.GetQueryResultWithPagination(`{"selector":{"color":"red"}}`, 10, "")
		return nil, err
	case "pvtRich":
		_, err := stub.GetPrivateDataQueryResult(p[0], `{"selector":{}}`)
		return nil, err
	case "batch": // key value: written inside a write batch
		stub.StartWriteBatch()
		if err := stub.PutState(p[0], []byte(p[1])); err != nil {
			return nil, err
		}
		return nil, stub.FinishWriteBatch()
	case "call", "callThenFail": // chaincode channel function args...
		res := stub.InvokeChaincode(p[0], toArgs(p[2:]...), p[1])
		if res.Status >= shim.ERRORTHRESHOLD {
			return nil, fmt.Errorf("%s said %d: %s", p[0], res.Status, res.Message)
		}
		if fn == "callThenFail" {
			return nil, errors.New("caller refused after the call")
		}
		return res.Payload, nil
	}
	return nil, fmt.Errorf("unknown function %q", fn)
}

func (assets) context(stub shim.ChaincodeStubInterface) ([]byte, error) {
	creator, err := stub.GetCreator()
	if err != nil {
		return nil, err
	}
	tm, err := stub.GetTransient()
	if err != nil {
		return nil, err
	}
	b, err := stub.GetBinding()
	if err != nil {
		return nil, err
	}
	ts, err := stub.GetTxTimestamp()
	if err != nil {
		return nil, err
	}
	sp, err := stub.GetSignedProposal()
	if err != nil {
		return nil, err
	}
	all, err := stub.GetArgsSlice()
	if err != nil {
		return nil, err
	}
	c := txContext{
		TxID: stub.GetTxID(), Channel: stub.GetChannelID(), Creator: string(creator),
		Binding: hex.EncodeToString(b), Transient: map[string]string{}, Time: ts.AsTime(),
		Args: stub.GetStringArgs(), ArgsSlice: string(all), Decorations: stub.GetDecorations(),
		Proposal: sp.GetProposalBytes(),
	}
	for k, v := range tm {
		c.Transient[k] = string(v)
	}
	return json.Marshal(c)
}

func drain(it shim.StateQueryIteratorInterface) ([]string, error) {
	defer it.Close()
	var keys []string
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, err
		}
		keys = append(keys, kv.Key)
	}
	return keys, nil
}

func pageJSON(it shim.StateQueryIteratorInterface, md *pb.QueryResponseMetadata, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	keys, err := drain(it)
	if err != nil {
		return nil, err
	}
	return json.Marshal(page{Keys: keys, Bookmark: md.Bookmark, Count: md.FetchedRecordsCount})
}

func toArgs(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, a := range s {
		out[i] = []byte(a)
	}
	return out
}

// newStub returns a MockStub for assets whose transactions are one second
// apart, starting at a fixed time.
func newStub(name string) *shimtest.MockStub {
	stub := shimtest.NewMockStub(name, assets{})
	stub.ChannelID = "mychannel"
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	stub.Clock = func() time.Time {
		n++
		return t0.Add(time.Duration(n) * time.Second)
	}
	return stub
}

var txSeq int

// invoke runs one transaction and fails the test unless its status is want.
func invoke(t *testing.T, stub *shimtest.MockStub, want int32, args ...string) *pb.Response {
	t.Helper()
	txSeq++
	res := stub.MockInvoke(fmt.Sprintf("tx%d", txSeq), toArgs(args...))
	if res.Status != want {
		t.Fatalf("%s %q: status %d (%s), want %d", stub.Name, args, res.Status, res.Message, want)
	}
	return res
}

func ok(t *testing.T, stub *shimtest.MockStub, args ...string) []byte {
	t.Helper()
	return invoke(t, stub, shim.OK, args...).Payload
}

func fails(t *testing.T, stub *shimtest.MockStub, wantInMessage string, args ...string) {
	t.Helper()
	res := invoke(t, stub, shim.ERROR, args...)
	if !strings.Contains(res.Message, wantInMessage) {
		t.Fatalf("%q: message %q does not contain %q", args, res.Message, wantInMessage)
	}
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

func TestWritesCommitWhenTheTransactionSucceeds(t *testing.T) {
	stub := newStub("assets")
	if res := stub.MockInit("init", nil); res.Status != shim.OK {
		t.Fatalf("MockInit: %d %s", res.Status, res.Message)
	}
	if got := string(stub.State["initialised"]); got != "yes" {
		t.Fatalf("after Init, initialised = %q", got)
	}

	ok(t, stub, "put", "a", "1", "b", "2")
	if got := string(ok(t, stub, "get", "a")); got != "1" {
		t.Fatalf("get a = %q, want 1", got)
	}
	if got := string(ok(t, stub, "putThenGet", "c", "3")); got != "" {
		t.Fatalf("a transaction read its own write %q; a peer shows committed state only", got)
	}
	if got := string(ok(t, stub, "get", "c")); got != "3" {
		t.Fatalf("after commit, get c = %q", got)
	}
	vs := decode[[][]byte](t, ok(t, stub, "getMany", "a", "missing", "b"))
	if len(vs) != 3 || string(vs[0]) != "1" || vs[1] != nil || string(vs[2]) != "2" {
		t.Fatalf("getMany = %q", vs)
	}

	ok(t, stub, "del", "a")
	ok(t, stub, "put", "b", "") // an empty value deletes, as on a peer
	if _, found := stub.State["a"]; found {
		t.Fatal("a still exists after del")
	}
	if _, found := stub.State["b"]; found {
		t.Fatal("b still exists after put with an empty value")
	}
	ok(t, stub, "batch", "d", "4")
	if got := string(stub.State["d"]); got != "4" {
		t.Fatalf("write inside a write batch: d = %q", got)
	}
	fails(t, stub, "key must not be an empty string", "put", "", "x")
	fails(t, stub, "not valid UTF-8", "put", "\xff", "x")
}

func TestFailedTransactionLeavesStateUnchanged(t *testing.T) {
	stub := newStub("assets")
	ok(t, stub, "put", "a", "1")
	ok(t, stub, "setEP", "a", "policy-1")

	fails(t, stub, "refused after writing a", "putThenFail", "a", "2")
	fails(t, stub, "refused after writing new", "putThenFail", "new", "x")
	if got := string(stub.State["a"]); got != "1" {
		t.Fatalf("a = %q after a failed transaction, want 1", got)
	}
	if _, found := stub.State["new"]; found {
		t.Fatal("a failed transaction created key new")
	}
	if h := decode[[]change](t, ok(t, stub, "history", "a")); len(h) != 1 {
		t.Fatalf("history of a has %d entries; a failed transaction must not add one", len(h))
	}

	// A panicking chaincode also leaves state alone, and the stub stays usable.
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the chaincode's panic did not reach the test")
			}
		}()
		stub.MockInvoke("panics", toArgs("putThenPanic", "a", "3"))
	}()
	if got := string(stub.State["a"]); got != "1" {
		t.Fatalf("a = %q after a panicking transaction, want 1", got)
	}
	ok(t, stub, "put", "a", "4")
	if got := string(stub.State["a"]); got != "4" {
		t.Fatalf("a = %q, want 4", got)
	}
}

func TestHistoryNewestFirst(t *testing.T) {
	stub := newStub("assets")
	stub.MockInvoke("t-put1", toArgs("put", "car", "red"))
	stub.MockInvoke("t-fail", toArgs("putThenFail", "car", "green"))
	stub.MockInvoke("t-put2", toArgs("put", "car", "blue"))
	stub.MockInvoke("t-del", toArgs("del", "car"))

	h := decode[[]change](t, ok(t, stub, "history", "car"))
	want := []change{
		{TxID: "t-del", IsDelete: true},
		{TxID: "t-put2", Value: "blue"},
		{TxID: "t-put1", Value: "red"},
	}
	if len(h) != len(want) {
		t.Fatalf("history = %+v, want %d entries", h, len(want))
	}
	for i, w := range want {
		if h[i].TxID != w.TxID || h[i].Value != w.Value || h[i].IsDelete != w.IsDelete {
			t.Errorf("history[%d] = %+v, want %+v", i, h[i], w)
		}
		if i > 0 && !h[i].Time.Before(h[i-1].Time) {
			t.Errorf("history[%d] at %v is not older than history[%d] at %v", i, h[i].Time, i-1, h[i-1].Time)
		}
	}
	if got := decode[[]change](t, ok(t, stub, "history", "never-written")); len(got) != 0 {
		t.Fatalf("history of an unknown key = %+v", got)
	}
}

func TestRangeQueriesAndPagination(t *testing.T) {
	stub := newStub("assets")
	ok(t, stub, "put", "k1", "v", "k2", "v", "k3", "v", "k4", "v", "k5", "v")
	for _, c := range [][2]string{{"red", "apple"}, {"red", "cherry"}, {"red", "rose"}, {"blue", "sky"}, {"green", "leaf"}} {
		ok(t, stub, "putColor", c[0], c[1])
	}

	if got := string(ok(t, stub, "range", "k2", "k4")); got != "k2,k3" {
		t.Fatalf("range [k2,k4) = %q", got)
	}
	if got := string(ok(t, stub, "range", "", "")); got != "k1,k2,k3,k4,k5" {
		t.Fatalf("open range = %q; composite keys must not appear in simple ranges", got)
	}
	fails(t, stub, "reserved for composite keys", "range", "\x00color", "")

	// Pages of 2 over five keys: the bookmark is the key the next page starts at.
	wantPages := []page{
		{Keys: []string{"k1", "k2"}, Bookmark: "k3", Count: 2},
		{Keys: []string{"k3", "k4"}, Bookmark: "k5", Count: 2},
		{Keys: []string{"k5"}, Bookmark: "", Count: 1},
	}
	bookmark := ""
	for i, w := range wantPages {
		got := decode[page](t, ok(t, stub, "page", "", "", "2", bookmark))
		if !slices.Equal(got.Keys, w.Keys) || got.Bookmark != w.Bookmark || got.Count != w.Count {
			t.Fatalf("page %d = %+v, want %+v", i+1, got, w)
		}
		bookmark = got.Bookmark
	}
	// Exactly one page's worth left: the page is full and the bookmark is "".
	if got := decode[page](t, ok(t, stub, "page", "k2", "k4", "2", "")); !slices.Equal(got.Keys, []string{"k2", "k3"}) || got.Bookmark != "" {
		t.Fatalf("page [k2,k4) of 2 = %+v, want k2,k3 and no bookmark", got)
	}
	if got := decode[page](t, ok(t, stub, "page", "", "", "0", "")); got.Count != 5 || got.Bookmark != "" {
		t.Fatalf("page size 0 = %+v, want all 5 keys", got)
	}

	// Partial composite keys, whole and paged.
	red := decode[[]string](t, ok(t, stub, "byColor", "red"))
	if len(red) != 3 {
		t.Fatalf("byColor red = %q", red)
	}
	first := decode[page](t, ok(t, stub, "byColor", "red", "2", ""))
	if !slices.Equal(first.Keys, red[:2]) || first.Bookmark != red[2] || first.Count != 2 {
		t.Fatalf("first red page = %+v, want %q and bookmark %q", first, red[:2], red[2])
	}
	second := decode[page](t, ok(t, stub, "byColor", "red", "2", first.Bookmark))
	if !slices.Equal(second.Keys, red[2:]) || second.Bookmark != "" || second.Count != 1 {
		t.Fatalf("second red page = %+v", second)
	}
	all := decode[page](t, ok(t, stub, "allComposite", "4", ""))
	if all.Count != 4 || all.Bookmark == "" {
		t.Fatalf("all composite keys, page of 4 = %+v, want 4 and a bookmark", all)
	}
	if rest := decode[page](t, ok(t, stub, "allComposite", "4", all.Bookmark)); rest.Count != 1 || rest.Bookmark != "" {
		t.Fatalf("second page of all composite keys = %+v", rest)
	}
	typ, attrs, err := stub.SplitCompositeKey(red[0])
	if err != nil || typ != "color~name" || !slices.Equal(attrs, []string{"red", "apple"}) {
		t.Fatalf("SplitCompositeKey(%q) = %q %q %v", red[0], typ, attrs, err)
	}
	if got := string(ok(t, stub, "split", "owner", "alice", "42")); got != "owner:alice,42" {
		t.Fatalf("split = %q", got)
	}

	// The peer keeps paginated queries and writes apart.
	fails(t, stub, "read-only transaction", "putThenPage", "x")
	fails(t, stub, "already run a paginated query", "pageThenPut", "x")
	if _, found := stub.State["x"]; found {
		t.Fatal("a refused transaction wrote x")
	}
}

func TestIterators(t *testing.T) {
	stub := newStub("assets")
	ok(t, stub, "put", "a", "1")
	it, err := stub.GetStateByRange("", "")
	if err != nil {
		t.Fatal(err)
	}
	kv, err := it.Next()
	if err != nil || kv.Key != "a" || string(kv.Value) != "1" || kv.Namespace != "assets" {
		t.Fatalf("Next = %v, %v", kv, err)
	}
	if it.HasNext() {
		t.Fatal("HasNext after the last result")
	}
	if _, err := it.Next(); !errors.Is(err, shim.ErrNoMoreResults) {
		t.Fatalf("Next past the end: %v, want shim.ErrNoMoreResults", err)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := it.Next(); err == nil {
		t.Fatal("Next on a closed iterator succeeded")
	}
}

func TestEventsAndTransient(t *testing.T) {
	stub := newStub("assets")
	ok(t, stub, "event", "Created", "car1")
	ev := stub.Event()
	if ev == nil || ev.EventName != "Created" || string(ev.Payload) != "car1" || ev.TxId != fmt.Sprintf("tx%d", txSeq) || ev.ChaincodeId != "assets" {
		t.Fatalf("Event() = %v", ev)
	}
	ok(t, stub, "get", "x")
	if ev := stub.Event(); ev != nil {
		t.Fatalf("a transaction without SetEvent left event %v", ev)
	}
	fails(t, stub, "event name must not be empty", "event", "", "x")

	fails(t, stub, `transient field "secret" is missing`, "pvtPut", "col", "k")
	stub.TransientMap = map[string][]byte{"secret": []byte("s3cret")}
	ok(t, stub, "pvtPut", "col", "k")
	stub.TransientMap = nil
	if got := string(ok(t, stub, "pvtGet", "col", "k")); got != "s3cret" {
		t.Fatalf("pvtGet = %q", got)
	}
	if got := string(stub.PvtState["col"]["k"]); got != "s3cret" {
		t.Fatalf("PvtState[col][k] = %q", got)
	}
	if _, found := stub.State["k"]; found {
		t.Fatal("private data leaked into public state")
	}

	// SetTransient sets the transient map of the next transactions...
	if err := stub.SetTransient(map[string][]byte{"secret": []byte("next")}); err != nil {
		t.Fatal(err)
	}
	c := decode[txContext](t, ok(t, stub, "ctx"))
	if c.Transient["secret"] != "next" || string(proposalTransient(t, c.Proposal)["secret"]) != "next" {
		t.Fatalf("transient map after SetTransient = %+v", c)
	}
	// ... and of the running one, as tests of the old MockStub used it.
	stub.MockTransactionStart("manual")
	defer stub.MockTransactionEnd("manual")
	if err := stub.SetTransient(map[string][]byte{"secret": []byte("now")}); err != nil {
		t.Fatal(err)
	}
	tm, _ := stub.GetTransient()
	sp, _ := stub.GetSignedProposal()
	if string(tm["secret"]) != "now" || string(proposalTransient(t, sp.ProposalBytes)["secret"]) != "now" {
		t.Fatalf("SetTransient during a transaction: GetTransient %q, proposal %q", tm, proposalTransient(t, sp.ProposalBytes))
	}
}

func proposalTransient(t *testing.T, proposalBytes []byte) map[string][]byte {
	t.Helper()
	prop := &pb.Proposal{}
	cpp := &pb.ChaincodeProposalPayload{}
	if err := proto.Unmarshal(proposalBytes, prop); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(prop.Payload, cpp); err != nil {
		t.Fatal(err)
	}
	return cpp.TransientMap
}

func TestPrivateData(t *testing.T) {
	stub := newStub("assets")
	stub.TransientMap = map[string][]byte{"secret": []byte("v")}
	for _, k := range []string{"p1", "p2", "p3"} {
		ok(t, stub, "pvtPut", "col", k)
	}
	ok(t, stub, "pvtPutColor", "col", "red", "apple")
	ok(t, stub, "pvtPutColor", "col", "red", "rose")
	ok(t, stub, "pvtPutColor", "col", "blue", "sky")

	sum := sha256.Sum256([]byte("v"))
	if got := ok(t, stub, "pvtHash", "col", "p1"); !bytes.Equal(got, sum[:]) {
		t.Fatalf("pvtHash = %x, want %x", got, sum)
	}
	if got := ok(t, stub, "pvtHash", "col", "missing"); got != nil {
		t.Fatalf("hash of a missing key = %x", got)
	}
	if got := decode[[][]byte](t, ok(t, stub, "pvtGetMany", "col", "p1", "missing")); len(got) != 2 || string(got[0]) != "v" || got[1] != nil {
		t.Fatalf("pvtGetMany = %q", got)
	}
	if got := string(ok(t, stub, "pvtRange", "col", "p2", "")); got != "p2,p3" {
		t.Fatalf("pvtRange = %q", got)
	}
	if got := decode[[]string](t, ok(t, stub, "pvtByColor", "col", "red")); len(got) != 2 {
		t.Fatalf("pvtByColor red = %q", got)
	}
	if got := string(ok(t, stub, "pvtRange", "other-col", "", "")); got != "" {
		t.Fatalf("range over an empty collection = %q", got)
	}

	ok(t, stub, "pvtDel", "col", "p1")
	ok(t, stub, "pvtPurge", "col", "p2")
	if got := string(ok(t, stub, "pvtRange", "col", "", "")); got != "p3" {
		t.Fatalf("after delete and purge, pvtRange = %q", got)
	}
	if got := decode[[]change](t, ok(t, stub, "history", "p3")); len(got) != 0 {
		t.Fatalf("private writes entered the public history: %+v", got)
	}

	ok(t, stub, "pvtSetEP", "col", "p3", "pvt-policy")
	if got := string(ok(t, stub, "pvtGetEP", "col", "p3")); got != "pvt-policy" {
		t.Fatalf("pvtGetEP = %q", got)
	}
	fails(t, stub, "collection must not be an empty string", "pvtGet", "", "p3")
	fails(t, stub, "collection must not be an empty string", "pvtSetEP", "", "p3", "x")
}

func TestValidationParameters(t *testing.T) {
	stub := newStub("assets")
	ok(t, stub, "put", "car", "red")
	ok(t, stub, "setEP", "car", "org1-and-org2")
	if got := string(ok(t, stub, "getEP", "car")); got != "org1-and-org2" {
		t.Fatalf("getEP = %q", got)
	}
	ok(t, stub, "put", "car", "blue")
	if got := string(ok(t, stub, "getEP", "car")); got != "org1-and-org2" {
		t.Fatalf("a value update dropped the key's policy: %q", got)
	}
	if h := decode[[]change](t, ok(t, stub, "history", "car")); len(h) != 2 {
		t.Fatalf("setting a policy entered the history: %+v", h)
	}
	ok(t, stub, "del", "car")
	if got := ok(t, stub, "getEP", "car"); got != nil {
		t.Fatalf("a deleted key kept its policy %q", got)
	}
	ok(t, stub, "setEP", "ghost", "p")
	if got := ok(t, stub, "getEP", "ghost"); got != nil {
		t.Fatalf("a policy was kept for a key that does not exist: %q", got)
	}
}

func TestRichQueriesAreRefused(t *testing.T) {
	stub := newStub("assets")
	fails(t, stub, "GetQueryResult: rich queries (JSON selectors) need a CouchDB state database", "rich")
	fails(t, stub, "GetQueryResultWithPagination: rich queries", "richPage")
	fails(t, stub, "GetPrivateDataQueryResult: rich queries", "pvtRich", "col")
}

func TestTransactionContext(t *testing.T) {
	stub := newStub("assets")
	stub.Creator = []byte("alice@Org1MSP")
	stub.Decorations = map[string][]byte{"d": []byte("1")}
	res := stub.MockInvoke("ctx-tx", toArgs("ctx", "x", "y"))
	if res.Status != shim.OK {
		t.Fatalf("ctx: %d %s", res.Status, res.Message)
	}
	c := decode[txContext](t, res.Payload)
	if c.TxID != "ctx-tx" || c.Channel != "mychannel" || c.Creator != "alice@Org1MSP" ||
		!slices.Equal(c.Args, []string{"ctx", "x", "y"}) || c.ArgsSlice != "ctxxy" || string(c.Decorations["d"]) != "1" {
		t.Fatalf("context = %+v", c)
	}
	if want := time.Date(2024, 5, 1, 12, 0, 1, 0, time.UTC); !c.Time.Equal(want) {
		t.Fatalf("tx timestamp %v, want %v (from Clock)", c.Time, want)
	}

	// The generated proposal agrees with the rest of the context.
	prop := &pb.Proposal{}
	hdr := &cb.Header{}
	chdr := &cb.ChannelHeader{}
	shdr := &cb.SignatureHeader{}
	unmarshal := func(b []byte, m proto.Message) {
		t.Helper()
		if err := proto.Unmarshal(b, m); err != nil {
			t.Fatal(err)
		}
	}
	unmarshal(c.Proposal, prop)
	unmarshal(prop.Header, hdr)
	unmarshal(hdr.ChannelHeader, chdr)
	unmarshal(hdr.SignatureHeader, shdr)
	if chdr.TxId != "ctx-tx" || chdr.ChannelId != "mychannel" || !chdr.Timestamp.AsTime().Equal(c.Time) || string(shdr.Creator) != c.Creator {
		t.Fatalf("proposal headers %v / %v disagree with the context %+v", chdr, shdr, c)
	}
	if got := hex.EncodeToString(bindingOf(shdr.Nonce, shdr.Creator, chdr.Epoch)); got != c.Binding {
		t.Fatalf("binding %s, want SHA-256(nonce‖creator‖epoch) = %s", c.Binding, got)
	}

	// A given signed proposal is the source of creator, transient map and time.
	signed := signedProposal(t, "bob@Org2MSP", map[string][]byte{"price": []byte("10")}, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	res = stub.MockInvokeWithSignedProposal("sp-tx", toArgs("ctx"), signed)
	if res.Status != shim.OK {
		t.Fatalf("ctx with a signed proposal: %d %s", res.Status, res.Message)
	}
	c = decode[txContext](t, res.Payload)
	if c.Creator != "bob@Org2MSP" || c.Transient["price"] != "10" || c.Time.Year() != 2030 || !bytes.Equal(c.Proposal, signed.ProposalBytes) {
		t.Fatalf("context from a signed proposal = %+v", c)
	}
	res = stub.MockInvokeWithSignedProposal("bad-sp", toArgs("ctx"), &pb.SignedProposal{ProposalBytes: []byte("not a proposal")})
	if res.Status != shim.ERROR || !strings.Contains(res.Message, "unmarshal") {
		t.Fatalf("a malformed proposal gave %d %q", res.Status, res.Message)
	}
}

func bindingOf(nonce, creator []byte, epoch uint64) []byte {
	d := sha256.New()
	d.Write(nonce)
	d.Write(creator)
	d.Write(binary.LittleEndian.AppendUint64(nil, epoch))
	return d.Sum(nil)
}

func signedProposal(t *testing.T, creator string, transient map[string][]byte, at time.Time) *pb.SignedProposal {
	t.Helper()
	m := func(msg proto.Message) []byte {
		b, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	chdr := &cb.ChannelHeader{Type: int32(cb.HeaderType_ENDORSER_TRANSACTION), ChannelId: "mychannel", TxId: "sp-tx", Timestamp: timestamppb.New(at)}
	hdr := &cb.Header{ChannelHeader: m(chdr), SignatureHeader: m(&cb.SignatureHeader{Creator: []byte(creator), Nonce: []byte("nonce")})}
	prop := &pb.Proposal{Header: m(hdr), Payload: m(&pb.ChaincodeProposalPayload{TransientMap: transient})}
	return &pb.SignedProposal{ProposalBytes: m(prop), Signature: []byte("sig")}
}

func TestChaincodeToChaincode(t *testing.T) {
	caller, callee := newStub("caller"), newStub("callee")
	caller.MockPeerChaincode("callee", callee, "")
	ok(t, callee, "put", "x", "1")

	// The callee reads its own committed state, not the caller's.
	if got := string(ok(t, caller, "call", "callee", "", "get", "x")); got != "1" {
		t.Fatalf("callee get x = %q", got)
	}
	// Its writes commit with the caller's transaction, under that transaction's ID.
	ok(t, caller, "call", "callee", "", "put", "y", "2")
	if got := string(callee.State["y"]); got != "2" {
		t.Fatalf("callee y = %q after a successful cc2cc transaction", got)
	}
	if _, found := caller.State["y"]; found {
		t.Fatal("the callee's write landed in the caller's namespace")
	}
	h := decode[[]change](t, ok(t, callee, "history", "y"))
	if len(h) != 1 || h[0].TxID != fmt.Sprintf("tx%d", txSeq-1) {
		t.Fatalf("history of callee y = %+v, want the caller's transaction ID tx%d", h, txSeq-1)
	}
	c := decode[txContext](t, ok(t, caller, "call", "callee", "", "ctx"))
	if c.TxID != fmt.Sprintf("tx%d", txSeq) || c.Channel != "mychannel" {
		t.Fatalf("callee context %+v, want the caller's transaction tx%d", c, txSeq)
	}
	// The same channel, named explicitly, finds a chaincode registered without one.
	ok(t, caller, "call", "callee", "mychannel", "get", "x")

	// The caller fails after the callee wrote: both roll back.
	fails(t, caller, "caller refused", "callThenFail", "callee", "", "put", "z", "3")
	if _, found := callee.State["z"]; found {
		t.Fatal("the callee's write survived the caller's failure")
	}
	// The callee fails: the caller sees the status.
	fails(t, caller, "callee said 500", "call", "callee", "", "nope")
	// A nested call back into the caller shares the transaction too.
	callee.MockPeerChaincode("caller", caller, "")
	ok(t, caller, "call", "callee", "", "call", "caller", "", "put", "w", "4")
	if got := string(caller.State["w"]); got != "4" {
		t.Fatalf("caller w = %q after a nested call", got)
	}

	// On another channel the call is read-only: writes are discarded.
	elsewhere := newStub("ledger")
	caller.MockPeerChaincode("ledger", elsewhere, "otherchannel")
	ok(t, elsewhere, "put", "balance", "100")
	if got := string(ok(t, caller, "call", "ledger", "otherchannel", "get", "balance")); got != "100" {
		t.Fatalf("cross-channel read = %q", got)
	}
	ok(t, caller, "call", "ledger", "otherchannel", "put", "balance", "0")
	if got := string(elsewhere.State["balance"]); got != "100" {
		t.Fatalf("a cross-channel call wrote balance = %q", got)
	}
	c = decode[txContext](t, ok(t, caller, "call", "ledger", "otherchannel", "ctx"))
	if c.Channel != "otherchannel" {
		t.Fatalf("cross-channel callee sees channel %q", c.Channel)
	}

	fails(t, caller, "not registered with MockStub caller; call MockPeerChaincode", "call", "unknown", "", "get", "x")
}

func TestMockTransactionStartAndEnd(t *testing.T) {
	stub := newStub("assets")
	if err := stub.PutState("a", []byte("1")); err == nil || !strings.Contains(err.Error(), "no transaction is running") {
		t.Fatalf("PutState outside a transaction: %v", err)
	}
	stub.MockTransactionStart("seed")
	if stub.GetTxID() != "seed" {
		t.Fatalf("GetTxID = %q", stub.GetTxID())
	}
	if err := stub.PutState("a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if v, _ := stub.GetState("a"); v != nil {
		t.Fatalf("uncommitted write visible: %q", v)
	}
	if res := stub.MockInvoke("overlap", toArgs("get", "a")); res.Status != shim.ERROR || !strings.Contains(res.Message, `transaction "seed" is still running`) {
		t.Fatalf("MockInvoke during an open transaction: %d %q", res.Status, res.Message)
	}
	stub.MockTransactionEnd("seed")
	if v, _ := stub.GetState("a"); string(v) != "1" {
		t.Fatalf("after MockTransactionEnd, a = %q", v)
	}
	if stub.GetTxID() != "" {
		t.Fatalf("GetTxID after the end = %q", stub.GetTxID())
	}
	if _, err := stub.GetTxTimestamp(); err == nil {
		t.Fatal("GetTxTimestamp outside a transaction succeeded")
	}
	stub.MockTransactionEnd("nothing-open") // no transaction: nothing to do

	stub.MockTransactionStart("t1")
	defer stub.MockTransactionEnd("t1")
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), `transaction "t1" is running`) {
				t.Fatalf("MockTransactionEnd with the wrong ID: panic %v", r)
			}
		}()
		stub.MockTransactionEnd("t2")
	}()
}
