package couchdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb"

	"github.com/weft-ledger/weft/statedb"
)

// DB is the world state of one channel in CouchDB. It is safe for
// concurrent use; Applies run one at a time.
type DB struct {
	c       *Client
	channel string
	metaDB  string // the channel's metadata database, prefix included
	limit   int    // what is left of CouchDB's name length after the prefix

	// ctx is cancelled by Close, so retries and index warming stop.
	ctx    context.Context
	cancel context.CancelFunc

	observe atomic.Pointer[func(elapsed time.Duration, updates int)]

	// names memoises namespace → database name.
	names sync.Map

	// applyMu serialises Applies; it guards applied.
	applyMu sync.Mutex
	applied int // Applies since the indexes were last warmed

	// metaMu guards meta, the channel_metadata document (nil until first
	// loaded), which Apply and CreateIndexes update when they create a
	// namespace's database, and savepointRev, the savepoint document's
	// revision ("" when unknown).
	metaMu       sync.Mutex
	meta         *channelMetadata
	savepointRev string

	// warming is set while the index warmer runs; warmWG waits for it.
	warming atomic.Bool
	warmWG  sync.WaitGroup
	// indexMu guards indexless, the namespace databases the warmer found
	// without a JSON index, which it does not list again after every
	// block, and indexesCreated, which CreateIndexes bumps as it forgets a
	// database there (so a listing that raced it records nothing).
	// warmPasses is the warmer's own (one pass runs at a time).
	indexMu        sync.Mutex
	indexless      map[string]bool
	indexesCreated uint64
	warmPasses     int
}

func newDB(c *Client, channel, metaDB string) *DB {
	ctx, cancel := context.WithCancel(context.Background())
	return &DB{
		c:       c,
		channel: channel,
		metaDB:  metaDB,
		limit:   maxDBNameLength - len(c.cfg.DatabasePrefix),
		ctx:     ctx,
		cancel:  cancel,
	}
}

// ObserveApply makes every successful Apply call fn with its duration and
// the number of updates it wrote (for the state database timing metric);
// nil stops it. fn runs on the committing goroutine and must be quick.
func (d *DB) ObserveApply(fn func(elapsed time.Duration, updates int)) {
	if fn == nil {
		d.observe.Store(nil)
		return
	}
	d.observe.Store(&fn)
}

// dbName is the database of namespace ns.
func (d *DB) dbName(ns string) (string, error) {
	if n, ok := d.names.Load(ns); ok {
		return n.(string), nil
	}
	if ns == "" {
		// Fabric's name for it would be the metadata database's.
		return "", fmt.Errorf("couchdb: the empty namespace cannot be stored in CouchDB")
	}
	name, err := checkDBName(namespaceDBName(d.channel, ns, d.limit), "namespace "+strconv.Quote(ns))
	if err != nil {
		return "", fmt.Errorf("couchdb: %w", err)
	}
	name = d.c.cfg.DatabasePrefix + name
	d.names.Store(ns, name)
	return name, nil
}

func (d *DB) cacheKey(ns, key string) cacheKey { return cacheKey{d.channel, ns, key} }

func copyVV(vv *statedb.VersionedValue) *statedb.VersionedValue {
	c := &statedb.VersionedValue{Version: vv.Version, Value: append([]byte{}, vv.Value...)}
	if len(vv.Metadata) > 0 {
		c.Metadata = append([]byte(nil), vv.Metadata...)
	}
	return c
}

// Get implements statedb.DB. A key CouchDB cannot hold (see CheckKeyValue)
// is absent.
func (d *DB) Get(ns, key string) (*statedb.VersionedValue, error) {
	name, err := d.dbName(ns)
	if err != nil {
		return nil, err
	}
	id, err := docID(ns, key)
	if err != nil {
		return nil, nil
	}
	ck := d.cacheKey(ns, key)
	if e, ok := d.c.cache.get(ck); ok && (!e.present || e.valueKnown) {
		if !e.present {
			return nil, nil
		}
		return copyVV(&e.vv), nil
	}
	gen := d.c.cache.generation(d.channel)
	doc, err := d.readDoc(d.ctx, name, id)
	if err != nil {
		return nil, err
	}
	if doc == nil {
		d.c.cache.fill(d.channel, gen, []*cacheEntry{{key: ck}})
		return nil, nil
	}
	d.c.cache.fill(d.channel, gen, []*cacheEntry{{key: ck, present: true, valueKnown: true, vv: doc.vv, rev: doc.rev}})
	return copyVV(&doc.vv), nil
}

// readDoc reads one state document with its attachment; nil when it (or
// its database) does not exist.
func (d *DB) readDoc(ctx context.Context, db, id string) (*storedDoc, error) {
	var doc *storedDoc
	err := d.c.call(ctx, "read "+db+"/"+strconv.Quote(id), func(ctx context.Context) error {
		var raw json.RawMessage
		err := d.c.kc.DB(db).Get(ctx, id, kivik.Param("attachments", true), couchdb.OptionNoMultipartGet()).ScanDoc(&raw)
		if kivik.HTTPStatus(err) == http.StatusNotFound {
			doc = nil
			return nil
		}
		if err != nil {
			return err
		}
		doc, err = decodeDoc(raw)
		return err
	})
	return doc, err
}

// docRow is one row of _all_docs asked by keys.
type docRow struct {
	rev     string
	deleted bool
	doc     json.RawMessage // with include_docs, for a live document
}

// allDocsByKeys returns the rows of the live and deleted documents among
// ids; ids CouchDB does not know, or a database that does not exist, give
// no row.
func (d *DB) allDocsByKeys(ctx context.Context, db string, ids []string, includeDocs bool) (map[string]docRow, error) {
	rows := make(map[string]docRow, len(ids))
	if len(ids) == 0 {
		return rows, nil
	}
	err := d.c.call(ctx, fmt.Sprintf("read %d documents of %s", len(ids), db), func(ctx context.Context) error {
		clear(rows)
		opts := []kivik.Option{kivik.Param("keys", ids)}
		if includeDocs {
			opts = append(opts, kivik.Param("include_docs", true), kivik.Param("attachments", true))
		}
		rs := d.c.kc.DB(db).AllDocs(ctx, opts...)
		defer rs.Close()
		for rs.Next() {
			var value struct {
				Rev     string `json:"rev"`
				Deleted bool   `json:"deleted"`
			}
			if err := rs.ScanValue(&value); err != nil {
				return err
			}
			id, err := rs.ID()
			if err != nil {
				return err
			}
			if id == "" || value.Rev == "" {
				continue // {"key": ..., "error": "not_found"}
			}
			r := docRow{rev: value.Rev, deleted: value.Deleted}
			if includeDocs && !value.Deleted {
				if err := rs.ScanDoc(&r.doc); err != nil {
					return err
				}
			}
			rows[id] = r
		}
		err := rs.Err()
		if kivik.HTTPStatus(err) == http.StatusNotFound {
			clear(rows)
			return nil // no database yet
		}
		return err
	})
	return rows, err
}

// Preload implements statedb.BulkLoader: the keys not in the cache are read
// with one _all_docs request per database (include_docs, with
// attachments), and the cache then answers the Gets that follow, absent
// keys included. With the cache disabled it does nothing.
func (d *DB) Preload(keys []statedb.NsKey) error {
	if !d.c.cache.enabled() {
		return nil
	}
	gen := d.c.cache.generation(d.channel)
	byNS := map[string][]string{}
	for _, k := range keys {
		if e, ok := d.c.cache.get(d.cacheKey(k.Namespace, k.Key)); ok && (!e.present || e.valueKnown) {
			continue
		}
		byNS[k.Namespace] = append(byNS[k.Namespace], k.Key)
	}
	nss := make([]string, 0, len(byNS))
	for ns := range byNS {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	for _, ns := range nss {
		name, err := d.dbName(ns)
		if err != nil {
			return err
		}
		keyOfID := map[string]string{}
		var ids []string
		for _, key := range byNS[ns] {
			id, err := docID(ns, key)
			if err != nil {
				continue // cannot exist
			}
			if _, dup := keyOfID[id]; !dup {
				keyOfID[id] = key
				ids = append(ids, id)
			}
		}
		rows, err := d.allDocsByKeys(d.ctx, name, ids, true)
		if err != nil {
			return err
		}
		entries := make([]*cacheEntry, 0, len(ids))
		for _, id := range ids {
			e := &cacheEntry{key: d.cacheKey(ns, keyOfID[id])}
			if r, ok := rows[id]; ok && !r.deleted {
				doc, err := decodeDoc(r.doc)
				if err != nil {
					return fmt.Errorf("couchdb: preload %s: %w", name, err)
				}
				e.present, e.valueKnown, e.vv, e.rev = true, true, doc.vv, doc.rev
			}
			entries = append(entries, e)
		}
		d.c.cache.fill(d.channel, gen, entries)
	}
	return nil
}

// Savepoint implements statedb.DB: the statedb_savepoint document of the
// channel's metadata database.
func (d *DB) Savepoint() (statedb.Version, bool, error) {
	var sp savepointDoc
	found, err := d.c.getJSON(d.ctx, d.metaDB, savepointDocID, &sp)
	if err != nil || !found {
		return statedb.Version{}, false, err
	}
	return statedb.Version{BlockNum: sp.BlockNum, TxNum: sp.TxNum}, true, nil
}

// savepointDoc is Fabric's savepoint document.
type savepointDoc struct {
	Rev      string `json:"_rev,omitempty"`
	BlockNum uint64 `json:"BlockNum"`
	TxNum    uint64 `json:"TxNum"`
}

// Close implements statedb.DB: it stops index warming and any request in
// flight. It does not close the Client.
func (d *DB) Close() error {
	d.cancel()
	d.warmWG.Wait()
	return nil
}

// HealthCheck implements statedb.HealthChecker: one request to the
// server's root.
func (d *DB) HealthCheck(ctx context.Context) error { return d.c.HealthCheck(ctx) }

// CheckKeyValue implements statedb.KeyValueChecker with Fabric's CouchDB
// rules: the key must be UTF-8, not empty and not start with "_"; a value
// that is a JSON object may not have a top-level field "~version" or one
// starting with "_". There is no size limit here, as in Fabric: CouchDB's
// max_document_size (8 MB by default in 3.x) applies at commit.
func (d *DB) CheckKeyValue(key string, value []byte) error {
	if err := checkKey(key); err != nil {
		if errors.Is(err, errKeyNotUTF8) {
			return fmt.Errorf("invalid key [%x] for the CouchDB state database: %w", key, err)
		}
		return fmt.Errorf("invalid key [%s] for the CouchDB state database: %w", key, err)
	}
	if fields, ok := jsonObjectFields(value); ok {
		if f, bad := reservedField(fields); bad {
			return fmt.Errorf("value of key [%s]: %w", key, errReservedField(f))
		}
	}
	return nil
}
