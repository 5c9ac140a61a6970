package statedbtest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/weft-ledger/weft/statedb"
)

// Options tells the suite what a backend can hold beyond what every
// backend must. The zero value suits the most restrictive backend: the
// suite then uses only namespace names a channel can produce and compares
// values byte for byte.
//
// What a backend cannot store as a key is not an option: a backend that
// implements statedb.KeyValueChecker gets the arbitrary-bytes key cases only
// for keys its CheckKeyValue accepts (keys of $$h namespaces, raw SHA-256
// hashes, must round-trip regardless).
type Options struct {
	// AnyNamespace says namespace names may hold any bytes (0x00, 0xff, "",
	// names that are prefixes of others): the suite adds such names to the
	// realistic ones (chaincode names, _lifecycle, ns$$pcoll, ns$$hcoll,
	// upper-case and long names).
	AnyNamespace bool
	// ReencodesJSON says a value that is a JSON object may be handed back
	// re-encoded (field order, spacing, number spelling) rather than byte
	// for byte, as a backend that stores it as a document does; the suite
	// then compares JSON object values as JSON. Other values (arrays,
	// strings, numbers, non-JSON bytes) must still round-trip exactly.
	ReencodesJSON bool
}

// Run runs the shared suite with zero Options; it is RunWith(t, open, Options{}).
func Run(t *testing.T, open func(t *testing.T) statedb.DB) {
	t.Helper()
	RunWith(t, open, Options{})
}

// RunWith runs the shared suite. open must return an open store; called
// again with the same t (after the store was closed) it must return a store
// over the same storage, so persistence can be checked; called with
// different t it must return stores that share nothing. Stores left open are
// closed by the suite. Optional capabilities (statedb.BulkLoader, Querier,
// KeyValueChecker, IndexCreator, HealthChecker) are found by type assertion
// on the store open returns; their tests skip, saying so, when it lacks them.
func RunWith(t *testing.T, open func(t *testing.T) statedb.DB, opts Options) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) statedb.DB)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"VersionsAndMetadata", testVersionsAndMetadata},
		{"RangeBounds", testRangeBounds},
		{"Savepoint", testSavepoint},
		{"ReopenPersists", testReopen},
		{"IteratorCloseTwice", testIteratorClose},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
	if opts.AnyNamespace {
		t.Run("NamespaceIsolation", func(t *testing.T) { testNamespaceIsolation(t, open) })
	}
}

func openClosed(t *testing.T, open func(t *testing.T) statedb.DB) statedb.DB {
	db := open(t)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func apply(t *testing.T, db statedb.DB, sp statedb.Version, fn func(b *statedb.Batch)) {
	t.Helper()
	b := statedb.NewBatch()
	fn(b)
	if err := db.Apply(b, sp); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func mustGet(t *testing.T, db statedb.DB, ns, key string) *statedb.VersionedValue {
	t.Helper()
	vv, err := db.Get(ns, key)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", ns, key, err)
	}
	return vv
}

func wantValue(t *testing.T, db statedb.DB, ns, key, want string) {
	t.Helper()
	vv := mustGet(t, db, ns, key)
	if vv == nil {
		t.Fatalf("Get(%q, %q) = absent, want %q", ns, key, want)
	}
	if string(vv.Value) != want {
		t.Fatalf("Get(%q, %q) = %q, want %q", ns, key, vv.Value, want)
	}
}

func wantAbsent(t *testing.T, db statedb.DB, ns, key string) {
	t.Helper()
	if vv := mustGet(t, db, ns, key); vv != nil {
		t.Fatalf("Get(%q, %q) = %q, want absent", ns, key, vv.Value)
	}
}

func scan(t *testing.T, db statedb.DB, ns, start, end string) []string {
	t.Helper()
	it, err := db.GetRange(ns, start, end)
	if err != nil {
		t.Fatalf("GetRange(%q, %q, %q): %v", ns, start, end, err)
	}
	defer it.Close()
	var keys []string
	for {
		kv, err := it.Next()
		if err != nil {
			t.Fatalf("GetRange(%q, %q, %q).Next: %v", ns, start, end, err)
		}
		if kv == nil {
			return keys
		}
		if kv.Namespace != ns {
			t.Fatalf("range over %q returned namespace %q", ns, kv.Namespace)
		}
		keys = append(keys, kv.Key)
	}
}

func wantKeys(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("keys = %q, want %q", got, want)
	}
}

func testGetPutDelete(t *testing.T, open func(t *testing.T) statedb.DB) {
	db := openClosed(t, open)
	wantAbsent(t, db, "ns", "k")
	apply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		b.Put("ns", "k", []byte("v1"), nil, statedb.Version{BlockNum: 1})
		b.Put("ns", "empty", []byte{}, nil, statedb.Version{BlockNum: 1})
		b.Put("ns", "gone", []byte("x"), nil, statedb.Version{BlockNum: 1})
	})
	wantValue(t, db, "ns", "k", "v1")
	wantValue(t, db, "ns", "empty", "")
	apply(t, db, statedb.Version{BlockNum: 2}, func(b *statedb.Batch) {
		b.Put("ns", "k", []byte("v2"), nil, statedb.Version{BlockNum: 2})
		b.Delete("ns", "gone", statedb.Version{BlockNum: 2})
		b.Delete("ns", "never-there", statedb.Version{BlockNum: 2})
	})
	wantValue(t, db, "ns", "k", "v2")
	wantAbsent(t, db, "ns", "gone")
	wantAbsent(t, db, "ns", "never-there")

	// A later update of the same key in one batch wins.
	b := statedb.NewBatch()
	b.Put("ns", "k", []byte("a"), nil, statedb.Version{BlockNum: 3})
	b.Delete("ns", "k", statedb.Version{BlockNum: 3, TxNum: 1})
	if _, deleted, ok := b.Get("ns", "k"); !ok || !deleted {
		t.Fatalf("Batch.Get after Put then Delete: deleted=%v ok=%v, want true true", deleted, ok)
	}
	if _, _, ok := b.Get("ns", "other"); ok {
		t.Fatal("Batch.Get of an untouched key reported ok")
	}
	if err := db.Apply(b, statedb.Version{BlockNum: 3}); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, db, "ns", "k")
}

func testVersionsAndMetadata(t *testing.T, open func(t *testing.T) statedb.DB) {
	db := openClosed(t, open)
	v := statedb.Version{BlockNum: 7, TxNum: 3}
	apply(t, db, v, func(b *statedb.Batch) {
		b.Put("ns", "m", []byte("val"), []byte("meta\x00data"), v)
		b.Put("ns", "nometa", []byte("val"), nil, statedb.Version{BlockNum: 1 << 40, TxNum: 1 << 33})
	})
	vv := mustGet(t, db, "ns", "m")
	if vv.Version != v || !bytes.Equal(vv.Metadata, []byte("meta\x00data")) || string(vv.Value) != "val" {
		t.Fatalf("Get = %+v, want value val, metadata meta\\x00data, version %v", vv, v)
	}
	vv = mustGet(t, db, "ns", "nometa")
	if vv.Version != (statedb.Version{BlockNum: 1 << 40, TxNum: 1 << 33}) || len(vv.Metadata) != 0 {
		t.Fatalf("Get(nometa) = %+v", vv)
	}
	it, err := db.GetRange("ns", "m", "n")
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	kv, err := it.Next()
	if err != nil || kv == nil {
		t.Fatalf("Next = %v, %v", kv, err)
	}
	if kv.Version != v || string(kv.Metadata) != "meta\x00data" {
		t.Fatalf("range result %+v lost version or metadata", kv)
	}
	if v.Compare(statedb.Version{BlockNum: 7, TxNum: 4}) != -1 || v.Compare(v) != 0 || v.Compare(statedb.Version{BlockNum: 6, TxNum: 9}) != 1 {
		t.Fatal("Version.Compare orders wrongly")
	}
}

func testRangeBounds(t *testing.T, open func(t *testing.T) statedb.DB) {
	db := openClosed(t, open)
	keys := []string{"", "a", "a\x00", "ab", "a\xff", "b", "b\x00", "c", "\xff", "\xff\xff"}
	apply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		for i := len(keys) - 1; i >= 0; i-- {
			b.Put("ns", keys[i], []byte("v"), nil, statedb.Version{BlockNum: 1, TxNum: uint64(i)})
		}
	})
	wantKeys(t, scan(t, db, "ns", "", ""), keys...)
	wantKeys(t, scan(t, db, "ns", "a", "b"), "a", "a\x00", "ab", "a\xff")
	wantKeys(t, scan(t, db, "ns", "a\x00", "b\x00"), "a\x00", "ab", "a\xff", "b")
	wantKeys(t, scan(t, db, "ns", "b", ""), "b", "b\x00", "c", "\xff", "\xff\xff")
	wantKeys(t, scan(t, db, "ns", "", "a\x00"), "", "a")
	wantKeys(t, scan(t, db, "ns", "c", "c"))
	wantKeys(t, scan(t, db, "ns", "d", "e"))
	wantKeys(t, scan(t, db, "ns", "\xff", ""), "\xff", "\xff\xff")
}

func testNamespaceIsolation(t *testing.T, open func(t *testing.T) statedb.DB) {
	db := openClosed(t, open)
	nss := []string{"a", "ab", "a\x00", "a\xff", "b", "", "\xff", "a$$hcoll", "a$$pcoll"}
	apply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		for _, ns := range nss {
			for _, k := range []string{"", "\x00", "b", "k", "\xff", "\xff\xff"} {
				b.Put(ns, k, []byte(ns+"/"+k), nil, statedb.Version{BlockNum: 1})
			}
		}
	})
	for _, ns := range nss {
		wantKeys(t, scan(t, db, ns, "", ""), "", "\x00", "b", "k", "\xff", "\xff\xff")
		wantKeys(t, scan(t, db, ns, "\xff", ""), "\xff", "\xff\xff")
		for _, k := range []string{"", "\x00", "k", "\xff\xff"} {
			wantValue(t, db, ns, k, ns+"/"+k)
		}
	}
	// "ab" must not be visible as key "b" of "a", nor the other way round.
	wantAbsent(t, db, "a", "bk")
	apply(t, db, statedb.Version{BlockNum: 2}, func(b *statedb.Batch) {
		b.Delete("a", "k", statedb.Version{BlockNum: 2})
	})
	wantAbsent(t, db, "a", "k")
	wantValue(t, db, "ab", "k", "ab/k")
	wantValue(t, db, "a\x00", "k", "a\x00/k")
	wantKeys(t, scan(t, db, "nothing", "", ""))
}

func testSavepoint(t *testing.T, open func(t *testing.T) statedb.DB) {
	db := openClosed(t, open)
	if _, ok, err := db.Savepoint(); err != nil || ok {
		t.Fatalf("fresh Savepoint ok=%v err=%v, want false nil", ok, err)
	}
	apply(t, db, statedb.Version{BlockNum: 4, TxNum: 2}, func(*statedb.Batch) {})
	sp, ok, err := db.Savepoint()
	if err != nil || !ok || sp != (statedb.Version{BlockNum: 4, TxNum: 2}) {
		t.Fatalf("Savepoint = %v %v %v, want 4:2 true", sp, ok, err)
	}
	apply(t, db, statedb.Version{BlockNum: 5}, func(b *statedb.Batch) {
		b.Put("ns", "k", []byte("v"), nil, statedb.Version{BlockNum: 5})
	})
	if sp, _, _ := db.Savepoint(); sp != (statedb.Version{BlockNum: 5}) {
		t.Fatalf("Savepoint = %v, want 5:0", sp)
	}
	// The savepoint is not a key of any namespace.
	for _, ns := range []string{"", "s", "ns"} {
		for _, k := range scan(t, db, ns, "", "") {
			if ns != "ns" || k != "k" {
				t.Fatalf("savepoint leaked as %q/%q", ns, k)
			}
		}
	}
}

func testReopen(t *testing.T, open func(t *testing.T) statedb.DB) {
	db := open(t)
	apply(t, db, statedb.Version{BlockNum: 9, TxNum: 1}, func(b *statedb.Batch) {
		b.Put("ns", "k", []byte("v"), []byte("m"), statedb.Version{BlockNum: 9, TxNum: 1})
		b.Put("ns", "d", []byte("v"), nil, statedb.Version{BlockNum: 9})
	})
	apply(t, db, statedb.Version{BlockNum: 10}, func(b *statedb.Batch) {
		b.Delete("ns", "d", statedb.Version{BlockNum: 10})
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openClosed(t, open)
	vv := mustGet(t, db, "ns", "k")
	if vv == nil || string(vv.Value) != "v" || string(vv.Metadata) != "m" || vv.Version != (statedb.Version{BlockNum: 9, TxNum: 1}) {
		t.Fatalf("after reopen Get = %+v", vv)
	}
	wantAbsent(t, db, "ns", "d")
	if sp, ok, err := db.Savepoint(); err != nil || !ok || sp != (statedb.Version{BlockNum: 10}) {
		t.Fatalf("after reopen Savepoint = %v %v %v, want 10:0", sp, ok, err)
	}
}

func testIteratorClose(t *testing.T, open func(t *testing.T) statedb.DB) {
	db := openClosed(t, open)
	apply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		b.Put("ns", "a", []byte("v"), nil, statedb.Version{BlockNum: 1})
	})
	it, err := db.GetRange("ns", "", "")
	if err != nil {
		t.Fatal(err)
	}
	it.Close()
	it.Close()
	if kv, err := it.Next(); kv != nil || err != nil {
		t.Fatalf("Next after Close = %v, %v; want nil, nil", kv, err)
	}
}
