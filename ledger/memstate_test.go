package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/weft-ledger/weft/statedb"
)

// memState is an in-memory statedb.DB with the optional capabilities of a
// CouchDB-like backend, for the ledger's tests:
//   - Querier: a query is {"selector": {field: value, ...}, "sort": [field |
//     {field: "asc"|"desc"}]}, equality on top-level fields of JSON values
//     and a sort on one field (by key when none); the bookmark is the offset
//     of the next result;
//   - BulkLoader: Preload records each call's keys;
//   - KeyValueChecker: keys starting with "_" and JSON values with a field
//     starting with "_" are refused, and every call is recorded.
type memState struct {
	mu        sync.Mutex
	data      map[string]map[string]statedb.VersionedValue
	savepoint *statedb.Version
	closed    bool
	preloads  [][]statedb.NsKey
	checks    []string // "key=value" checked
	pages     []string // "ns bookmark/size" asked of ExecuteQueryPage
	failLoad  error    // returned by Preload when set
}

func newMemState() *memState {
	return &memState{data: map[string]map[string]statedb.VersionedValue{}}
}

var _ interface {
	statedb.DB
	statedb.Querier
	statedb.BulkLoader
	statedb.KeyValueChecker
} = (*memState)(nil)

func (m *memState) Get(ns, key string) (*statedb.VersionedValue, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vv, ok := m.data[ns][key]
	if !ok {
		return nil, nil
	}
	return &vv, nil
}

// sorted returns the entries of ns in key order.
func (m *memState) sorted(ns string) []*statedb.KV {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*statedb.KV
	for k, vv := range m.data[ns] {
		out = append(out, &statedb.KV{Namespace: ns, Key: k, VersionedValue: vv})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (m *memState) GetRange(ns, start, end string) (statedb.Iterator, error) {
	var kvs []*statedb.KV
	for _, kv := range m.sorted(ns) {
		if kv.Key >= start && (end == "" || kv.Key < end) {
			kvs = append(kvs, kv)
		}
	}
	return &memIter{kvs: kvs}, nil
}

func (m *memState) Apply(b *statedb.Batch, sp statedb.Version) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := b.ForEach(func(ns, key string, vv *statedb.VersionedValue, deleted bool, v statedb.Version) error {
		if m.data[ns] == nil {
			m.data[ns] = map[string]statedb.VersionedValue{}
		}
		if deleted {
			delete(m.data[ns], key)
		} else {
			m.data[ns][key] = *vv
		}
		return nil
	})
	m.savepoint = &sp
	return err
}

func (m *memState) Savepoint() (statedb.Version, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.savepoint == nil {
		return statedb.Version{}, false, nil
	}
	return *m.savepoint, true, nil
}

func (m *memState) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memState) Preload(keys []statedb.NsKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.preloads = append(m.preloads, append([]statedb.NsKey(nil), keys...))
	return m.failLoad
}

func (m *memState) CheckKeyValue(key string, value []byte) error {
	m.mu.Lock()
	m.checks = append(m.checks, key+"="+string(value))
	m.mu.Unlock()
	if strings.HasPrefix(key, "_") {
		return fmt.Errorf("invalid key %q: a key cannot begin with \"_\"", key)
	}
	var doc map[string]any
	if json.Unmarshal(value, &doc) == nil {
		for f := range doc {
			if strings.HasPrefix(f, "_") {
				return fmt.Errorf("invalid JSON value of key %q: field %q is reserved", key, f)
			}
		}
	}
	return nil
}

type memQuery struct {
	Selector map[string]any `json:"selector"`
	Sort     []any          `json:"sort"`
}

// run returns every entry of ns the query selects, in its order.
func (m *memState) run(ns, query string) ([]*statedb.KV, error) {
	var q memQuery
	if err := json.Unmarshal([]byte(query), &q); err != nil || q.Selector == nil {
		return nil, fmt.Errorf("query %s: want {\"selector\": {...}}", query)
	}
	type hit struct {
		kv  *statedb.KV
		doc map[string]any
	}
	var hits []hit
	for _, kv := range m.sorted(ns) {
		var doc map[string]any
		if json.Unmarshal(kv.Value, &doc) != nil {
			continue
		}
		match := true
		for f, want := range q.Selector {
			if fmt.Sprint(doc[f]) != fmt.Sprint(want) {
				match = false
			}
		}
		if match {
			hits = append(hits, hit{kv, doc})
		}
	}
	if len(q.Sort) == 1 {
		field, desc := "", false
		switch s := q.Sort[0].(type) {
		case string:
			field = s
		case map[string]any:
			for f, dir := range s {
				field, desc = f, dir == "desc"
			}
		}
		sort.SliceStable(hits, func(i, j int) bool {
			a, b := fmt.Sprint(hits[i].doc[field]), fmt.Sprint(hits[j].doc[field])
			if desc {
				return a > b
			}
			return a < b
		})
	}
	out := make([]*statedb.KV, len(hits))
	for i, h := range hits {
		out[i] = h.kv
	}
	return out, nil
}

func (m *memState) ExecuteQuery(ns, query string) (statedb.Iterator, error) {
	kvs, err := m.run(ns, query)
	if err != nil {
		return nil, err
	}
	return &memIter{kvs: kvs}, nil
}

func (m *memState) ExecuteQueryPage(ns, query, bookmark string, pageSize int32) ([]*statedb.KV, string, error) {
	m.mu.Lock()
	m.pages = append(m.pages, fmt.Sprintf("%s %s/%d", ns, bookmark, pageSize))
	m.mu.Unlock()
	kvs, err := m.run(ns, query)
	if err != nil {
		return nil, "", err
	}
	from := 0
	if bookmark != "" {
		if from, err = strconv.Atoi(bookmark); err != nil || from > len(kvs) {
			return nil, "", errors.New("bad bookmark")
		}
	}
	to := min(from+int(pageSize), len(kvs))
	next := ""
	if to < len(kvs) {
		next = strconv.Itoa(to)
	}
	return kvs[from:to], next, nil
}

type memIter struct {
	mu     sync.Mutex
	kvs    []*statedb.KV
	closed bool
}

func (it *memIter) Next() (*statedb.KV, error) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.closed || len(it.kvs) == 0 {
		return nil, nil
	}
	kv := it.kvs[0]
	it.kvs = it.kvs[1:]
	return kv, nil
}

func (it *memIter) Close() {
	it.mu.Lock()
	it.closed = true
	it.mu.Unlock()
}
