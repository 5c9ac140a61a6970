package couchdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/testlog"
	"github.com/weft-ledger/weft/statedb"
)

// serverURL is the CouchDB-compatible server the tests share, or skips.
func serverURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("WEFT_TEST_COUCHDB_URL")
	if u == "" {
		t.Skip("set WEFT_TEST_COUCHDB_URL to a CouchDB 3 or CouchDB-compatible server, e.g. http://127.0.0.1:5984 (.ci/run starts one)")
	}
	return u
}

// newPrefix is a database prefix no other test uses; every database under
// it is deleted when the test ends.
func newPrefix(t testing.TB, address string) string {
	t.Helper()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	prefix := "wt" + hex.EncodeToString(b) + "_"
	t.Cleanup(func() { dropPrefix(t, address, prefix) })
	return prefix
}

func dropPrefix(t testing.TB, address, prefix string) {
	c, err := Connect(context.Background(), Config{Address: address, MaxRetriesOnStartup: 1, MaxRetries: 1, RequestTimeout: 10 * time.Second, Logger: discard()})
	if err != nil {
		t.Errorf("drop databases %s*: %v", prefix, err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	names, err := c.kc.AllDBs(ctx)
	if err != nil {
		t.Errorf("list databases: %v", err)
		return
	}
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			if err := c.kc.DestroyDB(ctx, n); err != nil {
				t.Errorf("drop %s: %v", n, err)
			}
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testLogger logs into a buffer the test may read.
func testLogger() (*slog.Logger, *testlog.Buffer) {
	buf := &testlog.Buffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// connect returns a Client for cfg, filling the address, a fresh prefix
// and quick retries when cfg leaves them zero; it is closed at the end.
func connect(t testing.TB, cfg Config) *Client {
	t.Helper()
	if cfg.Address == "" {
		cfg.Address = serverURL(t)
	}
	if cfg.DatabasePrefix == "" {
		cfg.DatabasePrefix = newPrefix(t, serverURL(t))
	}
	if cfg.MaxRetriesOnStartup == 0 {
		cfg.MaxRetriesOnStartup = 2
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 20 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = discard()
	}
	c, err := Connect(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func openChannel(t testing.TB, c *Client, channel string) *DB {
	t.Helper()
	db, err := c.OpenChannel(channel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func mustApply(t testing.TB, db statedb.DB, sp statedb.Version, fn func(b *statedb.Batch)) {
	t.Helper()
	b := statedb.NewBatch()
	fn(b)
	if err := db.Apply(b, sp); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func mustGet(t testing.TB, db statedb.DB, ns, key string) *statedb.VersionedValue {
	t.Helper()
	vv, err := db.Get(ns, key)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", ns, key, err)
	}
	return vv
}

// rawDoc reads a document as CouchDB holds it, nil when absent.
func rawDoc(t testing.TB, c *Client, db, id string) map[string]any {
	t.Helper()
	var m map[string]any
	found, err := c.getJSON(context.Background(), db, id, &m)
	if err != nil {
		t.Fatalf("read %s/%s: %v", db, id, err)
	}
	if !found {
		return nil
	}
	return m
}
