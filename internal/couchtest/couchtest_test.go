package couchtest

import (
	"context"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"
	"time"
)

// A server a test started keeps its documents across Stop and Start, on
// the same port; stopped, it refuses connections. (pouchdb-server may leave
// a database created just before a stop out of _all_dbs after the restart,
// though its documents are kept: the test reads the document.)
func TestServerStopStartKeepsData(t *testing.T) {
	s := Start(t)
	prefix := Prefix(t)
	if len(prefix) != 8 || !strings.HasPrefix(prefix, "t") || !strings.HasSuffix(prefix, "_") {
		t.Fatalf("Prefix = %q", prefix)
	}
	do := func(method, path, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	db := "/" + prefix + "kept"
	if code := do(http.MethodPut, db, ""); code != http.StatusCreated {
		t.Fatalf("PUT %s: %d", db, code)
	}
	if code := do(http.MethodPut, db+"/doc", `{"v":1}`); code != http.StatusCreated {
		t.Fatalf("PUT %s/doc: %d", db, code)
	}
	s.Stop()
	if s.answers() {
		t.Fatal("the stopped server still accepts connections")
	}
	s.Start()
	if code := do(http.MethodGet, db+"/doc", ""); code != http.StatusOK {
		t.Fatalf("GET %s/doc after a restart: %d", db, code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Databases(ctx, s.URL, prefix); err != nil {
		t.Fatal(err)
	}
}

// DropDatabases deletes exactly the databases under its prefix, names
// needing escapes included.
func TestDropDatabases(t *testing.T) {
	url := URL(t)
	prefix, other := Prefix(t), Prefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, db := range []string{prefix + "a", prefix + "b$$p(c)/d", other + "kept"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, url+"/"+neturl.PathEscape(db), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT %s: %s", db, resp.Status)
		}
	}
	t.Cleanup(func() { _ = DropDatabases(context.Background(), url, other) })
	if err := DropDatabases(ctx, url, prefix); err != nil {
		t.Fatal(err)
	}
	if dbs, err := Databases(ctx, url, prefix); err != nil || len(dbs) != 0 {
		t.Fatalf("databases under %s after DropDatabases: %q, %v", prefix, dbs, err)
	}
	if dbs, err := Databases(ctx, url, other); err != nil || len(dbs) != 1 {
		t.Fatalf("databases under %s (another prefix): %q, %v; want it kept", other, dbs, err)
	}
}
