package statedbtest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

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
	// Skip names tests of the suite (as "RangeUTF8Order", the name after
	// the suite's own "/") that this run skips, each with the reason the
	// skip reports: for a known gap of a test server that the backend
	// cannot bridge, never for a bug of the backend.
	Skip map[string]string
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
	s := &suite{open: open, opts: opts}
	tests := slices.Concat(basicTests, rangeTests, batchTests, concurrencyTests, capabilityTests, queryTests)
	for name := range opts.Skip {
		if !slices.ContainsFunc(tests, func(tc namedTest) bool { return tc.name == name }) {
			t.Errorf("Options.Skip names %q, which is not a test of the suite", name)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if why, ok := opts.Skip[tc.name]; ok {
				t.Skipf("skipped by Options.Skip: %s", why)
			}
			tc.fn(s, t)
		})
	}
}

type namedTest struct {
	name string
	fn   func(s *suite, t *testing.T)
}

type suite struct {
	open func(t *testing.T) statedb.DB
	opts Options
	// closed holds the stores the suite closed itself, which their
	// cleanup must not close again: the contract does not say Close may be
	// called twice.
	closed sync.Map
}

// db opens the store of t and closes it when t ends.
func (s *suite) db(t *testing.T) statedb.DB {
	t.Helper()
	db := s.open(t)
	if db == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() {
		if _, done := s.closed.Load(db); !done {
			_ = db.Close()
		}
	})
	return db
}

// close closes db (once).
func (s *suite) close(db statedb.DB) error {
	if _, done := s.closed.LoadOrStore(db, true); done {
		return nil
	}
	return db.Close()
}

// reopen closes db and opens the store of t again over the same storage.
func (s *suite) reopen(t *testing.T, db statedb.DB) statedb.DB {
	t.Helper()
	if err := s.close(db); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return s.db(t)
}

// Namespace names a channel produces: chaincode names (any case, any
// length), the system namespaces, and the private (ns$$pcoll) and hashed
// (ns$$hcoll) forms of collections, implicit ones included.
var (
	longName      = "asset-transfer-" + strings.Repeat("ledger", 12)
	realisticNSes = []string{
		"basic", "Basic", "MYCC", "_lifecycle", "lscc",
		"mycc$$pcoll", "mycc$$hcoll", "MyCC$$pColl", "MyCC$$hColl",
		"mycc$$p_implicit_org_Org1MSP", "mycc$$h_implicit_org_Org1MSP",
		longName + "-one", longName + "-two",
		longName + "-one$$p" + longName, longName + "-one$$h" + longName,
		longName + "-one$$p" + longName + "2", longName + "-one$$h" + longName + "2",
	}
	// Names only a backend with Options.AnyNamespace holds.
	byteNSes = []string{"", "a", "ab", "a\x00", "a\xff", "\xff", "\x00"}
)

// namespaces returns the namespace names the suite uses on this backend.
func (s *suite) namespaces() []string {
	if s.opts.AnyNamespace {
		return append(slices.Clone(realisticNSes), byteNSes...)
	}
	return slices.Clone(realisticNSes)
}

// hashed reports whether ns holds hashed private data, whose keys are raw
// SHA-256 hashes.
func hashed(ns string) bool { return strings.Contains(ns, "$$h") }

// hashKey is the key a hashed namespace holds for the private key k.
func hashKey(k string) string {
	h := sha256.Sum256([]byte(k))
	return string(h[:])
}

// accepted returns those of keys db can hold: all of them, unless db is a
// statedb.KeyValueChecker that refuses some.
func accepted(db statedb.DB, keys ...string) []string {
	c, ok := db.(statedb.KeyValueChecker)
	if !ok {
		return keys
	}
	var out []string
	for _, k := range keys {
		if c.CheckKeyValue(k, []byte("v")) == nil {
			out = append(out, k)
		}
	}
	return out
}

func v(block, tx uint64) statedb.Version { return statedb.Version{BlockNum: block, TxNum: tx} }

func apply(t *testing.T, db statedb.DB, sp statedb.Version, fn func(b *statedb.Batch)) *statedb.Batch {
	t.Helper()
	b := statedb.NewBatch()
	fn(b)
	if err := db.Apply(b, sp); err != nil {
		t.Fatalf("Apply %d updates at %v: %v", b.Len(), sp, err)
	}
	return b
}

func mustGet(t *testing.T, db statedb.DB, ns, key string) *statedb.VersionedValue {
	t.Helper()
	vv, err := db.Get(ns, key)
	if err != nil {
		t.Fatalf("Get(%q, %s): %v", ns, showKey(key), err)
	}
	return vv
}

func wantValue(t *testing.T, db statedb.DB, ns, key, want string) {
	t.Helper()
	vv := mustGet(t, db, ns, key)
	if vv == nil {
		t.Fatalf("Get(%q, %s) = absent, want %s", ns, showKey(key), show([]byte(want)))
	}
	if string(vv.Value) != want {
		t.Fatalf("Get(%q, %s) = %s, want %s", ns, showKey(key), show(vv.Value), show([]byte(want)))
	}
}

func wantAbsent(t *testing.T, db statedb.DB, ns, key string) {
	t.Helper()
	if vv := mustGet(t, db, ns, key); vv != nil {
		t.Fatalf("Get(%q, %s) = %s at %v, want absent", ns, showKey(key), show(vv.Value), vv.Version)
	}
}

// wantVV checks that ns/key holds want (compared as sameVV does).
func (s *suite) wantVV(t *testing.T, db statedb.DB, ns, key string, want statedb.VersionedValue) {
	t.Helper()
	got := mustGet(t, db, ns, key)
	if got == nil {
		t.Fatalf("Get(%q, %s) = absent, want %s", ns, showKey(key), showVV(want))
	}
	if d := s.diffVV(want, *got); d != "" {
		t.Fatalf("Get(%q, %s): %s", ns, showKey(key), d)
	}
}

// diffVV describes how got differs from want, "" when it does not: values
// byte for byte (or as JSON, see Options.ReencodesJSON), metadata byte for
// byte with nil and empty alike, versions exactly.
func (s *suite) diffVV(want, got statedb.VersionedValue) string {
	var d []string
	if !s.sameValue(want.Value, got.Value) {
		d = append(d, fmt.Sprintf("value %s, want %s", show(got.Value), show(want.Value)))
	}
	if !bytes.Equal(want.Metadata, got.Metadata) {
		d = append(d, fmt.Sprintf("metadata %s, want %s", show(got.Metadata), show(want.Metadata)))
	}
	if want.Version != got.Version {
		d = append(d, fmt.Sprintf("version %v, want %v", got.Version, want.Version))
	}
	return strings.Join(d, "; ")
}

func (s *suite) sameValue(want, got []byte) bool {
	if bytes.Equal(want, got) {
		return true
	}
	return s.opts.ReencodesJSON && isJSONObject(want) && jsonEqual(want, got)
}

// scan reads a whole range, checking that every result belongs to ns and
// [start, end) and that keys come in strictly increasing byte order.
func scan(t *testing.T, db statedb.DB, ns, start, end string) []*statedb.KV {
	t.Helper()
	it, err := db.GetRange(ns, start, end)
	if err != nil {
		t.Fatalf("GetRange(%q, %s, %s): %v", ns, showKey(start), showKey(end), err)
	}
	defer it.Close()
	var out []*statedb.KV
	for {
		kv, err := it.Next()
		if err != nil {
			t.Fatalf("GetRange(%q, %s, %s).Next after %d results: %v", ns, showKey(start), showKey(end), len(out), err)
		}
		if kv == nil {
			return out
		}
		if kv.Namespace != ns {
			t.Fatalf("GetRange(%q, ...) returned key %s of namespace %q", ns, showKey(kv.Key), kv.Namespace)
		}
		if kv.Key < start || (end != "" && kv.Key >= end) {
			t.Fatalf("GetRange(%q, %s, %s) returned key %s, outside the range", ns, showKey(start), showKey(end), showKey(kv.Key))
		}
		if n := len(out); n > 0 && kv.Key <= out[n-1].Key {
			t.Fatalf("GetRange(%q, %s, %s) returned %s after %s: not in increasing byte order", ns, showKey(start), showKey(end), showKey(kv.Key), showKey(out[n-1].Key))
		}
		out = append(out, kv)
	}
}

func scanKeys(t *testing.T, db statedb.DB, ns, start, end string) []string {
	t.Helper()
	var keys []string
	for _, kv := range scan(t, db, ns, start, end) {
		keys = append(keys, kv.Key)
	}
	return keys
}

func wantKeys(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: keys %s, want %s", what, showKeys(got), showKeys(want))
	}
}

// model is the state a test expects: namespace → key → value.
type model map[string]map[string]statedb.VersionedValue

// apply records b in m as a backend must apply it.
func (m model) apply(b *statedb.Batch) {
	_ = b.ForEach(func(ns, key string, vv *statedb.VersionedValue, deleted bool, _ statedb.Version) error {
		if deleted {
			delete(m[ns], key)
			return nil
		}
		if m[ns] == nil {
			m[ns] = map[string]statedb.VersionedValue{}
		}
		m[ns][key] = *vv
		return nil
	})
}

func (m model) keys(ns string) []string {
	keys := make([]string, 0, len(m[ns]))
	for k := range m[ns] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// check compares db with m: a full scan of every namespace of m (and of
// extra, which may hold none), and a Get of every getEvery-th key of each.
func (s *suite) check(t *testing.T, db statedb.DB, m model, getEvery int, extra ...string) {
	t.Helper()
	nss := slices.Clone(extra)
	for ns := range m {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	for _, ns := range slices.Compact(nss) {
		keys := m.keys(ns)
		kvs := scan(t, db, ns, "", "")
		got := make([]string, len(kvs))
		for i, kv := range kvs {
			got[i] = kv.Key
		}
		wantKeys(t, fmt.Sprintf("full scan of %q", ns), got, keys...)
		for _, kv := range kvs {
			if d := s.diffVV(m[ns][kv.Key], kv.VersionedValue); d != "" {
				t.Fatalf("full scan of %q, key %s: %s", ns, showKey(kv.Key), d)
			}
		}
		for i, k := range keys {
			if getEvery > 0 && i%getEvery == 0 {
				s.wantVV(t, db, ns, k, m[ns][k])
			}
		}
	}
}

// within runs fn on another goroutine and fails the test when it has not
// returned after d: a backend that deadlocks fails with a message rather
// than hanging the test binary.
func within(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-timer.C:
		t.Fatalf("%s: not done after %v (deadlock?)", what, d)
	}
}

// show formats a value for a message: quoted, and cut when long.
func show(b []byte) string {
	if b == nil {
		return "nil"
	}
	if len(b) > 48 {
		return fmt.Sprintf("%q... (%d bytes)", b[:48], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func showKey(k string) string { return show([]byte(k)) }

func showKeys(keys []string) string {
	shown := make([]string, len(keys))
	for i, k := range keys {
		shown[i] = showKey(k)
	}
	if len(shown) > 12 {
		return fmt.Sprintf("[%s ... %s] (%d keys)", strings.Join(shown[:6], " "), strings.Join(shown[len(shown)-6:], " "), len(shown))
	}
	return "[" + strings.Join(shown, " ") + "]"
}

func showVV(vv statedb.VersionedValue) string {
	return fmt.Sprintf("value %s, metadata %s, version %v", show(vv.Value), show(vv.Metadata), vv.Version)
}
