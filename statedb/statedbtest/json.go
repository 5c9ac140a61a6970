package statedbtest

import (
	"bytes"
	"encoding/json"
	"math/big"
)

// isJSONObject reports whether b is one JSON object (spaces around it
// allowed): the values a document store may re-encode.
func isJSONObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(b)
}

// jsonEqual reports whether a and b are the same JSON value: objects with
// the same fields in any order, arrays element by element, numbers by
// value (1.0 equals 1 and 1e3 equals 1000), strings after unescaping.
//
// A number beyond ±2^53 may also come back as the nearest float64: RFC
// 8259 §6 leaves such numbers outside what JSON implementations agree on,
// and a document store written in JavaScript (the CouchDB-compatible test
// server) keeps them so. Within ±2^53, where every implementation is exact,
// a number must come back with its value.
func jsonEqual(a, b []byte) bool {
	va, ok := decodeJSON(a)
	if !ok {
		return false
	}
	vb, ok := decodeJSON(b)
	if !ok {
		return false
	}
	return sameJSON(va, vb)
}

// exactLimit is 2^53, past which a float64 no longer holds every integer.
var exactLimit = new(big.Rat).SetInt64(1 << 53)

func decodeJSON(b []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	if d.More() {
		return nil, false
	}
	return v, true
}

func sameJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !sameJSON(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		ra, oka := new(big.Rat).SetString(a.String())
		rb, okb := new(big.Rat).SetString(b.String())
		if !oka || !okb {
			return false
		}
		if ra.Cmp(rb) == 0 {
			return true
		}
		if new(big.Rat).Abs(ra).Cmp(exactLimit) <= 0 && new(big.Rat).Abs(rb).Cmp(exactLimit) <= 0 {
			return false
		}
		fa, _ := ra.Float64()
		fb, _ := rb.Float64()
		return fa == fb
	default: // string, bool, nil
		return a == b
	}
}
