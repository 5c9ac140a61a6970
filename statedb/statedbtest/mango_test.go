package statedbtest

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/weft-ledger/weft/statedb"
)

// The docStore's query engine: the subset of Mango the suite sends.

type mangoQuery struct {
	selector map[string]any
	sort     []sortField
	fields   []string
}

type sortField struct {
	path string
	desc bool
}

func parseQuery(query string) (*mangoQuery, error) {
	v, ok := decodeJSON([]byte(query))
	if !ok {
		return nil, fmt.Errorf("query %q is not valid JSON", query)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("query %q is not a JSON object", query)
	}
	q := &mangoQuery{}
	if q.selector, ok = top["selector"].(map[string]any); !ok {
		return nil, fmt.Errorf(`query %q: "selector" must be an object`, query)
	}
	if s, in := top["sort"]; in {
		list, ok := s.([]any)
		if !ok {
			return nil, fmt.Errorf(`query %q: "sort" must be an array`, query)
		}
		for _, f := range list {
			switch f := f.(type) {
			case string:
				q.sort = append(q.sort, sortField{path: f})
			case map[string]any:
				for p, dir := range f {
					q.sort = append(q.sort, sortField{path: p, desc: dir == "desc"})
				}
			default:
				return nil, fmt.Errorf(`query %q: "sort" holds %v`, query, f)
			}
		}
	}
	if f, in := top["fields"]; in {
		list, ok := f.([]any)
		if !ok {
			return nil, fmt.Errorf(`query %q: "fields" must be an array`, query)
		}
		for _, name := range list {
			s, ok := name.(string)
			if !ok {
				return nil, fmt.Errorf(`query %q: "fields" holds %v`, query, name)
			}
			q.fields = append(q.fields, s)
		}
	}
	if err := checkSelector(q.selector); err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	return q, nil
}

var operators = map[string]bool{"$eq": true, "$ne": true, "$gt": true, "$gte": true, "$lt": true, "$lte": true, "$in": true, "$exists": true}

func checkSelector(sel map[string]any) error {
	for k, v := range sel {
		switch k {
		case "$and", "$or":
			list, ok := v.([]any)
			if !ok {
				return fmt.Errorf("%s needs an array", k)
			}
			for _, s := range list {
				m, ok := s.(map[string]any)
				if !ok {
					return fmt.Errorf("%s holds %v", k, s)
				}
				if err := checkSelector(m); err != nil {
					return err
				}
			}
		case "$not":
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("$not needs an object")
			}
			if err := checkSelector(m); err != nil {
				return err
			}
		default:
			if strings.HasPrefix(k, "$") {
				return fmt.Errorf("unknown operator %s", k)
			}
			if cond, ok := v.(map[string]any); ok {
				for op := range cond {
					if strings.HasPrefix(op, "$") && !operators[op] {
						return fmt.Errorf("unknown operator %s", op)
					}
				}
			}
		}
	}
	return nil
}

func field(d map[string]any, path string) (any, bool) {
	var cur any = d
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// compare orders numbers and strings; ok is false for other pairs.
func compare(a, b any) (int, bool) {
	if na, ok := a.(json.Number); ok {
		nb, ok := b.(json.Number)
		if !ok {
			return 0, false
		}
		ra, _ := new(big.Rat).SetString(na.String())
		rb, _ := new(big.Rat).SetString(nb.String())
		return ra.Cmp(rb), true
	}
	if sa, ok := a.(string); ok {
		sb, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(sa, sb), true
	}
	return 0, false
}

func matches(d map[string]any, sel map[string]any) bool {
	for k, v := range sel {
		switch k {
		case "$and", "$or":
			some := false
			for _, s := range v.([]any) {
				m := matches(d, s.(map[string]any))
				if k == "$and" && !m {
					return false
				}
				some = some || m
			}
			if k == "$or" && !some {
				return false
			}
		case "$not":
			if matches(d, v.(map[string]any)) {
				return false
			}
		default:
			got, in := field(d, k)
			cond, isCond := v.(map[string]any)
			if !isCond {
				cond = map[string]any{"$eq": v}
			}
			for op, want := range cond {
				if !holds(op, got, in, want) {
					return false
				}
			}
		}
	}
	return true
}

func holds(op string, got any, in bool, want any) bool {
	if op == "$exists" {
		return in == (want == true)
	}
	if !in {
		return false
	}
	c, ok := compare(got, want)
	switch op {
	case "$eq":
		return sameJSON(got, want)
	case "$ne":
		return !sameJSON(got, want)
	case "$gt":
		return ok && c > 0
	case "$gte":
		return ok && c >= 0
	case "$lt":
		return ok && c < 0
	case "$lte":
		return ok && c <= 0
	case "$in":
		list, _ := want.([]any)
		for _, w := range list {
			if sameJSON(got, w) {
				return true
			}
		}
	}
	return false
}

// run returns the results of query over the JSON objects of ns: by key,
// then stably by the sort fields, then projected.
func (d *docStore) run(ns, query string) ([]*statedb.KV, error) {
	q, err := parseQuery(query)
	if err != nil {
		return nil, err
	}
	d.st.mu.Lock()
	var kvs []*statedb.KV
	docs := map[string]map[string]any{}
	for k, vv := range d.st.data[ns] {
		v, ok := decodeJSON(vv.Value)
		doc, isObj := v.(map[string]any)
		if ok && isObj && matches(doc, q.selector) {
			kvs = append(kvs, &statedb.KV{Namespace: ns, Key: k, VersionedValue: vv})
			docs[k] = doc
		}
	}
	d.st.mu.Unlock()
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	if !d.bugs.unsortedQuery {
		sort.SliceStable(kvs, func(i, j int) bool {
			for _, f := range q.sort {
				a, _ := field(docs[kvs[i].Key], f.path)
				b, _ := field(docs[kvs[j].Key], f.path)
				if c, ok := compare(a, b); ok && c != 0 {
					return (c < 0) != f.desc
				}
			}
			return false
		})
	}
	if q.fields != nil {
		for i, kv := range kvs {
			proj := map[string]any{}
			for _, f := range q.fields {
				if v, ok := docs[kv.Key][f]; ok {
					proj[f] = v
				}
			}
			value, _ := json.Marshal(proj)
			cp := *kv
			cp.Value = value
			kvs[i] = &cp
		}
	}
	return kvs, nil
}
