package devnettest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/weft-ledger/weft/internal/devnet"
)

// modulePath is the main module, whose root Start builds the binaries in.
const modulePath = "github.com/weft-ledger/weft"

// Options say which network Start starts.
type Options struct {
	// CouchDB and DatabasePrefix are devnet.Config's: with CouchDB set, the
	// peers keep their world state there, each under DatabasePrefix and a
	// prefix of its own; empty, on LevelDB.
	CouchDB        []string
	DatabasePrefix string
	// NoRESTGateway leaves the REST gateway out of the network (and its
	// binary out of the build).
	NoRESTGateway bool
	// Peers is devnet.Config's: peers per organisation, 1 (zero) or 2.
	Peers int
	// Log receives the build's output and the network's progress; nil
	// means os.Stderr.
	Log io.Writer
}

// Running is a network Start started; Stop stops it and removes its folder.
type Running struct {
	*devnet.Network
	dir string // the temporary folder holding the binaries and the network
	log io.Writer
}

// Start builds the peer, orderer, basic (and REST gateway) binaries of the
// module the test runs in, and starts a fresh development network on free
// loopback ports in a temporary folder. It is meant for a TestMain: the
// network is shared by the package's tests and stopped after them. On
// failure it writes the tail of every node's log to opts.Log and removes
// what it created.
func Start(ctx context.Context, opts Options) (*Running, error) {
	log := opts.Log
	if log == nil {
		log = os.Stderr
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "weft-e2e-")
	if err != nil {
		return nil, err
	}
	r := &Running{dir: tmp, log: log}
	bin := filepath.Join(tmp, "bin")
	pkgs := []string{"./cmd/peer", "./cmd/orderer", "./samples/basic"}
	if !opts.NoRESTGateway {
		pkgs = append(pkgs, "./cmd/restgateway")
	}
	build := exec.CommandContext(ctx, "go", append([]string{"build", "-o", bin + "/"}, pkgs...)...)
	build.Dir = root
	build.Stdout, build.Stderr = log, log
	if err := build.Run(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("build %s: %w", strings.Join(pkgs, " "), err)
	}
	ports, err := devnet.FreePorts(1)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if opts.NoRESTGateway {
		ports.RESTGateway, ports.RESTGatewayOps = 0, 0
	}
	cfg := devnet.Config{
		Dir: filepath.Join(tmp, "net"), BinDir: bin, Ports: ports, Log: log, Timeout: 3 * time.Minute,
		CouchDB: opts.CouchDB, DatabasePrefix: opts.DatabasePrefix, Peers: opts.Peers,
	}
	if r.Network, err = devnet.Up(ctx, cfg); err != nil {
		DumpLogs(log, cfg)
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start the development network: %w", err)
	}
	return r, nil
}

// Stop stops the network and removes its folder, after writing the tail of
// every node's log when the tests failed.
func (r *Running) Stop(failed bool) {
	if failed {
		DumpLogs(r.log, r.Config())
	}
	r.Network.Stop()
	os.RemoveAll(r.dir)
}

// DumpLogs writes the last 8 KB of every log of the network in cfg to w.
func DumpLogs(w io.Writer, cfg devnet.Config) {
	entries, _ := os.ReadDir(cfg.Path("logs"))
	for _, e := range entries {
		raw, _ := os.ReadFile(cfg.Path("logs", e.Name()))
		if len(raw) > 8000 {
			raw = raw[len(raw)-8000:]
		}
		fmt.Fprintf(w, "==== %s (tail) ====\n%s\n", e.Name(), raw)
	}
}

// moduleRoot is the folder of the main module's go.mod, found upwards from
// the working directory (a test runs in its package's folder).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			s := bufio.NewScanner(f)
			first := ""
			if s.Scan() {
				first = strings.TrimSpace(s.Text())
			}
			f.Close()
			if first == "module "+modulePath {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of " + modulePath + " above the working directory")
		}
		dir = parent
	}
}
