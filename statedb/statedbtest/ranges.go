package statedbtest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/weft-ledger/weft/statedb"
)

var rangeTests = []namedTest{
	{"RangeBounds", testRangeBounds},
	{"RangeSpecialCharacters", testRangeSpecialCharacters},
	{"RangeUTF8Order", testRangeUTF8Order},
	{"RangeArbitraryBytes", testRangeArbitraryBytes},
	{"RangeCompositeKeys", testRangeCompositeKeys},
	{"RangeEmptyNamespace", testRangeEmptyNamespace},
	{"RangeBig", testRangeBig},
	{"IteratorOpenDuringApply", testIteratorOpenDuringApply},
	{"IteratorClose", testIteratorClose},
}

// wantRange checks every combination of start and end bounds against the
// sorted keys of one namespace.
func wantRange(t *testing.T, db statedb.DB, ns string, keys, bounds []string) {
	t.Helper()
	keys = slices.Clone(keys)
	sort.Strings(keys)
	starts := append([]string{""}, bounds...)
	for _, start := range starts {
		for _, end := range starts {
			var want []string
			for _, k := range keys {
				if k >= start && (end == "" || k < end) {
					want = append(want, k)
				}
			}
			wantKeys(t, fmt.Sprintf("GetRange(%q, %s, %s)", ns, showKey(start), showKey(end)), scanKeys(t, db, ns, start, end), want...)
		}
	}
}

func putKeys(t *testing.T, db statedb.DB, block uint64, ns string, keys []string) model {
	t.Helper()
	m := model{}
	m.apply(apply(t, db, v(block, 0), func(b *statedb.Batch) {
		for i, k := range keys {
			b.Put(ns, k, []byte("value of "+k), nil, v(block, uint64(i)))
		}
	}))
	return m
}

// testRangeBounds: keys that are prefixes of others, bounds that are
// stored keys, fall between keys, lie before the first and after the last,
// and equal bounds (an empty range).
func testRangeBounds(s *suite, t *testing.T) {
	db := s.db(t)
	keys := []string{"a", "a0", "ab", "abc", "abd", "abd0", "b", "b1", "ba", "key1", "key10", "key11", "key2", "key20", "z"}
	m := putKeys(t, db, 1, "basic", keys)
	putKeys(t, db, 2, "basic0", []string{"a", "b"})
	putKeys(t, db, 3, "basi", []string{"c", "ca"})
	bounds := []string{"a", "a0", "aa", "ab", "abc", "abc0", "abd", "b", "b0", "key", "key1", "key10", "key100", "key2", "y", "z", "z0", "\x01", "~", "\U0010FFFF"}
	wantRange(t, db, "basic", keys, bounds)
	s.check(t, db, m, 1)
	// Next after the end keeps answering nil, nil.
	it, err := db.GetRange("basic", "z", "")
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for i := range 3 {
		kv, err := it.Next()
		if err != nil || (i == 0) != (kv != nil) {
			t.Fatalf("Next %d of a one-key range = %v, %v", i, kv, err)
		}
	}
}

// specialKeys are UTF-8 keys with characters that URLs, JSON, regular
// expressions or collation treat specially; every backend must hold them.
var specialKeys = []string{
	"key1", "key1&%-", "key1-a", "key1%=", "key1español", "key1中文", "key1한국어", "中文key1", "key10", "key1z",
	"A", "B", "Z", "a", "b", "z", "a b", "a/b", "a?b", "a#b", "a+b", "a=b", "a;b", "a,b", "a:b", "a@b",
	"a\\b", "a\"b", "a'b", "a<b>", "a{b}", "a[b]", "a|b", "a^b", "a`b", "a~b", "a.b", "a..", "a*b", "a$b",
	"a\tb", "a\nb", "a\x7fb", "a\u00a0b", "a\u200bb", "é", "e\u0301", "😀", "\U0010FFFF", "a\U0010FFFF",
	"%2F", "%", "%%", "+", "..", ".", "/", "_design", "a_", "a_b",
}

// testRangeSpecialCharacters: the keys come back, from Get and from
// ranges, in byte order (not collation order: "B" < "a", "é" > "z").
func testRangeSpecialCharacters(s *suite, t *testing.T) {
	db := s.db(t)
	keys := accepted(db, specialKeys...)
	if len(keys) != len(specialKeys) {
		missing := slices.DeleteFunc(slices.Clone(specialKeys), func(k string) bool { return slices.Contains(keys, k) })
		// Only "_" at the start may be refused (CouchDB's reserved ids).
		for _, k := range missing {
			if !strings.HasPrefix(k, "_") {
				t.Errorf("CheckKeyValue refuses the UTF-8 key %s", showKey(k))
			}
		}
	}
	m := putKeys(t, db, 1, "basic", keys)
	s.check(t, db, m, 1)
	wantRange(t, db, "basic", keys, []string{"key1", "key2", "a", "a\x00", "b", "Z", "é", "\U0010FFFF", "a/", "a%"})
}

// testRangeUTF8Order: characters from U+E000 to U+FFFF (full-width forms,
// half-width katakana, private use) against characters beyond U+FFFF
// (emoji), where UTF-16 order, JavaScript's, is not byte order: "！"
// (U+FF01) sorts before "😀" (U+1F600) in bytes, after it in UTF-16.
func testRangeUTF8Order(s *suite, t *testing.T) {
	db := s.db(t)
	keys := []string{"！", "ｱ", "\ue000", "\uffff", "😀", "\U0010FFFF", "a！", "a😀", "a\uffff", "a\U00010000", "a"}
	m := putKeys(t, db, 1, "basic", keys)
	s.check(t, db, m, 1)
	wantRange(t, db, "basic", keys, []string{"a！", "a😀", "！", "😀", "\ue000"})
}

// testRangeArbitraryBytes: keys that are not UTF-8 or hold 0x00 and 0xff,
// as far as the backend accepts them (all of them when it has no
// KeyValueChecker).
func testRangeArbitraryBytes(s *suite, t *testing.T) {
	db := s.db(t)
	candidates := []string{"", "\x00", "\x00\x00", "a", "a\x00", "a\x00b", "ab", "a\xff", "a\xff\xff", "b", "b\x00", "c", "\x7f", "\x80", "\xc3", "\xc3\xa9", "\xff", "\xff\xff", "\xff\x00", "_x"}
	keys := accepted(db, candidates...)
	if _, ok := db.(statedb.KeyValueChecker); !ok && len(keys) != len(candidates) {
		t.Fatal("accepted() dropped keys of a backend without a KeyValueChecker")
	}
	t.Logf("%d of %d arbitrary-byte keys accepted", len(keys), len(candidates))
	if len(keys) == 0 {
		t.Skip("the backend's CheckKeyValue accepts none of the arbitrary-byte keys")
	}
	m := putKeys(t, db, 1, "basic", keys)
	s.check(t, db, m, 1)
	wantRange(t, db, "basic", keys, []string{"\x00", "a", "a\x00", "a\x01", "b", "\x7f", "\x80", "\xc3", "\xff", "\xff\xff"})
	m.apply(apply(t, db, v(2, 0), func(b *statedb.Batch) {
		for i, k := range keys {
			if i%2 == 1 {
				b.Delete("basic", k, v(2, uint64(i)))
			}
		}
	}))
	s.check(t, db, m, 1)
}

// testRangeCompositeKeys: the keys of composite-key chaincode APIs,
// "\x00" objectType "\x00" attr "\x00" ... "\x00", scanned by partial key
// as the chaincode shim does: [prefix, prefix+U+10FFFF).
func testRangeCompositeKeys(s *suite, t *testing.T) {
	db := s.db(t)
	ck := func(parts ...string) string { return "\x00" + strings.Join(parts, "\x00") + "\x00" }
	keys := []string{
		ck("color~name", "blue", "marble1"), ck("color~name", "blue", "marble10"), ck("color~name", "blue", "marble2"),
		ck("color~name", "bluegreen", "marble3"), ck("color~name", "red", "marble4"), ck("color~name", "中文", "marble5"),
		ck("color~namex", "blue", "marble6"), ck("owner", "tom"), "marble1", "marble2", "\x01", "~",
	}
	m := putKeys(t, db, 1, "basic", keys)
	s.check(t, db, m, 1)
	p := ck("color~name", "blue")
	wantKeys(t, "partial composite key scan", scanKeys(t, db, "basic", p, p+string(utf8.MaxRune)), keys[0], keys[1], keys[2])
	p = ck("color~name")
	wantKeys(t, "partial composite key scan", scanKeys(t, db, "basic", p, p+string(utf8.MaxRune)), keys[:6]...)
	// GetStateByRange("", "") in the shim starts at "\x01": composite keys
	// are outside it.
	wantKeys(t, "simple-key scan", scanKeys(t, db, "basic", "\x01", ""), "\x01", "marble1", "marble2", "~")
	wantRange(t, db, "basic", keys, []string{"\x00", "\x00\x01", p, p + "\U0010FFFF", "\x01", "marble1", "\x7f"})
}

func testRangeEmptyNamespace(s *suite, t *testing.T) {
	db := s.db(t)
	for _, ns := range []string{"basic", "mycc$$pcoll", "mycc$$hcoll"} {
		wantKeys(t, "scan of a fresh store", scanKeys(t, db, ns, "", ""))
		wantKeys(t, "scan of a fresh store", scanKeys(t, db, ns, "a", "z"))
	}
	m := putKeys(t, db, 1, "basic", []string{"a", "b"})
	putKeys(t, db, 2, "basic2", []string{"a"})
	for _, ns := range []string{"basic1", "basi", "Basic", "_lifecycle", "mycc$$pcoll"} {
		wantKeys(t, fmt.Sprintf("scan of unwritten %q", ns), scanKeys(t, db, ns, "", ""))
	}
	wantKeys(t, "scan past the last key", scanKeys(t, db, "basic", "c", ""))
	wantKeys(t, "scan before the first key", scanKeys(t, db, "basic", "", "a"))
	m.apply(apply(t, db, v(3, 0), func(b *statedb.Batch) {
		b.Delete("basic", "a", v(3, 0))
		b.Delete("basic", "b", v(3, 1))
	}))
	s.check(t, db, m, 1, "basic")
}

// bigKeys returns n keys in byte order, more than one internal page of a
// paging backend (CouchDB's internalQueryLimit is 1000 by default).
func bigKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key%05d", i)
	}
	return keys
}

func testRangeBig(s *suite, t *testing.T) {
	db := s.db(t)
	keys := bigKeys(2500)
	m := putKeys(t, db, 1, "basic", keys)
	putKeys(t, db, 2, "basic1", keys[:10]) // a neighbour a sloppy bound would leak into
	s.check(t, db, m, 100)
	for _, r := range [][2]int{{0, 2500}, {999, 2001}, {1000, 2000}, {1, 1001}, {1500, 2500}, {0, 1}, {2499, 2500}} {
		end := ""
		if r[1] < len(keys) {
			end = keys[r[1]]
		}
		wantKeys(t, fmt.Sprintf("GetRange(basic, %s, %s)", keys[r[0]], end), scanKeys(t, db, "basic", keys[r[0]], end), keys[r[0]:r[1]]...)
	}
	wantKeys(t, "GetRange between keys", scanKeys(t, db, "basic", "key00999x", "key02000x"), keys[1000:2001]...)
	// Deletes spread over several pages leave gaps the pages must skip.
	m.apply(apply(t, db, v(3, 0), func(b *statedb.Batch) {
		for i, k := range keys {
			if i%7 == 0 || (i >= 990 && i < 1010) {
				b.Delete("basic", k, v(3, uint64(i)))
			}
		}
	}))
	s.check(t, db, m, 100)
}

// testIteratorOpenDuringApply: an Apply while iterators are open neither
// blocks nor breaks them. What an open iterator sees of that Apply is up
// to the backend (LevelDB iterates a snapshot; a paging backend may see
// the new state from its next page on), but it must not fail, repeat a
// key, go backwards, leave the range, or miss a key the Apply left alone.
func testIteratorOpenDuringApply(s *suite, t *testing.T) {
	db := s.db(t)
	keys := bigKeys(2500)
	before := putKeys(t, db, 1, "basic", keys)

	partly, err := db.GetRange("basic", keys[5], keys[2400])
	if err != nil {
		t.Fatal(err)
	}
	defer partly.Close()
	var seen []*statedb.KV
	for range 10 {
		kv, err := partly.Next()
		if err != nil || kv == nil {
			t.Fatalf("Next = %v, %v", kv, err)
		}
		seen = append(seen, kv)
	}
	unread, err := db.GetRange("basic", "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer unread.Close()

	after := model{"basic": {}}
	for k, vv := range before["basic"] {
		after["basic"][k] = vv
	}
	touched := map[string]bool{}
	b := statedb.NewBatch()
	for i, k := range keys {
		switch {
		case i%10 == 3: // behind and ahead of the cursor
			b.Delete("basic", k, v(2, uint64(i)))
			touched[k] = true
		case i%10 == 6:
			b.Put("basic", k, []byte("updated"), nil, v(2, uint64(i)))
			touched[k] = true
		case i%100 == 50:
			b.Put("basic", k+"+new", []byte("new"), nil, v(2, uint64(i)))
			touched[k+"+new"] = true
		}
	}
	after.apply(b)
	within(t, time.Minute, "Apply while iterators are open", func() error { return db.Apply(b, v(2, 0)) })

	for {
		kv, err := partly.Next()
		if err != nil {
			t.Fatalf("Next after an Apply, %d results in: %v", len(seen), err)
		}
		if kv == nil {
			break
		}
		seen = append(seen, kv)
	}
	checkDuringApply(s, t, "iterator read before and after an Apply", seen, keys[5], keys[2400], before["basic"], after["basic"], touched)

	var rest []*statedb.KV
	for {
		kv, err := unread.Next()
		if err != nil {
			t.Fatalf("Next of an iterator opened before an Apply, %d results in: %v", len(rest), err)
		}
		if kv == nil {
			break
		}
		rest = append(rest, kv)
	}
	checkDuringApply(s, t, "iterator opened before an Apply and read after it", rest, "", "", before["basic"], after["basic"], touched)
	s.check(t, db, after, 100)
}

func checkDuringApply(s *suite, t *testing.T, what string, got []*statedb.KV, start, end string, before, after map[string]statedb.VersionedValue, touched map[string]bool) {
	t.Helper()
	gotKeys := map[string]bool{}
	for i, kv := range got {
		if i > 0 && kv.Key <= got[i-1].Key {
			t.Fatalf("%s: %s after %s: not in increasing order", what, showKey(kv.Key), showKey(got[i-1].Key))
		}
		if kv.Key < start || (end != "" && kv.Key >= end) {
			t.Fatalf("%s: key %s outside [%s, %s)", what, showKey(kv.Key), showKey(start), showKey(end))
		}
		old, inBefore := before[kv.Key]
		cur, inAfter := after[kv.Key]
		if (!inBefore || s.diffVV(old, kv.VersionedValue) != "") && (!inAfter || s.diffVV(cur, kv.VersionedValue) != "") {
			t.Fatalf("%s: key %s = %s, neither its value before nor after the Apply", what, showKey(kv.Key), showVV(kv.VersionedValue))
		}
		gotKeys[kv.Key] = true
	}
	for k := range before {
		if !touched[k] && k >= start && (end == "" || k < end) && !gotKeys[k] {
			t.Fatalf("%s: missed key %s, which the Apply left alone (%d results)", what, showKey(k), len(got))
		}
	}
}

func testIteratorClose(s *suite, t *testing.T) {
	db := s.db(t)
	keys := bigKeys(1200)
	m := putKeys(t, db, 1, "basic", keys)
	// Closed at once, after one result, in the middle of a page, at the
	// end; twice; Next after Close answers nil, nil.
	for _, reads := range []int{0, 1, 500, 1200, 1201} {
		it, err := db.GetRange("basic", "", "")
		if err != nil {
			t.Fatal(err)
		}
		for i := range reads {
			kv, err := it.Next()
			if err != nil || (kv == nil) != (i >= len(keys)) {
				t.Fatalf("Next %d = %v, %v", i, kv, err)
			}
		}
		it.Close()
		it.Close()
		if kv, err := it.Next(); kv != nil || err != nil {
			t.Fatalf("Next after Close = %v, %v; want nil, nil", kv, err)
		}
	}
	// Iterators closed early leave the store usable.
	for range 10 {
		it, err := db.GetRange("basic", keys[100], "")
		if err != nil {
			t.Fatal(err)
		}
		if kv, err := it.Next(); err != nil || kv == nil || kv.Key != keys[100] {
			t.Fatalf("Next = %v, %v", kv, err)
		}
		it.Close()
	}
	m.apply(apply(t, db, v(2, 0), func(b *statedb.Batch) {
		b.Put("basic", "key", []byte("v"), nil, v(2, 0))
	}))
	s.check(t, db, m, 100)
	// An iterator left open when the store closes does not stop Close.
	it, err := db.GetRange("basic", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := it.Next(); err != nil {
		t.Fatal(err)
	}
	within(t, time.Minute, "Close with an iterator open", func() error { return s.close(db) })
	it.Close()
}
