package couchdb

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/statedb"
)

// TestLayout checks what Fabric's tools would find in CouchDB: one
// database per namespace named as Fabric names it, documents with the
// value's own fields and ~version, attachments for other values, base64
// IDs for hashed keys, the savepoint and channel_metadata documents.
func TestLayout(t *testing.T) {
	c := connect(t, Config{})
	p := c.cfg.DatabasePrefix
	db := openChannel(t, c, "mychannel")

	// Reads before any write create nothing.
	if vv := mustGet(t, db, "basic", "asset1"); vv != nil {
		t.Fatalf("fresh Get = %+v", vv)
	}
	if _, ok, err := db.Savepoint(); ok || err != nil {
		t.Fatalf("fresh Savepoint = %v %v", ok, err)
	}
	it, err := db.ExecuteQuery("basic", `{"selector":{"owner":"tom"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if kv, err := it.Next(); kv != nil || err != nil {
		t.Fatalf("query of a fresh channel = %v, %v", kv, err)
	}
	it.Close()
	if got := listDBs(t, c, p); !slices.Equal(got, []string{p + "fabric__internal"}) {
		t.Fatalf("after reads, databases %q, want only the internal one", got)
	}

	hash := "\x00\xffhash of a private key\x10"
	v1 := statedb.Version{BlockNum: 1}
	mustApply(t, db, statedb.Version{BlockNum: 1, TxNum: 3}, func(b *statedb.Batch) {
		b.Put("basic", "asset1", []byte(`{"owner":"tom","size":5}`), []byte("policy"), v1)
		b.Put("basic", "blob", []byte{0, 1, 2, 0xff}, nil, v1)
		b.Put("basic", "gone", []byte(`{"a":1}`), nil, v1)
		b.Put("_lifecycle", "namespaces/fields/basic/Sequence", []byte{8, 1}, nil, v1)
		b.Put("basic$$pmyColl", "secret", []byte(`{"price":10}`), nil, v1)
		b.Put("basic$$hmyColl", hash, []byte("value hash"), nil, v1)
	})
	mustApply(t, db, statedb.Version{BlockNum: 2}, func(b *statedb.Batch) {
		b.Delete("basic", "gone", statedb.Version{BlockNum: 2})
	})

	want := []string{
		p + "fabric__internal", p + "mychannel_", p + "mychannel__lifecycle", p + "mychannel_basic",
		p + "mychannel_basic$$hmy$coll", p + "mychannel_basic$$pmy$coll",
	}
	if got := listDBs(t, c, p); !slices.Equal(got, want) {
		t.Fatalf("databases %q, want %q", got, want)
	}

	doc := rawDoc(t, c, p+"mychannel_basic", "asset1")
	if doc["owner"] != "tom" || doc["size"] != float64(5) || doc["~version"] != encodeVersionField(v1, []byte("policy")) || doc["_rev"] == nil {
		t.Fatalf("JSON document = %v", doc)
	}
	blob := rawDoc(t, c, p+"mychannel_basic", "blob")
	att, _ := blob["_attachments"].(map[string]any)["valueBytes"].(map[string]any)
	if att["content_type"] != "application/octet-stream" || len(blob) != 4 {
		t.Fatalf("binary document = %v", blob)
	}
	if rawDoc(t, c, p+"mychannel_basic", "gone") != nil {
		t.Fatal("deleted document still readable")
	}
	hid := base64.StdEncoding.EncodeToString([]byte(hash))
	if rawDoc(t, c, p+"mychannel_basic$$hmy$coll", hid) == nil {
		t.Fatalf("hashed key not stored as %s", hid)
	}
	sp := rawDoc(t, c, p+"mychannel_", "statedb_savepoint")
	if sp["BlockNum"] != float64(2) || sp["TxNum"] != float64(0) {
		t.Fatalf("savepoint document = %v", sp)
	}
	meta := rawDoc(t, c, p+"mychannel_", "channel_metadata")
	infos, _ := meta["NamespaceDBsInfo"].(map[string]any)
	info, _ := infos["basic$$pmyColl"].(map[string]any)
	if meta["ChannelName"] != "mychannel" || len(infos) != 4 || info["DBName"] != p+"mychannel_basic$$pmy$coll" {
		t.Fatalf("channel_metadata = %v", meta)
	}
	if f := rawDoc(t, c, p+"fabric__internal", "dataformatVersion"); f["Version"] != "2.0" {
		t.Fatalf("data format document = %v", f)
	}

	// What comes back: Fabric's re-marshalled JSON, exact other values.
	if vv := mustGet(t, db, "basic", "asset1"); string(vv.Value) != `{"owner":"tom","size":5}` || string(vv.Metadata) != "policy" || vv.Version != v1 {
		t.Fatalf("Get(asset1) = %+v", vv)
	}
	if vv := mustGet(t, db, "basic$$hmyColl", hash); vv == nil || string(vv.Value) != "value hash" {
		t.Fatalf("Get(hashed) = %+v", vv)
	}

	// Another channel on the same server, and a peer with another prefix,
	// share nothing.
	other := openChannel(t, c, "other")
	if vv := mustGet(t, other, "basic", "asset1"); vv != nil {
		t.Fatal("channel other sees mychannel's state")
	}
	c2 := connect(t, Config{})
	if vv := mustGet(t, openChannel(t, c2, "mychannel"), "basic", "asset1"); vv != nil {
		t.Fatal("a peer with another prefix sees this peer's state")
	}
}

func listDBs(t *testing.T, c *Client, prefix string) []string {
	t.Helper()
	all, err := c.kc.AllDBs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range all {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// TestValueKinds: JSON objects of every shape, other JSON, binary and big
// values come back as Fabric returns them, from CouchDB and from the cache.
func TestValueKinds(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	values := map[string]string{
		"object":  `{"b":[1,{"d":null,"c":true}],"a":"<&>"}`,
		"float":   `{"price":1.50,"big":12345678901234567}`,
		"array":   `[3, 2, 1]`,
		"string":  `"text"`,
		"null":    `null`,
		"binary":  "\x00\x01\xfe\xff",
		"empty":   "",
		"badutf8": `{"a":"` + "\xff" + `"}`,
		"bigjson": `{"blob":"` + big + `"}`,
		"bigbin":  "\xff" + big,
	}
	// What Fabric returns for each: JSON objects re-marshalled (sorted,
	// HTML-escaped, numbers as the server spelled them), the rest intact.
	want := map[string]string{
		"object":  `{"a":"\u003c\u0026\u003e","b":[1,{"c":true,"d":null}]}`,
		"float":   "",
		"bigjson": `{"blob":"` + big + `"}`,
	}
	for name, cacheMB := range map[string]int{"cache off": -1, "cache on": 64} {
		t.Run(name, func(t *testing.T) {
			c := connect(t, Config{CacheSizeMB: cacheMB})
			db := openChannel(t, c, "ch")
			mustApply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
				for k, v := range values {
					b.Put("cc", k, []byte(v), nil, statedb.Version{BlockNum: 1})
				}
			})
			for round := 0; round < 2; round++ { // the second from the cache when it is on
				for k, v := range values {
					got := mustGet(t, db, "cc", k)
					w, ok := want[k]
					if !ok {
						w = v
					}
					if k == "float" {
						// The test server spells numbers as JavaScript does.
						if !strings.Contains(string(got.Value), `"price":1.5`) {
							t.Fatalf("round %d: Get(float) = %s", round, got.Value)
						}
						continue
					}
					if string(got.Value) != w {
						t.Fatalf("round %d: Get(%s) = %.80q (%d bytes), want %.80q (%d bytes)", round, k, got.Value, len(got.Value), w, len(w))
					}
				}
			}
		})
	}
}
