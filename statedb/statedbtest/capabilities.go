package statedbtest

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/statedb"
)

var capabilityTests = []namedTest{
	{"Preload", testPreload},
	{"PreloadThenApply", testPreloadThenApply},
	{"CheckKeyValue", testCheckKeyValue},
	{"Indexes", testIndexes},
	{"HealthCheck", testHealthCheck},
}

func bulkLoader(t *testing.T, db statedb.DB) statedb.BulkLoader {
	t.Helper()
	l, ok := db.(statedb.BulkLoader)
	if !ok {
		t.Skipf("%T does not implement statedb.BulkLoader", db)
	}
	return l
}

func preload(t *testing.T, l statedb.BulkLoader, keys []statedb.NsKey) {
	t.Helper()
	if err := l.Preload(keys); err != nil {
		t.Fatalf("Preload of %d keys: %v", len(keys), err)
	}
}

// wantModelGets checks Gets of keys against m, absent keys included.
func (s *suite) wantModelGets(t *testing.T, db statedb.DB, m model, keys []statedb.NsKey) {
	t.Helper()
	for _, k := range keys {
		if want, ok := m[k.Namespace][k.Key]; ok {
			s.wantVV(t, db, k.Namespace, k.Key, want)
		} else {
			wantAbsent(t, db, k.Namespace, k.Key)
		}
	}
}

// preloadState writes present keys in several namespaces and returns them
// with keys that are absent: never written, deleted, in namespaces never
// written, and hashed.
func preloadState(t *testing.T, db statedb.DB, n int) (model, []statedb.NsKey) {
	t.Helper()
	m := model{}
	var keys []statedb.NsKey
	m.apply(apply(t, db, v(1, 0), func(b *statedb.Batch) {
		for i := range n {
			k := fmt.Sprintf("key%05d", i)
			b.Put("basic", k, []byte(fmt.Sprintf(`{"n":%d}`, i)), []byte("m"), v(1, uint64(i)))
			b.Put("mycc$$pcoll", k, []byte{byte(i), 0xff}, nil, v(1, uint64(i)))
			b.Put("mycc$$hcoll", hashKey(k), []byte(hashKey("v")), nil, v(1, uint64(i)))
			keys = append(keys,
				statedb.NsKey{Namespace: "basic", Key: k},
				statedb.NsKey{Namespace: "mycc$$pcoll", Key: k},
				statedb.NsKey{Namespace: "mycc$$hcoll", Key: hashKey(k)},
				statedb.NsKey{Namespace: "basic", Key: k + "-absent"},
			)
		}
		b.Put("basic", "deleted", []byte("v"), nil, v(1, 0))
	}))
	m.apply(apply(t, db, v(2, 0), func(b *statedb.Batch) {
		b.Delete("basic", "deleted", v(2, 0))
	}))
	keys = append(keys,
		statedb.NsKey{Namespace: "basic", Key: "deleted"},
		statedb.NsKey{Namespace: "never-written", Key: "key00000"},
		statedb.NsKey{Namespace: "never$$pwritten", Key: "key00000"},
		statedb.NsKey{Namespace: "mycc$$hcoll", Key: hashKey("absent")},
		statedb.NsKey{Namespace: "Basic", Key: "key00000"},
	)
	return m, keys
}

// testPreload: after Preload, Gets agree with the store, for present
// keys, absent keys and keys of namespaces never written, whether the
// keys were preloaded or not, and after a reopen.
func testPreload(s *suite, t *testing.T) {
	db := s.db(t)
	l := bulkLoader(t, db)
	preload(t, l, nil)
	m, keys := preloadState(t, db, 2500)
	preload(t, l, []statedb.NsKey{})
	preload(t, l, keys[:10])
	s.wantModelGets(t, db, m, keys[:40])
	s.wantModelGets(t, db, m, keys[len(keys)-5:])
	// All of them, more than one bulk request holds, some twice.
	preload(t, l, append(keys, keys[:100]...))
	for i, k := range keys {
		if i%37 == 0 || i >= len(keys)-5 {
			s.wantModelGets(t, db, m, []statedb.NsKey{k})
		}
	}
	s.check(t, db, m, 0)

	db = s.reopen(t, db)
	l = bulkLoader(t, db)
	preload(t, l, keys[len(keys)-200:])
	s.wantModelGets(t, db, m, keys[len(keys)-200:])
}

// testPreloadThenApply: an Apply after a Preload is what every Get
// answers from then on, whether the preloaded key was present, absent,
// updated, deleted or created.
func testPreloadThenApply(s *suite, t *testing.T) {
	db := s.db(t)
	l := bulkLoader(t, db)
	m, keys := preloadState(t, db, 50)
	for n := uint64(3); n <= 6; n++ {
		preload(t, l, keys)
		s.wantModelGets(t, db, m, keys)
		m.apply(apply(t, db, v(n, 0), func(b *statedb.Batch) {
			for i, k := range keys {
				switch (i + int(n)) % 4 {
				case 0:
					b.Delete(k.Namespace, k.Key, v(n, uint64(i)))
				case 1:
					b.Put(k.Namespace, k.Key, []byte("block "+strconv.FormatUint(n, 10)), []byte{byte(n)}, v(n, uint64(i)))
				case 2:
					b.Put(k.Namespace, k.Key, []byte(fmt.Sprintf(`{"block":%d}`, n)), nil, v(n, uint64(i)))
				}
			}
		}))
		s.wantModelGets(t, db, m, keys)
	}
	s.check(t, db, m, 0)
}

// namesIt reports whether msg names s: as it is, quoted (with or without
// the quotes), or in hex.
func namesIt(msg, s string) bool {
	q := strconv.Quote(s)
	return strings.Contains(msg, s) || strings.Contains(msg, q[1:len(q)-1]) ||
		strings.Contains(msg, strconv.QuoteToASCII(s)) || strings.Contains(msg, hex.EncodeToString([]byte(s)))
}

// testCheckKeyValue: keys and values a chaincode writes every day are
// accepted; a key or value the backend refuses is refused with a message
// that names the key or the offending field; a key accepted is held.
func testCheckKeyValue(s *suite, t *testing.T) {
	db := s.db(t)
	c, ok := db.(statedb.KeyValueChecker)
	if !ok {
		t.Skipf("%T does not implement statedb.KeyValueChecker", db)
	}
	everyday := map[string][]byte{
		"asset1":                          []byte(`{"owner":"tom","size":5}`),
		"\x00color~name\x00blue\x00a\x00": {0x00},
		"中文key":                           []byte("binary\xff"),
		"a b/c?d#e%f":                     {},
		"key1&%-":                         []byte(`[1,2]`),
		"k":                               []byte(`{"nested":{"_id":1,"_rev":"x"}}`), // only top-level fields are CouchDB's
		"k2":                              []byte(`{"owner_id":"a","id":1,"rev":2,"version":3}`),
		"k3":                              []byte(`"_id"`),
	}
	for k, val := range everyday {
		if err := c.CheckKeyValue(k, val); err != nil {
			t.Errorf("CheckKeyValue(%s, %s) = %v; a chaincode must be able to write it", showKey(k), show(val), err)
		}
	}
	m := model{}
	m.apply(apply(t, db, v(1, 0), func(b *statedb.Batch) {
		i := uint64(0)
		for k, val := range everyday {
			b.Put("basic", k, val, nil, v(1, i))
			i++
		}
	}))
	s.check(t, db, m, 1)

	keys := []string{"", "_", "_id", "_design/x", "_local/x", "\xff", "a\xffb", "\xc3\x28", "\xed\xa0\x80", "a\x00\xfe", strings.Repeat("k", 4096)}
	var refused, kept []string
	for _, k := range keys {
		err := c.CheckKeyValue(k, []byte("v"))
		if err == nil {
			kept = append(kept, k)
			continue
		}
		refused = append(refused, k)
		if k != "" && !namesIt(err.Error(), k) && len(k) < 256 {
			t.Errorf("CheckKeyValue(%s) = %q, which does not name the key", showKey(k), err)
		}
		if err.Error() == "" {
			t.Errorf("CheckKeyValue(%s) refused it with an empty message", showKey(k))
		}
	}
	t.Logf("keys refused: %s; accepted: %s", showKeys(refused), showKeys(kept))
	m.apply(apply(t, db, v(2, 0), func(b *statedb.Batch) {
		for i, k := range kept {
			b.Put("basic", k, []byte("kept"), nil, v(2, uint64(i)))
		}
	}))
	s.check(t, db, m, 1)

	values := []struct{ value, field string }{
		{`{"_id":"x","owner":"tom"}`, "_id"},
		{`{"_rev":"1-abc"}`, "_rev"},
		{`{"_deleted":true}`, "_deleted"},
		{`{"_attachments":{}}`, "_attachments"},
		{`{"~version":"1:0"}`, "~version"},
		{`{"owner":"tom","_conflicts":[]}`, "_conflicts"},
	}
	for _, tc := range values {
		if err := c.CheckKeyValue("asset1", []byte(tc.value)); err != nil && !strings.Contains(err.Error(), tc.field) {
			t.Errorf("CheckKeyValue(asset1, %s) = %q, which does not name the field %s", tc.value, err, tc.field)
		}
	}
}

// Index definitions as chaincode packages carry them.
var (
	indexOwner = statedb.Index{Name: "indexOwner.json", Definition: []byte(
		`{"index":{"fields":["docType","owner"]},"ddoc":"indexOwnerDoc","name":"indexOwner","type":"json"}`)}
	indexSize = statedb.Index{Name: "indexSize.json", Definition: []byte(
		`{"index":{"fields":["size"]},"ddoc":"indexSizeDoc","name":"indexSize","type":"json"}`)}
	indexSizeDesc = statedb.Index{Name: "indexSizeSortDesc.json", Definition: []byte(
		`{"index":{"fields":[{"size":"desc"}]},"ddoc":"indexSizeSortDoc","name":"indexSizeSortDesc","type":"json"}`)}
	indexNoDdoc = statedb.Index{Name: "indexColor.json", Definition: []byte(
		`{"index":{"fields":["color"]},"name":"indexColor","type":"json"}`)}
)

func indexCreator(t *testing.T, db statedb.DB) statedb.IndexCreator {
	t.Helper()
	ic, ok := db.(statedb.IndexCreator)
	if !ok {
		t.Skipf("%T does not implement statedb.IndexCreator", db)
	}
	return ic
}

// testIndexes: well-formed definitions pass CheckIndex and can be created
// twice, in namespaces with and without data and in collections; a
// malformed one is refused naming the file and the field at fault.
func testIndexes(s *suite, t *testing.T) {
	db := s.db(t)
	ic := indexCreator(t, db)
	good := []statedb.Index{indexOwner, indexSize, indexSizeDesc, indexNoDdoc}
	for _, ix := range good {
		if err := ic.CheckIndex(ix); err != nil {
			t.Errorf("CheckIndex(%s) = %v, want nil", ix.Name, err)
		}
	}
	apply(t, db, v(1, 0), func(b *statedb.Batch) {
		b.Put("basic", "asset1", []byte(`{"docType":"asset","owner":"tom","size":1}`), nil, v(1, 0))
	})
	for _, ns := range []string{"basic", "freshcc", "mycc$$pcoll", "MyCC$$pColl"} {
		for i := range 2 {
			if err := ic.CreateIndexes(ns, good); err != nil {
				t.Fatalf("CreateIndexes(%q) number %d: %v", ns, i+1, err)
			}
		}
	}
	if err := ic.CreateIndexes("basic", nil); err != nil {
		t.Fatalf("CreateIndexes with no indexes: %v", err)
	}
	wantValue(t, db, "basic", "asset1", `{"docType":"asset","owner":"tom","size":1}`)

	bad := []struct {
		def, field string
	}{
		{`{"index":{"fields":["owner"]`, ""}, // not JSON: the file name is all one can name
		{`[]`, ""},
		{`{"ddoc":"d","name":"n","type":"json"}`, "index"},
		{`{"index":"owner","name":"n","type":"json"}`, "index"},
		{`{"index":{},"name":"n","type":"json"}`, "fields"},
		{`{"index":{"fields":"owner"},"name":"n","type":"json"}`, "fields"},
		{`{"index":{"fields":[]},"name":"n","type":"json"}`, "fields"},
		{`{"index":{"fields":[1]},"name":"n","type":"json"}`, "fields"},
		{`{"index":{"fields":[{"size":"up"}]},"name":"n","type":"json"}`, "up"},
		{`{"index":{"fields":["owner"]},"name":5,"type":"json"}`, "name"},
		{`{"index":{"fields":["owner"]},"ddoc":["d"],"name":"n","type":"json"}`, "ddoc"},
	}
	for i, tc := range bad {
		ix := statedb.Index{Name: fmt.Sprintf("META-INF/statedb/couchdb/indexes/bad%d.json", i), Definition: []byte(tc.def)}
		err := ic.CheckIndex(ix)
		if err == nil {
			t.Errorf("CheckIndex(%s) accepted %s", ix.Name, tc.def)
			continue
		}
		if !strings.Contains(err.Error(), ix.Name) {
			t.Errorf("CheckIndex refused %s with %q, which does not name the file %s", tc.def, err, ix.Name)
		}
		if tc.field != "" && !strings.Contains(err.Error(), tc.field) {
			t.Errorf("CheckIndex refused %s with %q, which does not name %q", tc.def, err, tc.field)
		}
	}
}

func testHealthCheck(s *suite, t *testing.T) {
	db := s.db(t)
	hc, ok := db.(statedb.HealthChecker)
	if !ok {
		t.Skipf("%T does not implement statedb.HealthChecker", db)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 2 {
		if err := hc.HealthCheck(ctx); err != nil {
			t.Fatalf("HealthCheck number %d of a live store: %v", i+1, err)
		}
	}
}
