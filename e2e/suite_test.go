package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/devnettest"
)

// suiteccDir is the suite's chaincode: one contract, built once on Weft's
// shim (-tags weftshim) and once on Fabric's official shim.
const suiteccDir = "testdata/suitecc"

// suiteVariant is one build of suitecc and the name it is deployed under.
type suiteVariant struct {
	name      string // subtest name
	chaincode string // chaincode name on the channel
	tags      string // go build -tags
}

var suiteVariants = []suiteVariant{
	{name: "weft", chaincode: "suite_weft", tags: "weftshim"},
	{name: "official", chaincode: "suite_fabric"},
}

// TestSuite runs one behavioural suite against the same chaincode built on
// Weft's shim and on Fabric's official shim, both deployed as
// chaincode-as-a-service and driven through Fabric's gateway client, and
// checks that both give the same observable results.
func TestSuite(t *testing.T) {
	for _, v := range suiteVariants {
		deploySuiteVariant(t, v)
	}
	transcripts := map[string]*suiteTranscript{}
	for i, v := range suiteVariants {
		other := suiteVariants[(i+1)%len(suiteVariants)].chaincode
		t.Run(v.name, func(t *testing.T) {
			transcripts[v.name] = runSuite(t, v, other)
		})
	}
	t.Run("same results", func(t *testing.T) {
		a, b := transcripts[suiteVariants[0].name], transcripts[suiteVariants[1].name]
		if a == nil || b == nil {
			t.Skip("a variant did not run")
		}
		var steps []string
		for s := range a.steps {
			steps = append(steps, s)
		}
		for s := range b.steps {
			if _, ok := a.steps[s]; !ok {
				steps = append(steps, s)
			}
		}
		sort.Strings(steps)
		for _, s := range steps {
			ga, oka := a.steps[s]
			gb, okb := b.steps[s]
			switch {
			case !oka:
				t.Errorf("step %q ran only on %s", s, suiteVariants[1].name)
			case !okb:
				t.Errorf("step %q ran only on %s", s, suiteVariants[0].name)
			case ga != gb:
				t.Errorf("step %q differs:\n  %s: %s\n  %s: %s", s, suiteVariants[0].name, ga, suiteVariants[1].name, gb)
			}
		}
		t.Logf("%d steps compared", len(steps))
	})
}

// deploySuiteVariant builds suitecc for v, runs it as a chaincode server and
// deploys it as v.chaincode.
func deploySuiteVariant(t *testing.T, v suiteVariant) {
	t.Helper()
	label := v.chaincode + "_1.0"
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	pkg, err := wclient.CCaaSPackage(label, wclient.ConnectionJSON{Address: addr, DialTimeout: "10s"})
	if err != nil {
		t.Fatal(err)
	}
	startCCaaS(t, buildChaincode(t, suiteccDir, v.chaincode, v.tags), addr, wclient.PackageID(label, pkg))
	deployChaincode(t, v.chaincode, label, pkg)
}

// suiteTranscript records what a variant observed, with the run-specific parts
// (key prefix, chaincode names, transaction IDs) replaced by placeholders so
// that the two variants' transcripts can be compared.
type suiteTranscript struct {
	steps map[string]string
	repl  []string // old, new pairs for strings.NewReplacer
	txs   int
}

func (tr *suiteTranscript) placeholder(old, new string) { tr.repl = append(tr.repl, old, new) }

func (tr *suiteTranscript) tx(id string) {
	tr.txs++
	tr.placeholder(id, fmt.Sprintf("<tx%d>", tr.txs))
}

func (tr *suiteTranscript) add(step, got string) {
	tr.steps[step] = strings.NewReplacer(tr.repl...).Replace(got)
}

// suiteRun is one variant's suite: the gateway contracts it drives and its transcript.
type suiteRun struct {
	c         *client.Contract // the variant's chaincode
	other     *client.Contract // the other variant's chaincode
	basic     *client.Contract // the network's basic chaincode
	self      string           // the variant's chaincode name
	otherName string           // the other variant's
	prefix    string           // unique key prefix of this run
	tr        *suiteTranscript
}

func runSuite(t *testing.T, v suiteVariant, other string) *suiteTranscript {
	gw, basic := gatewayFor(t, network.Orgs[0], "User1")
	ch := gw.GetNetwork(devnet.ChannelID)
	r := &suiteRun{
		c: ch.GetContract(v.chaincode), other: ch.GetContract(other), basic: basic,
		self: v.chaincode, otherName: other, prefix: uniqueID("s"),
		tr: &suiteTranscript{steps: map[string]string{}},
	}
	r.tr.placeholder(r.prefix, "<p>")
	r.tr.placeholder(v.chaincode, "<self>")
	r.tr.placeholder(other, "<other>")

	t.Run("shim", func(t *testing.T) {
		want := v.name // suitecc's shimName
		if got := r.evaluate(t, "shim"); got != want {
			t.Fatalf("%s runs on the %q shim, want %q: the binary was built with the wrong tags", v.chaincode, got, want)
		}
	})
	t.Run("txinfo", r.txinfo)
	t.Run("state", r.state)
	t.Run("range", r.rangeQueries)
	t.Run("composite", r.composite)
	t.Run("history", r.history)
	t.Run("events", func(t *testing.T) { r.events(t, ch) })
	t.Run("transient", r.transient)
	t.Run("key-level endorsement", r.keyLevelEndorsement)
	t.Run("chaincode-to-chaincode", r.chaincodeToChaincode)
	t.Run("errors", r.errorCases)
	return r.tr
}

func (r *suiteRun) key(name string) string { return r.prefix + "/" + name }

func (r *suiteRun) evaluate(t *testing.T, fn string, args ...string) string {
	t.Helper()
	out, err := r.c.Evaluate(fn, client.WithArguments(args...))
	if err != nil {
		t.Fatalf("%s %s %q: %v", r.self, fn, args, err)
	}
	return string(out)
}

// evaluateJSON evaluates fn, records the answer as step and decodes it into v.
func (r *suiteRun) evaluateJSON(t *testing.T, step string, v any, fn string, args ...string) {
	t.Helper()
	out := r.evaluate(t, fn, args...)
	r.tr.add(step, out)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%s %s returned %q: %v", r.self, fn, out, err)
	}
}

// submit submits fn through the gateway and waits until every peer has
// committed it as valid; it returns the result and the transaction ID.
func (r *suiteRun) submit(t *testing.T, c *client.Contract, fn string, opts ...client.ProposalOption) ([]byte, string) {
	t.Helper()
	result, st := r.submitStatus(t, c, fn, opts...)
	if st.Code != pb.TxValidationCode_VALID {
		t.Fatalf("%s %s: transaction %s ended %s", c.ChaincodeName(), fn, st.TransactionID, st.Code)
	}
	suiteWaitEveryPeer(t, st)
	r.tr.tx(st.TransactionID)
	return result, st.TransactionID
}

// submitStatus submits fn and returns its result and commit status on the
// gateway's peer, whatever the status.
func (r *suiteRun) submitStatus(t *testing.T, c *client.Contract, fn string, opts ...client.ProposalOption) ([]byte, *client.Status) {
	t.Helper()
	result, commit, err := c.SubmitAsync(fn, opts...)
	if err != nil {
		t.Fatalf("%s %s: %v", c.ChaincodeName(), fn, err)
	}
	st, err := commit.Status()
	if err != nil {
		t.Fatalf("%s %s: commit status of %s: %v", c.ChaincodeName(), fn, commit.TransactionID(), err)
	}
	if st.TransactionID != commit.TransactionID() {
		t.Fatalf("commit status is for %s, want %s", st.TransactionID, commit.TransactionID())
	}
	return result, st
}

// suiteWaitEveryPeer waits until every peer of the network has committed st's
// transaction as valid, so that later evaluations on any peer see it.
func suiteWaitEveryPeer(t *testing.T, st *client.Status) {
	t.Helper()
	devnettest.WaitEveryPeer(t, network, st)
}

func suiteArgs(a ...string) client.ProposalOption { return client.WithArguments(a...) }

func (r *suiteRun) txinfo(t *testing.T) {
	p, err := r.c.NewProposal("txinfo", suiteArgs("a", "b c"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Evaluate()
	if err != nil {
		t.Fatalf("txinfo: %v", err)
	}
	r.tr.placeholder(p.TransactionID(), "<evaluated tx>")
	r.tr.add("txinfo", string(out))
	var got struct {
		TxID         string   `json:"txId"`
		Channel      string   `json:"channel"`
		MSPID        string   `json:"mspId"`
		HasTimestamp bool     `json:"hasTimestamp"`
		Function     string   `json:"function"`
		Params       []string `json:"params"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("txinfo returned %q: %v", out, err)
	}
	if got.TxID != p.TransactionID() || got.Channel != devnet.ChannelID || got.MSPID != network.Orgs[0].MSPID ||
		!got.HasTimestamp || got.Function != "txinfo" || !reflect.DeepEqual(got.Params, []string{"a", "b c"}) {
		t.Fatalf("txinfo = %s, want txId %s, channel %s, mspId %s, a timestamp, function txinfo, params [a, b c]",
			out, p.TransactionID(), devnet.ChannelID, network.Orgs[0].MSPID)
	}
}

func (r *suiteRun) state(t *testing.T) {
	k1, k2 := r.key("state1"), r.key("state2")
	if got := r.evaluate(t, "get", k1); got != "" {
		t.Fatalf("get %s before any put = %q, want empty", k1, got)
	}
	r.submit(t, r.c, "put", suiteArgs(k1, "one", k2, "two"))
	if got := r.evaluate(t, "get", k1); got != "one" {
		t.Fatalf("get %s = %q, want one", k1, got)
	}
	if got := r.evaluate(t, "AssetExists", k2); got != "true" {
		t.Fatalf("AssetExists %s = %q, want true", k2, got)
	}
	r.submit(t, r.c, "del", suiteArgs(k1))
	if got := r.evaluate(t, "get", k1); got != "" {
		t.Fatalf("get %s after del = %q, want empty", k1, got)
	}
	if got := r.evaluate(t, "get", k2); got != "two" {
		t.Fatalf("get %s after deleting %s = %q, want two (untouched)", k2, k1, got)
	}
	r.tr.add("state", "ok")
}

// suitePage is suitecc's answer to range and cquery.
type suitePage struct {
	Keys     []string `json:"keys"`
	Values   []string `json:"values"`
	Fetched  int32    `json:"fetched"`
	Bookmark string   `json:"bookmark"`
}

func (r *suiteRun) rangeQueries(t *testing.T) {
	var pairs, keys, values []string
	for i := 0; i < 7; i++ {
		k, v := r.key(fmt.Sprintf("range/%d", i)), fmt.Sprintf("v%d", i)
		pairs, keys, values = append(pairs, k, v), append(keys, k), append(values, v)
	}
	r.submit(t, r.c, "put", suiteArgs(pairs...))
	start, end := r.key("range/"), r.key("range/~")

	t.Run("unpaginated", func(t *testing.T) {
		var all suitePage
		r.evaluateJSON(t, "range all", &all, "range", start, end)
		if !reflect.DeepEqual(all.Keys, keys) || !reflect.DeepEqual(all.Values, values) || all.Fetched != 7 || all.Bookmark != "" {
			t.Fatalf("range %s..%s = %+v, want the 7 keys in order with their values", start, end, all)
		}
	})
	t.Run("paginated", func(t *testing.T) { r.rangePages(t, start, end, keys) })
}

// rangePages reads the 7 keys in pages of 3: each bookmark is where the next
// page starts; the last page has none.
func (r *suiteRun) rangePages(t *testing.T, start, end string, keys []string) {
	bookmark := ""
	for i, want := range [][]string{keys[0:3], keys[3:6], keys[6:7]} {
		var p suitePage
		r.evaluateJSON(t, fmt.Sprintf("range page %d", i), &p, "range", start, end, "3", bookmark)
		if !reflect.DeepEqual(p.Keys, want) || p.Fetched != int32(len(want)) {
			t.Fatalf("range page %d (bookmark %q) = %+v, want keys %v, fetched %d", i, bookmark, p, want, len(want))
		}
		wantBookmark := ""
		if i < 2 {
			wantBookmark = keys[3*(i+1)]
		}
		if p.Bookmark != wantBookmark {
			t.Fatalf("range page %d bookmark = %q, want %q", i, p.Bookmark, wantBookmark)
		}
		bookmark = p.Bookmark
	}

	var big suitePage
	r.evaluateJSON(t, "range one big page", &big, "range", start, end, "10", "")
	if !reflect.DeepEqual(big.Keys, keys) || big.Fetched != 7 || big.Bookmark != "" {
		t.Fatalf("range with pageSize 10 = %+v, want all 7 keys, fetched 7, no bookmark", big)
	}
}

func (r *suiteRun) composite(t *testing.T) {
	objectType := "owner" + strings.ReplaceAll(r.prefix, "/", "")
	entries := [][]string{{"alice", "a1"}, {"alice", "a2"}, {"alice", "a3"}, {"alice", "a4"}, {"bob", "b1"}, {"bob", "b2"}}
	// Submit all six concurrently (distinct keys, no conflicts), then wait for each.
	var statuses []*client.Status
	var commits []*client.Commit
	for _, e := range entries {
		_, commit, err := r.c.SubmitAsync("cput", suiteArgs(objectType, e[0]+":"+e[1], e[0], e[1]))
		if err != nil {
			t.Fatalf("cput %v: %v", e, err)
		}
		commits = append(commits, commit)
	}
	for _, c := range commits {
		st, err := c.Status()
		if err != nil {
			t.Fatal(err)
		}
		if st.Code != pb.TxValidationCode_VALID {
			t.Fatalf("cput transaction %s ended %s", st.TransactionID, st.Code)
		}
		statuses = append(statuses, st)
	}
	for _, st := range statuses {
		suiteWaitEveryPeer(t, st)
	}

	query := func(t *testing.T, step string, size int, bookmark string, attrs ...string) suitePage {
		t.Helper()
		var p suitePage
		r.evaluateJSON(t, step, &p, "cquery", append([]string{objectType, strconv.Itoa(size), bookmark}, attrs...)...)
		return p
	}
	t.Run("unpaginated", func(t *testing.T) {
		for _, c := range []struct {
			attrs []string
			want  []string
		}{
			{[]string{"alice"}, []string{"alice/a1", "alice/a2", "alice/a3", "alice/a4"}},
			{[]string{"bob"}, []string{"bob/b1", "bob/b2"}},
			{nil, []string{"alice/a1", "alice/a2", "alice/a3", "alice/a4", "bob/b1", "bob/b2"}},
			{[]string{"alice", "a3"}, []string{"alice/a3"}},
			{[]string{"carol"}, []string{}},
		} {
			p := query(t, fmt.Sprintf("cquery %v", c.attrs), 0, "", c.attrs...)
			if !reflect.DeepEqual(p.Keys, c.want) || p.Fetched != int32(len(c.want)) {
				t.Fatalf("cquery %s %v = %+v, want %v", objectType, c.attrs, p, c.want)
			}
			for i, k := range p.Keys {
				if p.Values[i] != strings.ReplaceAll(k, "/", ":") {
					t.Fatalf("cquery %v: value of %s = %q", c.attrs, k, p.Values[i])
				}
			}
		}
	})
	// A composite key is U+0000 objectType U+0000 (attribute U+0000)*; a
	// bookmark is the composite key the next page starts at.
	compositeKey := func(attrs ...string) string {
		return "\x00" + objectType + "\x00" + strings.Join(attrs, "\x00") + "\x00"
	}
	t.Run("paginated", func(t *testing.T) {
		p1 := query(t, "cquery alice page 0", 3, "", "alice")
		if !reflect.DeepEqual(p1.Keys, []string{"alice/a1", "alice/a2", "alice/a3"}) || p1.Fetched != 3 || p1.Bookmark != compositeKey("alice", "a4") {
			t.Fatalf("first page of 3 of alice = %+v, want a1..a3, fetched 3, bookmark %q", p1, compositeKey("alice", "a4"))
		}
		p2 := query(t, "cquery alice page 1", 3, p1.Bookmark, "alice")
		if !reflect.DeepEqual(p2.Keys, []string{"alice/a4"}) || p2.Fetched != 1 || p2.Bookmark != "" {
			t.Fatalf("second page of alice from bookmark %q = %+v, want a4, fetched 1, no bookmark", p1.Bookmark, p2)
		}
		all := query(t, "cquery all page 0", 4, "")
		rest := query(t, "cquery all page 1", 4, all.Bookmark)
		if got := append(append([]string{}, all.Keys...), rest.Keys...); !reflect.DeepEqual(got, []string{"alice/a1", "alice/a2", "alice/a3", "alice/a4", "bob/b1", "bob/b2"}) ||
			all.Fetched != 4 || all.Bookmark != compositeKey("bob", "b1") || rest.Fetched != 2 || rest.Bookmark != "" {
			t.Fatalf("pages of 4 over %s = %+v then %+v, want 4 + 2 keys in order", objectType, all, rest)
		}
	})
}

type suiteModification struct {
	TxID         string `json:"txId"`
	Value        string `json:"value"`
	IsDelete     bool   `json:"isDelete"`
	HasTimestamp bool   `json:"hasTimestamp"`
}

func (r *suiteRun) history(t *testing.T) {
	k := r.key("history")
	_, tx1 := r.submit(t, r.c, "put", suiteArgs(k, "first"))
	_, tx2 := r.submit(t, r.c, "put", suiteArgs(k, "second"))
	_, tx3 := r.submit(t, r.c, "del", suiteArgs(k))
	var got []suiteModification
	r.evaluateJSON(t, "history", &got, "history", k)
	want := []suiteModification{
		{TxID: tx3, IsDelete: true, HasTimestamp: true},
		{TxID: tx2, Value: "second", HasTimestamp: true},
		{TxID: tx1, Value: "first", HasTimestamp: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("history of %s = %+v, want newest first %+v", k, got, want)
	}
	var none []suiteModification
	r.evaluateJSON(t, "history of a never-written key", &none, "history", r.key("history-none"))
	if len(none) != 0 {
		t.Fatalf("history of a key never written = %+v, want empty", none)
	}
}

func (r *suiteRun) events(t *testing.T, ch *client.Network) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	events, err := ch.ChaincodeEvents(ctx, r.self)
	if err != nil {
		t.Fatalf("chaincode events of %s: %v", r.self, err)
	}
	payload := r.key("event-payload")
	_, st := r.submitStatus(t, r.c, "event", suiteArgs("suite-event", payload))
	if st.Code != pb.TxValidationCode_VALID {
		t.Fatalf("event transaction %s ended %s", st.TransactionID, st.Code)
	}
	r.tr.tx(st.TransactionID)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("chaincode event stream of %s closed before the event of %s arrived", r.self, st.TransactionID)
			}
			if ev.TransactionID != st.TransactionID {
				continue
			}
			r.tr.add("event", fmt.Sprintf("%s %s %s", ev.ChaincodeName, ev.EventName, ev.Payload))
			if ev.ChaincodeName != r.self || ev.EventName != "suite-event" || string(ev.Payload) != payload || ev.BlockNumber != st.BlockNumber {
				t.Fatalf("event = %+v, want chaincode %s, name suite-event, payload %q, block %d", ev, r.self, payload, st.BlockNumber)
			}
			return
		case <-ctx.Done():
			t.Fatalf("no chaincode event for %s from %s within 2 minutes", st.TransactionID, r.self)
		}
	}
}

func (r *suiteRun) transient(t *testing.T) {
	k := r.key("transient")
	secret := "secret-" + r.prefix
	r.tr.placeholder(secret, "<secret>")
	out, _ := r.submit(t, r.c, "transient", suiteArgs(k), client.WithTransient(map[string][]byte{k: []byte(secret)}))
	if string(out) != secret {
		t.Fatalf("transient %s returned %q, want the transient value %q", k, out, secret)
	}
	if got := r.evaluate(t, "get", k); got != secret {
		t.Fatalf("get %s after transient = %q, want %q", k, got, secret)
	}
	_, err := r.c.Evaluate("transient", suiteArgs(k))
	if err == nil || !strings.Contains(errorText(err), "transient map has no entry") {
		t.Fatalf("transient without transient data: err = %v, want the chaincode's 'no entry' error", err)
	}
	r.tr.add("transient", string(out))
}

func (r *suiteRun) keyLevelEndorsement(t *testing.T) {
	org1, org2 := network.Orgs[0].MSPID, network.Orgs[1].MSPID
	k, plain := r.key("sbe"), r.key("sbe-plain")
	r.submit(t, r.c, "put", suiteArgs(k, "v0", plain, "p0"))

	var ep []string
	r.evaluateJSON(t, "getep before setep", &ep, "getep", k)
	if len(ep) != 0 {
		t.Fatalf("getep %s before setep = %v, want none", k, ep)
	}
	r.submit(t, r.c, "setep", suiteArgs(k, org1))
	r.evaluateJSON(t, "getep after setep", &ep, "getep", k)
	if !reflect.DeepEqual(ep, []string{org1}) {
		t.Fatalf("getep %s = %v, want [%s]", k, ep, org1)
	}

	// Org1 alone satisfies k's own policy, though the chaincode's needs both orgs.
	r.submit(t, r.c, "put", suiteArgs(k, "v1"), client.WithEndorsingOrganizations(org1))
	if got := r.evaluate(t, "get", k); got != "v1" {
		t.Fatalf("get %s after an Org1-endorsed update = %q, want v1", k, got)
	}
	// Org2 alone does not.
	_, st := r.submitStatus(t, r.c, "put", suiteArgs(k, "v2"), client.WithEndorsingOrganizations(org2))
	r.tr.tx(st.TransactionID)
	if st.Code != pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE {
		t.Fatalf("update of %s endorsed by %s only ended %s, want ENDORSEMENT_POLICY_FAILURE", k, org2, st.Code)
	}
	// A key without its own policy still needs the chaincode's policy.
	_, st = r.submitStatus(t, r.c, "put", suiteArgs(plain, "p1"), client.WithEndorsingOrganizations(org1))
	r.tr.tx(st.TransactionID)
	if st.Code != pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE {
		t.Fatalf("update of %s (no key-level policy) endorsed by %s only ended %s, want ENDORSEMENT_POLICY_FAILURE", plain, org1, st.Code)
	}
	if got := r.evaluate(t, "get", k); got != "v1" {
		t.Fatalf("get %s after a refused update = %q, want v1", k, got)
	}
	if got := r.evaluate(t, "get", plain); got != "p0" {
		t.Fatalf("get %s after a refused update = %q, want p0", plain, got)
	}
	r.tr.add("key-level endorsement", "ok")
}

func (r *suiteRun) chaincodeToChaincode(t *testing.T) {
	t.Run("other suite chaincode", r.callOther)
	t.Run("basic", r.callBasic)
	t.Run("callee error", r.callFail)
}

// callOther writes through the other suite chaincode: its write and the
// caller's commit together.
func (r *suiteRun) callOther(t *testing.T) {
	k := r.key("called")
	r.submit(t, r.c, "call", suiteArgs(r.otherName, "put", k, "from-"+r.self))
	if got, err := r.other.EvaluateTransaction("get", k); err != nil || string(got) != "from-"+r.self {
		t.Fatalf("%s get %s = %q, %v; want the value %s wrote through call", r.otherName, k, got, err, r.self)
	}
	var last map[string]string
	r.evaluateJSON(t, "lastcall after put", &last, "get", "lastcall")
	if last["chaincode"] != r.otherName || last["function"] != "put" || last["payload"] != "" {
		t.Fatalf("lastcall of %s = %v, want chaincode %s, function put, empty payload", r.self, last, r.otherName)
	}
	// A read through the callee.
	if got := r.evaluate(t, "call", r.otherName, "get", k); got != "from-"+r.self {
		t.Fatalf("call %s get %s = %q, want from-%s", r.otherName, k, got, r.self)
	}

}

// callBasic creates an asset through basic, the sample the network deploys.
func (r *suiteRun) callBasic(t *testing.T) {
	id := r.key("asset")
	r.submit(t, r.c, "call", suiteArgs(devnet.ChaincodeName, "CreateAsset", id, "cyan", "3", "Zed", "42"))
	if a := readAsset(t, r.basic, id); a != (asset{ID: id, Color: "cyan", Size: 3, Owner: "Zed", AppraisedValue: 42}) {
		t.Fatalf("basic ReadAsset %s = %+v, want the asset created through %s", id, a, r.self)
	}
	var last map[string]string
	r.evaluateJSON(t, "lastcall after basic", &last, "get", "lastcall")
	if last["chaincode"] != devnet.ChaincodeName || last["function"] != "CreateAsset" {
		t.Fatalf("lastcall of %s = %v, want chaincode basic, function CreateAsset", r.self, last)
	}

}

// callFail checks that the callee's error reaches the client through the caller.
func (r *suiteRun) callFail(t *testing.T) {
	_, err := r.c.Evaluate("call", suiteArgs(r.otherName, "fail", "deep-boom"))
	if err == nil || !strings.Contains(errorText(err), "deep-boom") {
		t.Fatalf("call %s fail: err = %v, want the callee's message deep-boom", r.otherName, err)
	}
}

func (r *suiteRun) errorCases(t *testing.T) {
	_, err := r.c.Evaluate("fail", suiteArgs("boom"))
	if err == nil || !strings.Contains(errorText(err), "boom") {
		t.Fatalf("evaluate fail: err = %v, want boom", err)
	}
	_, _, err = r.c.SubmitAsync("fail", suiteArgs("boom"))
	var endorseErr *client.EndorseError
	if !errors.As(err, &endorseErr) || !strings.Contains(errorText(err), "boom") {
		t.Fatalf("submit fail: err = %v (%T), want an endorse error with boom", err, err)
	}
	_, err = r.c.Evaluate("nosuch")
	if err == nil || !strings.Contains(errorText(err), `no function "nosuch"`) {
		t.Fatalf("unknown function: err = %v, want the chaincode's 'no function' error", err)
	}
	_, err = r.c.Evaluate("get")
	if err == nil || !strings.Contains(errorText(err), "needs at least 1 argument") {
		t.Fatalf("get without a key: err = %v, want the chaincode's argument error", err)
	}
	r.tr.add("errors", "ok")
}
