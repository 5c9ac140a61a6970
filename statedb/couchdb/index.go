package couchdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb/chttp"

	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/mango"
)

// CheckIndex implements statedb.IndexCreator with statedb/mango's rules,
// the ones chaincode install applies: Fabric's validation of an index file
// plus what CouchDB would refuse at creation. The error names the file and
// the field at fault, and wraps mango.ErrInvalidIndex.
func (d *DB) CheckIndex(ix statedb.Index) error { return mango.CheckIndex(ix.Name, ix.Definition) }

// CreateIndexes implements statedb.IndexCreator: each definition, checked
// by CheckIndex, is POSTed as it is to /{db}/_index of the namespace's
// database (created if needed), in the order of the file names so every
// peer ends with the same index when two files share an index name.
// CouchDB answers "exists" for an index it has, so creating again changes
// nothing. Like Fabric, one bad index does not stop the others; the error
// returned joins the failures, each naming its file.
func (d *DB) CreateIndexes(ns string, indexes []statedb.Index) error {
	name, err := d.dbName(ns)
	if err != nil {
		return err
	}
	// Once the indexes exist, the warmer lists this database again.
	defer func() {
		d.indexMu.Lock()
		delete(d.indexless, name)
		d.indexesCreated++
		d.indexMu.Unlock()
	}()
	sorted := append([]statedb.Index(nil), indexes...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var errs []error
	created := false
	for _, ix := range sorted {
		if err := mango.CheckIndex(ix.Name, ix.Definition); err != nil {
			errs = append(errs, err)
			continue
		}
		if !created {
			if err := d.ensureNamespaceDB(d.ctx, ns, name); err != nil {
				return err
			}
			created = true
		}
		var res struct {
			Result string `json:"result"`
			ID     string `json:"id"`
			Name   string `json:"name"`
		}
		err := d.c.call(d.ctx, "create index "+ix.Name+" in "+name, func(ctx context.Context) error {
			opts := &chttp.Options{Body: io.NopCloser(bytes.NewReader(ix.Definition))}
			resp, err := d.c.raw.DoReq(ctx, http.MethodPost, "/"+url.PathEscape(name)+"/_index", opts)
			if err != nil {
				return err
			}
			if err := chttp.ResponseError(resp); err != nil {
				return err
			}
			return chttp.DecodeJSON(resp, &res)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("index file [%s]: %w", ix.Name, err))
			continue
		}
		d.c.log.Info("couchdb index ready", "db", name, "file", ix.Name, "ddoc", res.ID, "index", res.Name, "result", res.Result)
	}
	return errors.Join(errs...)
}

// warmIndexes starts, unless one is running, a background pass that asks
// each index's view for nothing with stale=update_after, so CouchDB brings
// it up to date before a query waits for it (Fabric 1.4's
// warmIndexesAfterNBlocks). A database found without an index is not
// listed again until CreateIndexes adds one or relistIndexesEvery passes
// went by: with warmIndexesAfterNBlocks 1 that listing was most of what a
// block cost CouchDB beyond its writes. Failures, including a server
// without views, are logged at debug level only: warming never fails a
// commit.
func (d *DB) warmIndexes() {
	if !d.warming.CompareAndSwap(false, true) {
		return
	}
	d.warmWG.Add(1)
	go func() {
		defer d.warmWG.Done()
		defer d.warming.Store(false)
		if err := d.warmAll(d.ctx); err != nil {
			d.c.log.Debug("couchdb index warming failed", "channel", d.channel, "error", err)
		}
	}()
}

// relistIndexesEvery is how many warming passes go by before the warmer
// lists again the databases it found without an index (one made by hand,
// not through CreateIndexes).
const relistIndexesEvery = 100

func (d *DB) warmAll(ctx context.Context) error {
	dbs, err := d.namespaceDBs(ctx)
	if err != nil {
		return err
	}
	sort.Slice(dbs, func(i, j int) bool { return dbs[i].DBName < dbs[j].DBName })
	d.warmPasses++
	d.indexMu.Lock()
	if d.warmPasses%relistIndexesEvery == 0 || d.indexless == nil {
		d.indexless = map[string]bool{}
	}
	created := d.indexesCreated
	d.indexMu.Unlock()
	var errs []error
	for _, info := range dbs {
		d.indexMu.Lock()
		skip := d.indexless[info.DBName]
		d.indexMu.Unlock()
		if skip {
			continue
		}
		db := d.c.kc.DB(info.DBName)
		rctx, cancel := context.WithTimeout(ctx, d.c.cfg.RequestTimeout)
		idx, err := db.GetIndexes(rctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("list indexes of %s: %w", info.DBName, err))
			continue
		}
		hasIndex := false
		for _, ix := range idx {
			hasIndex = hasIndex || (ix.Type == "json" && ix.DesignDoc != "")
		}
		if !hasIndex {
			d.indexMu.Lock()
			if d.indexesCreated == created {
				d.indexless[info.DBName] = true
			}
			d.indexMu.Unlock()
		}
		for _, ix := range idx {
			if ix.Type != "json" || ix.DesignDoc == "" {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, d.c.cfg.RequestTimeout)
			rs := db.Query(rctx, ix.DesignDoc, ix.Name, kivik.Param("stale", "update_after"), kivik.Param("limit", 0))
			for rs.Next() {
			}
			err := rs.Err()
			_ = rs.Close()
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("warm %s %s/%s: %w", info.DBName, ix.DesignDoc, ix.Name, err))
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}
