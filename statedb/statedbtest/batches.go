package statedbtest

import (
	"fmt"
	"testing"

	"github.com/weft-ledger/weft/statedb"
)

var batchTests = []namedTest{
	{"Savepoint", testSavepoint},
	{"ReopenPersists", testReopen},
	{"BulkBatch", testBulkBatch},
	{"SameKeyTwiceInABatch", testSameKeyTwice},
	{"ApplyIdempotent", testApplyIdempotent},
	{"ApplyIdempotentAfterReopen", testApplyIdempotentAfterReopen},
	{"ApplyAfterPartialApply", testApplyAfterPartialApply},
}

func wantSavepoint(t *testing.T, db statedb.DB, want statedb.Version) {
	t.Helper()
	sp, ok, err := db.Savepoint()
	if err != nil || !ok || sp != want {
		t.Fatalf("Savepoint = %v, ok=%v, err=%v; want %v", sp, ok, err, want)
	}
}

func wantNoSavepoint(t *testing.T, db statedb.DB) {
	t.Helper()
	if sp, ok, err := db.Savepoint(); err != nil || ok {
		t.Fatalf("Savepoint of a fresh store = %v, ok=%v, err=%v; want none", sp, ok, err)
	}
}

func testSavepoint(s *suite, t *testing.T) {
	db := s.db(t)
	wantNoSavepoint(t, db)
	db = s.reopen(t, db)
	wantNoSavepoint(t, db)

	// An empty batch moves the savepoint.
	apply(t, db, v(0, 0), func(*statedb.Batch) {})
	wantSavepoint(t, db, v(0, 0))
	apply(t, db, v(4, 2), func(*statedb.Batch) {})
	wantSavepoint(t, db, v(4, 2))
	for n := uint64(5); n <= 30; n++ {
		apply(t, db, v(n, n%3), func(b *statedb.Batch) {
			b.Put("basic", fmt.Sprint(n%4), []byte("v"), nil, v(n, 0))
		})
		wantSavepoint(t, db, v(n, n%3))
	}
	db = s.reopen(t, db)
	wantSavepoint(t, db, v(30, 0))
	apply(t, db, v(31, 7), func(b *statedb.Batch) {
		b.Delete("basic", "0", v(31, 0))
	})
	wantSavepoint(t, db, v(31, 7))
	db = s.reopen(t, db)
	wantSavepoint(t, db, v(31, 7))

	// The savepoint is not a key of any namespace.
	want := map[string][]string{"basic": {"1", "2", "3"}}
	for _, ns := range append(s.namespaces(), "s", "savepoint", "_savepoint", "statedb_savepoint", "basic") {
		wantKeys(t, fmt.Sprintf("full scan of %q", ns), scanKeys(t, db, ns, "", ""), want[ns]...)
	}
}

func testReopen(s *suite, t *testing.T) {
	db := s.db(t)
	m := model{}
	m.apply(apply(t, db, v(9, 1), func(b *statedb.Batch) {
		b.Put("basic", "k", []byte("v"), []byte("m"), v(9, 1))
		b.Put("basic", "d", []byte("v"), nil, v(9, 0))
		b.Put("basic", "json", []byte(`{"owner":"tom"}`), []byte("m"), v(9, 2))
		b.Put("mycc$$pcoll", "k", []byte("p"), nil, v(9, 3))
		b.Put("mycc$$hcoll", hashKey("k"), []byte(hashKey("p")), nil, v(9, 3))
		b.Put("_lifecycle", "namespaces/metadata/basic", []byte{0x0a, 0x00}, nil, v(9, 4))
	}))
	m.apply(apply(t, db, v(10, 0), func(b *statedb.Batch) {
		b.Delete("basic", "d", v(10, 0))
	}))
	db = s.reopen(t, db)
	s.check(t, db, m, 1)
	wantSavepoint(t, db, v(10, 0))
	// A reopened store takes further updates.
	m.apply(apply(t, db, v(11, 0), func(b *statedb.Batch) {
		b.Put("basic", "k", []byte("v2"), nil, v(11, 0))
		b.Put("basic", "d", []byte("back"), nil, v(11, 1))
	}))
	s.check(t, db, m, 1)
	db = s.reopen(t, db)
	s.check(t, db, m, 1)
}

// testBulkBatch: thousands of updates in one Apply, more than a backend's
// bulk request holds (CouchDB's maxBatchUpdateSize is 1000 by default),
// over several namespaces, then as many updates and deletes of them.
func testBulkBatch(s *suite, t *testing.T) {
	db := s.db(t)
	nss := []string{"basic", "mycc$$pcoll", "mycc$$hcoll"}
	m := model{}
	b := statedb.NewBatch()
	for i := range 2500 {
		for j, ns := range nss {
			k := fmt.Sprintf("key%05d", i)
			val := []byte(fmt.Sprintf("value %d", i))
			if hashed(ns) {
				k, val = hashKey(k), []byte(hashKey(string(val)))
			}
			if i%5 == 0 {
				val = []byte(fmt.Sprintf(`{"n":%d,"ns":%q}`, i, ns))
			}
			var meta []byte
			if i%3 == 0 {
				meta = []byte{byte(i), byte(j)}
			}
			b.Put(ns, k, val, meta, v(1, uint64(i)))
		}
	}
	if b.Len() != 7500 {
		t.Fatalf("Batch.Len = %d, want 7500", b.Len())
	}
	if err := db.Apply(b, v(1, 2499)); err != nil {
		t.Fatalf("Apply of %d updates: %v", b.Len(), err)
	}
	m.apply(b)
	s.check(t, db, m, 97)
	wantSavepoint(t, db, v(1, 2499))

	b = statedb.NewBatch()
	for _, ns := range nss {
		for i, k := range m.keys(ns) {
			switch i % 4 {
			case 0:
				b.Delete(ns, k, v(2, uint64(i)))
			case 1:
				b.Put(ns, k, []byte("updated"), nil, v(2, uint64(i)))
			case 2:
				b.Put(ns, k+"new", []byte(`{"new":true}`), []byte("m"), v(2, uint64(i)))
			}
		}
	}
	if err := db.Apply(b, v(2, 0)); err != nil {
		t.Fatalf("Apply of %d updates: %v", b.Len(), err)
	}
	m.apply(b)
	s.check(t, db, m, 97)
	db = s.reopen(t, db)
	s.check(t, db, m, 0)
}

func testSameKeyTwice(s *suite, t *testing.T) {
	db := s.db(t)
	m := model{}
	m.apply(apply(t, db, v(1, 0), func(b *statedb.Batch) {
		b.Put("basic", "deleted-then-put", []byte("old"), nil, v(1, 0))
		b.Put("basic", "put-then-deleted", []byte("old"), nil, v(1, 0))
	}))
	b := apply(t, db, v(2, 0), func(b *statedb.Batch) {
		b.Put("basic", "twice", []byte("first"), []byte("m1"), v(2, 0))
		b.Put("basic", "twice", []byte("second"), nil, v(2, 1))
		b.Put("basic", "new-put-then-deleted", []byte("x"), nil, v(2, 0))
		b.Delete("basic", "new-put-then-deleted", v(2, 1))
		b.Put("basic", "put-then-deleted", []byte("x"), nil, v(2, 0))
		b.Delete("basic", "put-then-deleted", v(2, 1))
		b.Delete("basic", "deleted-then-put", v(2, 0))
		b.Put("basic", "deleted-then-put", []byte(`{"back":1}`), nil, v(2, 1))
		b.Put("basic", "json-then-binary", []byte(`{"a":1}`), nil, v(2, 0))
		b.Put("basic", "json-then-binary", []byte{0xff}, nil, v(2, 1))
	})
	if b.Len() != 5 {
		t.Fatalf("Batch.Len = %d after five keys were updated, some twice; want 5", b.Len())
	}
	m.apply(b)
	s.check(t, db, m, 1)
	wantValue(t, db, "basic", "twice", "second")
	wantAbsent(t, db, "basic", "put-then-deleted")
	wantAbsent(t, db, "basic", "new-put-then-deleted")
}

// idempotentBatch touches every kind of state the ledger may write twice
// when it re-applies a block after a crash: new keys, updated keys, JSON
// and binary values, metadata, deletes of present and absent keys, private
// and hashed namespaces.
func idempotentBatch() *statedb.Batch {
	b := statedb.NewBatch()
	ver := v(2, 0)
	for i := range 40 {
		k := fmt.Sprintf("key%02d", i)
		switch i % 8 {
		case 0:
			b.Put("basic", k, []byte("updated"), nil, ver)
		case 1:
			b.Delete("basic", k, ver)
		case 2:
			b.Put("basic", k, []byte(fmt.Sprintf(`{"owner":"fred","n":%d}`, i)), []byte("meta"), ver)
		case 3:
			b.Delete("basic", k+"absent", ver)
		case 4:
			b.Put("basic", k+"new", []byte{0x00, 0xff}, nil, ver)
		case 5:
			b.Put("mycc$$pcoll", k, []byte("pvt"), nil, ver)
			b.Put("mycc$$hcoll", hashKey(k), []byte(hashKey("pvt")), nil, ver)
		case 6:
			b.Delete("mycc$$pcoll", k, ver)
			b.Delete("mycc$$hcoll", hashKey(k), ver)
		case 7:
			b.Put("newcc", k, []byte(`{"fresh":true}`), nil, ver)
		}
	}
	return b
}

// baseState writes the state idempotentBatch is applied over.
func baseState(t *testing.T, db statedb.DB) model {
	t.Helper()
	m := model{}
	m.apply(apply(t, db, v(1, 0), func(b *statedb.Batch) {
		for i := range 40 {
			k := fmt.Sprintf("key%02d", i)
			b.Put("basic", k, []byte(fmt.Sprintf(`{"owner":"tom","n":%d}`, i)), nil, v(1, uint64(i)))
			b.Put("mycc$$pcoll", k, []byte("p"), nil, v(1, uint64(i)))
			b.Put("mycc$$hcoll", hashKey(k), []byte(hashKey("p")), nil, v(1, uint64(i)))
		}
	}))
	return m
}

// testApplyIdempotent: the same batch applied twice at the same savepoint
// leaves the state the first Apply left; the ledger relies on it when it
// re-applies the last block after a crash.
func testApplyIdempotent(s *suite, t *testing.T) {
	db := s.db(t)
	m := baseState(t, db)
	b := idempotentBatch()
	m.apply(b)
	for i := range 3 {
		if err := db.Apply(b, v(2, 0)); err != nil {
			t.Fatalf("Apply number %d of the same batch: %v", i+1, err)
		}
		s.check(t, db, m, 1, "newcc")
		wantSavepoint(t, db, v(2, 0))
	}
}

// testApplyIdempotentAfterReopen: as testApplyIdempotent, with the store
// reopened in between, so no cache of the first Apply helps the second.
func testApplyIdempotentAfterReopen(s *suite, t *testing.T) {
	db := s.db(t)
	m := baseState(t, db)
	b := idempotentBatch()
	m.apply(b)
	if err := db.Apply(b, v(2, 0)); err != nil {
		t.Fatal(err)
	}
	db = s.reopen(t, db)
	if err := db.Apply(b, v(2, 0)); err != nil {
		t.Fatalf("Apply of the same batch after reopen: %v", err)
	}
	s.check(t, db, m, 1, "newcc")
	wantSavepoint(t, db, v(2, 0))
}

// testApplyAfterPartialApply: a backend whose Apply is not atomic may be
// stopped half way (some updates written, the savepoint not moved); the
// ledger then applies the whole batch. The result must be the whole batch.
// The half is modelled here by applying a part of the batch first.
func testApplyAfterPartialApply(s *suite, t *testing.T) {
	db := s.db(t)
	m := baseState(t, db)
	b := idempotentBatch()
	part := statedb.NewBatch()
	i := 0
	_ = b.ForEach(func(ns, key string, vv *statedb.VersionedValue, deleted bool, ver statedb.Version) error {
		if i%2 == 0 {
			if deleted {
				part.Delete(ns, key, ver)
			} else {
				part.Put(ns, key, vv.Value, vv.Metadata, ver)
			}
		}
		i++
		return nil
	})
	if err := db.Apply(part, v(1, 0)); err != nil {
		t.Fatal(err)
	}
	db = s.reopen(t, db)
	wantSavepoint(t, db, v(1, 0))
	if err := db.Apply(b, v(2, 0)); err != nil {
		t.Fatalf("Apply of a batch partly applied before: %v", err)
	}
	m.apply(b)
	s.check(t, db, m, 1, "newcc")
	wantSavepoint(t, db, v(2, 0))
}
