package couchdb

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/statedb"
)

// TestCacheServesCommittedValues: after Apply, reads of what it wrote go
// to CouchDB only where the value CouchDB returns cannot be predicted (a
// float), and once; Apply needs no request to learn revisions it wrote.
func TestCacheServesCommittedValues(t *testing.T) {
	px := newProxy(t, serverURL(t))
	c := connect(t, Config{Address: px.URL(), WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, c, "ch")
	v1 := statedb.Version{BlockNum: 1}
	mustApply(t, db, v1, func(b *statedb.Batch) {
		b.Put("cc", "ints", []byte(`{"b":1,"a":[2,3]}`), nil, v1)
		b.Put("cc", "float", []byte(`{"p":1.50}`), nil, v1)
		b.Put("cc", "bin", []byte{1, 2, 3}, []byte("m"), v1)
	})
	px.requests()
	for range 3 {
		if vv := mustGet(t, db, "cc", "ints"); string(vv.Value) != `{"a":[2,3],"b":1}` {
			t.Fatalf("Get(ints) = %s", vv.Value)
		}
		if vv := mustGet(t, db, "cc", "bin"); string(vv.Value) != "\x01\x02\x03" || string(vv.Metadata) != "m" {
			t.Fatalf("Get(bin) = %+v", vv)
		}
		if vv := mustGet(t, db, "cc", "float"); string(vv.Value) != `{"p":1.5}` {
			t.Fatalf("Get(float) = %s", vv.Value)
		}
		if vv := mustGet(t, db, "cc", "absent"); vv != nil {
			t.Fatalf("Get(absent) = %+v", vv)
		}
	}
	if reqs := px.requests(); len(reqs) != 2 || count(reqs, "/float") != 1 || count(reqs, "/absent") != 1 {
		t.Fatalf("three rounds of Gets made requests %q, want one for float and one for absent", reqs)
	}
	// The second Apply knows every revision: no _all_docs before _bulk_docs.
	v2 := statedb.Version{BlockNum: 2}
	mustApply(t, db, v2, func(b *statedb.Batch) {
		b.Put("cc", "ints", []byte(`{"b":2}`), nil, v2)
		b.Delete("cc", "bin", v2)
		b.Put("cc", "float", []byte(`{"p":3}`), nil, v2)
		b.Delete("cc", "absent", v2)
	})
	if reqs := px.requests(); count(reqs, "_all_docs") != 0 || count(reqs, "_bulk_docs") != 1 {
		t.Fatalf("Apply with every revision cached made requests %q", reqs)
	}
	if vv := mustGet(t, db, "cc", "bin"); vv != nil {
		t.Fatal("deleted key still cached")
	}
	if vv := mustGet(t, db, "cc", "ints"); string(vv.Value) != `{"b":2}` || vv.Version != v2 {
		t.Fatalf("Get after update = %+v", vv)
	}
	if reqs := px.requests(); len(reqs) != 0 {
		t.Fatalf("Gets after Apply made requests %q", reqs)
	}
}

// TestCacheDisabledAndBounded: a negative size reads CouchDB every time;
// a small one never holds more than its budget.
func TestCacheDisabledAndBounded(t *testing.T) {
	px := newProxy(t, serverURL(t))
	off := connect(t, Config{Address: px.URL(), CacheSizeMB: -1, WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, off, "ch")
	mustApply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		b.Put("cc", "k", []byte("v"), nil, statedb.Version{BlockNum: 1})
	})
	px.requests()
	for range 3 {
		mustGet(t, db, "cc", "k")
	}
	if reqs := px.requests(); len(reqs) != 3 {
		t.Fatalf("with the cache off, 3 Gets made %d requests", len(reqs))
	}
	if err := db.Preload([]statedb.NsKey{{Namespace: "cc", Key: "k"}}); err != nil {
		t.Fatal(err)
	}
	if reqs := px.requests(); len(reqs) != 0 {
		t.Fatalf("with the cache off, Preload made requests %q", reqs)
	}

	small := connect(t, Config{CacheSizeMB: 1, WarmIndexesAfterNBlocks: 1000})
	sdb := openChannel(t, small, "ch")
	val := strings.Repeat("v", 100<<10)
	for blk := uint64(1); blk <= 3; blk++ {
		mustApply(t, sdb, statedb.Version{BlockNum: blk}, func(b *statedb.Batch) {
			for i := range 10 {
				b.Put("cc", fmt.Sprintf("k%d-%d", blk, i), []byte(val), nil, statedb.Version{BlockNum: blk})
			}
		})
	}
	entries, used := small.cache.stats()
	if used > 1<<20 || entries == 0 || entries >= 30 {
		t.Fatalf("cache of 1 MB holds %d entries in %d bytes", entries, used)
	}
	// Evicted keys are still read, from CouchDB.
	if vv := mustGet(t, sdb, "cc", "k1-0"); vv == nil || len(vv.Value) != len(val) {
		t.Fatal("evicted key not read back")
	}
}

// TestCacheNoStaleValueAfterRacingRead: a Get that read the old value
// while an Apply was writing must not leave it in the cache.
func TestCacheNoStaleValueAfterRacingRead(t *testing.T) {
	c := connect(t, Config{WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, c, "ch")
	ck := db.cacheKey("cc", "k")
	mustApply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		b.Put("cc", "k", []byte("old"), nil, statedb.Version{BlockNum: 1})
	})
	c.cache.drop([]cacheKey{ck})
	gen := c.cache.generation("ch") // a reader starts...
	mustApply(t, db, statedb.Version{BlockNum: 2}, func(b *statedb.Batch) {
		b.Put("cc", "k", []byte("new"), nil, statedb.Version{BlockNum: 2})
	})
	// ...and, having read "old" before the Apply wrote, fills late.
	c.cache.fill("ch", gen, []*cacheEntry{{key: ck, present: true, valueKnown: true, vv: statedb.VersionedValue{Value: []byte("old")}}})
	if vv := mustGet(t, db, "cc", "k"); string(vv.Value) != "new" {
		t.Fatalf("Get = %q after a racing read, want new", vv.Value)
	}
}

// TestPreload: one _all_docs request per database fills the cache for
// every key asked, present or absent, and the Gets that follow make none.
func TestPreload(t *testing.T) {
	px := newProxy(t, serverURL(t))
	c := connect(t, Config{Address: px.URL(), WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, c, "ch")
	var keys []statedb.NsKey
	mustApply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		for i := range 40 {
			ns := []string{"a", "b$$pcoll"}[i%2]
			k := fmt.Sprintf("k%02d", i)
			b.Put(ns, k, []byte(fmt.Sprintf(`{"n":%d.5}`, i)), nil, statedb.Version{BlockNum: 1})
			keys = append(keys, statedb.NsKey{Namespace: ns, Key: k}, statedb.NsKey{Namespace: ns, Key: "absent" + k})
		}
	})
	c2 := connect(t, Config{Address: px.URL(), DatabasePrefix: c.cfg.DatabasePrefix, WarmIndexesAfterNBlocks: 1000})
	db2 := openChannel(t, c2, "ch") // a fresh cache
	px.requests()
	start := time.Now()
	if err := db2.Preload(keys); err != nil {
		t.Fatal(err)
	}
	if reqs := px.requests(); len(reqs) != 2 || count(reqs, "POST") != 2 || count(reqs, "_all_docs") != 2 {
		t.Fatalf("Preload of 80 keys in 2 namespaces made requests %q", reqs)
	}
	t.Logf("preload of %d keys took %s", len(keys), time.Since(start))
	for i, k := range keys {
		vv := mustGet(t, db2, k.Namespace, k.Key)
		if (i%2 == 0) != (vv != nil) {
			t.Fatalf("Get(%v) = %+v", k, vv)
		}
	}
	if reqs := px.requests(); len(reqs) != 0 {
		t.Fatalf("Gets after Preload made requests %q", reqs)
	}
	// Preloaded revisions serve the next Apply too.
	mustApply(t, db2, statedb.Version{BlockNum: 2}, func(b *statedb.Batch) {
		for _, k := range keys {
			b.Put(k.Namespace, k.Key, []byte("x"), nil, statedb.Version{BlockNum: 2})
		}
	})
	if reqs := px.requests(); count(reqs, "_a/_all_docs") != 0 || count(reqs, "pcoll/_all_docs") != 0 {
		t.Fatalf("Apply after Preload read revisions again: %q", reqs)
	}
}

func TestObserveApply(t *testing.T) {
	c := connect(t, Config{WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, c, "ch")
	var calls, updates int
	db.ObserveApply(func(elapsed time.Duration, n int) {
		calls++
		updates += n
		if elapsed <= 0 {
			t.Errorf("Apply observed with duration %s", elapsed)
		}
	})
	mustApply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		b.Put("ns", "a", []byte("1"), nil, statedb.Version{BlockNum: 1})
		b.Put("ns", "b", []byte("2"), nil, statedb.Version{BlockNum: 1})
	})
	if calls != 1 || updates != 2 {
		t.Fatalf("observer saw %d calls with %d updates, want 1 with 2", calls, updates)
	}
	db.ObserveApply(nil)
	mustApply(t, db, statedb.Version{BlockNum: 2}, func(*statedb.Batch) {})
	if calls != 1 {
		t.Fatal("observer called after it was removed")
	}
}

// TestCacheFillBesideApplies: a read that overlapped Applies still fills
// the keys they do not write, and none of those they do; a read that
// overlapped more Applies than the cache remembers fills nothing; other
// channels' Applies do not matter.
func TestCacheFillBesideApplies(t *testing.T) {
	c := newCache(1)
	key := func(k string) cacheKey { return cacheKey{"ch", "cc", k} }
	absent := func(ks ...string) []*cacheEntry {
		var es []*cacheEntry
		for _, k := range ks {
			es = append(es, &cacheEntry{key: key(k)})
		}
		return es
	}
	cached := func(k string) bool { _, ok := c.get(key(k)); return ok }

	before := c.generation("ch") // a read starts before the Apply,
	c.beginApply("ch", []cacheKey{key("a")})
	during := c.generation("ch") // another while it runs
	c.beginApply("other", []cacheKey{{"other", "cc", "b"}})
	c.fill("ch", during, absent("a", "b"))
	if cached("a") || !cached("b") {
		t.Fatalf("a read during an Apply of a: a cached %t (want false), b cached %t (want true)", cached("a"), cached("b"))
	}
	c.endApply("ch")
	c.beginApply("ch", []cacheKey{key("c")})
	c.endApply("ch")
	c.fill("ch", before, absent("a", "c", "d"))
	if cached("a") || cached("c") || !cached("d") {
		t.Fatalf("a read across Applies of a and c: cached a %t, c %t, d %t; want only d", cached("a"), cached("c"), cached("d"))
	}
	after := c.generation("ch")
	c.fill("ch", after, absent("a"))
	if !cached("a") {
		t.Fatal("a read after the Applies did not fill a")
	}

	slow := c.generation("ch")
	for range recentApplies + 1 {
		c.beginApply("ch", []cacheKey{key("x")})
		c.endApply("ch")
	}
	c.fill("ch", slow, absent("e"))
	if cached("e") {
		t.Fatalf("a read across %d Applies filled e, though the cache no longer knows what the first wrote", recentApplies+1)
	}
	c.fill("ch", c.generation("ch"), absent("e"))
	if !cached("e") {
		t.Fatal("a read after them did not fill e")
	}
}
