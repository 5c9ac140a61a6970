package couchdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/mango"
)

const ownerIndex = `{"index":{"fields":["docType","owner"]},"ddoc":"indexOwnerDoc","name":"indexOwner","type":"json"}`

func jsonIndexes(t *testing.T, c *Client, db string) []string {
	t.Helper()
	idx, err := c.kc.DB(db).GetIndexes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ix := range idx {
		if ix.Type == "json" {
			out = append(out, ix.DesignDoc+"/"+ix.Name)
		}
	}
	return out
}

// TestCreateIndexes: indexes go to the namespace's database, created for
// them; creating them again changes nothing; a bad definition is refused
// naming its file, without stopping the good ones.
func TestCreateIndexes(t *testing.T) {
	c := connect(t, Config{WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, c, "mychannel")
	p := c.cfg.DatabasePrefix
	for range 2 {
		for _, ns := range []string{"marbles", "marbles$$pcollectionMarbles"} {
			if err := db.CreateIndexes(ns, []statedb.Index{{Name: "META-INF/statedb/couchdb/indexes/indexOwner.json", Definition: []byte(ownerIndex)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{p + "mychannel_marbles", p + "mychannel_marbles$$pcollection$marbles"} {
		if got := jsonIndexes(t, c, name); len(got) != 1 || got[0] != "_design/indexOwnerDoc/indexOwner" {
			t.Fatalf("indexes of %s = %q", name, got)
		}
	}
	meta := rawDoc(t, c, p+"mychannel_", "channel_metadata")
	if infos, _ := meta["NamespaceDBsInfo"].(map[string]any); len(infos) != 2 {
		t.Fatalf("channel_metadata after index creation = %v", meta)
	}

	err := db.CreateIndexes("cars", []statedb.Index{
		{Name: "b-bad.json", Definition: []byte(`{"index":{"fields":"owner"}}`)},
		{Name: "a-good.json", Definition: []byte(`{"index":{"fields":["make"]},"name":"byMake","ddoc":"makeDoc"}`)},
	})
	if err == nil || !errors.Is(err, mango.ErrInvalidIndex) || !strings.Contains(err.Error(), "b-bad.json") || !strings.Contains(err.Error(), "fields") {
		t.Fatalf("CreateIndexes with a bad index = %v", err)
	}
	if got := jsonIndexes(t, c, p+"mychannel_cars"); len(got) != 1 || got[0] != "_design/makeDoc/byMake" {
		t.Fatalf("the good index beside a bad one: %q", got)
	}

	for _, tc := range []struct{ def, want string }{
		{ownerIndex, ""},
		{`{"index":{"fields":[]}}`, "index.fields"},
		{`{"index":{"fields":[{"size":"up"}]}}`, "index.fields[0]"},
		{`{"index":{"fields":["a"]},"type":"text"}`, "type"},
		{`{"index":{"fields":["a"]},"extra":1}`, "extra"},
		{`[]`, ""},
	} {
		err := db.CheckIndex(statedb.Index{Name: "x.json", Definition: []byte(tc.def)})
		switch {
		case tc.def == ownerIndex && err != nil:
			t.Errorf("CheckIndex(%s) = %v", tc.def, err)
		case tc.def != ownerIndex && (err == nil || !strings.Contains(err.Error(), "x.json") || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckIndex(%s) = %v, want an error naming x.json and %q", tc.def, err, tc.want)
		}
	}
}

// TestWarmIndexes: after every WarmIndexesAfterNBlocks Applies, the view
// of each index is queried in the background; a server that cannot answer
// (the test server has no views for Mango indexes) fails no commit.
func TestWarmIndexes(t *testing.T) {
	px := newProxy(t, serverURL(t))
	logger, logs := testLogger()
	c := connect(t, Config{Address: px.URL(), WarmIndexesAfterNBlocks: 2, Logger: logger})
	db := openChannel(t, c, "mychannel")
	if err := db.CreateIndexes("marbles", []statedb.Index{{Name: "indexOwner.json", Definition: []byte(ownerIndex)}}); err != nil {
		t.Fatal(err)
	}
	var views []string
	seen := func() int {
		for _, r := range px.requests() {
			if strings.Contains(r, "/_view/") {
				views = append(views, r)
			}
		}
		return len(views)
	}
	mustApply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		b.Put("marbles", "m1", []byte(`{"docType":"marble","owner":"tom"}`), nil, statedb.Version{BlockNum: 1})
	})
	db.warmWG.Wait()
	if n := seen(); n != 0 {
		t.Fatalf("warmed after 1 block of 2: %q", views)
	}
	mustApply(t, db, statedb.Version{BlockNum: 2}, func(b *statedb.Batch) {})
	db.warmWG.Wait()
	if n := seen(); n != 1 || !strings.Contains(views[0], "GET /"+c.cfg.DatabasePrefix+"mychannel_marbles/_design/indexOwnerDoc/_view/indexOwner") {
		t.Fatalf("after 2 blocks, view requests %q", views)
	}
	mustApply(t, db, statedb.Version{BlockNum: 3}, func(b *statedb.Batch) {})
	mustApply(t, db, statedb.Version{BlockNum: 4}, func(b *statedb.Batch) {})
	db.warmWG.Wait()
	if n := seen(); n != 2 {
		t.Fatalf("after 4 blocks, view requests %q", views)
	}
	t.Logf("warming on the test server: %s", strings.TrimSpace(logs.String()))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWarmIndexesListsOnce: the warmer lists a database without an index
// once, not after every block, and again once CreateIndexes gave it one.
func TestWarmIndexesListsOnce(t *testing.T) {
	px := newProxy(t, serverURL(t))
	c := connect(t, Config{Address: px.URL(), WarmIndexesAfterNBlocks: 1})
	db := openChannel(t, c, "mychannel")
	p := c.cfg.DatabasePrefix
	block := func(n uint64) {
		t.Helper()
		mustApply(t, db, statedb.Version{BlockNum: n}, func(b *statedb.Batch) {
			b.Put("marbles", fmt.Sprintf("m%d", n), []byte(`{"docType":"marble","owner":"tom"}`), nil, statedb.Version{BlockNum: n})
		})
		db.warmWG.Wait()
	}
	listings := func() int { return count(px.requests(), "GET /"+p+"mychannel_marbles/_index") }
	for n := uint64(1); n <= 3; n++ {
		block(n)
	}
	if got := listings(); got != 1 {
		t.Fatalf("3 blocks listed the indexes of a database without one %d times, want 1", got)
	}
	if err := db.CreateIndexes("marbles", []statedb.Index{{Name: "indexOwner.json", Definition: []byte(ownerIndex)}}); err != nil {
		t.Fatal(err)
	}
	px.requests()
	block(4)
	block(5)
	if got := listings(); got != 2 {
		t.Fatalf("2 blocks after CreateIndexes listed the indexes %d times, want 2 (every block again)", got)
	}
}
