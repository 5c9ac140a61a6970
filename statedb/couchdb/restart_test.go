package couchdb

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/statedb"
)

// testServer is a CouchDB-compatible server of the test's own, started
// with the script in WEFT_TEST_COUCHDB_START on a data folder, so it can
// be stopped and started again on the same port with the same data.
type testServer struct {
	t      *testing.T
	script string
	port   string
	dir    string
	pid    int
}

func startOwnServer(t *testing.T) *testServer {
	t.Helper()
	script := os.Getenv("WEFT_TEST_COUCHDB_START")
	if script == "" {
		t.Skip("set WEFT_TEST_COUCHDB_START to a script that starts a CouchDB-compatible server (`SCRIPT PORT DATADIR` prints its PID once it answers; .ci/run sets it) to run tests that restart a server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_ = ln.Close()
	s := &testServer{t: t, script: script, port: port, dir: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) url() string { return "http://127.0.0.1:" + s.port }

func (s *testServer) start() {
	s.t.Helper()
	out, err := exec.Command(s.script, s.port, s.dir).Output()
	if err != nil {
		s.t.Fatalf("start test server on %s: %v", s.port, err)
	}
	s.pid, err = strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		s.t.Fatalf("start printed %q, not a PID", out)
	}
}

// stop ends the server the test started and waits until it is gone.
func (s *testServer) stop() {
	if s.pid == 0 {
		return
	}
	pid := s.pid
	s.pid = 0
	_ = syscall.Kill(pid, syscall.SIGTERM)
	eventually.True(s.t, 20*time.Second, "test server "+strconv.Itoa(pid)+" exited", func() bool {
		return syscall.Kill(pid, 0) == syscall.ESRCH
	})
}

// TestServerRestart: the server stops while the peer runs and starts again
// on the same port with its data; reads and a commit that were retrying
// meanwhile succeed, and nothing committed is lost.
func TestServerRestart(t *testing.T) {
	srv := startOwnServer(t)
	logger, logs := testLogger()
	c := connect(t, Config{Address: srv.url(), DatabasePrefix: "restart_", MaxRetries: 12, Logger: logger, CacheSizeMB: -1, WarmIndexesAfterNBlocks: 1000})
	db := openChannel(t, c, "ch")
	mustApply(t, db, statedb.Version{BlockNum: 1}, func(b *statedb.Batch) {
		for i := range 20 {
			b.Put("cc", "k"+strconv.Itoa(i), []byte(`{"n":`+strconv.Itoa(i)+`}`), nil, statedb.Version{BlockNum: 1})
		}
	})

	srv.stop()
	if err := db.HealthCheck(context.Background()); err == nil || !strings.Contains(err.Error(), "CouchDB at "+srv.url()) {
		t.Fatalf("HealthCheck with the server stopped = %v", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- db.Apply(statedbBatch("cc", "k0", `{"n":100}`, 2), statedb.Version{BlockNum: 2})
	}()
	eventually.True(t, 20*time.Second, "Apply retrying", func() bool {
		return strings.Contains(logs.String(), "couchdb request failed, retrying")
	})
	srv.start()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Apply across the restart: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Apply did not finish after the server came back")
	}
	if err := db.HealthCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		want := `{"n":` + strconv.Itoa(i) + `}`
		if i == 0 {
			want = `{"n":100}`
		}
		if vv := mustGet(t, db, "cc", "k"+strconv.Itoa(i)); vv == nil || string(vv.Value) != want {
			t.Fatalf("after the restart k%d = %+v, want %s", i, vv, want)
		}
	}
	if sp, ok, err := db.Savepoint(); err != nil || !ok || sp.BlockNum != 2 {
		t.Fatalf("Savepoint after the restart = %v %v %v", sp, ok, err)
	}
}
