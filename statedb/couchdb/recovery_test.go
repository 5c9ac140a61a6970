package couchdb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/leveldb"
)

// recoveryBlocks are three blocks touching every kind of document: JSON
// and binary values, metadata, private and hashed collections, kind
// changes, deletes of present and absent keys, a key deleted then written
// again, more updates in a namespace than fit one _bulk_docs request.
func recoveryBlocks() []*statedb.Batch {
	v := func(blk, tx uint64) statedb.Version { return statedb.Version{BlockNum: blk, TxNum: tx} }
	hash := func(s string) string { return "\x00\xff" + s }
	b1 := statedb.NewBatch()
	for i := range 7 {
		b1.Put("basic", fmt.Sprintf("asset%d", i), []byte(fmt.Sprintf(`{"owner":"tom","size":%d}`, i)), nil, v(1, uint64(i)))
	}
	b1.Put("basic", "bin", []byte{0, 1, 2}, []byte("meta"), v(1, 7))
	b1.Put("basic", "float", []byte(`{"price":1.5}`), nil, v(1, 8))
	b1.Delete("basic", "never", v(1, 9))
	b1.Put("basic$$pcoll", "p1", []byte(`{"secret":1}`), nil, v(1, 10))
	b1.Put("basic$$hcoll", hash("p1"), []byte("h1"), nil, v(1, 10))
	b1.Put("_lifecycle", "ns/basic", []byte{1}, nil, v(1, 11))

	b2 := statedb.NewBatch()
	b2.Put("basic", "asset0", []byte(`{"owner":"ann","size":0}`), []byte("m2"), v(2, 0))
	b2.Delete("basic", "asset1", v(2, 1))
	b2.Put("basic", "bin", []byte(`{"now":"json"}`), nil, v(2, 2))
	b2.Put("basic", "float", []byte(`{"price":2.25}`), nil, v(2, 3))
	b2.Put("basic", "asset2", []byte("binary now"), nil, v(2, 4))
	b2.Delete("basic$$pcoll", "p1", v(2, 5))
	b2.Delete("basic$$hcoll", hash("p1"), v(2, 5))
	b2.Put("basic$$hcoll", hash("p2"), []byte("h2"), nil, v(2, 6))
	for i := 7; i < 12; i++ {
		b2.Put("other", fmt.Sprintf("k%02d", i), []byte(`{"n":1}`), nil, v(2, 7))
	}

	b3 := statedb.NewBatch()
	b3.Put("basic", "asset1", []byte(`{"owner":"back"}`), nil, v(3, 0))
	b3.Delete("basic", "asset3", v(3, 1))
	b3.Delete("basic", "asset1x", v(3, 1))
	b3.Put("basic$$pcoll", "p1", []byte(`{"secret":2}`), nil, v(3, 2))
	b3.Put("basic", "asset4", []byte(`{"owner":"tom","size":44}`), nil, v(3, 3))
	b3.Delete("other", "k08", v(3, 4))
	return []*statedb.Batch{b1, b2, b3}
}

var recoveryNamespaces = []string{"basic", "basic$$pcoll", "basic$$hcoll", "_lifecycle", "other"}

// TestRecoveryMatchesLevelDB makes Apply fail at every request in turn,
// with the request refused or with it done and its answer lost; then, as
// the ledger does, applies again every block above the savepoint, either
// on the same DB (the commit retried) or on a new client (a restart). Each
// time the state must equal what LevelDB holds after the same blocks.
func TestRecoveryMatchesLevelDB(t *testing.T) {
	blocks := recoveryBlocks()
	ref, err := leveldb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for i, b := range blocks {
		if err := ref.Apply(b, statedb.Version{BlockNum: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	want := dump(t, ref)

	// How many requests a clean run makes bounds the failure points.
	server := serverURL(t)
	px := newProxy(t, server)
	clean := connect(t, Config{Address: px.URL(), MaxBatchUpdateSize: 3, WarmIndexesAfterNBlocks: 1000})
	px.requests()
	db := openChannel(t, clean, "mychannel")
	for i, b := range blocks {
		if err := db.Apply(b, statedb.Version{BlockNum: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	total := len(px.requests())
	if got := dump(t, db); got != want {
		t.Fatalf("clean run differs from LevelDB:\n%s\nwant\n%s", got, want)
	}
	t.Logf("a clean run makes %d requests", total)

	for n := 0; n < total; n++ {
		for _, lose := range []bool{false, true} {
			restart := n%2 == 0
			name := fmt.Sprintf("fail after %d, lose=%v, restart=%v", n, lose, restart)
			t.Run(name, func(t *testing.T) {
				prefix := newPrefix(t, server)
				px := newProxy(t, server)
				c := connect(t, Config{Address: px.URL(), DatabasePrefix: prefix, MaxBatchUpdateSize: 3, MaxRetries: -1, WarmIndexesAfterNBlocks: 1000})
				db := openChannel(t, c, "mychannel")
				px.failAfter(n, lose)
				failedAt := -1
				for i, b := range blocks {
					if err := db.Apply(b, statedb.Version{BlockNum: uint64(i + 1)}); err != nil {
						if !errors.Is(err, ErrUnavailable) {
							t.Fatalf("Apply failed for another reason than the server: %v", err)
						}
						failedAt = i
						break
					}
				}
				if failedAt < 0 {
					t.Fatalf("no request failed (%d failures)", px.failures())
				}
				px.heal()
				if restart {
					c2 := connect(t, Config{Address: server, DatabasePrefix: prefix, MaxBatchUpdateSize: 3})
					db = openChannel(t, c2, "mychannel")
				}
				sp, ok, err := db.Savepoint()
				if err != nil {
					t.Fatal(err)
				}
				from := 0
				if ok {
					from = int(sp.BlockNum)
				}
				if from < failedAt || from > failedAt+1 {
					t.Fatalf("savepoint %v after a failure in block %d", sp, failedAt+1)
				}
				for i := from; i < len(blocks); i++ {
					if err := db.Apply(blocks[i], statedb.Version{BlockNum: uint64(i + 1)}); err != nil {
						t.Fatalf("re-apply block %d: %v", i+1, err)
					}
				}
				if got := dump(t, db); got != want {
					t.Fatalf("after recovery:\n%s\nwant (LevelDB)\n%s", got, want)
				}
			})
		}
	}
}

// dump prints every key of the recovery namespaces and the savepoint,
// JSON objects in their canonical form.
func dump(t *testing.T, db statedb.DB) string {
	t.Helper()
	var out bytes.Buffer
	for _, ns := range recoveryNamespaces {
		it, err := db.GetRange(ns, "", "")
		if err != nil {
			t.Fatal(err)
		}
		for {
			kv, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if kv == nil {
				break
			}
			val := kv.Value
			if _, ok := jsonObjectFields(val); ok {
				var m map[string]any
				_ = json.Unmarshal(val, &m)
				val, _ = json.Marshal(m)
			}
			fmt.Fprintf(&out, "%s %q = %q meta %q at %v\n", ns, kv.Key, val, kv.Metadata, kv.Version)
		}
		it.Close()
	}
	sp, ok, err := db.Savepoint()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&out, "savepoint %v %v\n", sp, ok)
	return out.String()
}
