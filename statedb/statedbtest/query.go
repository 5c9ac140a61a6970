package statedbtest

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/statedb"
)

var queryTests = []namedTest{
	{"Query", testQuery},
	{"QuerySort", testQuerySort},
	{"QueryFields", testQueryFields},
	{"QueryPages", testQueryPages},
	{"QueryEmptyNamespace", testQueryEmptyNamespace},
	{"QueryInvalid", testQueryInvalid},
	{"QueryIteratorClose", testQueryIteratorClose},
}

func querier(t *testing.T, db statedb.DB) statedb.Querier {
	t.Helper()
	q, ok := db.(statedb.Querier)
	if !ok {
		t.Skipf("%T does not implement statedb.Querier", db)
	}
	return q
}

// The query tests' data: marbles in a chaincode namespace and in one of
// its collections, beside values no selector on fields can match.
const (
	queryNS  = "marbles"
	queryPvt = "marbles$$pcollectionMarbles"
)

type doc = map[string]any

// queryState creates the indexes (when the backend has an IndexCreator),
// writes the marbles, then updates, deletes and adds some in a second
// block, and returns the model and the decoded documents.
func queryState(t *testing.T, db statedb.DB) (model, map[string]map[string]doc) {
	t.Helper()
	if ic, ok := db.(statedb.IndexCreator); ok {
		for _, ns := range []string{queryNS, queryPvt} {
			if err := ic.CreateIndexes(ns, []statedb.Index{indexOwner, indexSize, indexSizeDesc}); err != nil {
				t.Fatalf("CreateIndexes(%q): %v", ns, err)
			}
		}
	}
	owners := []string{"tom", "jerry", "fred", "tom", "mary"}
	colors := []string{"blue", "red", "green"}
	m := model{}
	m.apply(apply(t, db, v(1, 0), func(b *statedb.Batch) {
		for i := 1; i <= 12; i++ {
			d := doc{"docType": "marble", "name": fmt.Sprintf("marble%02d", i), "color": colors[i%3], "size": i, "owner": owners[i%5]}
			if i%4 == 0 {
				d["details"] = doc{"weight": i * 10, "tags": []any{"shiny", i}}
			}
			if i == 12 {
				d["size"] = 1000007 // an integer a float round trip would respell
			}
			val, _ := json.Marshal(d)
			b.Put(queryNS, fmt.Sprintf("marble%02d", i), val, nil, v(1, uint64(i)))
			if i <= 6 {
				b.Put(queryPvt, fmt.Sprintf("pvt%02d", i), val, nil, v(1, uint64(i)))
			}
		}
		b.Put(queryNS, "marble 13/é", []byte(`{"docType":"marble","name":"marble13","color":"blue","size":13,"owner":"tom"}`), nil, v(1, 13))
		b.Put(queryNS, "\x00color~name\x00blue\x00marble01\x00", []byte{0x00}, nil, v(1, 14))
		b.Put(queryNS, "binary", []byte{0xff, 0x00, 'o', 'w', 'n', 'e', 'r'}, nil, v(1, 15))
		b.Put(queryNS, "array", []byte(`[{"owner":"tom"}]`), nil, v(1, 16))
		b.Put(queryNS, "string", []byte(`"owner tom"`), nil, v(1, 17))
		b.Put(queryNS, "notmarble", []byte(`{"docType":"other","owner":"tom"}`), nil, v(1, 18))
	}))
	m.apply(apply(t, db, v(2, 0), func(b *statedb.Batch) {
		b.Put(queryNS, "marble02", []byte(`{"docType":"marble","name":"marble02","color":"green","size":2,"owner":"fred"}`), []byte("meta"), v(2, 0))
		b.Delete(queryNS, "marble03", v(2, 1))
		b.Put(queryNS, "marble14", []byte(`{"docType":"marble","name":"marble14","color":"red","size":14,"owner":"tom"}`), nil, v(2, 2))
		b.Put(queryNS, "marble05", []byte{0x01, 0x02}, nil, v(2, 3)) // no longer a document
	}))
	docs := map[string]map[string]doc{}
	for ns, kvs := range m {
		docs[ns] = map[string]doc{}
		for k, vv := range kvs {
			if d, ok := decodeJSON(vv.Value); ok {
				if d, ok := d.(doc); ok {
					docs[ns][k] = d
				}
			}
		}
	}
	return m, docs
}

// num returns a document's number field, nil when it has none.
func num(d doc, field string) *big.Rat {
	n, ok := d[field].(json.Number)
	if !ok {
		return nil
	}
	r, _ := new(big.Rat).SetString(n.String())
	return r
}

// matching returns the keys of ns whose documents match, in key order.
func matching(docs map[string]map[string]doc, ns string, match func(d doc) bool) []string {
	var keys []string
	for k, d := range docs[ns] {
		if match(d) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func bySize(docs map[string]doc, keys []string, desc bool) []string {
	keys = slices.Clone(keys)
	sort.Slice(keys, func(i, j int) bool {
		c := num(docs[keys[i]], "size").Cmp(num(docs[keys[j]], "size"))
		if desc {
			return c > 0
		}
		return c < 0
	})
	return keys
}

// byKey returns kvs sorted by key: a query without a sort comes back in an
// order the backend chooses (CouchDB: that of the index it picks), so only
// the set of results is compared.
func byKey(kvs []*statedb.KV) []*statedb.KV {
	out := slices.Clone(kvs)
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func runQuery(t *testing.T, q statedb.Querier, ns, query string) []*statedb.KV {
	t.Helper()
	it, err := q.ExecuteQuery(ns, query)
	if err != nil {
		t.Fatalf("ExecuteQuery(%q, %s): %v", ns, query, err)
	}
	defer it.Close()
	var out []*statedb.KV
	for {
		kv, err := it.Next()
		if err != nil {
			t.Fatalf("ExecuteQuery(%q, %s).Next after %d results: %v", ns, query, len(out), err)
		}
		if kv == nil {
			return out
		}
		out = append(out, kv)
	}
}

// wantResults checks results against the model: the keys in order, each
// result's namespace and version, and its value (whole, or with only the
// fields asked for).
func (s *suite) wantResults(t *testing.T, what string, got []*statedb.KV, m model, ns string, fields []string, want []string) {
	t.Helper()
	keys := make([]string, len(got))
	for i, kv := range got {
		keys[i] = kv.Key
	}
	wantKeys(t, what, keys, want...)
	for _, kv := range got {
		stored := m[ns][kv.Key]
		if kv.Namespace != ns {
			t.Fatalf("%s: result %s has namespace %q, want %q", what, showKey(kv.Key), kv.Namespace, ns)
		}
		if kv.Version != stored.Version {
			t.Fatalf("%s: result %s has version %v, want %v", what, showKey(kv.Key), kv.Version, stored.Version)
		}
		if fields == nil {
			if !s.sameValue(stored.Value, kv.Value) {
				t.Fatalf("%s: result %s = %s, want %s", what, showKey(kv.Key), show(kv.Value), show(stored.Value))
			}
			continue
		}
		if d := diffProjection(stored.Value, kv.Value, fields); d != "" {
			t.Fatalf("%s: result %s: %s", what, showKey(kv.Key), d)
		}
	}
}

// diffProjection describes how got differs from the fields of stored.
func diffProjection(stored, got []byte, fields []string) string {
	full, _ := decodeJSON(stored)
	g, ok := decodeJSON(got)
	gd, isDoc := g.(doc)
	if !ok || !isDoc {
		return fmt.Sprintf("value %s is not a JSON object", show(got))
	}
	for f, val := range gd {
		if !slices.Contains(fields, f) {
			return fmt.Sprintf("value %s holds field %q, not asked for in %q", show(got), f, fields)
		}
		if !sameJSON(full.(doc)[f], val) {
			return fmt.Sprintf("field %q = %v, want %v", f, val, full.(doc)[f])
		}
	}
	for _, f := range fields {
		if _, in := full.(doc)[f]; in {
			if _, out := gd[f]; !out {
				return fmt.Sprintf("value %s lacks field %q", show(got), f)
			}
		}
	}
	return ""
}

// testQuery: selectors on fields, nested fields and operators; results in
// key order, from the namespace asked for only, reflecting updates and
// deletes, and never values that are not JSON objects.
func testQuery(s *suite, t *testing.T) {
	db := s.db(t)
	q := querier(t, db)
	m, docs := queryState(t, db)
	str := func(d doc, f string) string { v, _ := d[f].(string); return v }
	size := func(d doc) float64 {
		if n := num(d, "size"); n != nil {
			f, _ := n.Float64()
			return f
		}
		return -1
	}
	for _, tc := range []struct {
		ns, query string
		match     func(d doc) bool
	}{
		{queryNS, `{"selector":{"owner":"tom"}}`, func(d doc) bool { return str(d, "owner") == "tom" }},
		{queryNS, `{"selector":{"owner":"jerry"}}`, func(d doc) bool { return str(d, "owner") == "jerry" }},
		{queryPvt, `{"selector":{"owner":"tom"}}`, func(d doc) bool { return str(d, "owner") == "tom" }},
		{queryNS, `{"selector":{"docType":"marble","owner":{"$eq":"fred"}}}`, func(d doc) bool { return str(d, "docType") == "marble" && str(d, "owner") == "fred" }},
		{queryNS, `{"selector":{"color":"blue","size":{"$gt":3}}}`, func(d doc) bool { return str(d, "color") == "blue" && size(d) > 3 }},
		{queryNS, `{"selector":{"$and":[{"size":{"$gt":5}},{"size":{"$lt":11}},{"$not":{"size":8}}]}}`, func(d doc) bool { return size(d) > 5 && size(d) < 11 && size(d) != 8 }},
		{queryNS, `{"selector":{"color":"green","$or":[{"owner":"fred"},{"owner":"mary"}]}}`, func(d doc) bool {
			return str(d, "color") == "green" && (str(d, "owner") == "fred" || str(d, "owner") == "mary")
		}},
		{queryNS, `{"selector":{"owner":{"$in":["jerry","mary"]}}}`, func(d doc) bool { return str(d, "owner") == "jerry" || str(d, "owner") == "mary" }},
		{queryNS, `{"selector":{"size":{"$eq":1000007}}}`, func(d doc) bool { return size(d) == 1000007 }},
		{queryNS, `{"selector":{"details.weight":{"$gte":80}}}`, func(d doc) bool {
			det, _ := d["details"].(doc)
			w := num(det, "weight")
			return w != nil && w.Cmp(big.NewRat(80, 1)) >= 0
		}},
		{queryNS, `{"selector":{"details":{"$exists":true}}}`, func(d doc) bool { _, ok := d["details"]; return ok }},
		{queryNS, `{"selector":{"owner":"nobody"}}`, func(doc) bool { return false }},
		{queryNS, `{"selector":{"docType":"marble"}}`, func(d doc) bool { return str(d, "docType") == "marble" }},
	} {
		want := matching(docs, tc.ns, tc.match)
		s.wantResults(t, fmt.Sprintf("ExecuteQuery(%q, %s)", tc.ns, tc.query), byKey(runQuery(t, q, tc.ns, tc.query)), m, tc.ns, nil, want)
	}
	if got := runQuery(t, q, queryNS, `{"selector":{"size":{"$eq":1000007}}}`); len(got) != 1 || !strings.Contains(string(got[0].Value), "1000007") {
		t.Fatalf("the marble of size 1000007 came back as %v: its size respelled", got)
	}
}

func needIndexes(t *testing.T, db statedb.DB) {
	t.Helper()
	if _, ok := db.(statedb.IndexCreator); !ok {
		t.Skipf("sorting needs an index, and %T does not implement statedb.IndexCreator", db)
	}
}

// Sorted queries, as Fabric's marbles sample sends them.
const (
	querySizeAsc  = `{"selector":{"size":{"$gt":0}},"sort":[{"size":"asc"}]}`
	querySizeDesc = `{"selector":{"docType":{"$eq":"marble"},"owner":{"$eq":"tom"},"size":{"$gt":0}},"sort":[{"size":"desc"}],"use_index":"_design/indexSizeSortDoc"}`
)

func testQuerySort(s *suite, t *testing.T) {
	db := s.db(t)
	q := querier(t, db)
	needIndexes(t, db)
	m, docs := queryState(t, db)
	sized := func(d doc) bool { n := num(d, "size"); return n != nil && n.Sign() > 0 }
	want := bySize(docs[queryNS], matching(docs, queryNS, sized), false)
	s.wantResults(t, "ascending sort", runQuery(t, q, queryNS, querySizeAsc), m, queryNS, nil, want)
	tom := func(d doc) bool { return sized(d) && d["owner"] == "tom" && d["docType"] == "marble" }
	want = bySize(docs[queryNS], matching(docs, queryNS, tom), true)
	s.wantResults(t, "descending sort on a named index", runQuery(t, q, queryNS, querySizeDesc), m, queryNS, nil, want)
	want = bySize(docs[queryPvt], matching(docs, queryPvt, sized), false)
	s.wantResults(t, "sort in a collection", runQuery(t, q, queryPvt, querySizeAsc), m, queryPvt, nil, want)
	withIndex := `{"selector":{"docType":"marble","owner":"tom"},"use_index":["_design/indexOwnerDoc","indexOwner"]}`
	want = matching(docs, queryNS, func(d doc) bool { return d["docType"] == "marble" && d["owner"] == "tom" })
	s.wantResults(t, "use_index with the index's name", runQuery(t, q, queryNS, withIndex), m, queryNS, nil, want)
}

func testQueryFields(s *suite, t *testing.T) {
	db := s.db(t)
	q := querier(t, db)
	m, docs := queryState(t, db)
	tom := matching(docs, queryNS, func(d doc) bool { return d["owner"] == "tom" })
	for _, fields := range [][]string{{"owner", "size"}, {"name"}, {"details"}, {"owner", "absent"}} {
		quoted, _ := json.Marshal(fields)
		query := fmt.Sprintf(`{"selector":{"owner":"tom"},"fields":%s}`, quoted)
		s.wantResults(t, "ExecuteQuery "+query, byKey(runQuery(t, q, queryNS, query)), m, queryNS, fields, tom)
		kvs, next, err := q.ExecuteQueryPage(queryNS, query, "", 100)
		if err != nil {
			t.Fatalf("ExecuteQueryPage %s: %v", query, err)
		}
		s.wantResults(t, "ExecuteQueryPage "+query, kvs, m, queryNS, fields, tom)
		if next != "" {
			t.Fatalf("ExecuteQueryPage %s with room for all results: next bookmark %q, want \"\"", query, next)
		}
	}
}

// pages chains ExecuteQueryPage by bookmark until it returns "".
func pages(t *testing.T, q statedb.Querier, ns, query string, size int32, total int) [][]*statedb.KV {
	t.Helper()
	var out [][]*statedb.KV
	bookmark := ""
	for {
		kvs, next, err := q.ExecuteQueryPage(ns, query, bookmark, size)
		if err != nil {
			t.Fatalf("ExecuteQueryPage(%q, %s, page %d of size %d): %v", ns, query, len(out)+1, size, err)
		}
		if len(kvs) > int(size) {
			t.Fatalf("ExecuteQueryPage(%s, size %d) returned %d results", query, size, len(kvs))
		}
		out = append(out, kvs)
		if next == "" {
			return out
		}
		if len(kvs) == 0 {
			t.Fatalf("ExecuteQueryPage(%s, size %d): an empty page with next bookmark %q", query, size, next)
		}
		if next == bookmark {
			t.Fatalf("ExecuteQueryPage(%s, size %d): page %d returned the bookmark it was given", query, size, len(out))
		}
		if len(out) > total/int(size)+2 {
			t.Fatalf("ExecuteQueryPage(%s, size %d): %d pages for %d results and no end", query, size, len(out), total)
		}
		bookmark = next
	}
}

// testQueryPages: pages chained by bookmark give exactly the results of
// ExecuteQuery, in its order, with no duplicates or gaps, for page sizes
// from 1 to more than the results, unsorted and sorted, and in collections.
func testQueryPages(s *suite, t *testing.T) {
	db := s.db(t)
	q := querier(t, db)
	m, docs := queryState(t, db)
	cases := []struct {
		ns, query string
		want      []string // in the query's order; by key when it has no sort
	}{
		{queryNS, `{"selector":{"docType":"marble"}}`, matching(docs, queryNS, func(d doc) bool { return d["docType"] == "marble" })},
		{queryPvt, `{"selector":{"owner":{"$in":["tom","jerry","fred","mary"]}}}`, matching(docs, queryPvt, func(d doc) bool { return d["owner"] != nil })},
		{queryNS, `{"selector":{"owner":"nobody"}}`, nil},
	}
	if _, ok := db.(statedb.IndexCreator); ok {
		sized := func(d doc) bool { n := num(d, "size"); return n != nil && n.Sign() > 0 }
		cases = append(cases, struct {
			ns, query string
			want      []string
		}{queryNS, querySizeAsc, bySize(docs[queryNS], matching(docs, queryNS, sized), false)})
	}
	for _, tc := range cases {
		order := byKey
		if strings.Contains(tc.query, `"sort"`) {
			order = func(kvs []*statedb.KV) []*statedb.KV { return kvs }
		}
		s.wantResults(t, "ExecuteQuery "+tc.query, order(runQuery(t, q, tc.ns, tc.query)), m, tc.ns, nil, tc.want)
		n := len(tc.want)
		for _, size := range []int32{1, 2, 5, int32(n), int32(n + 1), 1000} {
			if size == 0 {
				continue
			}
			ps := pages(t, q, tc.ns, tc.query, size, n)
			var all []*statedb.KV
			for i, p := range ps {
				if i < len(ps)-1 && len(p) == 0 {
					t.Fatalf("%s, size %d: page %d of %d is empty", tc.query, size, i+1, len(ps))
				}
				all = append(all, p...)
			}
			s.wantResults(t, fmt.Sprintf("%s in pages of %d", tc.query, size), order(all), m, tc.ns, nil, tc.want)
			// ceil(n/size) pages, at least one; a backend that cannot tell
			// that a full page was the last may answer one more, empty.
			want := max(1, (n+int(size)-1)/int(size))
			switch {
			case len(ps) == want:
			case len(ps) == want+1 && n > 0 && n%int(size) == 0:
				t.Logf("%s, size %d: the last full page's bookmark led to an empty page", tc.query, size)
			default:
				t.Fatalf("%s, size %d: %d pages for %d results, want %d", tc.query, size, len(ps), n, want)
			}
		}
	}
}

func testQueryEmptyNamespace(s *suite, t *testing.T) {
	db := s.db(t)
	q := querier(t, db)
	query := `{"selector":{"owner":"tom"}}`
	for _, ns := range []string{"emptycc", "emptycc$$pcoll"} {
		if got := runQuery(t, q, ns, query); len(got) != 0 {
			t.Fatalf("ExecuteQuery on unwritten %q: %d results", ns, len(got))
		}
		kvs, next, err := q.ExecuteQueryPage(ns, query, "", 10)
		if err != nil || len(kvs) != 0 || next != "" {
			t.Fatalf("ExecuteQueryPage on unwritten %q = %d results, next %q, err %v; want none", ns, len(kvs), next, err)
		}
	}
	// A namespace whose documents were all deleted, or that holds no JSON.
	apply(t, db, v(1, 0), func(b *statedb.Batch) {
		b.Put("emptycc", "a", []byte(`{"owner":"tom"}`), nil, v(1, 0))
		b.Put("binarycc", "a", []byte("owner tom"), nil, v(1, 0))
	})
	apply(t, db, v(2, 0), func(b *statedb.Batch) { b.Delete("emptycc", "a", v(2, 0)) })
	for _, ns := range []string{"emptycc", "binarycc"} {
		if got := runQuery(t, q, ns, query); len(got) != 0 {
			t.Fatalf("ExecuteQuery on %q: %d results, want none", ns, len(got))
		}
	}
}

// testQueryInvalid: a query that cannot run is refused, by ExecuteQuery
// and ExecuteQueryPage alike, with a message naming what is wrong.
func testQueryInvalid(s *suite, t *testing.T) {
	db := s.db(t)
	q := querier(t, db)
	queryState(t, db)
	for _, tc := range []struct{ query, names string }{
		{`this is an invalid query string`, "json"},
		{`{"selector":{"owner":"tom"}`, "json"},
		{`{"selector":"tom"}`, "selector"},
		{`{"fields":["owner"]}`, "selector"},
		{`{"selector":{"owner":"tom"},"sort":"size"}`, "sort"},
		{`{"selector":{"owner":"tom"},"fields":"owner"}`, "fields"},
		{`{"selector":{"size":{"$bogus":1}}}`, "$bogus"},
	} {
		check := func(api string, err error) {
			t.Helper()
			if err == nil {
				t.Errorf("%s(%s) succeeded", api, tc.query)
			} else if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.names)) {
				t.Errorf("%s(%s) = %q, which does not name %q", api, tc.query, err, tc.names)
			}
		}
		it, err := q.ExecuteQuery(queryNS, tc.query)
		if err == nil { // the error may come with the first result
			_, err = it.Next()
			it.Close()
		}
		check("ExecuteQuery", err)
		_, _, err = q.ExecuteQueryPage(queryNS, tc.query, "", 10)
		check("ExecuteQueryPage", err)
	}
}

func testQueryIteratorClose(s *suite, t *testing.T) {
	db := s.db(t)
	q := querier(t, db)
	queryState(t, db)
	for _, reads := range []int{0, 1, 3} {
		it, err := q.ExecuteQuery(queryNS, `{"selector":{"docType":"marble"}}`)
		if err != nil {
			t.Fatal(err)
		}
		for range reads {
			if kv, err := it.Next(); err != nil || kv == nil {
				t.Fatalf("Next = %v, %v", kv, err)
			}
		}
		it.Close()
		it.Close()
		if kv, err := it.Next(); kv != nil || err != nil {
			t.Fatalf("Next after Close = %v, %v; want nil, nil", kv, err)
		}
	}
	if got := runQuery(t, q, queryNS, `{"selector":{"owner":"jerry"}}`); len(got) == 0 {
		t.Fatal("no results after iterators were closed early")
	}
}
