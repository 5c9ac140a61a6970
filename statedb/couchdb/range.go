package couchdb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/weft-ledger/weft/statedb"
)

// GetRange implements statedb.DB with _all_docs, whose order is the byte
// order of the document IDs, in pages of InternalQueryLimit documents.
//
// A bound that is not valid UTF-8 (no document ID can be) still bounds
// the scan by byte order: the scan starts at its longest valid prefix and
// drops keys below the bound, and an end bound is applied to the keys as
// they arrive. Keys of a $$h namespace are stored in base64, whose order
// is not theirs: such a range reads the whole namespace and sorts it.
//
// PouchDB Server orders IDs by UTF-16 code units in memory and by UTF-8
// bytes on disk, and neither agrees with CouchDB when a range holds both
// characters from U+E000 to U+FFFF and characters above U+FFFF; on it, a
// range is read whole (within its bounds, in two spans) and sorted.
func (d *DB) GetRange(ns, startKey, endKey string) (statedb.Iterator, error) {
	name, err := d.dbName(ns)
	if err != nil {
		return nil, err
	}
	it := &rangeIter{d: d, ns: ns, db: name, start: startKey, end: endKey}
	it.next = validFloor(startKey)
	if validFloor(endKey) == endKey {
		it.endParam = endKey
	}
	if isHashedNamespace(ns) {
		it.whole = true
		it.next, it.endParam = "", ""
	}
	if !d.c.apache {
		it.whole = true
		it.next, it.endParam = utf16Floor(it.next), pouchMaxKey
	}
	return it, nil
}

// utf16Floor cuts s before its first character at or above U+E000: below
// that, byte order and UTF-16 order agree, so every ID at or above s in byte
// order is at or above the result in UTF-16 order too.
func utf16Floor(s string) string {
	for i, r := range s {
		if r >= 0xE000 {
			return s[:i]
		}
	}
	return s
}

// pouchMaxKey bounds scans to the end on PouchDB Server, whose _all_docs
// without an endkey stops before IDs starting above U+00FF. It compares
// code units of UTF-16, where U+FFFF is the largest, so this is above any
// ID that does not itself start with it four times.
const pouchMaxKey = "\uffff\uffff\uffff\uffff"

// PouchDB Server on disk (a data folder: LevelDB underneath) orders IDs by
// their UTF-8 bytes instead, where IDs starting above U+FFFF sort after
// pouchMaxKey. So a whole scan on PouchDB Server also reads the span of
// IDs that start with such a character: in either order these bounds hold
// exactly those IDs, and an ID the first span returned too is kept once.
const (
	pouchSupplementaryMin = "\U00010000"
	pouchSupplementaryMax = "\U0010ffff\U0010ffff\U0010ffff\U0010ffff"
)

type rangeIter struct {
	d      *DB
	ns, db string
	// start and end are the caller's bounds, applied to every key.
	start, end string
	// next is the startkey of the next page; endParam the endkey sent
	// ("" for none).
	next, endParam string
	// whole reads the range at once and sorts it.
	whole        bool
	buf          []*statedb.KV
	done, closed bool
}

func (r *rangeIter) Next() (*statedb.KV, error) {
	for len(r.buf) == 0 {
		if r.closed || r.done {
			return nil, nil
		}
		var err error
		if r.whole {
			err = r.loadWhole()
		} else {
			err = r.loadPage()
		}
		if err != nil {
			r.done = true
			return nil, fmt.Errorf("range scan of %s: %w", r.ns, err)
		}
	}
	kv := r.buf[0]
	r.buf = r.buf[1:]
	return kv, nil
}

func (r *rangeIter) Close() {
	r.closed = true
	r.buf = nil
}

func (r *rangeIter) inRange(key string) bool {
	return key >= r.start && (r.end == "" || key < r.end)
}

// page reads up to limit documents of the database from startkey (and
// below endkey when set); last is the ID of the last row, "" when there
// were none.
func (d *DB) page(ctx context.Context, db, startkey, endkey string, limit int) (docs []*storedDoc, last string, rows int, err error) {
	err = d.c.call(ctx, "range scan of "+db, func(ctx context.Context) error {
		docs, last, rows = docs[:0], "", 0
		opts := kivik.Params(map[string]any{
			"include_docs":  true,
			"attachments":   true,
			"inclusive_end": false,
			"limit":         limit,
		})
		extra := []kivik.Option{opts}
		if startkey != "" {
			extra = append(extra, kivik.Param("startkey", startkey))
		}
		if endkey != "" {
			extra = append(extra, kivik.Param("endkey", endkey))
		}
		rs := d.c.kc.DB(db).AllDocs(ctx, extra...)
		defer rs.Close()
		for rs.Next() {
			id, err := rs.ID()
			if err != nil {
				return err
			}
			rows++
			last = id
			if len(id) > 0 && id[0] == '_' {
				continue // a design document
			}
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
		err := rs.Err()
		if kivik.HTTPStatus(err) == http.StatusNotFound {
			docs, last, rows = docs[:0], "", 0
			return nil // no database yet: an empty namespace
		}
		return err
	})
	return docs, last, rows, err
}

func (r *rangeIter) loadPage() error {
	limit := r.d.c.cfg.InternalQueryLimit
	docs, last, rows, err := r.d.page(r.d.ctx, r.db, r.next, r.endParam, limit)
	if err != nil {
		return err
	}
	for _, doc := range docs {
		if r.end != "" && doc.id >= r.end {
			r.done = true
			break
		}
		if doc.id < r.start {
			continue
		}
		r.buf = append(r.buf, &statedb.KV{Namespace: r.ns, Key: doc.id, VersionedValue: doc.vv})
	}
	if rows < limit {
		r.done = true
	}
	// The smallest ID above last.
	r.next = last + "\x00"
	return nil
}

func (r *rangeIter) loadWhole() error {
	r.done = true
	spans := [][2]string{{r.next, r.endParam}}
	if !r.d.c.apache {
		spans = append(spans, [2]string{pouchSupplementaryMin, pouchSupplementaryMax})
	}
	seen := map[string]bool{}
	var all []*statedb.KV
	limit := r.d.c.cfg.InternalQueryLimit
	for _, span := range spans {
		next := span[0]
		for {
			docs, last, rows, err := r.d.page(r.d.ctx, r.db, next, span[1], limit)
			if err != nil {
				return err
			}
			for _, doc := range docs {
				key, err := keyOf(r.ns, doc.id)
				if err != nil {
					return err
				}
				if r.inRange(key) && !seen[key] {
					seen[key] = true
					all = append(all, &statedb.KV{Namespace: r.ns, Key: key, VersionedValue: doc.vv})
				}
			}
			if rows < limit {
				break
			}
			next = last + "\x00"
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Key < all[j].Key })
	r.buf = all
	return nil
}
