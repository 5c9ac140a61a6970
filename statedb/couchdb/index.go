package couchdb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb/chttp"

	"github.com/weft-ledger/weft/statedb"
)

// ErrInvalidIndex is matched (errors.Is) by CheckIndex's errors.
var ErrInvalidIndex = errors.New("invalid CouchDB index definition")

// CheckIndex implements statedb.IndexCreator with the rules Fabric applies
// to an index file of a chaincode package (a JSON object with an "index"
// object holding a "fields" array of names or {"name": "asc"|"desc"},
// optionally "partial_filter_selector"; "ddoc" and "name" strings; "type"
// "json"; nothing else), plus what CouchDB would refuse at creation: empty
// "fields", empty field names, a partial_filter_selector that is not an
// object. The error names the file and the field at fault.
func (d *DB) CheckIndex(ix statedb.Index) error { return checkIndex(ix) }

func checkIndex(ix statedb.Index) error {
	if err := checkIndexDefinition(ix.Definition); err != nil {
		return fmt.Errorf("index file [%s]: %w: %v", ix.Name, ErrInvalidIndex, err)
	}
	return nil
}

func checkIndexDefinition(def []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(def, &top); err != nil || top == nil {
		return errors.New("not a JSON object")
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		raw := top[k]
		switch k {
		case "index":
			if err := checkIndexObject(raw); err != nil {
				return err
			}
		case "ddoc", "name":
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return fmt.Errorf("%q must be a string", k)
			}
			if s == "" {
				return fmt.Errorf("%q must not be empty", k)
			}
		case "type":
			var s string
			if json.Unmarshal(raw, &s) != nil || s != "json" {
				return fmt.Errorf(`"type" must be "json", not %s`, raw)
			}
		default:
			return fmt.Errorf("unknown field %q", k)
		}
	}
	if _, ok := top["index"]; !ok {
		return errors.New(`no "index" object with a "fields" array`)
	}
	return nil
}

func checkIndexObject(raw json.RawMessage) error {
	var idx map[string]json.RawMessage
	if json.Unmarshal(raw, &idx) != nil || idx == nil {
		return errors.New(`"index" must be a JSON object`)
	}
	fieldsRaw, ok := idx["fields"]
	if !ok {
		return errors.New(`"index" has no "fields" array`)
	}
	for k, v := range idx {
		switch k {
		case "fields":
		case "partial_filter_selector":
			var sel map[string]json.RawMessage
			if json.Unmarshal(v, &sel) != nil || sel == nil {
				return errors.New(`"index.partial_filter_selector" must be a JSON object`)
			}
		default:
			return fmt.Errorf("unknown field %q in \"index\"", k)
		}
	}
	var fields []json.RawMessage
	if json.Unmarshal(fieldsRaw, &fields) != nil {
		return errors.New(`"index.fields" must be an array`)
	}
	if len(fields) == 0 {
		return errors.New(`"index.fields" is empty`)
	}
	for i, f := range fields {
		var name string
		if json.Unmarshal(f, &name) == nil {
			if name == "" {
				return fmt.Errorf(`"index.fields[%d]" is an empty name`, i)
			}
			continue
		}
		var m map[string]string
		if json.Unmarshal(f, &m) != nil || len(m) != 1 {
			return fmt.Errorf(`"index.fields[%d]" must be a name or {"name": "asc"|"desc"}, not %s`, i, f)
		}
		for n, dir := range m {
			if n == "" {
				return fmt.Errorf(`"index.fields[%d]" is an empty name`, i)
			}
			if d := strings.ToLower(dir); d != "asc" && d != "desc" {
				return fmt.Errorf(`"index.fields[%d]": sort must be "asc" or "desc", not %q`, i, dir)
			}
		}
	}
	return nil
}

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
	sorted := append([]statedb.Index(nil), indexes...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var errs []error
	created := false
	for _, ix := range sorted {
		if err := checkIndex(ix); err != nil {
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
// warmIndexesAfterNBlocks). Failures, including a server without views,
// are logged at debug level only: warming never fails a commit.
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

func (d *DB) warmAll(ctx context.Context) error {
	dbs, err := d.namespaceDBs(ctx)
	if err != nil {
		return err
	}
	sort.Slice(dbs, func(i, j int) bool { return dbs[i].DBName < dbs[j].DBName })
	var errs []error
	for _, info := range dbs {
		db := d.c.kc.DB(info.DBName)
		rctx, cancel := context.WithTimeout(ctx, d.c.cfg.RequestTimeout)
		idx, err := db.GetIndexes(rctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("list indexes of %s: %w", info.DBName, err))
			continue
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
