package couchdb

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/weft-ledger/weft/statedb"
)

func TestVersionField(t *testing.T) {
	// Worked by hand from Fabric's encoding: height (1,1) is 01 01 01 01;
	// the protobuf {1: height, 2: metadata} is 0a 04 01 01 01 01 [12 01 6d].
	for _, tc := range []struct {
		v    statedb.Version
		meta []byte
		want string
	}{
		{statedb.Version{BlockNum: 1, TxNum: 1}, nil, "\x00CgQBAQEB"},
		{statedb.Version{BlockNum: 1, TxNum: 1}, []byte("m"), "\x00CgQBAQEBEgFt"},
		{statedb.Version{}, nil, "\x00CgIAAA=="},
	} {
		got := encodeVersionField(tc.v, tc.meta)
		if got != tc.want {
			t.Errorf("encodeVersionField(%v, %q) = %q, want %q", tc.v, tc.meta, got, tc.want)
		}
	}
	for _, tc := range []struct {
		v    statedb.Version
		meta []byte
	}{
		{statedb.Version{BlockNum: 1 << 40, TxNum: 1 << 33}, []byte("meta\x00data")},
		{statedb.Version{BlockNum: ^uint64(0), TxNum: 255}, nil},
		{statedb.Version{BlockNum: 256, TxNum: 0}, []byte{0}},
	} {
		v, meta, err := decodeVersionField(encodeVersionField(tc.v, tc.meta))
		if err != nil || v != tc.v || !bytes.Equal(meta, tc.meta) {
			t.Errorf("round trip of %v %q = %v %q %v", tc.v, tc.meta, v, meta, err)
		}
	}
	// Fabric before metadata wrote "block:tx".
	if v, meta, err := decodeVersionField("7:3"); err != nil || v != (statedb.Version{BlockNum: 7, TxNum: 3}) || meta != nil {
		t.Fatalf("old format = %v %q %v", v, meta, err)
	}
	for _, bad := range []string{"", "x", "\x00!!", "\x00CgE="} {
		if _, _, err := decodeVersionField(bad); err == nil {
			t.Errorf("decodeVersionField(%q) accepted", bad)
		}
	}
}

func TestDocumentShapes(t *testing.T) {
	v := statedb.Version{BlockNum: 1, TxNum: 1}
	for _, tc := range []struct {
		name    string
		value   string
		deleted bool
		want    string
	}{
		{"JSON object keeps its fields", `{"b":1, "a":"x"}`, false,
			`{"_id":"k","_rev":"1-a","~version":"\u0000CgQBAQEB","b":1, "a":"x"}`},
		{"empty object", ` { } `, false, `{"_id":"k","_rev":"1-a","~version":"\u0000CgQBAQEB"}`},
		{"array is an attachment", `[1,2]`, false,
			`{"_id":"k","_rev":"1-a","~version":"\u0000CgQBAQEB","_attachments":{"valueBytes":{"content_type":"application/octet-stream","data":"WzEsMl0="}}}`},
		{"delete", ``, true, `{"_id":"k","_rev":"1-a","~version":"\u0000CgQBAQEB","_deleted":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vv := &statedb.VersionedValue{Value: []byte(tc.value), Version: v}
			_, isJSON := jsonObjectFields(vv.Value)
			got := encodeDoc("k", "1-a", vv, isJSON, tc.deleted, v)
			if string(got) != tc.want {
				t.Fatalf("document\n got %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Fatal("not JSON")
			}
		})
	}
	for _, notObject := range []string{"null", `"s"`, "12", "[]", "{", "", "\xef\xbb\xbf{}", `{"a":"` + "\xff" + `"}`} {
		if _, ok := jsonObjectFields([]byte(notObject)); ok {
			t.Errorf("%q taken for a JSON object", notObject)
		}
	}
}

func TestDecodeDocReturnsWhatFabricReturns(t *testing.T) {
	// Fabric hands back a JSON document's fields re-marshalled by
	// encoding/json: sorted, HTML characters escaped, numbers as stored.
	raw := `{"_id":"k","_rev":"2-b","~version":"\u0000CgQBAQEBEgFt","z":{"y":1,"x":[true,null]},"n":1.50,"a":"<tag>&"}`
	d, err := decodeDoc([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":"\u003ctag\u003e\u0026","n":1.50,"z":{"x":[true,null],"y":1}}`
	if string(d.vv.Value) != want || d.id != "k" || d.rev != "2-b" || string(d.vv.Metadata) != "m" || d.vv.Version != (statedb.Version{BlockNum: 1, TxNum: 1}) {
		t.Fatalf("decoded %+v value %s, want %s", d, d.vv.Value, want)
	}
	att := `{"_id":"k","~version":"\u0000CgQBAQEB","_attachments":{"valueBytes":{"content_type":"application/octet-stream","data":"AAEC"}}}`
	if d, err = decodeDoc([]byte(att)); err != nil || !bytes.Equal(d.vv.Value, []byte{0, 1, 2}) || d.stub {
		t.Fatalf("attachment document = %+v, %v", d, err)
	}
	stub := `{"_id":"k","~version":"\u0000CgQBAQEB","_attachments":{"valueBytes":{"content_type":"application/octet-stream","stub":true}}}`
	if d, err = decodeDoc([]byte(stub)); err != nil || !d.stub {
		t.Fatalf("stub = %+v, %v", d, err)
	}
	if _, err := decodeDoc([]byte(`{"_id":"k","a":1}`)); err == nil {
		t.Fatal("document without ~version accepted")
	}
}

func TestCacheableValue(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`{"b":2,"a":"<x>"}`, `{"a":"\u003cx\u003e","b":2}`, true},
		{`{"n":-12,"l":[0,1]}`, `{"l":[0,1],"n":-12}`, true},
		{`{"n":1.5}`, "", false},
		{`{"n":1e3}`, "", false},
		{`{"n":-0}`, "", false},
		{`{"n":12345678901234567}`, "", false},
		{`not json`, `not json`, true},
		{`[1.5]`, `[1.5]`, true}, // an attachment comes back byte for byte
	} {
		got, ok := cacheableValue([]byte(tc.in))
		if ok != tc.ok || ok && string(got) != tc.want {
			t.Errorf("cacheableValue(%s) = %s %v, want %s %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestReservedFields(t *testing.T) {
	for _, tc := range []struct {
		value string
		bad   string
	}{
		{`{"a":1}`, ""},
		{`{"~version":1}`, "~version"},
		{`{"_id":"x","_rev":"y"}`, "_id"},
		{`{"x":{"_nested":1}}`, ""},
	} {
		fields, _ := jsonObjectFields([]byte(tc.value))
		f, bad := reservedField(fields)
		if bad != (tc.bad != "") || f != tc.bad {
			t.Errorf("reservedField(%s) = %q %v, want %q", tc.value, f, bad, tc.bad)
		}
	}
}
