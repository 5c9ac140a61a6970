package couchdb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/weft-ledger/weft/statedb"
)

// channelMetadata is Fabric's channel_metadata document: which database
// holds each namespace of the channel (names may be truncated and hashed,
// so they cannot always be read back from the database list).
type channelMetadata struct {
	Rev              string                      `json:"_rev,omitempty"`
	ChannelName      string                      `json:"ChannelName"`
	NamespaceDBsInfo map[string]*namespaceDBInfo `json:"NamespaceDBsInfo"`
}

type namespaceDBInfo struct {
	Namespace string `json:"Namespace"`
	DBName    string `json:"DBName"`
}

// write is one update of a batch on its way to CouchDB.
type write struct {
	ns, key, id string
	vv          *statedb.VersionedValue // nil for a delete
	v           statedb.Version
	isJSON      bool
	// rev is the document's current revision before the write ("" when
	// CouchDB holds no live document) and its new one after.
	rev string
	// skip marks a delete of a document that does not exist.
	skip bool
}

func (w *write) deleted() bool { return w.vv == nil }

func (w *write) encode() []byte {
	return encodeDoc(w.id, w.rev, w.vv, w.isJSON, w.deleted(), w.v)
}

// nsWrites are the writes of one namespace.
type nsWrites struct {
	ns, db string
	writes []*write
}

// Apply implements statedb.DB. CouchDB has no transaction over several
// documents, so Apply is not atomic; it is idempotent instead, which is
// what recovery needs: the ledger applies again every block above the
// savepoint, and writing a batch a second time (over a first attempt that
// stopped anywhere) leaves the documents as one complete Apply would.
//
// The updates are written with _bulk_docs, at most MaxBatchUpdateSize
// documents a request, a few requests at a time; each needs the current
// _rev of the document it replaces or deletes, taken from the cache or else
// read with one _all_docs request per database. A document whose write
// conflicts is retried on its own with its current _rev. The savepoint
// document is written last, so it never claims a block not fully written.
func (d *DB) Apply(b *statedb.Batch, savepoint statedb.Version) error {
	start := time.Now()
	d.applyMu.Lock()
	defer d.applyMu.Unlock()
	d.c.cache.beginApply(d.channel, d.batchKeys(b))
	groups, entries, err := d.apply(b, savepoint)
	if err != nil {
		// Documents written before the failure have revisions the cache
		// does not know.
		var keys []cacheKey
		for _, g := range groups {
			for _, w := range g.writes {
				keys = append(keys, d.cacheKey(w.ns, w.key))
			}
		}
		d.c.cache.drop(keys)
	} else {
		d.c.cache.set(entries)
	}
	d.c.cache.endApply(d.channel)
	if err != nil {
		return fmt.Errorf("apply %d state updates at savepoint %s: %w", b.Len(), savepoint, err)
	}
	if fn := d.observe.Load(); fn != nil {
		(*fn)(time.Since(start), b.Len())
	}
	d.applied++
	if d.applied >= d.c.cfg.WarmIndexesAfterNBlocks {
		d.applied = 0
		d.warmIndexes()
	}
	return nil
}

// batchKeys are the cache keys b writes (none when the cache is off).
func (d *DB) batchKeys(b *statedb.Batch) []cacheKey {
	if !d.c.cache.enabled() {
		return nil
	}
	keys := make([]cacheKey, 0, b.Len())
	_ = b.ForEach(func(ns, key string, _ *statedb.VersionedValue, _ bool, _ statedb.Version) error {
		keys = append(keys, d.cacheKey(ns, key))
		return nil
	})
	return keys
}

func (d *DB) apply(b *statedb.Batch, savepoint statedb.Version) ([]*nsWrites, []*cacheEntry, error) {
	ctx := d.ctx
	groups, err := d.plan(b)
	if err != nil {
		return nil, nil, err
	}
	if err := d.loadMeta(ctx); err != nil {
		return groups, nil, err
	}
	for _, g := range groups {
		if err := d.findRevisions(ctx, g); err != nil {
			return groups, nil, err
		}
	}
	var chunks []func() error
	for _, g := range groups {
		var live []*write
		for _, w := range g.writes {
			if !w.skip {
				live = append(live, w)
			}
		}
		if len(live) == 0 {
			continue
		}
		if err := d.ensureNamespaceDB(ctx, g.ns, g.db); err != nil {
			return groups, nil, err
		}
		for i := 0; i < len(live); i += d.c.cfg.MaxBatchUpdateSize {
			part := live[i:min(i+d.c.cfg.MaxBatchUpdateSize, len(live))]
			db := g.db
			chunks = append(chunks, func() error { return d.writeChunk(ctx, db, part) })
		}
	}
	if err := runLimited(chunks, 4); err != nil {
		return groups, nil, err
	}
	if err := d.writeSavepoint(ctx, savepoint); err != nil {
		return groups, nil, err
	}
	var entries []*cacheEntry
	if d.c.cache.enabled() {
		for _, g := range groups {
			for _, w := range g.writes {
				e := &cacheEntry{key: d.cacheKey(w.ns, w.key)}
				if !w.deleted() {
					e.present, e.rev = true, w.rev
					e.vv = statedb.VersionedValue{Version: w.vv.Version, Metadata: w.vv.Metadata}
					e.vv.Value, e.valueKnown = cacheableValue(w.vv.Value)
				}
				entries = append(entries, e)
			}
		}
	}
	return groups, entries, nil
}

// plan turns the batch into writes, refusing it before any request when a
// namespace, key or value cannot be stored.
func (d *DB) plan(b *statedb.Batch) ([]*nsWrites, error) {
	var groups []*nsWrites
	byNS := map[string]*nsWrites{}
	err := b.ForEach(func(ns, key string, vv *statedb.VersionedValue, deleted bool, v statedb.Version) error {
		g := byNS[ns]
		if g == nil {
			name, err := d.dbName(ns)
			if err != nil {
				return err
			}
			g = &nsWrites{ns: ns, db: name}
			byNS[ns] = g
			groups = append(groups, g)
		}
		id, err := docID(ns, key)
		if err != nil {
			return fmt.Errorf("couchdb: key %q of namespace %s: %w", key, ns, err)
		}
		w := &write{ns: ns, key: key, id: id, v: v}
		if !deleted {
			w.vv = vv
			if fields, ok := jsonObjectFields(vv.Value); ok {
				if f, bad := reservedField(fields); bad {
					return fmt.Errorf("couchdb: value of key %q of namespace %s: %w", key, ns, errReservedField(f))
				}
				w.isJSON = true
			}
		}
		g.writes = append(g.writes, w)
		return nil
	})
	return groups, err
}

// findRevisions sets the current _rev of every write of g, from the cache
// or from CouchDB, and marks deletes of absent documents to be skipped.
func (d *DB) findRevisions(ctx context.Context, g *nsWrites) error {
	var missing []string
	byID := map[string]*write{}
	for _, w := range g.writes {
		if e, ok := d.c.cache.get(d.cacheKey(w.ns, w.key)); ok {
			w.rev = e.rev
			w.skip = w.deleted() && !e.present
			continue
		}
		missing = append(missing, w.id)
		byID[w.id] = w
	}
	rows, err := d.allDocsByKeys(ctx, g.db, missing, false)
	if err != nil {
		return err
	}
	for _, id := range missing {
		w := byID[id]
		r, ok := rows[id]
		live := ok && !r.deleted
		if live {
			w.rev = r.rev
		}
		w.skip = w.deleted() && !live
	}
	return nil
}

// runLimited runs fns, at most n at a time, and returns the first error.
func runLimited(fns []func() error, n int) error {
	if len(fns) == 1 {
		return fns[0]()
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, n)
	for _, fn := range fns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// writeChunk writes ws to db with one _bulk_docs request, then retries on
// its own each document that conflicted.
func (d *DB) writeChunk(ctx context.Context, db string, ws []*write) error {
	docs := make([]any, len(ws))
	byID := make(map[string]*write, len(ws))
	for i, w := range ws {
		docs[i] = json.RawMessage(w.encode())
		byID[w.id] = w
	}
	var results []kivik.BulkResult
	err := d.c.call(ctx, fmt.Sprintf("write %d documents to %s", len(ws), db), func(ctx context.Context) error {
		var err error
		results, err = d.c.kc.DB(db).BulkDocs(ctx, docs)
		if kivik.HTTPStatus(err) == http.StatusExpectationFailed && results != nil {
			return nil // some documents were refused: see their results
		}
		return err
	})
	if err != nil {
		return err
	}
	var conflicts []*write
	for _, r := range results {
		w := byID[r.ID]
		if w == nil {
			return fmt.Errorf("CouchDB at %s: write to %s answered for document %q, which was not sent", d.c.addr, db, r.ID)
		}
		switch {
		case r.Error == nil:
			w.rev = r.Rev
		case kivik.HTTPStatus(r.Error) == http.StatusConflict:
			conflicts = append(conflicts, w)
		default:
			return fmt.Errorf("CouchDB at %s: write %s/%s (key %q of namespace %s): %w", d.c.addr, db, strconv.Quote(w.id), w.key, w.ns, r.Error)
		}
	}
	for _, w := range conflicts {
		if err := d.retryWrite(ctx, db, w); err != nil {
			return err
		}
	}
	return nil
}

// retryWrite writes w alone after a conflict: its revision changed since
// it was read (most often because an earlier attempt of the same Apply
// wrote it and lost the answer), so it reads the current one and writes
// again, MaxRetries times at most.
func (d *DB) retryWrite(ctx context.Context, db string, w *write) error {
	for attempt := 0; attempt <= d.c.cfg.MaxRetries; attempt++ {
		rows, err := d.allDocsByKeys(ctx, db, []string{w.id}, false)
		if err != nil {
			return err
		}
		r, ok := rows[w.id]
		live := ok && !r.deleted
		if w.deleted() && !live {
			return nil // already deleted
		}
		w.rev = ""
		if live {
			w.rev = r.rev
		}
		raw := w.encode()
		var results []kivik.BulkResult
		err = d.c.call(ctx, "write "+db+"/"+strconv.Quote(w.id), func(ctx context.Context) error {
			var err error
			results, err = d.c.kc.DB(db).BulkDocs(ctx, []any{json.RawMessage(raw)})
			if kivik.HTTPStatus(err) == http.StatusExpectationFailed && results != nil {
				return nil
			}
			return err
		})
		if err != nil {
			return err
		}
		if len(results) != 1 {
			return fmt.Errorf("CouchDB at %s: write %s/%s answered %d results", d.c.addr, db, strconv.Quote(w.id), len(results))
		}
		switch {
		case results[0].Error == nil:
			w.rev = results[0].Rev
			return nil
		case kivik.HTTPStatus(results[0].Error) != http.StatusConflict:
			return fmt.Errorf("CouchDB at %s: write %s/%s (key %q of namespace %s): %w", d.c.addr, db, strconv.Quote(w.id), w.key, w.ns, results[0].Error)
		}
		d.c.log.Warn("couchdb document revision conflict, retrying", "db", db, "id", w.id, "attempt", attempt+1)
	}
	return fmt.Errorf("CouchDB at %s: write %s/%s (key %q of namespace %s): revision conflict after %d attempts", d.c.addr, db, strconv.Quote(w.id), w.key, w.ns, d.c.cfg.MaxRetries+1)
}

// putDoc writes document id of db with the revision it has in CouchDB: rev
// when that is known and current, else the one read after a conflict.
// doc(rev) returns the document to write; putDoc returns its new revision.
func (d *DB) putDoc(ctx context.Context, db, id, rev string, doc func(rev string) any) (string, error) {
	for attempt := 0; ; attempt++ {
		var newRev string
		err := d.c.call(ctx, "write "+db+"/"+id, func(ctx context.Context) error {
			var err error
			newRev, err = d.c.kc.DB(db).Put(ctx, id, doc(rev))
			return err
		})
		if err == nil {
			return newRev, nil
		}
		// A conflict is retried at least once even without retries: it is
		// what an earlier attempt that wrote and lost the answer leaves.
		if kivik.HTTPStatus(err) != http.StatusConflict || attempt >= max(1, d.c.cfg.MaxRetries) {
			return "", err
		}
		rows, rerr := d.allDocsByKeys(ctx, db, []string{id}, false)
		if rerr != nil {
			return "", rerr
		}
		rev = ""
		if r, ok := rows[id]; ok && !r.deleted {
			rev = r.rev
		}
	}
}

func (d *DB) writeSavepoint(ctx context.Context, sp statedb.Version) error {
	d.metaMu.Lock()
	known := d.savepointRev
	d.metaMu.Unlock()
	rev, err := d.putDoc(ctx, d.metaDB, savepointDocID, known, func(rev string) any {
		return savepointDoc{Rev: rev, BlockNum: sp.BlockNum, TxNum: sp.TxNum}
	})
	d.metaMu.Lock()
	d.savepointRev = rev // "" after a failure: read it again next time
	d.metaMu.Unlock()
	return err
}

// loadMeta makes the channel's metadata database and its channel_metadata
// document exist, and reads the document once.
func (d *DB) loadMeta(ctx context.Context) error {
	d.metaMu.Lock()
	defer d.metaMu.Unlock()
	return d.loadMetaLocked(ctx)
}

func (d *DB) loadMetaLocked(ctx context.Context) error {
	if d.meta != nil {
		return nil
	}
	if err := d.c.ensureDB(ctx, d.metaDB, true); err != nil {
		return err
	}
	// One request reads the channel_metadata document and learns the
	// savepoint's revision, which the first savepoint write needs.
	rows, err := d.allDocsByKeys(ctx, d.metaDB, []string{channelMetadataDocID, savepointDocID}, true)
	if err != nil {
		return err
	}
	if r, ok := rows[savepointDocID]; ok && !r.deleted {
		d.savepointRev = r.rev
	}
	m := &channelMetadata{}
	r, found := rows[channelMetadataDocID]
	found = found && !r.deleted
	if found {
		if err := json.Unmarshal(r.doc, m); err != nil {
			return fmt.Errorf("CouchDB at %s: %s/%s: %w", d.c.addr, d.metaDB, channelMetadataDocID, err)
		}
	}
	if m.NamespaceDBsInfo == nil {
		m.NamespaceDBsInfo = map[string]*namespaceDBInfo{}
	}
	if found {
		d.meta = m
		return nil
	}
	m.ChannelName = d.channel
	if err := d.writeMetaLocked(ctx, m); err != nil {
		return err
	}
	d.meta = m
	return nil
}

func (d *DB) writeMetaLocked(ctx context.Context, m *channelMetadata) error {
	rev, err := d.putDoc(ctx, d.metaDB, channelMetadataDocID, m.Rev, func(rev string) any {
		c := *m
		c.Rev = rev
		return &c
	})
	if err != nil {
		return err
	}
	m.Rev = rev
	return nil
}

// ensureNamespaceDB makes the database of ns exist, recording it in the
// channel_metadata document first, as Fabric does.
func (d *DB) ensureNamespaceDB(ctx context.Context, ns, name string) error {
	d.metaMu.Lock()
	defer d.metaMu.Unlock()
	if err := d.loadMetaLocked(ctx); err != nil {
		return err
	}
	if _, ok := d.meta.NamespaceDBsInfo[ns]; !ok {
		m := *d.meta
		m.NamespaceDBsInfo = make(map[string]*namespaceDBInfo, len(d.meta.NamespaceDBsInfo)+1)
		for k, v := range d.meta.NamespaceDBsInfo {
			m.NamespaceDBsInfo[k] = v
		}
		m.NamespaceDBsInfo[ns] = &namespaceDBInfo{Namespace: ns, DBName: name}
		if err := d.writeMetaLocked(ctx, &m); err != nil {
			return err
		}
		d.meta = &m
	}
	return d.c.ensureDB(ctx, name, true)
}

// namespaceDBs lists the databases the channel_metadata document records.
func (d *DB) namespaceDBs(ctx context.Context) ([]namespaceDBInfo, error) {
	if err := d.loadMeta(ctx); err != nil {
		return nil, err
	}
	d.metaMu.Lock()
	defer d.metaMu.Unlock()
	out := make([]namespaceDBInfo, 0, len(d.meta.NamespaceDBsInfo))
	for _, info := range d.meta.NamespaceDBsInfo {
		out = append(out, *info)
	}
	return out, nil
}
