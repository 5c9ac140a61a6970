// Package couchtest is test support for code that runs on CouchDB: the
// shared test server named by WEFT_TEST_COUCHDB_URL, database prefixes that
// keep tests apart on it, and servers a test starts, stops and restarts
// itself (through the start script named by WEFT_TEST_COUCHDB_START) to see
// what the code does while CouchDB is down.
//
// Both variables are set by .ci/run, which starts a CouchDB-compatible
// server (pouchdb-server) beside the repository; without them the tests that need a
// server skip with a message saying so, and never fail. The package is
// imported only by tests of peer/, internal/ and e2e/ (statedb/ and ledger/
// must not import internal/).
package couchtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/eventually"
)

// The environment variables .ci/run sets.
const (
	// URLEnv names a running CouchDB (or CouchDB-compatible) server, e.g.
	// http://127.0.0.1:5984, that tests share.
	URLEnv = "WEFT_TEST_COUCHDB_URL"
	// StartEnv names a start script (.ci/run's test server:
	// `start PORT DATADIR` prints the server's PID once it answers), for
	// tests that stop and restart a server of their own.
	StartEnv = "WEFT_TEST_COUCHDB_START"
)

// URL returns the shared server's URL, skipping the test when URLEnv is unset.
func URL(tb testing.TB) string {
	tb.Helper()
	u := strings.TrimRight(strings.TrimSpace(os.Getenv(URLEnv)), "/")
	if u == "" {
		tb.Skipf("set %s to a CouchDB 3 or CouchDB-compatible server, e.g. http://127.0.0.1:5984 (.ci/run starts one)", URLEnv)
	}
	return u
}

// Prefix returns a database name prefix no other test uses, such as
// "t3f9a0c_", so tests can share one server without seeing each other's
// databases (ledger.state.couchDBConfig.databasePrefix, at most 19
// characters: this one leaves 11 for a prefix of the test's own after it).
func Prefix(tb testing.TB) string {
	tb.Helper()
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	return "t" + hex.EncodeToString(b[:]) + "_"
}

// Server is a CouchDB-compatible server a test started on a free loopback
// port with a data folder of its own, so that Stop and Start bring the same
// databases down and back.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	Addr string // 127.0.0.1:PORT
	tb   testing.TB
	bin  string
	dir  string

	mu  sync.Mutex
	pid int // 0 while stopped
}

// startMu serialises starts: the script unpacks the server on first use.
var startMu sync.Mutex

// Start starts a server of the test's own, skipping the test when StartEnv
// is unset; it is stopped when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := strings.TrimSpace(os.Getenv(StartEnv))
	if bin == "" {
		tb.Skipf("set %s to a script that starts a CouchDB-compatible server (`SCRIPT PORT DATADIR` prints its PID once it answers; .ci/run sets it) for a test that stops and restarts its own server", StartEnv)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	s := &Server{URL: "http://" + addr, Addr: addr, tb: tb, bin: bin, dir: tb.TempDir()}
	s.Start()
	tb.Cleanup(s.Stop)
	return s
}

// Start (re)starts the server on its port and data folder and returns once
// it answers.
func (s *Server) Start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pid != 0 {
		return
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	startMu.Lock()
	cmd := exec.Command(s.bin, port, s.dir)
	cmd.Env = append(os.Environ(), "TMPDIR="+os.TempDir())
	out, err := cmd.Output()
	startMu.Unlock()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		s.tb.Fatalf("start a CouchDB-compatible server with %s %s %s: %v %s", s.bin, port, s.dir, err, msg)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		s.tb.Fatalf("%s printed %q, not the server's PID", s.bin, out)
	}
	s.pid = pid
}

// Stop stops the server (its data folder stays) and returns once its port
// refuses connections.
func (s *Server) Stop() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pid == 0 {
		return
	}
	// The script's server is not our child: signal it by PID, then wait for
	// the port to close (a zombie left to an init that does not reap would
	// still answer kill -0).
	if err := syscall.Kill(s.pid, syscall.SIGTERM); err != nil && err != syscall.ESRCH {
		s.tb.Errorf("stop the CouchDB server (pid %d): %v", s.pid, err)
	}
	if err := eventually.Wait(20*time.Second, func(context.Context) error {
		if s.answers() {
			return fmt.Errorf("port %s still accepts connections", s.Addr)
		}
		return nil
	}); err != nil {
		_ = syscall.Kill(s.pid, syscall.SIGKILL)
		eventually.True(s.tb, 10*time.Second, "the killed CouchDB server's port to close", func() bool { return !s.answers() })
	}
	s.pid = 0
}

// answers reports whether something accepts connections on the server's port.
func (s *Server) answers() bool {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Databases lists the server's databases whose names start with prefix.
func Databases(ctx context.Context, url, prefix string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(url, "/")+"/_all_dbs", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/_all_dbs: %s", url, resp.Status)
	}
	var all []string
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		return nil, err
	}
	var out []string
	for _, db := range all {
		if strings.HasPrefix(db, prefix) {
			out = append(out, db)
		}
	}
	return out, nil
}

// DropDatabases deletes the server's databases whose names start with
// prefix, so that a test leaves a shared server as it found it.
func DropDatabases(ctx context.Context, url, prefix string) error {
	dbs, err := Databases(ctx, url, prefix)
	if err != nil {
		return err
	}
	for _, db := range dbs {
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, strings.TrimRight(url, "/")+"/"+neturl.PathEscape(db), nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("delete database %s: %w", db, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("delete database %s: %s", db, resp.Status)
		}
	}
	return nil
}
