package statedbtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/weft-ledger/weft/statedb"
)

// docStore is a hand-made backend that behaves as a document store does:
// JSON objects are re-encoded, some keys and fields are refused, range
// scans page through the data (so they see Applies made while they are
// open), Gets may be served from a cache Preload fills, and it runs rich
// queries in a subset of Mango. It lets the suite's capability tests run
// without a server, and its bugs (one per field of bugs) show that the
// suite catches them.
type docStore struct {
	st    *storage
	bugs  bugs
	cache sync.Map // ns\x00key → *statedb.VersionedValue (nil for absent), filled by Preload
	// closed is set by Close; guarded by st.mu.
	closed bool
}

// storage outlives a docStore, so a reopened store sees what was written.
type storage struct {
	mu        sync.Mutex
	data      map[string]map[string]statedb.VersionedValue
	savepoint *statedb.Version
	indexes   map[string][]statedb.Index
}

// bugs are faults a backend could have; each must make the suite fail.
type bugs struct {
	inclusiveEnd      bool // GetRange includes endKey
	staleCache        bool // Apply does not refresh keys Preload cached
	reencodeArrays    bool // JSON arrays are re-encoded too
	dropMetadata      bool // a rewrite keeps the old metadata when the new one is nil
	skipAtPageEdge    bool // ExecuteQueryPage loses the first result of every page after the first
	failDeleteAbsent  bool // a delete of an absent key fails Apply
	floatVersions     bool // versions pass through a float64
	namespaceByPrefix bool // GetRange of ns also returns keys of namespaces ns is a prefix of
	unsortedQuery     bool // ExecuteQuery ignores sort
	quietKeyRefusal   bool // CheckKeyValue refuses keys without naming them
}

var (
	_ statedb.DB              = (*docStore)(nil)
	_ statedb.BulkLoader      = (*docStore)(nil)
	_ statedb.Querier         = (*docStore)(nil)
	_ statedb.KeyValueChecker = (*docStore)(nil)
	_ statedb.IndexCreator    = (*docStore)(nil)
	_ statedb.HealthChecker   = (*docStore)(nil)
)

func newStorage() *storage {
	return &storage{data: map[string]map[string]statedb.VersionedValue{}, indexes: map[string][]statedb.Index{}}
}

var errClosed = errors.New("docstore: closed")

func (d *docStore) encode(value []byte) []byte {
	if isJSONObject(value) || (d.bugs.reencodeArrays && json.Valid(value) && strings.HasPrefix(string(value), "[")) {
		v, _ := decodeJSON(value)
		out, _ := json.Marshal(v) // sorts fields and escapes <, >, &
		return out
	}
	return append([]byte{}, value...)
}

func cacheKey(ns, key string) string { return ns + "\x00" + key }

func (d *docStore) Get(ns, key string) (*statedb.VersionedValue, error) {
	if c, ok := d.cache.Load(cacheKey(ns, key)); ok {
		vv := c.(*statedb.VersionedValue)
		if vv == nil {
			return nil, nil
		}
		cp := *vv
		return &cp, nil
	}
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	vv, ok := d.st.data[ns][key]
	if !ok {
		return nil, nil
	}
	return &vv, nil
}

func (d *docStore) Preload(keys []statedb.NsKey) error {
	for _, k := range keys {
		vv, err := d.Get(k.Namespace, k.Key)
		if err != nil {
			return err
		}
		d.cache.Store(cacheKey(k.Namespace, k.Key), vv)
	}
	return nil
}

// GetRange pages through the data 100 keys at a time, each page read
// after the last key returned, as a paging backend does.
func (d *docStore) GetRange(ns, start, end string) (statedb.Iterator, error) {
	return &pager{d: d, ns: ns, next: start, end: end}, nil
}

type pager struct {
	d         *docStore
	ns        string
	next, end string
	page      []*statedb.KV
	done      bool
}

func (p *pager) Next() (*statedb.KV, error) {
	if len(p.page) == 0 && !p.done {
		if err := p.fill(); err != nil {
			return nil, err
		}
	}
	if len(p.page) == 0 {
		return nil, nil
	}
	kv := p.page[0]
	p.page = p.page[1:]
	return kv, nil
}

func (p *pager) fill() error {
	p.d.st.mu.Lock()
	defer p.d.st.mu.Unlock()
	if p.d.closed {
		return errClosed
	}
	nss := []string{p.ns}
	if p.d.bugs.namespaceByPrefix {
		for ns := range p.d.st.data {
			if ns != p.ns && strings.HasPrefix(ns, p.ns) {
				nss = append(nss, ns)
			}
		}
	}
	var keys []string
	for _, ns := range nss {
		for k := range p.d.st.data[ns] {
			in := p.end == "" || k < p.end || (p.d.bugs.inclusiveEnd && k == p.end)
			if k >= p.next && in {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	keys = keys[:min(len(keys), 100)]
	for _, k := range keys {
		vv, ok := p.d.st.data[p.ns][k]
		if !ok {
			for _, ns := range nss {
				if vv, ok = p.d.st.data[ns][k]; ok {
					break
				}
			}
		}
		p.page = append(p.page, &statedb.KV{Namespace: p.ns, Key: k, VersionedValue: vv})
	}
	if len(keys) < 100 {
		p.done = true
	} else {
		p.next = keys[len(keys)-1] + "\x00"
	}
	return nil
}

func (p *pager) Close() { p.page, p.done = nil, true }

func (d *docStore) Apply(b *statedb.Batch, sp statedb.Version) error {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	if d.closed {
		return errClosed
	}
	err := b.ForEach(func(ns, key string, vv *statedb.VersionedValue, deleted bool, ver statedb.Version) error {
		if d.bugs.floatVersions {
			ver = statedb.Version{BlockNum: uint64(float64(ver.BlockNum)), TxNum: uint64(float64(ver.TxNum))}
		}
		old, had := d.st.data[ns][key]
		if deleted {
			if !had && d.bugs.failDeleteAbsent {
				return fmt.Errorf("delete %s/%q: not found", ns, key)
			}
			delete(d.st.data[ns], key)
			if !d.bugs.staleCache {
				d.cache.Store(cacheKey(ns, key), (*statedb.VersionedValue)(nil))
			}
			return nil
		}
		n := statedb.VersionedValue{Value: d.encode(vv.Value), Metadata: append([]byte(nil), vv.Metadata...), Version: ver}
		if d.bugs.dropMetadata && had && len(n.Metadata) == 0 {
			n.Metadata = old.Metadata
		}
		if d.st.data[ns] == nil {
			d.st.data[ns] = map[string]statedb.VersionedValue{}
		}
		d.st.data[ns][key] = n
		if !d.bugs.staleCache {
			d.cache.Store(cacheKey(ns, key), &n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.st.savepoint = &sp
	return nil
}

func (d *docStore) Savepoint() (statedb.Version, bool, error) {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	if d.st.savepoint == nil {
		return statedb.Version{}, false, nil
	}
	return *d.st.savepoint, true, nil
}

func (d *docStore) Close() error {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	d.closed = true
	return nil
}

func (d *docStore) HealthCheck(ctx context.Context) error {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	if d.closed {
		return errClosed
	}
	return ctx.Err()
}

// CheckKeyValue refuses what CouchDB refuses: keys that are empty, not
// UTF-8 or start with "_", and JSON objects with fields CouchDB reserves.
func (d *docStore) CheckKeyValue(key string, value []byte) error {
	switch {
	case d.bugs.quietKeyRefusal && (key == "" || !utf8.ValidString(key) || key[0] == '_'):
		return errors.New("invalid key")
	case key == "":
		return errors.New("an empty key cannot be stored")
	case !utf8.ValidString(key):
		return fmt.Errorf("key %q is not valid UTF-8", key)
	case key[0] == '_':
		return fmt.Errorf("key %q starts with \"_\"", key)
	}
	if isJSONObject(value) {
		v, _ := decodeJSON(value)
		for f := range v.(map[string]any) {
			if strings.HasPrefix(f, "_") || f == "~version" {
				return fmt.Errorf("key %q: field %q of a JSON value is reserved", key, f)
			}
		}
	}
	return nil
}

// CheckIndex accepts CouchDB's JSON index definitions.
func (d *docStore) CheckIndex(ix statedb.Index) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("index %s: %s", ix.Name, fmt.Sprintf(format, a...))
	}
	v, ok := decodeJSON(ix.Definition)
	def, isObj := v.(map[string]any)
	if !ok || !isObj {
		return fail("not a JSON object")
	}
	index, ok := def["index"].(map[string]any)
	if !ok {
		return fail(`"index" must be an object`)
	}
	fields, ok := index["fields"].([]any)
	if !ok || len(fields) == 0 {
		return fail(`"fields" must be a non-empty array`)
	}
	for _, f := range fields {
		switch f := f.(type) {
		case string:
		case map[string]any:
			for name, dir := range f {
				if dir != "asc" && dir != "desc" {
					return fail("sort direction %v of field %q is neither asc nor desc", dir, name)
				}
			}
		default:
			return fail(`"fields" holds %v, neither a name nor {name: direction}`, f)
		}
	}
	for _, k := range []string{"name", "ddoc", "type"} {
		if v, in := def[k]; in {
			if _, ok := v.(string); !ok {
				return fail("%q must be a string", k)
			}
		}
	}
	return nil
}

func (d *docStore) CreateIndexes(ns string, ixs []statedb.Index) error {
	for _, ix := range ixs {
		if err := d.CheckIndex(ix); err != nil {
			return err
		}
	}
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	d.st.indexes[ns] = append(d.st.indexes[ns], ixs...)
	return nil
}

// ExecuteQuery runs a query over a snapshot of ns.
func (d *docStore) ExecuteQuery(ns, query string) (statedb.Iterator, error) {
	kvs, err := d.run(ns, query)
	if err != nil {
		return nil, err
	}
	return &sliceIter{kvs: kvs}, nil
}

// ExecuteQueryPage uses the offset of the next result as its bookmark.
func (d *docStore) ExecuteQueryPage(ns, query, bookmark string, size int32) ([]*statedb.KV, string, error) {
	kvs, err := d.run(ns, query)
	if err != nil {
		return nil, "", err
	}
	from := 0
	if bookmark != "" {
		if from, err = strconv.Atoi(strings.TrimPrefix(bookmark, "offset:")); err != nil || from < 0 {
			return nil, "", fmt.Errorf("bookmark %q is not one this store returned", bookmark)
		}
		if d.bugs.skipAtPageEdge {
			from++
		}
	}
	from = min(from, len(kvs))
	to := min(from+int(size), len(kvs))
	next := ""
	if to < len(kvs) {
		next = "offset:" + strconv.Itoa(to)
	}
	return kvs[from:to], next, nil
}

type sliceIter struct{ kvs []*statedb.KV }

func (s *sliceIter) Next() (*statedb.KV, error) {
	if len(s.kvs) == 0 {
		return nil, nil
	}
	kv := s.kvs[0]
	s.kvs = s.kvs[1:]
	return kv, nil
}

func (s *sliceIter) Close() { s.kvs = nil }
