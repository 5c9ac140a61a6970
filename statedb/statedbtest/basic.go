package statedbtest

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/statedb"
)

var basicTests = []namedTest{
	{"GetPutDelete", testGetPutDelete},
	{"Deletes", testDeletes},
	{"NamespaceIsolation", testNamespaceIsolation},
	{"HashedKeys", testHashedKeys},
	{"SeparateStores", testSeparateStores},
	{"Versions", testVersions},
	{"Metadata", testMetadata},
	{"NonJSONValues", testNonJSONValues},
	{"JSONValues", testJSONValues},
	{"ValueKindChanges", testValueKindChanges},
	{"BigValues", testBigValues},
}

func testGetPutDelete(s *suite, t *testing.T) {
	db := s.db(t)
	wantAbsent(t, db, "basic", "asset1")
	m := model{}
	m.apply(apply(t, db, v(1, 0), func(b *statedb.Batch) {
		b.Put("basic", "asset1", []byte("value1"), nil, v(1, 1))
		b.Put("basic", "asset2", []byte("value2"), nil, v(1, 2))
		b.Put("_lifecycle", "namespaces/fields/basic/Sequence", []byte("\x08\x01"), nil, v(1, 3))
		b.Put("mycc$$pcoll", "asset1", []byte("private"), nil, v(1, 4))
		b.Put("basic", "empty", []byte{}, nil, v(1, 5))
	}))
	wantValue(t, db, "basic", "asset1", "value1")
	wantValue(t, db, "basic", "empty", "")
	wantValue(t, db, "mycc$$pcoll", "asset1", "private")
	wantAbsent(t, db, "basic", "asset3")
	wantAbsent(t, db, "Basic", "asset1")
	wantAbsent(t, db, "never-written", "asset1")
	s.check(t, db, m, 1, "never-written")

	m.apply(apply(t, db, v(2, 0), func(b *statedb.Batch) {
		b.Put("basic", "asset1", []byte("value1b"), nil, v(2, 0))
		b.Delete("basic", "asset2", v(2, 1))
		b.Put("basic", "asset3", []byte("value3"), nil, v(2, 2))
	}))
	wantValue(t, db, "basic", "asset1", "value1b")
	wantAbsent(t, db, "basic", "asset2")
	s.check(t, db, m, 1)
}

func testDeletes(s *suite, t *testing.T) {
	db := s.db(t)
	m := model{}
	// A key put and deleted in one block, as Fabric's batch would never
	// hold, is absent: the later update of a key wins.
	b := statedb.NewBatch()
	for i := 1; i <= 4; i++ {
		b.Put("basic", fmt.Sprintf("key%d", i), []byte("value"), nil, v(1, uint64(i)))
	}
	b.Delete("basic", "key3", v(1, 5))
	if _, deleted, ok := b.Get("basic", "key3"); !ok || !deleted {
		t.Fatalf("Batch.Get after Put then Delete: deleted=%v ok=%v, want true true", deleted, ok)
	}
	if _, _, ok := b.Get("basic", "other"); ok {
		t.Fatal("Batch.Get of an untouched key reported ok")
	}
	if err := db.Apply(b, v(1, 5)); err != nil {
		t.Fatal(err)
	}
	m.apply(b)
	wantAbsent(t, db, "basic", "key3")
	s.check(t, db, m, 1)

	// Deletes of existing keys, of keys never written, of keys already
	// deleted, and in namespaces never written are all fine.
	m.apply(apply(t, db, v(2, 0), func(b *statedb.Batch) {
		b.Delete("basic", "key2", v(2, 0))
		b.Delete("basic", "key3", v(2, 1))
		b.Delete("basic", "never-there", v(2, 2))
		b.Delete("never-written", "k", v(2, 3))
		b.Delete("mycc$$hcoll", hashKey("k"), v(2, 4))
	}))
	s.check(t, db, m, 1, "never-written", "mycc$$hcoll")

	// Deleting every key leaves an empty namespace; putting one back works.
	m.apply(apply(t, db, v(3, 0), func(b *statedb.Batch) {
		for _, k := range m.keys("basic") {
			b.Delete("basic", k, v(3, 0))
		}
	}))
	s.check(t, db, m, 1, "basic")
	m.apply(apply(t, db, v(4, 0), func(b *statedb.Batch) {
		b.Put("basic", "key3", []byte("back"), nil, v(4, 0))
	}))
	s.check(t, db, m, 1)
}

func testNamespaceIsolation(s *suite, t *testing.T) {
	db := s.db(t)
	nss := s.namespaces()
	// Keys that look like other namespaces' names or their separators.
	keys := []string{"k", "basic", "$$p", "coll", "pcoll", "k$$hcoll", longName}
	keys = append(keys, accepted(db, "", "\x00", "\xff", "\xff\xff")...)
	m := model{}
	m.apply(apply(t, db, v(1, 0), func(b *statedb.Batch) {
		for i, ns := range nss {
			for j, k := range keys {
				if hashed(ns) {
					k = hashKey(k)
				}
				b.Put(ns, k, []byte(ns+"/"+k), nil, v(1, uint64(i*len(keys)+j)))
			}
		}
	}))
	s.check(t, db, m, 1)
	// A delete in one namespace touches no other, whatever the names share.
	m.apply(apply(t, db, v(2, 0), func(b *statedb.Batch) {
		for i, ns := range nss {
			if i%2 == 0 {
				k := "k"
				if hashed(ns) {
					k = hashKey(k)
				}
				b.Delete(ns, k, v(2, 0))
			}
		}
	}))
	s.check(t, db, m, 1)
	for _, ns := range []string{"mycc", "mycc$$p", "mycc$$h", "mycc$$pcol", "mycc$$pcoll2", "basi", "basicc", "BASIC", longName} {
		if _, ok := m[ns]; !ok {
			wantKeys(t, fmt.Sprintf("full scan of unwritten namespace %q", ns), scanKeys(t, db, ns, "", ""))
			wantAbsent(t, db, ns, "k")
		}
	}
}

// testHashedKeys: keys of a $$h namespace are raw SHA-256 hashes, any of
// their 32 bytes may be 0x00 or 0xff, and they must round-trip on every
// backend; so must their values, which are hashes too.
func testHashedKeys(s *suite, t *testing.T) {
	db := s.db(t)
	m := model{}
	special := []string{
		strings.Repeat("\x00", 32), strings.Repeat("\xff", 32), "_" + strings.Repeat("\x80", 31),
		"\x00" + strings.Repeat("\xfe", 31), strings.Repeat("\xc3", 32),
	}
	m.apply(apply(t, db, v(1, 0), func(b *statedb.Batch) {
		for _, ns := range []string{"mycc$$hcoll", "mycc$$h_implicit_org_Org1MSP"} {
			for i := range 200 {
				k := hashKey(fmt.Sprint(i))
				b.Put(ns, k, []byte(hashKey("value"+k)), nil, v(1, uint64(i)))
			}
			for i, k := range special {
				b.Put(ns, k, []byte(k), []byte{0xff, 0x00}, v(1, uint64(200+i)))
			}
		}
	}))
	s.check(t, db, m, 1)
	ks := m.keys("mycc$$hcoll")
	wantKeys(t, "hashed range", scanKeys(t, db, "mycc$$hcoll", ks[10], ks[20]), ks[10:20]...)
	m.apply(apply(t, db, v(2, 0), func(b *statedb.Batch) {
		for i, k := range ks {
			if i%3 == 0 {
				b.Delete("mycc$$hcoll", k, v(2, uint64(i)))
			}
		}
	}))
	s.check(t, db, m, 1)
}

// testSeparateStores: stores opened for different tests share nothing.
func testSeparateStores(s *suite, t *testing.T) {
	db1 := s.db(t)
	apply(t, db1, v(1, 2), func(b *statedb.Batch) {
		b.Put("basic", "key1", []byte("db1"), nil, v(1, 1))
	})
	t.Run("other", func(t *testing.T) {
		db2 := s.db(t)
		wantAbsent(t, db2, "basic", "key1")
		if _, ok, err := db2.Savepoint(); err != nil || ok {
			t.Fatalf("other store's Savepoint: ok=%v err=%v, want false nil", ok, err)
		}
		apply(t, db2, v(1, 5), func(b *statedb.Batch) {
			b.Put("basic", "key1", []byte("db2"), nil, v(1, 4))
		})
		wantValue(t, db2, "basic", "key1", "db2")
	})
	wantValue(t, db1, "basic", "key1", "db1")
	if sp, _, err := db1.Savepoint(); err != nil || sp != v(1, 2) {
		t.Fatalf("Savepoint = %v, %v; want 1:2", sp, err)
	}
}

func testVersions(s *suite, t *testing.T) {
	db := s.db(t)
	versions := []statedb.Version{
		v(0, 0), v(0, 1), v(1, 0), v(7, 3), v(1<<40, 1<<33),
		v(1<<53+1, 1<<53+1), // not exact in a float64
		v(math.MaxUint64, math.MaxUint64-1),
	}
	// The savepoint stays within 2^53, the block heights a layout keeping
	// it as a JSON number (Fabric's CouchDB savepoint document) holds
	// exactly on every JSON implementation; no chain reaches it.
	top := v(1<<53-1, 1<<53-1)
	m := model{}
	m.apply(apply(t, db, top, func(b *statedb.Batch) {
		for i, ver := range versions {
			b.Put("basic", fmt.Sprintf("key%d", i), []byte("v"), nil, ver)
			b.Put("mycc$$hcoll", hashKey(fmt.Sprint(i)), []byte("h"), nil, ver)
		}
	}))
	s.check(t, db, m, 1)
	if sp, ok, err := db.Savepoint(); err != nil || !ok || sp != top {
		t.Fatalf("Savepoint = %v %v %v, want %v", sp, ok, err, top)
	}
	// A rewrite may carry a lower version: the store keeps what it is given.
	m.apply(apply(t, db, top, func(b *statedb.Batch) {
		b.Put("basic", "key6", []byte("v"), nil, v(2, 0))
	}))
	s.check(t, db, m, 1)

	if a := v(7, 3); a.Compare(v(7, 4)) != -1 || a.Compare(a) != 0 || a.Compare(v(6, 9)) != 1 || a.Compare(v(8, 0)) != -1 {
		t.Fatal("Version.Compare orders wrongly")
	}
	if got := v(7, 3).String(); got != "7:3" {
		t.Fatalf("Version.String = %q, want 7:3", got)
	}
}

func testMetadata(s *suite, t *testing.T) {
	db := s.db(t)
	m := model{}
	binaryMeta := []byte{0x00, 0xff, 0x0a, '"', '{', 0x80}
	m.apply(apply(t, db, v(1, 0), func(b *statedb.Batch) {
		b.Put("basic", "key1", []byte("value1"), []byte("metadata1"), v(1, 1))
		b.Put("basic", "key2", []byte("value2"), binaryMeta, v(1, 2))
		b.Put("basic", "key3", []byte("value3"), nil, v(1, 3))
		b.Put("basic", "key4", []byte{}, []byte("metadata4"), v(1, 4))
		b.Put("basic", "key5", []byte(`{"owner":"tom"}`), []byte("json-meta"), v(1, 5))
		b.Put("basic", "key6", []byte("value6"), []byte{}, v(1, 6))
		b.Put("mycc$$hcoll", hashKey("k"), []byte(hashKey("v")), binaryMeta, v(1, 7))
		b.Put("mycc$$pcoll", "k", []byte("v"), []byte("pvt-meta"), v(1, 8))
	}))
	s.check(t, db, m, 1)
	if vv := mustGet(t, db, "basic", "key3"); len(vv.Metadata) != 0 {
		t.Fatalf("Get(key3).Metadata = %s, want none", show(vv.Metadata))
	}

	// Metadata-only changes (the value is rewritten as it was, with new
	// metadata and version), metadata removed, metadata added.
	m.apply(apply(t, db, v(2, 0), func(b *statedb.Batch) {
		b.Put("basic", "key1", []byte("value1"), []byte("metadata1b"), v(2, 1))
		b.Put("basic", "key2", []byte("value2"), nil, v(2, 2))
		b.Put("basic", "key3", []byte("value3"), []byte("now-some"), v(2, 3))
		b.Put("basic", "key5", []byte(`{"owner":"tom"}`), nil, v(2, 5))
		b.Put("mycc$$hcoll", hashKey("k"), []byte(hashKey("v")), []byte("m2"), v(2, 7))
	}))
	s.check(t, db, m, 1)

	// A value change keeps no metadata the new write does not carry.
	m.apply(apply(t, db, v(3, 0), func(b *statedb.Batch) {
		b.Put("basic", "key1", []byte("value1c"), nil, v(3, 1))
	}))
	s.check(t, db, m, 1)
	db = s.reopen(t, db)
	s.check(t, db, m, 1)
}

func testNonJSONValues(s *suite, t *testing.T) {
	db := s.db(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	values := map[string][]byte{
		"allbytes":  all,
		"invalid":   {0xff, 0xfe, 0xc3, 0x28},
		"nul":       {0},
		"empty":     {},
		"text":      []byte("plain text"),
		"brace":     []byte("{not json"),
		"twoobj":    []byte(`{"a":1}{"b":2}`),
		"trailing":  []byte(`{"a":1} x`),
		"bom":       []byte("\xef\xbb\xbf{\"a\":1}"),
		"xml":       []byte("<asset><owner>tom</owner></asset>"),
		"base64ish": []byte("eyJhIjoxfQ=="),
		"newline":   []byte("\n"),
		"attachish": []byte(`{"_attachments":`),
	}
	m := model{}
	m.apply(apply(t, db, v(1, 0), func(b *statedb.Batch) {
		i := uint64(0)
		for k, val := range values {
			b.Put("basic", k, val, nil, v(1, i))
			b.Put("mycc$$pcoll", k, val, []byte("m"), v(1, i))
			i++
		}
	}))
	s.check(t, db, m, 1)
	if vv := mustGet(t, db, "basic", "empty"); vv == nil || len(vv.Value) != 0 {
		t.Fatalf("an empty value must be present and empty, got %+v", vv)
	}
	db = s.reopen(t, db)
	s.check(t, db, m, 1)
}

// jsonValues are JSON values of every kind. With Options.ReencodesJSON the
// objects may come back re-encoded; the others must come back as written.
var jsonValues = map[string]string{
	"object":   `{"asset_name": "marble1","color": "blue","size": 1,"owner": "tom"}`,
	"nested":   `{"a":{"b":[1,2,{"c":null}]},"t":true,"f":false,"s":"x\"y\\z\u00e9\n"}`,
	"numbers":  `{"int":1000007,"big":12345678901234567890,"neg":-42,"float":1.5e300,"frac":0.1,"zero":0}`,
	"html":     `{"html":"<b>&amp;</b>","emoji":"😀","cjk":"中文"}`,
	"spaced":   " {\n  \"owner\" : \"tom\"\n} ",
	"emptyobj": `{}`,
	"array":    `[1, "two", {"three": 3}]`,
	"emptyarr": `[]`,
	"string":   `"just a string"`,
	"number":   `1.50`,
	"integer":  `42`,
	"true":     `true`,
	"null":     `null`,
	"keysort":  `{"b":1,"a":2,"c":{"z":1,"y":2}}`,
	"oddnames": `{"":1,"a b":2,"ü":3,"a.b":4,"$x":5,"0":6}`,
	"nulchar":  `{"s":"a\u0000b","t":"\ud83d\ude00"}`,
}

func testJSONValues(s *suite, t *testing.T) {
	db := s.db(t)
	m := model{}
	m.apply(apply(t, db, v(1, 0), func(b *statedb.Batch) {
		i := uint64(0)
		for k, val := range jsonValues {
			b.Put("basic", k, []byte(val), nil, v(1, i))
			b.Put("mycc$$pcoll", k, []byte(val), []byte("meta"), v(1, i))
			i++
		}
	}))
	s.check(t, db, m, 1)
	for k, val := range jsonValues {
		if isJSONObject([]byte(val)) {
			continue
		}
		if got := mustGet(t, db, "basic", k); !bytes.Equal(got.Value, []byte(val)) {
			t.Fatalf("JSON value %s that is not an object came back as %s: only objects may be re-encoded", val, show(got.Value))
		}
	}
	// Updating a JSON object replaces it whole: no field of the old value survives.
	m.apply(apply(t, db, v(2, 0), func(b *statedb.Batch) {
		b.Put("basic", "object", []byte(`{"owner":"jerry"}`), nil, v(2, 0))
	}))
	s.check(t, db, m, 1)
}

// testValueKindChanges moves one key through every kind of value a
// document store may keep differently (object, other JSON, binary, empty).
func testValueKindChanges(s *suite, t *testing.T) {
	db := s.db(t)
	steps := []struct {
		value, meta []byte
		del         bool
	}{
		{value: []byte(`{"owner":"tom","size":1}`)},
		{value: []byte{0xff, 0x00, 0x01}, meta: []byte("m")},
		{value: []byte{}},
		{value: []byte(`[1,2]`)},
		{value: []byte(`{"owner":"jerry"}`), meta: []byte("m2")},
		{del: true},
		{value: []byte(`{"owner":"fred"}`)},
		{value: []byte("text")},
		{del: true},
		{value: []byte{}},
	}
	m := model{}
	for i, st := range steps {
		b := statedb.NewBatch()
		ver := v(uint64(i+1), 0)
		for _, ns := range []string{"basic", "mycc$$pcoll"} {
			if st.del {
				b.Delete(ns, "asset", ver)
			} else {
				b.Put(ns, "asset", st.value, st.meta, ver)
			}
		}
		if err := db.Apply(b, ver); err != nil {
			t.Fatalf("step %d: Apply: %v", i, err)
		}
		m.apply(b)
		s.check(t, db, m, 1, "basic", "mycc$$pcoll")
	}
	db = s.reopen(t, db)
	s.check(t, db, m, 1, "basic", "mycc$$pcoll")
}

func testBigValues(s *suite, t *testing.T) {
	db := s.db(t)
	rng := rand.New(rand.NewPCG(1, 2))
	binary := make([]byte, 3<<19) // 1.5 MiB
	for i := range binary {
		binary[i] = byte(rng.UintN(256))
	}
	text := make([]byte, 1<<20)
	for i := range text {
		text[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
	}
	object := []byte(fmt.Sprintf(`{"owner":"tom","blob":%q,"n":1}`, text))
	bigMeta := bytes.Repeat([]byte{0x00, 0xff}, 32<<10)
	m := model{}
	m.apply(apply(t, db, v(1, 0), func(b *statedb.Batch) {
		b.Put("basic", "binary", binary, nil, v(1, 0))
		b.Put("basic", "object", object, bigMeta, v(1, 1))
		b.Put("basic", "small", []byte("s"), nil, v(1, 2))
		b.Put("mycc$$pcoll", "binary", binary, []byte("m"), v(1, 3))
	}))
	s.check(t, db, m, 1)
	// Replacing a big value by a small one leaves nothing of the big one.
	m.apply(apply(t, db, v(2, 0), func(b *statedb.Batch) {
		b.Put("basic", "binary", []byte("tiny"), nil, v(2, 0))
		b.Put("basic", "object", []byte(`{"owner":"tom"}`), nil, v(2, 1))
		b.Put("basic", "small", binary, nil, v(2, 2))
	}))
	db = s.reopen(t, db)
	s.check(t, db, m, 1)
}
