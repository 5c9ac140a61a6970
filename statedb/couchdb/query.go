package couchdb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/weft-ledger/weft/statedb"
)

// ErrBadBookmark is returned (wrapped) by ExecuteQueryPage for a bookmark
// that no earlier page of the same query returned.
var ErrBadBookmark = errors.New("couchdb: bookmark does not belong to this query")

// richQuery is a chaincode's Mango query, as Fabric rewrites it: "fields",
// when given, must be an array and gains the fields the peer needs; "limit"
// is the peer's, never the chaincode's; "bookmark" is the peer's paging.
type richQuery struct {
	m       map[string]any
	skip    int // the chaincode's "skip": results dropped from the start
	sorted  bool
	indexed bool // names an index with use_index
	hash    string
}

func parseQuery(ns, query string) (*richQuery, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader([]byte(query)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("couchdb: rich query is not a JSON object: %q", query)
	}
	if dec.More() {
		return nil, fmt.Errorf("couchdb: rich query has data after its JSON object: %q", query)
	}
	sel, ok := m["selector"]
	if !ok {
		return nil, fmt.Errorf("couchdb: rich query has no selector: %q", query)
	}
	if _, ok := sel.(map[string]any); !ok {
		return nil, fmt.Errorf("couchdb: rich query: selector must be a JSON object, not %s", jsonText(sel))
	}
	q := &richQuery{m: m}
	if f, ok := m["fields"]; ok {
		arr, ok := f.([]any)
		if !ok {
			return nil, errors.New("couchdb: rich query: fields definition must be an array")
		}
		// The peer needs these to return a key, its version and, for a
		// value kept as an attachment, its bytes.
		have := map[string]bool{}
		for _, x := range arr {
			if s, ok := x.(string); ok {
				have[s] = true
			}
		}
		for _, need := range []string{idField, versionField, attachmentsField} {
			if !have[need] {
				arr = append(arr, need)
			}
		}
		m["fields"] = arr
	}
	if s, ok := m["skip"]; ok {
		n, ok := s.(json.Number)
		v, err := strconv.Atoi(string(n))
		if !ok || err != nil || v < 0 {
			return nil, fmt.Errorf("couchdb: rich query: skip must be a whole number, not %v", s)
		}
		q.skip = v
		delete(m, "skip")
	}
	delete(m, "limit")
	delete(m, "bookmark")
	_, q.sorted = m["sort"]
	_, q.indexed = m["use_index"]
	sum := sha256.Sum256([]byte(ns + "\x00" + query))
	q.hash = hex.EncodeToString(sum[:8])
	return q, nil
}

// Paging modes: how the next request of a query continues where the last
// one ended.
const (
	// modeBookmark passes on the bookmark CouchDB returned (2.1 and later).
	modeBookmark = "b"
	// modeKey, for a query without sort or use_index on a server without
	// bookmarks, sorts by _id and asks for _id above the last one returned.
	modeKey = "k"
	// modeSkip, for other queries on a server without bookmarks, skips the
	// results already returned.
	modeSkip = "s"
)

// cursor is where a query stands; ExecuteQueryPage hands it out as its
// bookmark (base64url of its JSON).
type cursor struct {
	Query string `json:"q"` // the query's hash
	Mode  string `json:"m"`
	// Bookmark is CouchDB's, in modeBookmark ("" before the first answer).
	Bookmark string `json:"b,omitempty"`
	// Key is the last _id returned, in modeKey.
	Key string `json:"k,omitempty"`
	// Offset counts the results already returned plus the query's skip.
	Offset int `json:"o,omitempty"`
	// Started is set once a request has been made.
	Started bool `json:"s,omitempty"`
}

func (c *cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	c := &cursor{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, err
	}
	switch c.Mode {
	case modeBookmark, modeKey, modeSkip:
		return c, nil
	}
	return nil, fmt.Errorf("unknown paging mode %q", c.Mode)
}

func (d *DB) newCursor(q *richQuery) *cursor {
	c := &cursor{Query: q.hash, Offset: q.skip}
	switch {
	case d.c.bookmarks:
		c.Mode = modeBookmark
	case !q.sorted && !q.indexed:
		c.Mode = modeKey
	default:
		c.Mode = modeSkip
	}
	return c
}

// request is the _find body for the next n results after cur.
func (q *richQuery) request(cur *cursor, n int) ([]byte, error) {
	m := make(map[string]any, len(q.m)+3)
	for k, v := range q.m {
		m[k] = v
	}
	m["limit"] = n
	switch cur.Mode {
	case modeBookmark:
		if cur.Started {
			m["bookmark"] = cur.Bookmark
		} else if cur.Offset > 0 {
			m["skip"] = cur.Offset
		}
	case modeSkip:
		if cur.Offset > 0 {
			m["skip"] = cur.Offset
		}
	case modeKey:
		m["sort"] = []any{map[string]any{idField: "asc"}}
		if cur.Started && cur.Key != "" {
			sel := q.m["selector"]
			m["selector"] = map[string]any{"$and": []any{sel, map[string]any{idField: map[string]any{"$gt": cur.Key}}}}
		} else if cur.Offset > 0 {
			m["skip"] = cur.Offset
		}
	}
	return json.Marshal(m)
}

// find runs one request of q for n results after cur, and moves cur past
// them.
func (d *DB) find(ctx context.Context, ns, db string, q *richQuery, cur *cursor, n int) ([]*statedb.KV, error) {
	body, err := q.request(cur, n)
	if err != nil {
		return nil, fmt.Errorf("couchdb: rich query: %w", err)
	}
	var (
		docs     []*storedDoc
		bookmark string
	)
	err = d.c.call(ctx, "query "+db, func(ctx context.Context) error {
		docs, bookmark = docs[:0], ""
		rs := d.c.kc.DB(db).Find(ctx, json.RawMessage(body))
		defer rs.Close()
		for rs.Next() {
			var raw json.RawMessage
			if err := rs.ScanDoc(&raw); err != nil {
				return err
			}
			doc, err := decodeDoc(raw)
			if err != nil {
				return err
			}
			docs = append(docs, doc)
		}
		if err := rs.Err(); err != nil {
			// A missing index is a 400; a 404 is a database not created yet.
			if kivik.HTTPStatus(err) == http.StatusNotFound {
				docs = docs[:0]
				return nil // no database yet: nothing matches
			}
			return err
		}
		meta, err := rs.Metadata()
		if err != nil {
			return err
		}
		if meta.Warning != "" {
			d.c.log.Warn("couchdb query warning", "db", db, "query", string(body), "warning", meta.Warning)
		}
		bookmark = meta.Bookmark
		return nil
	})
	if err != nil {
		return nil, err
	}
	kvs := make([]*statedb.KV, 0, len(docs))
	for _, doc := range docs {
		if doc.stub {
			full, err := d.readDoc(ctx, db, doc.id)
			if err != nil {
				return nil, err
			}
			if full == nil {
				continue // deleted since the query ran
			}
			doc = full
		}
		key, err := keyOf(ns, doc.id)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, &statedb.KV{Namespace: ns, Key: key, VersionedValue: doc.vv})
	}
	cur.Started = true
	cur.Offset += len(docs)
	if len(docs) > 0 {
		cur.Key = docs[len(docs)-1].id
	}
	if cur.Mode == modeBookmark {
		if bookmark == "" {
			// This server pages without bookmarks after all.
			cur.Mode = modeSkip
		}
		cur.Bookmark = bookmark
	}
	return kvs, nil
}

// ExecuteQuery implements statedb.Querier: the query runs with _find on
// the namespace's database in requests of InternalQueryLimit results, and
// stops after TotalQueryLimit results. Results come in the query's sort
// order; without one, in the order CouchDB chooses (the index's, by key
// when no index applies; by key always on a server without bookmarks).
func (d *DB) ExecuteQuery(ns, query string) (statedb.Iterator, error) {
	name, err := d.dbName(ns)
	if err != nil {
		return nil, err
	}
	q, err := parseQuery(ns, query)
	if err != nil {
		return nil, err
	}
	it := &queryIter{d: d, ns: ns, db: name, q: q, cur: d.newCursor(q), left: d.c.cfg.TotalQueryLimit}
	// The first request runs now, so a bad query fails here.
	if err := it.load(); err != nil {
		return nil, err
	}
	return it, nil
}

type queryIter struct {
	d      *DB
	ns, db string
	q      *richQuery
	cur    *cursor
	left   int // results still allowed by TotalQueryLimit
	buf    []*statedb.KV
	done   bool
	closed bool
}

func (it *queryIter) load() error {
	n := min(it.d.c.cfg.InternalQueryLimit, it.left)
	if n <= 0 {
		it.done = true
		return nil
	}
	before := it.cur.Offset
	kvs, err := it.d.find(it.d.ctx, it.ns, it.db, it.q, it.cur, n)
	if err != nil {
		it.done = true
		return err
	}
	got := it.cur.Offset - before
	it.left -= got
	if got < n {
		it.done = true
	}
	it.buf = kvs
	return nil
}

func (it *queryIter) Next() (*statedb.KV, error) {
	for len(it.buf) == 0 {
		if it.closed || it.done {
			return nil, nil
		}
		if err := it.load(); err != nil {
			return nil, fmt.Errorf("rich query on %s: %w", it.ns, err)
		}
	}
	kv := it.buf[0]
	it.buf = it.buf[1:]
	return kv, nil
}

func (it *queryIter) Close() {
	it.closed = true
	it.buf = nil
}

// ExecuteQueryPage implements statedb.Querier. pageSize is capped by
// TotalQueryLimit (as Fabric caps a chaincode's page); zero or less means
// TotalQueryLimit. The bookmark is Weft's own (see cursor): it wraps
// CouchDB's bookmark where the server gives one, else the last key or the
// count of results already returned (see doc.go for what each guarantees).
func (d *DB) ExecuteQueryPage(ns, query, bookmark string, pageSize int32) ([]*statedb.KV, string, error) {
	name, err := d.dbName(ns)
	if err != nil {
		return nil, "", err
	}
	q, err := parseQuery(ns, query)
	if err != nil {
		return nil, "", err
	}
	cur := d.newCursor(q)
	if bookmark != "" {
		cur, err = decodeCursor(bookmark)
		if err != nil || cur.Query != q.hash {
			return nil, "", fmt.Errorf("%w: %q", ErrBadBookmark, bookmark)
		}
	}
	size := int(pageSize)
	if size <= 0 || size > d.c.cfg.TotalQueryLimit {
		size = d.c.cfg.TotalQueryLimit
	}
	var out []*statedb.KV
	for len(out) < size {
		want := min(size-len(out), d.c.cfg.InternalQueryLimit)
		ask := want
		last := len(out)+want == size
		if last && cur.Mode != modeBookmark {
			// One more tells whether another page exists.
			ask++
		}
		before := *cur
		kvs, err := d.find(d.ctx, ns, name, q, cur, ask)
		if err != nil {
			return nil, "", err
		}
		got := cur.Offset - before.Offset
		if got > want {
			// Step back over the extra result: it starts the next page.
			cur.Offset--
			if len(kvs) > want {
				kvs = kvs[:want]
			}
			if len(kvs) > 0 {
				cur.Key = keyIDOf(ns, kvs[len(kvs)-1].Key)
			}
		}
		out = append(out, kvs...)
		switch {
		case got > want:
			return out, cur.encode(), nil
		case got < ask:
			return out, "", nil
		}
	}
	if cur.Mode != modeBookmark {
		return out, "", nil // the extra result did not come
	}
	// CouchDB's bookmark does not say whether anything follows it.
	probe := *cur
	more, err := d.find(d.ctx, ns, name, q, &probe, 1)
	if err != nil {
		return nil, "", err
	}
	if len(more) == 0 && probe.Mode == modeBookmark {
		return out, "", nil
	}
	if probe.Mode != modeBookmark {
		// The server stopped returning bookmarks: continue by count.
		cur.Mode = modeSkip
	}
	return out, cur.encode(), nil
}

// keyIDOf is the document ID of a key returned by a query of ns.
func keyIDOf(ns, key string) string {
	id, _ := docID(ns, key)
	return id
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
