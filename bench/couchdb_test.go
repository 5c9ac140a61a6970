package bench

import (
	"context"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/couchtest"
	"github.com/weft-ledger/weft/statedb/couchdb"
)

// BenchmarkCommitBlock500CouchDB is BenchmarkCommitBlock500 with the world
// state in CouchDB (the server WEFT_TEST_COUCHDB_URL names, under a
// database prefix of its own, dropped afterwards), the backend configured
// as a peer's defaults configure it: what the commit path costs a peer on
// CouchDB, next to the same blocks on LevelDB.
func BenchmarkCommitBlock500CouchDB(b *testing.B) {
	n := newCouchNetwork(b)
	verify := &verifyProbe{s: newSigned(b)}
	commitBlocks(b, n, verify, blockSize)
}

// BenchmarkLedgerCommitOnlyCouchDB is BenchmarkLedgerCommitOnly on CouchDB:
// MVCC (its reads preloaded in bulk), block append and the state's
// _bulk_docs, without the validation in front.
func BenchmarkLedgerCommitOnlyCouchDB(b *testing.B) {
	ledgerCommitBlocks(b, newCouchNetwork(b), blockSize)
}

// newCouchNetwork is newNetwork on the CouchDB test server; it skips
// without one.
func newCouchNetwork(b *testing.B) *network {
	b.Helper()
	server := couchtest.URL(b)
	prefix := couchtest.Prefix(b)
	cfg := couchdb.Config{Address: server, DatabasePrefix: prefix, MaxRetriesOnStartup: 1, Logger: slog.New(slog.DiscardHandler)}
	if u, err := url.Parse(server); err == nil && u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
		u.User = nil
		cfg.Address = u.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := couchdb.Connect(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		// After the ledger's own cleanup (registered later, run first).
		client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := couchtest.DropDatabases(ctx, server, prefix); err != nil {
			b.Errorf("drop the benchmark's databases: %v", err)
		}
	})
	state, err := client.OpenChannel(channelID)
	if err != nil {
		b.Fatal(err)
	}
	return newNetworkOn(b, state)
}
