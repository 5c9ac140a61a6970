package mango

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// ErrInvalidIndex is wrapped by every error CheckIndex returns.
var ErrInvalidIndex = errors.New("invalid index definition")

// CheckIndex reports why def, the content of the index file name, is not an
// index definition that can be created; nil when it is. The error names the
// file, the field at fault (as a path such as index.fields[2]) and the reason,
// and wraps ErrInvalidIndex.
//
// A definition is a JSON object with:
//
//	"index": {"fields": [...], "partial_filter_selector": {...}}   required; fields required, non-empty
//	"ddoc":  "name of the design document"                         optional string
//	"name":  "name of the index"                                   optional string
//	"type":  "json"                                                optional, only "json"
//
// Each field is a field name ("owner", "a.b") or a one-key object giving the
// field's sort direction ({"size": "desc"}). Any other key is refused.
func CheckIndex(name string, def []byte) error {
	if err := check(def); err != nil {
		return fmt.Errorf("%w in file %s: %v", ErrInvalidIndex, name, err)
	}
	return nil
}

// fieldError names the part of a definition at fault.
type fieldError struct {
	field, reason string
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.reason
	}
	return fmt.Sprintf("%q: %s", e.field, e.reason)
}

func refuse(field, format string, args ...any) error {
	return &fieldError{field: field, reason: fmt.Sprintf(format, args...)}
}

func check(def []byte) error {
	if len(bytes.TrimSpace(def)) == 0 {
		return refuse("", "the file is empty, want a JSON object")
	}
	if err := checkNoDuplicateKeys(def); err != nil {
		return err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(def, &top); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return refuse("", "want a JSON object, found a JSON %s", typeErr.Value)
		}
		return refuse("", "not valid JSON: %v", err)
	}
	if top == nil {
		return refuse("", "want a JSON object, found null")
	}
	for _, k := range sortedKeys(top) {
		v := top[k]
		switch k {
		case "index":
			if err := checkIndexObject(v); err != nil {
				return err
			}
		case "ddoc", "name":
			s, err := stringValue(k, v)
			if err != nil {
				return err
			}
			if s == "" {
				return refuse(k, "must not be empty (leave it out to let CouchDB choose)")
			}
		case "type":
			s, err := stringValue(k, v)
			if err != nil {
				return err
			}
			if s != "json" {
				return refuse(k, "must be \"json\", found %q", s)
			}
		default:
			return refuse(k, "unknown key; an index definition has only \"index\", \"ddoc\", \"name\" and \"type\"")
		}
	}
	if _, ok := top["index"]; !ok {
		return refuse("index", "missing; want \"index\": {\"fields\": [...]}")
	}
	return nil
}

func checkIndexObject(raw json.RawMessage) error {
	var index map[string]json.RawMessage
	if err := json.Unmarshal(raw, &index); err != nil || index == nil {
		return refuse("index", "must be a JSON object, found %s", kind(raw))
	}
	for _, k := range sortedKeys(index) {
		v := index[k]
		switch k {
		case "fields":
			if err := checkFields(v); err != nil {
				return err
			}
		case "partial_filter_selector":
			var sel map[string]json.RawMessage
			if err := json.Unmarshal(v, &sel); err != nil || sel == nil {
				return refuse("index.partial_filter_selector", "must be a JSON object (a selector), found %s", kind(v))
			}
		default:
			return refuse("index."+k, "unknown key; \"index\" has only \"fields\" and \"partial_filter_selector\"")
		}
	}
	if _, ok := index["fields"]; !ok {
		return refuse("index.fields", "missing; want a JSON array of field names")
	}
	return nil
}

func checkFields(raw json.RawMessage) error {
	var fields []json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return refuse("index.fields", "must be a JSON array of fields, found %s", kind(raw))
	}
	if len(fields) == 0 {
		return refuse("index.fields", "must name at least one field")
	}
	for i, f := range fields {
		path := fmt.Sprintf("index.fields[%d]", i)
		switch kind(f) {
		case "a string":
			var s string
			_ = json.Unmarshal(f, &s)
			if s == "" {
				return refuse(path, "the field name is empty")
			}
		case "an object":
			var sortField map[string]json.RawMessage
			_ = json.Unmarshal(f, &sortField)
			if len(sortField) != 1 {
				return refuse(path, "a sorted field is one key, {\"field\": \"asc\"} or {\"field\": \"desc\"}; found %d keys", len(sortField))
			}
			for fieldName, dir := range sortField {
				if fieldName == "" {
					return refuse(path, "the field name is empty")
				}
				var d string
				if err := json.Unmarshal(dir, &d); err != nil {
					return refuse(path, "the sort direction of %q must be a string, \"asc\" or \"desc\"; found %s", fieldName, kind(dir))
				}
				// Fabric's validation lowercases the direction first, but
				// CouchDB then refuses "ASC" when it creates the index.
				if d != "asc" && d != "desc" {
					return refuse(path, "the sort direction of %q must be \"asc\" or \"desc\" (lowercase); found %q", fieldName, d)
				}
			}
		default:
			return refuse(path, "a field is a name or {\"name\": \"asc\"|\"desc\"}; found %s", kind(f))
		}
	}
	return nil
}

func stringValue(field string, raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", refuse(field, "must be a string, found %s", kind(raw))
	}
	return s, nil
}

// kind names the JSON type of a valid JSON value for error messages.
func kind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkNoDuplicateKeys refuses an object that repeats a key at any depth:
// Go keeps the last value and CouchDB may keep another, so the peer would
// check one definition and create a different one.
func checkNoDuplicateKeys(def []byte) error {
	dec := json.NewDecoder(bytes.NewReader(def))
	dec.UseNumber()
	// errSyntax stops the walk; json.Unmarshal then reports the syntax error.
	errSyntax := errors.New("syntax")
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return errSyntax
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		switch d {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return errSyntax
				}
				k, _ := kt.(string)
				p := k
				if path != "" {
					p = path + "." + k
				}
				if seen[k] {
					return refuse(p, "the key appears more than once")
				}
				seen[k] = true
				if err := walk(p); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return errSyntax
			}
		case '[':
			for i := 0; dec.More(); i++ {
				if err := walk(fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return errSyntax
			}
		}
		return nil
	}
	if err := walk(""); err != errSyntax {
		return err
	}
	return nil
}
