package chaincode

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/leveldb"
)

var _ RichQuerier = (*ledger.Simulator)(nil)

// queryState gives a LevelDB state the statedb.Querier capability, as a
// CouchDB state has it: a query is {"selector": {field: value, ...}}, equality
// on top-level fields of JSON values, with results in key order; a page's
// bookmark is the key its next result starts from.
type queryState struct{ statedb.DB }

func (q queryState) matches(ns, query, from string) ([]*statedb.KV, error) {
	var sel struct {
		Selector map[string]any `json:"selector"`
	}
	if err := json.Unmarshal([]byte(query), &sel); err != nil || sel.Selector == nil {
		return nil, fmt.Errorf("bad query %s", query)
	}
	it, err := q.GetRange(ns, from, "")
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*statedb.KV
	for {
		kv, err := it.Next()
		if err != nil || kv == nil {
			return out, err
		}
		var doc map[string]any
		if json.Unmarshal(kv.Value, &doc) != nil {
			continue
		}
		match := true
		for f, v := range sel.Selector {
			match = match && fmt.Sprint(doc[f]) == fmt.Sprint(v)
		}
		if match {
			out = append(out, kv)
		}
	}
}

func (q queryState) ExecuteQuery(ns, query string) (statedb.Iterator, error) {
	kvs, err := q.matches(ns, query, "")
	if err != nil {
		return nil, err
	}
	return &sliceIter{kvs: kvs}, nil
}

func (q queryState) ExecuteQueryPage(ns, query, bookmark string, size int32) ([]*statedb.KV, string, error) {
	kvs, err := q.matches(ns, query, bookmark)
	if err != nil {
		return nil, "", err
	}
	if int32(len(kvs)) > size {
		return kvs[:size], kvs[size].Key, nil
	}
	return kvs, "", nil
}

// newQueryLedger is a real ledger whose LevelDB state runs rich queries.
func newQueryLedger(t *testing.T) *testLedger {
	t.Helper()
	dir := t.TempDir()
	db, err := leveldb.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.OpenWithOptions(dir, ledger.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), State: queryState{db}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &testLedger{t: t, l: l}
}

// richLaunched returns a runtime whose PackageLauncher builds and runs
// testdata/richcc (official shim), and its package ID.
func richLaunched(t *testing.T, cfg Config) (*Runtime, string) {
	t.Helper()
	files := map[string][]byte{}
	for _, n := range []string{"go.mod", "go.sum", "main.go"} {
		b, err := os.ReadFile(filepath.Join("testdata", "richcc", n))
		if err != nil {
			t.Fatal(err)
		}
		files["src/"+n] = b
	}
	pkgDir := filepath.Join(workDir, "packages")
	id := cctest.WritePackage(t, pkgDir, "golang", "richcc_1", files)
	l := &PackageLauncher{PackageDir: pkgDir, BuildDir: filepath.Join(workDir, "build"), Env: launcherEnv, Logger: testLogger(t)}
	cfg.Logger = testLogger(t)
	rt := NewRuntime(cfg, l)
	l.PeerAddress = cctest.ServeRegister(t, rt)
	return rt, id
}

// simReads lists the public reads sim recorded in ns as "key@block:tx"; it
// fails the test if any range query was recorded.
func simReads(t *testing.T, sim *ledger.Simulator, ns string) []string {
	t.Helper()
	pub, _, err := sim.Results()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range pub.NsRwset {
		if n.Namespace != ns {
			continue
		}
		kv := &kvrwset.KVRWSet{}
		if err := proto.Unmarshal(n.Rwset, kv); err != nil {
			t.Fatal(err)
		}
		if len(kv.RangeQueriesInfo) > 0 {
			t.Fatalf("a rich query recorded range query info %v", kv.RangeQueriesInfo)
		}
		for _, r := range kv.Reads {
			out = append(out, fmt.Sprintf("%s@%d:%d", r.Key, r.Version.GetBlockNum(), r.Version.GetTxNum()))
		}
	}
	return out
}

func seedRich(tl *testLedger) {
	tl.seed(func(sim *ledger.Simulator) error {
		for i := 1; i <= 5; i++ {
			if err := sim.SetState("testcc", fmt.Sprintf("a%d", i), []byte(fmt.Sprintf(`{"owner":"tom","n":%d}`, i))); err != nil {
				return err
			}
		}
		if err := sim.SetState("testcc", "b1", []byte(`{"owner":"ann"}`)); err != nil {
			return err
		}
		if err := sim.PutPrivateData("testcc", "collA", "p1", []byte(`{"owner":"tom"}`)); err != nil {
			return err
		}
		return sim.PutPrivateData("testcc", "collA", "p2", []byte(`{"owner":"ann"}`))
	})
}

const tomSelector = `{"selector":{"owner":"tom"}}`

// GetQueryResult, GetQueryResultWithPagination and GetPrivateDataQueryResult
// of the official shim, served by the handler on a real ledger simulator
// whose state runs rich queries.
func TestRichQueries(t *testing.T) {
	rt, id := richLaunched(t, Config{QueryBatchSize: 2})
	tl := newQueryLedger(t)
	seedRich(tl)
	allTom := "a1@0:0,a2@0:0,a3@0:0,a4@0:0,a5@0:0"

	// GetQueryResult: five results in batches of two (QUERY_STATE_NEXT),
	// each recorded as a read.
	sim := tl.l.NewSimulator("q")
	resp := mustOK(t)(invoke(t, rt, id, sim, "query", tomSelector))
	var keys []string
	decodeJSON(t, resp.Payload, &keys)
	if len(keys) != 5 || keys[0] != `testcc|a1={"owner":"tom","n":1}` || !strings.HasPrefix(keys[4], "testcc|a5=") {
		t.Fatalf("GetQueryResult = %q", keys)
	}
	if got := strings.Join(simReads(t, sim, "testcc"), ","); got != allTom {
		t.Fatalf("reads = %s, want %s", got, allTom)
	}
	sim.Done()

	// GetQueryResultWithPagination: pages chained by the bookmark, with the
	// count in the response metadata.
	type page struct {
		Keys     []string
		Count    int32
		Bookmark string
	}
	sim = tl.l.NewSimulator("pages")
	var pages []string
	bookmark := ""
	for i := 0; i < 5; i++ {
		var p page
		decodeJSON(t, mustOK(t)(invoke(t, rt, id, sim, "page", tomSelector, "2", bookmark)).Payload, &p)
		if int(p.Count) != len(p.Keys) {
			t.Fatalf("page %+v: count is not the number of results", p)
		}
		var ks []string
		for _, k := range p.Keys {
			ks = append(ks, strings.SplitN(strings.TrimPrefix(k, "testcc|"), "=", 2)[0])
		}
		pages = append(pages, strings.Join(ks, ",")+" next="+p.Bookmark)
		if bookmark = p.Bookmark; bookmark == "" {
			break
		}
	}
	if got := strings.Join(pages, " | "); got != "a1,a2 next=a3 | a3,a4 next=a5 | a5 next=" {
		t.Fatalf("pages = %s", got)
	}
	// Page size 0 with a bookmark is still paginated: the rest, up to the limit.
	var p page
	decodeJSON(t, mustOK(t)(invoke(t, rt, id, sim, "page", tomSelector, "0", "a2")).Payload, &p)
	if p.Count != 4 || p.Bookmark != "" {
		t.Fatalf("page size 0 from a2 = %+v", p)
	}
	if got := strings.Join(simReads(t, sim, "testcc"), ","); got != allTom {
		t.Fatalf("reads of the pages = %s, want %s", got, allTom)
	}
	sim.Done()

	// GetPrivateDataQueryResult: the collection's matches, in the
	// chaincode's namespace, recorded nowhere.
	sim = tl.l.NewSimulator("private")
	resp = mustOK(t)(invoke(t, rt, id, sim, "privquery", "collA", tomSelector))
	keys = nil
	decodeJSON(t, resp.Payload, &keys)
	if strings.Join(keys, ",") != `testcc|p1={"owner":"tom"}` {
		t.Fatalf("GetPrivateDataQueryResult = %q", keys)
	}
	if pub, _, _ := sim.Results(); len(pub.NsRwset) != 0 {
		t.Fatalf("a private query recorded %v", pub.NsRwset)
	}
	sim.Done()

	// As in Fabric: a plain query and writes mix; a paginated query after a
	// write is refused.
	sim = tl.l.NewSimulator("mixed")
	mustOK(t)(invoke(t, rt, id, sim, "querythenput", tomSelector, "count"))
	sim.Done()
	sim = tl.l.NewSimulator("refused")
	resp, _, err := invoke(t, rt, id, sim, "putthenpage", "x", tomSelector)
	sim.Done()
	if err != nil || resp.Status != 500 || !strings.Contains(resp.Message, "paginated rich query") || !strings.Contains(resp.Message, "read-only") {
		t.Fatalf("paginated query after a write = %v, %v", resp, err)
	}
}

// On a ledger whose state is LevelDB the handler passes the ledger's
// refusal on: it names the call, CouchDB and LevelDB.
func TestRichQueriesOnLevelDBLedger(t *testing.T) {
	rt, id := richLaunched(t, Config{})
	tl := newTestLedger(t)
	for _, args := range [][]string{{"query", tomSelector}, {"page", tomSelector, "2", ""}, {"privquery", "collA", tomSelector}} {
		sim := tl.l.NewSimulator("q")
		resp, _, err := invoke(t, rt, id, sim, args...)
		sim.Done()
		if err != nil || resp.Status != 500 || !strings.Contains(resp.Message, "need a CouchDB state database") || !strings.Contains(resp.Message, "this peer uses LevelDB") {
			t.Errorf("%s on LevelDB = %v, %v", args[0], resp, err)
		}
		call := map[string]string{"query": "GetQueryResult", "page": "GetQueryResultWithPagination", "privquery": "GetPrivateDataQueryResult"}[args[0]]
		if resp != nil && !strings.Contains(resp.Message, call) {
			t.Errorf("%s on LevelDB: %q does not name %s", args[0], resp.Message, call)
		}
	}
}

// The total query limit as Fabric applies it: an unpaginated query stops
// silently at the limit (the reads recorded are exactly the results sent),
// and a page size that is not positive or is above the limit is a page of
// the limit.
func TestRichQueryLimit(t *testing.T) {
	tl := newQueryLedger(t)
	seedRich(tl)
	h := newHandler("cc", nil, 2, testLogger(t))
	h.queryLimit = 3
	request := func(sim *ledger.Simulator, req *pb.GetQueryResult) (*txState, *pb.QueryResponse) {
		t.Helper()
		tx := &txState{txc: &TxContext{Simulator: sim}, ns: "testcc", iters: map[string]*queryIter{}}
		raw, err := h.getQueryResult(tx, &pb.ChaincodeMessage{Type: pb.ChaincodeMessage_GET_QUERY_RESULT, Payload: mustMarshal(t, req)})
		if err != nil {
			t.Fatal(err)
		}
		resp := &pb.QueryResponse{}
		if err := proto.Unmarshal(raw, resp); err != nil {
			t.Fatal(err)
		}
		return tx, resp
	}

	sim := tl.l.NewSimulator("limit")
	tx, resp := request(sim, &pb.GetQueryResult{Query: tomSelector})
	got := []int{len(resp.Results)}
	for resp.HasMore {
		tx.mu.Lock()
		qi := tx.iters[resp.Id]
		tx.mu.Unlock()
		raw, err := h.nextBatch(tx, resp.Id, qi)
		if err != nil {
			t.Fatal(err)
		}
		resp = &pb.QueryResponse{}
		if err := proto.Unmarshal(raw, resp); err != nil {
			t.Fatal(err)
		}
		got = append(got, len(resp.Results))
	}
	if fmt.Sprint(got) != "[2 1]" || len(tx.iters) != 0 {
		t.Fatalf("results per response = %v (open iterators %d), want [2 1] and none open", got, len(tx.iters))
	}
	if reads := strings.Join(simReads(t, sim, "testcc"), ","); reads != "a1@0:0,a2@0:0,a3@0:0" {
		t.Fatalf("reads = %s, want the three results sent", reads)
	}
	sim.Done()

	for _, size := range []int32{0, -1, 10} {
		sim := tl.l.NewSimulator("page")
		md := mustMarshal(t, &pb.QueryMetadata{PageSize: size, Bookmark: "a1"})
		_, resp := request(sim, &pb.GetQueryResult{Query: tomSelector, Metadata: md})
		rmd := &pb.QueryResponseMetadata{}
		if err := proto.Unmarshal(resp.Metadata, rmd); err != nil {
			t.Fatal(err)
		}
		if len(resp.Results) != 3 || resp.HasMore || rmd.FetchedRecordsCount != 3 || rmd.Bookmark != "a4" {
			t.Fatalf("page size %d: %d results, has_more %v, metadata %v", size, len(resp.Results), resp.HasMore, rmd)
		}
		sim.Done()
	}

	// Metadata with neither a page size nor a bookmark is a plain query, as
	// in Fabric; with a collection, metadata is ignored.
	sim = tl.l.NewSimulator("plain")
	_, resp = request(sim, &pb.GetQueryResult{Query: tomSelector, Metadata: mustMarshal(t, &pb.QueryMetadata{})})
	if resp.Metadata != nil || !resp.HasMore {
		t.Fatalf("empty metadata answered as a page: %v", resp)
	}
	sim.Done()
	sim = tl.l.NewSimulator("private")
	_, resp = request(sim, &pb.GetQueryResult{Query: tomSelector, Collection: "collA", Metadata: mustMarshal(t, &pb.QueryMetadata{PageSize: 1})})
	if resp.Metadata != nil || len(resp.Results) != 1 {
		t.Fatalf("private query with metadata answered as a page: %v", resp)
	}
	sim.Done()
}

// Config.TotalQueryLimit (ledger.state.totalQueryLimit) reaches the
// handlers the runtime creates: an unpaginated query stops at it and a
// paginated one with page size 0 gets a page of it.
func TestRuntimeTotalQueryLimit(t *testing.T) {
	rt, id := richLaunched(t, Config{QueryBatchSize: 2, TotalQueryLimit: 3})
	tl := newQueryLedger(t)
	seedRich(tl)
	sim := tl.l.NewSimulator("q")
	defer sim.Done()
	var keys []string
	decodeJSON(t, mustOK(t)(invoke(t, rt, id, sim, "query", tomSelector)).Payload, &keys)
	if len(keys) != 3 {
		t.Fatalf("GetQueryResult with a limit of 3 returned %d results: %q", len(keys), keys)
	}
	var p struct {
		Keys     []string
		Count    int32
		Bookmark string
	}
	// A bookmark makes it paginated even with page size 0 (as in Fabric).
	decodeJSON(t, mustOK(t)(invoke(t, rt, id, sim, "page", tomSelector, "0", "a1")).Payload, &p)
	if p.Count != 3 || p.Bookmark == "" {
		t.Fatalf("a page of size 0 with a limit of 3 = %+v, want 3 results and a bookmark", p)
	}
}
