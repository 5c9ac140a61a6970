package statedbtest

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/weft-ledger/weft/statedb"
)

// openDocStore returns an open function over docStores with the given
// bugs: one storage per test, kept across reopen.
func openDocStore(b bugs) func(t *testing.T) statedb.DB {
	var mu sync.Mutex
	stores := map[*testing.T]*storage{}
	return func(t *testing.T) statedb.DB {
		mu.Lock()
		defer mu.Unlock()
		st, ok := stores[t]
		if !ok {
			st = newStorage()
			stores[t] = st
		}
		return &docStore{st: st, bugs: b}
	}
}

// TestDocStore runs the whole suite, capabilities included, on the
// hand-made document store.
func TestDocStore(t *testing.T) {
	RunWith(t, openDocStore(bugs{}), Options{ReencodesJSON: true})
}

// mutants maps each bug of the docStore to the suite's test that must
// catch it.
var mutants = map[string]struct {
	bugs bugs
	test string
}{
	"inclusiveEnd":      {bugs{inclusiveEnd: true}, "RangeBounds"},
	"staleCache":        {bugs{staleCache: true}, "PreloadThenApply"},
	"reencodeArrays":    {bugs{reencodeArrays: true}, "JSONValues"},
	"dropMetadata":      {bugs{dropMetadata: true}, "Metadata"},
	"skipAtPageEdge":    {bugs{skipAtPageEdge: true}, "QueryPages"},
	"failDeleteAbsent":  {bugs{failDeleteAbsent: true}, "ApplyIdempotent"},
	"floatVersions":     {bugs{floatVersions: true}, "Versions"},
	"namespaceByPrefix": {bugs{namespaceByPrefix: true}, "NamespaceIsolation"},
	"unsortedQuery":     {bugs{unsortedQuery: true}, "QuerySort"},
	"quietKeyRefusal":   {bugs{quietKeyRefusal: true}, "CheckKeyValue"},
}

const mutantEnv = "STATEDBTEST_MUTANT"

// TestMutant runs one test of the suite on a docStore with the bug the
// environment names; TestSuiteCatchesBugs runs it in a child process and
// expects it to fail.
func TestMutant(t *testing.T) {
	name := os.Getenv(mutantEnv)
	if name == "" {
		t.Skip("run by TestSuiteCatchesBugs")
	}
	RunWith(t, openDocStore(mutants[name].bugs), Options{ReencodesJSON: true})
}

func TestSuiteCatchesBugs(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("in a mutant's process")
	}
	if testing.Short() {
		t.Skip("starts a process per bug")
	}
	for name, m := range mutants {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutant$/^"+m.test+"$", "-test.count=1")
			cmd.Env = append(os.Environ(), mutantEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite's %s passed on a store with bug %s:\n%s", m.test, name, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestMutant/"+m.test) {
				t.Fatalf("bug %s did not fail %s:\n%s", name, m.test, out)
			}
		})
	}
}

func TestJSONEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, true},
		{` {"a" : 1} `, `{"a":1}`, true},
		{`{"a":1.0}`, `{"a":1}`, true},
		{`{"a":1e3}`, `{"a":1000}`, true},
		{`{"a":"<&>"}`, `{"a":"\u003c\u0026\u003e"}`, true},
		{`{"a":12345678901234567890}`, `{"a":12345678901234567000}`, true}, // beyond 2^53: as a float64
		{`{"a":9007199254740993}`, `{"a":9007199254740992}`, true},
		{`{"a":9007199254740991}`, `{"a":9007199254740990}`, false}, // within 2^53: exact
		{`{"a":1000007}`, `{"a":1.000007e6}`, true},
		{`{"a":1000007}`, `{"a":1000008}`, false},
		{`{"a":0.1}`, `{"a":0.1000000000000001}`, false},
		{`{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{`{"a":1}`, `{"a":1,"b":null}`, false},
		{`{"a":null}`, `{"a":false}`, false},
		{`{"a":"1"}`, `{"a":1}`, false},
		{`{"a":1}`, `{"a":1}{}`, false},
		{`{"a":1}`, `not json`, false},
	} {
		if got := jsonEqual([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("jsonEqual(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{`{}`, true}, {` {"a":1}`, true}, {`[{}]`, false}, {`{`, false}, {`"{}"`, false}, {"\xef\xbb\xbf{}", false},
	} {
		if got := isJSONObject([]byte(tc.v)); got != tc.want {
			t.Errorf("isJSONObject(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
