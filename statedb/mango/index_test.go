package mango

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCheckIndexAccepts(t *testing.T) {
	for _, def := range []string{
		`{"index":{"fields":["docType","owner"]},"ddoc":"indexOwnerDoc","name":"indexOwner","type":"json"}`,
		`{"index":{"fields":["owner"]}}`,
		`{"index":{"fields":[{"size":"desc"},{"color":"desc"}]},"ddoc":"indexSizeSortDoc","name":"indexSizeSortDesc","type":"json"}`,
		`{"index":{"fields":["a.b", {"c":"asc"}]}, "ddoc":"_design/x"}`,
		`{"index":{"fields":["owner"],"partial_filter_selector":{"docType":"asset"}}}`,
		" \n{\"index\":{\"fields\":[\"owner\"]}}\n",
	} {
		if err := CheckIndex("META-INF/statedb/couchdb/indexes/a.json", []byte(def)); err != nil {
			t.Errorf("CheckIndex(%s) = %v, want nil", def, err)
		}
	}
}

func TestCheckIndexRefuses(t *testing.T) {
	for _, tc := range []struct{ def, want string }{
		{``, "empty"},
		{`   `, "empty"},
		{`{"index":`, "not valid JSON"},
		{`{"index":{"fields":["a"]}} {}`, "not valid JSON"},
		{`[{"index":{"fields":["a"]}}]`, "want a JSON object, found a JSON array"},
		{`"index"`, "want a JSON object, found a JSON string"},
		{`null`, "found null"},
		{`{}`, `"index": missing`},
		{`{"ddoc":"d","name":"n"}`, `"index": missing`},
		{`{"index":["a"]}`, `"index": must be a JSON object, found an array`},
		{`{"index":null}`, `"index": must be a JSON object, found null`},
		{`{"index":{}}`, `"index.fields": missing`},
		{`{"index":{"fields":[]}}`, `"index.fields": must name at least one field`},
		{`{"index":{"fields":"owner"}}`, `"index.fields": must be a JSON array of fields, found a string`},
		{`{"index":{"fields":null}}`, `"index.fields": must be a JSON array of fields, found null`},
		{`{"index":{"fields":["a", 3]}}`, `"index.fields[1]": a field is a name or`},
		{`{"index":{"fields":[null]}}`, `"index.fields[0]": a field is a name or {"name": "asc"|"desc"}; found null`},
		{`{"index":{"fields":[""]}}`, `"index.fields[0]": the field name is empty`},
		{`{"index":{"fields":[{"":"asc"}]}}`, `"index.fields[0]": the field name is empty`},
		{`{"index":{"fields":[{"a":"up"}]}}`, `"index.fields[0]": the sort direction of "a" must be "asc" or "desc" (lowercase); found "up"`},
		{`{"index":{"fields":[{"a":"ASC"}]}}`, `(lowercase); found "ASC"`},
		{`{"index":{"fields":[{"a":1}]}}`, `the sort direction of "a" must be a string`},
		{`{"index":{"fields":[{}]}}`, `found 0 keys`},
		{`{"index":{"fields":[{"a":"asc","b":"desc"}]}}`, `found 2 keys`},
		{`{"index":{"fields":["a"],"partial_filter_selector":"x"}}`, `"index.partial_filter_selector": must be a JSON object`},
		{`{"index":{"fields":["a"],"selector":{}}}`, `"index.selector": unknown key`},
		{`{"index":{"fields":["a"]},"ddoc":1}`, `"ddoc": must be a string, found a number`},
		{`{"index":{"fields":["a"]},"ddoc":""}`, `"ddoc": must not be empty`},
		{`{"index":{"fields":["a"]},"name":true}`, `"name": must be a string, found a boolean`},
		{`{"index":{"fields":["a"]},"type":"text"}`, `"type": must be "json", found "text"`},
		{`{"index":{"fields":["a"]},"type":{}}`, `"type": must be a string, found an object`},
		{`{"index":{"fields":["a"]},"partitioned":false}`, `"partitioned": unknown key`},
		{`{"index":{"fields":["a"]},"index":{"fields":["b"]}}`, `"index": the key appears more than once`},
		{`{"index":{"fields":[{"a":"asc","a":"desc"}]}}`, `"index.fields[0].a": the key appears more than once`},
	} {
		const file = "META-INF/statedb/couchdb/indexes/bad.json"
		err := CheckIndex(file, []byte(tc.def))
		if err == nil {
			t.Errorf("CheckIndex(%s) = nil, want an error containing %q", tc.def, tc.want)
			continue
		}
		if !errors.Is(err, ErrInvalidIndex) {
			t.Errorf("CheckIndex(%s) = %v, does not wrap ErrInvalidIndex", tc.def, err)
		}
		if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckIndex(%s) = %q, want the file name and %q", tc.def, err, tc.want)
		}
	}
}

// FuzzCheckIndex checks that CheckIndex never panics and that a definition
// it accepts has the shape its callers rely on.
func FuzzCheckIndex(f *testing.F) {
	for _, s := range []string{
		`{"index":{"fields":["docType","owner"]},"ddoc":"d","name":"n","type":"json"}`,
		`{"index":{"fields":[{"size":"desc"}]}}`,
		`{"index":{"fields":["a"],"partial_filter_selector":{"x":{"$gt":1}}}}`,
		`{"index":{"fields":[]}}`, `[]`, `{`, `{"a":1,"a":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, def []byte) {
		if CheckIndex("f.json", def) != nil {
			return
		}
		var d struct {
			Index struct {
				Fields []json.RawMessage `json:"fields"`
			} `json:"index"`
		}
		if err := json.Unmarshal(def, &d); err != nil {
			t.Fatalf("accepted %q, which does not decode: %v", def, err)
		}
		if len(d.Index.Fields) == 0 {
			t.Fatalf("accepted %q, which has no fields", def)
		}
	})
}
