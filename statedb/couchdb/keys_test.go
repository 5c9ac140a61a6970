package couchdb

import (
	"strings"
	"testing"

	"github.com/weft-ledger/weft/statedb"
)

// TestKeyChecks: what the simulator is told at endorsement, and what
// Apply refuses before writing anything.
func TestKeyChecks(t *testing.T) {
	px := newProxy(t, serverURL(t))
	c := connect(t, Config{Address: px.URL(), WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, c, "ch")
	for _, tc := range []struct {
		key, value string
		want       []string // all in the error; none means accepted
	}{
		{"asset1", `{"owner":"tom","nested":{"_id":1}}`, nil},
		{"\x00composite\x00key\x00", "binary", nil},
		{"emoji😀", `[{"_id":1}]`, nil},
		{"_design/x", `{}`, []string{"[_design/x]", `cannot begin with "_"`}},
		{"", `{}`, []string{"empty key"}},
		{"bad\xff", `{}`, []string{"[626164ff]", "UTF-8"}},
		{"k1", `{"_id":"x"}`, []string{"[k1]", "field [_id]"}},
		{"k2", `{"a":1,"~version":"x"}`, []string{"[k2]", "field [~version]"}},
		{"k3", `{"_rev":1,"_attachments":{}}`, []string{"field [_attachments]"}},
	} {
		err := db.CheckKeyValue(tc.key, []byte(tc.value))
		if tc.want == nil {
			if err != nil {
				t.Errorf("CheckKeyValue(%q, %s) = %v", tc.key, tc.value, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("CheckKeyValue(%q, %s) accepted", tc.key, tc.value)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("CheckKeyValue(%q, %s) = %q, which does not say %q", tc.key, tc.value, err, w)
			}
		}
	}

	px.requests()
	for _, tc := range []struct {
		ns, key, value string
		want           string
	}{
		{"cc", "_bad", "v", `key "_bad" of namespace cc`},
		{"cc", "ok", `{"_id":"x"}`, `value of key "ok" of namespace cc: field [_id]`},
		{"cc\x00", "k", "v", `namespace "cc\x00"`},
		{"", "k", "v", "empty namespace"},
	} {
		b := statedb.NewBatch()
		b.Put("cc", "fine", []byte("v"), nil, statedb.Version{BlockNum: 1})
		b.Put(tc.ns, tc.key, []byte(tc.value), nil, statedb.Version{BlockNum: 1})
		err := db.Apply(b, statedb.Version{BlockNum: 1})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Apply of %q/%q = %v, want an error saying %q", tc.ns, tc.key, err, tc.want)
		}
	}
	if reqs := px.requests(); len(reqs) != 0 {
		t.Fatalf("refused batches made requests %q", reqs)
	}
	// A key CouchDB cannot hold is simply absent.
	if vv := mustGet(t, db, "cc", "_bad"); vv != nil {
		t.Fatal("Get of an impossible key found something")
	}
}
