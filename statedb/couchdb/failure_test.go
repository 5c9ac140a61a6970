package couchdb

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/statedb"
)

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestConnectFailsNamingTheAddress: with nothing listening, Connect tries
// MaxRetriesOnStartup+1 times with a doubling pause, then names the
// address, the setting and the last cause.
func TestConnectFailsNamingTheAddress(t *testing.T) {
	addr := closedPort(t)
	start := time.Now()
	_, err := Connect(context.Background(), Config{Address: addr, MaxRetriesOnStartup: 2, Logger: discard()})
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"CouchDB at http://" + addr, "couchDBAddress", "connection refused", "after 3 attempts"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Error("error is not ErrUnavailable")
	}
	if elapsed < 375*time.Millisecond {
		t.Errorf("3 attempts took %s, want the pauses of 125ms and 250ms", elapsed)
	}

	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "couchDBAddress is empty"},
		{Config{Address: "http://"}, "neither host:port nor a URL"},
		{Config{Address: addr, DatabasePrefix: "Peer0"}, "DatabasePrefix"},
		{Config{Address: addr, InternalQueryLimit: -1}, "internalQueryLimit"},
	} {
		if _, err := Connect(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Connect(%+v) = %v, want an error saying %q", tc.cfg, err, tc.want)
		}
	}
}

// TestConnectWaitsForTheServer: a server that comes up while Connect
// retries is used.
func TestConnectWaitsForTheServer(t *testing.T) {
	px := newProxy(t, serverURL(t))
	px.down()
	logger, logs := testLogger()
	done := make(chan error, 1)
	go func() {
		c, err := Connect(context.Background(), Config{Address: px.URL(), MaxRetriesOnStartup: 8, Logger: logger, DatabasePrefix: newPrefix(t, serverURL(t))})
		if err == nil {
			_ = c.Close()
		}
		done <- err
	}()
	eventually.True(t, 10*time.Second, "Connect retried", func() bool {
		return strings.Contains(logs.String(), "couchdb not reachable, retrying")
	})
	px.up()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Connect after the server came up: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Connect did not return after the server came up")
	}
}

// TestServerDownWhileRunning: with the server gone, reads and commits fail
// after MaxRetries with errors naming CouchDB and its address, and the
// health check says so; a request that is retried while the server comes
// back succeeds, and everything works again without a new client.
func TestServerDownWhileRunning(t *testing.T) {
	px := newProxy(t, serverURL(t))
	logger, logs := testLogger()
	c := connect(t, Config{Address: px.URL(), MaxRetries: 1, Logger: logger, CacheSizeMB: -1, WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, c, "ch")
	mustApply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		b.Put("cc", "k", []byte(`{"v":1}`), nil, statedb.Version{BlockNum: 1})
	})

	px.down()
	want := "CouchDB at " + px.URL()
	_, err := db.Get("cc", "k")
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Fatalf("Get with the server down = %v, want an ErrUnavailable naming %q after 2 attempts", err, want)
	}
	err = db.Apply(statedb.NewBatch(), statedb.Version{BlockNum: 2})
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Apply with the server down = %v", err)
	}
	if _, err := db.ExecuteQuery("cc", `{"selector":{"v":1}}`); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("query with the server down = %v", err)
	}
	if err := db.HealthCheck(context.Background()); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "health check") {
		t.Fatalf("HealthCheck with the server down = %v", err)
	}

	// A commit retried by the ledger while the server returns.
	c.cfg.MaxRetries = 20
	done := make(chan error, 1)
	go func() {
		done <- db.Apply(statedbBatch("cc", "k", `{"v":2}`, 2), statedb.Version{BlockNum: 2})
	}()
	eventually.True(t, 10*time.Second, "Apply retried", func() bool {
		return strings.Count(logs.String(), "couchdb request failed, retrying") >= 2
	})
	px.up()
	if err := <-done; err != nil {
		t.Fatalf("Apply while the server came back: %v", err)
	}
	if err := db.HealthCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
	if vv := mustGet(t, db, "cc", "k"); string(vv.Value) != `{"v":2}` {
		t.Fatalf("after the server came back Get = %s", vv.Value)
	}
}

// TestServerErrorsRetried: 5xx answers are retried like refused
// connections.
func TestServerErrorsRetried(t *testing.T) {
	px := newProxy(t, serverURL(t))
	c := connect(t, Config{Address: px.URL(), MaxRetries: 30, CacheSizeMB: -1, WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, c, "ch")
	mustApply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		b.Put("cc", "k", []byte("v"), nil, statedb.Version{BlockNum: 1})
	})
	px.failAfter(0, false)
	done := make(chan error, 1)
	go func() {
		_, err := db.Get("cc", "k")
		done <- err
	}()
	eventually.True(t, 10*time.Second, "503 answered", func() bool { return px.failures() >= 2 })
	px.heal()
	if err := <-done; err != nil {
		t.Fatalf("Get retried past 503s: %v", err)
	}
}

func statedbBatch(ns, key, value string, blk uint64) *statedb.Batch {
	b := statedb.NewBatch()
	b.Put(ns, key, []byte(value), nil, statedb.Version{BlockNum: blk})
	return b
}

// TestConnectRefusedCredentials: a server that refuses the credentials is
// not retried, and the error says which settings to fix.
func TestConnectRefusedCredentials(t *testing.T) {
	_, err := Connect(context.Background(), Config{Address: serverURL(t), Username: "nobody", Password: "wrong", Logger: discard()})
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") || !strings.Contains(err.Error(), "username/password") || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Connect with unknown credentials = %v", err)
	}
}

// TestConnectToSomethingElse: a server that answers, but not as CouchDB,
// is not retried.
func TestConnectToSomethingElse(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := Connect(context.Background(), Config{Address: srv.URL, MaxRetriesOnStartup: 5, Logger: discard()})
	if err == nil || !strings.Contains(err.Error(), "CouchDB at "+srv.URL) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Connect to a server answering 404 = %v", err)
	}
	if strings.Contains(err.Error(), "attempts") {
		t.Fatalf("Connect retried a server that answered: %v", err)
	}
}
