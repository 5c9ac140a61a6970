package couchdb

import (
	"sync"
	"testing"

	"github.com/weft-ledger/weft/statedb"
	"github.com/weft-ledger/weft/statedb/statedbtest"
)

func TestCouchDBBackend(t *testing.T) {
	addr := serverURL(t)
	var mu sync.Mutex
	prefixes := map[*testing.T]string{}
	statedbtest.RunWith(t, func(t *testing.T) statedb.DB {
		mu.Lock()
		prefix, ok := prefixes[t]
		if !ok {
			prefix = newPrefix(t, addr)
			prefixes[t] = prefix
		}
		mu.Unlock()
		// A new client each time, so reopening reads CouchDB, not a cache.
		c := connect(t, Config{DatabasePrefix: prefix})
		db, err := c.OpenChannel("mychannel")
		if err != nil {
			t.Fatal(err)
		}
		return db
	}, statedbtest.Options{ReencodesJSON: true})
}
