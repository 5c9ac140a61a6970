package couchdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/statedb"
)

const sizeIndex = `{"index":{"fields":["size"]},"ddoc":"indexSizeDoc","name":"indexSize","type":"json"}`

// marbles writes 25 marbles (owners alternate tom, ann; sizes 1..25) and a
// few other documents to ns, with the size index.
func marbles(t *testing.T, db *DB, ns string) {
	t.Helper()
	if err := db.CreateIndexes(ns, []statedb.Index{{Name: "indexSize.json", Definition: []byte(sizeIndex)}}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		for i := 1; i <= 25; i++ {
			owner := []string{"tom", "ann"}[i%2]
			b.Put(ns, fmt.Sprintf("marble%02d", i), []byte(fmt.Sprintf(`{"docType":"marble","owner":%q,"size":%d}`, owner, i)), nil, statedb.Version{BlockNum: 1, TxNum: uint64(i)})
		}
		b.Put(ns, "car1", []byte(`{"docType":"car","owner":"tom"}`), nil, statedb.Version{BlockNum: 1})
		b.Put(ns, "blob", []byte{0xff, 0}, nil, statedb.Version{BlockNum: 1})
	})
}

func drain(t *testing.T, it statedb.Iterator) []*statedb.KV {
	t.Helper()
	defer it.Close()
	var out []*statedb.KV
	for {
		kv, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if kv == nil {
			return out
		}
		out = append(out, kv)
	}
}

func keysOf(kvs []*statedb.KV) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Key
	}
	return out
}

func query(t *testing.T, db *DB, ns, q string) []*statedb.KV {
	t.Helper()
	it, err := db.ExecuteQuery(ns, q)
	if err != nil {
		t.Fatalf("ExecuteQuery(%s): %v", q, err)
	}
	return drain(t, it)
}

// pages reads every page of q and checks each is at most size long.
func pages(t *testing.T, db *DB, ns, q string, size int32) (all []*statedb.KV, n int) {
	t.Helper()
	bookmark := ""
	for {
		kvs, next, err := db.ExecuteQueryPage(ns, q, bookmark, size)
		if err != nil {
			t.Fatalf("page %d of %s: %v", n, q, err)
		}
		n++
		if len(kvs) > int(size) {
			t.Fatalf("page %d has %d results, page size %d", n, len(kvs), size)
		}
		all = append(all, kvs...)
		if next == "" {
			return all, n
		}
		if len(kvs) == 0 {
			t.Fatalf("empty page %d with a next bookmark", n)
		}
		bookmark = next
		if n > 100 {
			t.Fatal("paging does not end")
		}
	}
}

func marbleKeys(owner string, desc bool) []string {
	var out []string
	for i := 1; i <= 25; i++ {
		if owner == "" || []string{"tom", "ann"}[i%2] == owner {
			out = append(out, fmt.Sprintf("marble%02d", i))
		}
	}
	if desc {
		slices.Reverse(out)
	}
	return out
}

// TestRichQueries runs against the test server as it is (no _find
// bookmarks: key and skip continuation) and made to look like CouchDB 3
// (bookmarks); with small internal pages so every query spans several
// requests.
func TestRichQueries(t *testing.T) {
	for _, couch3 := range []bool{false, true} {
		t.Run(map[bool]string{false: "without bookmarks", true: "with CouchDB 3 bookmarks"}[couch3], func(t *testing.T) {
			px := newProxy(t, serverURL(t))
			px.couch3 = couch3
			c := connect(t, Config{Address: px.URL(), InternalQueryLimit: 4, TotalQueryLimit: 100, WarmIndexesAfterNBlocks: 1000})
			if c.bookmarks != couch3 {
				t.Fatalf("bookmarks = %v", c.bookmarks)
			}
			db := openChannel(t, c, "mychannel")
			marbles(t, db, "marbles")
			marbles(t, db, "marbles$$pcoll")

			byOwner := `{"selector":{"docType":"marble","owner":"tom"}}`
			bySize := `{"selector":{"size":{"$gt":0}},"sort":[{"size":"desc"}],"use_index":["_design/indexSizeDoc","indexSize"]}`
			for _, ns := range []string{"marbles", "marbles$$pcoll"} {
				got := query(t, db, ns, byOwner)
				if !slices.Equal(keysOf(got), marbleKeys("tom", false)) {
					t.Fatalf("%s: by owner = %q", ns, keysOf(got))
				}
				for _, kv := range got {
					var m map[string]any
					if err := json.Unmarshal(kv.Value, &m); err != nil || m["owner"] != "tom" || kv.Version.BlockNum != 1 || kv.Namespace != ns {
						t.Fatalf("result %+v", kv)
					}
				}
			}
			if got := keysOf(query(t, db, "marbles", bySize)); !slices.Equal(got, marbleKeys("", true)) {
				t.Fatalf("by size desc = %q", got)
			}

			px.requests()
			for _, tc := range []struct {
				q    string
				want []string
			}{
				{byOwner, marbleKeys("tom", false)},
				{bySize, marbleKeys("", true)},
			} {
				for _, size := range []int32{1, 4, 5, 13, 100} {
					all, n := pages(t, db, "marbles", tc.q, size)
					if !slices.Equal(keysOf(all), tc.want) {
						t.Fatalf("pages of %d of %s = %q", size, tc.q, keysOf(all))
					}
					if wantPages := (len(tc.want) + int(size) - 1) / int(size); n != wantPages && n != wantPages+1 {
						t.Fatalf("%d results in pages of %d took %d pages", len(tc.want), size, n)
					}
				}
			}
			if reqs := px.requests(); count(reqs, "_find") == 0 {
				t.Fatal("no _find request")
			}
		})
	}
}

// TestQueryLimits: ExecuteQuery stops at TotalQueryLimit, reading
// InternalQueryLimit results a request; a page is capped by
// TotalQueryLimit; the query's own "limit" is the peer's to set, its
// "skip" drops results from the start.
func TestQueryLimits(t *testing.T) {
	px := newProxy(t, serverURL(t))
	c := connect(t, Config{Address: px.URL(), InternalQueryLimit: 4, TotalQueryLimit: 10, WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, c, "mychannel")
	marbles(t, db, "marbles")
	marbleQuery := `{"selector":{"docType":"marble"}}`
	px.requests()
	got := query(t, db, "marbles", marbleQuery)
	if !slices.Equal(keysOf(got), marbleKeys("", false)[:10]) {
		t.Fatalf("ExecuteQuery capped at 10 = %q", keysOf(got))
	}
	if n := count(px.requests(), "_find"); n != 3 {
		t.Fatalf("10 results in requests of 4 took %d _find requests, want 3", n)
	}
	kvs, next, err := db.ExecuteQueryPage("marbles", marbleQuery, "", 50)
	if err != nil || len(kvs) != 10 || next == "" {
		t.Fatalf("page of 50 with a total limit of 10 = %d results, next %q, %v", len(kvs), next, err)
	}
	if got := query(t, db, "marbles", `{"selector":{"docType":"marble"},"limit":2}`); len(got) != 10 {
		t.Fatalf("query with limit 2 returned %d, want the peer's 10", len(got))
	}
	if got := query(t, db, "marbles", `{"selector":{"docType":"marble"},"skip":3}`); !slices.Equal(keysOf(got), marbleKeys("", false)[3:13]) {
		t.Fatalf("query with skip 3 = %q", keysOf(got))
	}
	all, _ := pages(t, db, "marbles", `{"selector":{"docType":"marble","owner":"ann"},"skip":2}`, 3)
	if !slices.Equal(keysOf(all), marbleKeys("ann", false)[2:]) {
		t.Fatalf("pages with skip 2 = %q", keysOf(all))
	}
}

// TestQueryShapes: the fields a query keeps, values kept as attachments,
// and the queries Fabric refuses.
func TestQueryShapes(t *testing.T) {
	c := connect(t, Config{WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, c, "mychannel")
	marbles(t, db, "marbles")
	got := query(t, db, "marbles", `{"selector":{"owner":"tom","docType":"marble"},"fields":["owner"]}`)
	if len(got) != 12 || string(got[0].Value) != `{"owner":"tom"}` || got[0].Version.BlockNum != 1 {
		t.Fatalf("fields [owner] = %d results, first %+v", len(got), got[0])
	}
	got = query(t, db, "marbles", `{"selector":{"_id":{"$gt":null}}}`)
	if len(got) != 27 || got[0].Key != "blob" || string(got[0].Value) != "\xff\x00" {
		t.Fatalf("all documents: %d, first %+v", len(got), got[0])
	}
	for _, tc := range []struct{ q, want string }{
		{`not json`, "not a JSON object"},
		{`{"selector":{"a":1},"fields":"owner"}`, "fields definition must be an array"},
		{`{"fields":["a"]}`, "no selector"},
		{`{"selector":"tom"}`, "selector must be a JSON object"},
		{`{"selector":{"a":1},"skip":-1}`, "skip"},
	} {
		_, err := db.ExecuteQuery("marbles", tc.q)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ExecuteQuery(%s) = %v, want an error saying %q", tc.q, err, tc.want)
		}
	}
	_, next, err := db.ExecuteQueryPage("marbles", `{"selector":{"docType":"marble"}}`, "", 2)
	if err != nil || next == "" {
		t.Fatal(next, err)
	}
	for _, bm := range []string{"garbage!", next} {
		_, _, err := db.ExecuteQueryPage("marbles", `{"selector":{"docType":"car"}}`, bm, 2)
		if !errors.Is(err, ErrBadBookmark) {
			t.Errorf("bookmark %q for another query: %v", bm, err)
		}
	}
}

// TestPagingWhileCommitting shows what a bookmark without CouchDB
// bookmarks guarantees: for a query without sort, the next page starts
// after the last key returned, whatever was committed meanwhile.
func TestPagingWhileCommitting(t *testing.T) {
	c := connect(t, Config{WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, c, "mychannel")
	marbles(t, db, "marbles")
	q := `{"selector":{"docType":"marble"}}`
	first, next, err := db.ExecuteQueryPage("marbles", q, "", 5)
	if err != nil || !slices.Equal(keysOf(first), marbleKeys("", false)[:5]) {
		t.Fatal(keysOf(first), err)
	}
	mustApply(t, db, statedb.Version{BlockNum: 2}, func(b *statedb.Batch) {
		b.Delete("marbles", "marble01", statedb.Version{BlockNum: 2})
		b.Put("marbles", "marble00", []byte(`{"docType":"marble"}`), nil, statedb.Version{BlockNum: 2})
	})
	second, _, err := db.ExecuteQueryPage("marbles", q, next, 5)
	if err != nil || !slices.Equal(keysOf(second), marbleKeys("", false)[5:10]) {
		t.Fatalf("second page after commits = %q, %v", keysOf(second), err)
	}
}
