package chaincode

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// workDir is shared by the tests of this package: installed packages and the
// build cache, so the test chaincode is compiled once per `go test` run.
var workDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "weft-chaincode-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func testLogger(t *testing.T) *slog.Logger { return cctest.Logger(t, slog.LevelWarn) }

// fakeSim is an in-memory TxSimulator over a shared state map.
type fakeSim struct {
	mu     sync.Mutex
	state  map[string][]byte // ns + "\x00" + key
	writes map[string][]byte // nil value = delete
	pvt    map[string][]byte
	meta   map[string]map[string][]byte // shared across simulators of one test
}

func newFakeSim(state map[string][]byte) *fakeSim {
	if state == nil {
		state = map[string][]byte{}
	}
	return &fakeSim{state: state, writes: map[string][]byte{}, pvt: map[string][]byte{}}
}

// withMeta gives s the optional metadata capability over a shared store.
type metaSim struct {
	*fakeSim
}

func (m metaSim) GetStateMetadata(ns, key string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.meta[ns+"\x00"+key], nil
}

func (m metaSim) SetStateMetadata(ns, key string, md map[string][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.meta[ns+"\x00"+key] = md
	return nil
}

func (m metaSim) DeletePrivateData(ns, coll, key string) error {
	return m.PutPrivateData(ns, coll, key, nil)
}

func (s *fakeSim) GetState(ns, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state[ns+"\x00"+key], nil
}

func (s *fakeSim) GetStateRange(ns, start, end string) (statedb.Iterator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var kvs []*statedb.KV
	for k, v := range s.state {
		n, key, _ := strings.Cut(k, "\x00")
		if n != ns || key < start || (end != "" && key >= end) {
			continue
		}
		kvs = append(kvs, &statedb.KV{Namespace: ns, Key: key, VersionedValue: statedb.VersionedValue{Value: v}})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key })
	return &sliceIter{kvs: kvs}, nil
}

func (s *fakeSim) SetState(ns, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes[ns+"\x00"+key] = value
	return nil
}

func (s *fakeSim) DeleteState(ns, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes[ns+"\x00"+key] = nil
	return nil
}

func (s *fakeSim) GetPrivateDataHash(ns, coll, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.state[ns+"$$p"+coll+"\x00"+key]
	if !ok {
		return nil, nil
	}
	h := sha256.Sum256(v)
	return h[:], nil
}

func (s *fakeSim) PutPrivateData(ns, coll, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pvt[ns+"$$p"+coll+"\x00"+key] = value
	return nil
}

func (s *fakeSim) write(ns, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.writes[ns+"\x00"+key]
	return v, ok
}

// commit applies the writes to the shared state.
func (s *fakeSim) commit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.writes {
		if v == nil {
			delete(s.state, k)
		} else {
			s.state[k] = v
		}
	}
}

type sliceIter struct {
	mu     sync.Mutex
	kvs    []*statedb.KV
	closed bool
}

func (it *sliceIter) Next() (*statedb.KV, error) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.closed || len(it.kvs) == 0 {
		return nil, nil
	}
	kv := it.kvs[0]
	it.kvs = it.kvs[1:]
	return kv, nil
}

func (it *sliceIter) Close() {
	it.mu.Lock()
	it.closed = true
	it.mu.Unlock()
}

// newTx builds a TxContext for invoking chaincode cc with args.
func newTx(t *testing.T, signer protos.Signer, cc string, sim TxSimulator, transient map[string][]byte, args ...string) (*TxContext, *pb.ChaincodeInput) {
	t.Helper()
	var bargs [][]byte
	for _, a := range args {
		bargs = append(bargs, []byte(a))
	}
	sp, txID, err := protos.NewProposal(signer, "mychannel", cc, bargs, transient)
	if err != nil {
		t.Fatal(err)
	}
	p, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	return &TxContext{
		ChannelID: "mychannel", TxID: txID, SignedProposal: sp, Proposal: p,
		Simulator: sim, Transient: transient,
	}, &pb.ChaincodeInput{Args: bargs}
}

// testCCSource returns the official-shim test chaincode as code.tar.gz files
// of a golang package.
func testCCSource(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, n := range []string{"go.mod", "go.sum", "main.go"} {
		b, err := os.ReadFile(filepath.Join("testdata", "cc", n))
		if err != nil {
			t.Fatal(err)
		}
		files["src/"+n] = b
	}
	return files
}

// launcherEnv lets `go build` resolve the shim from the module cache and
// write go.sum entries if the toolchain wants more.
var launcherEnv = []string{"GOFLAGS=-mod=mod -buildvcs=false -ldflags=-w"}

// peerLaunched returns a runtime whose PackageLauncher builds and runs the
// official-shim test chaincode, and the chaincode's package ID.
func peerLaunched(t *testing.T, cfg Config) (*Runtime, string) {
	t.Helper()
	pkgDir := filepath.Join(workDir, "packages")
	id := cctest.WritePackage(t, pkgDir, "golang", "testcc_1", testCCSource(t))
	l := &PackageLauncher{PackageDir: pkgDir, BuildDir: filepath.Join(workDir, "build"), Env: launcherEnv, Logger: testLogger(t)}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	rt := NewRuntime(cfg, l)
	l.PeerAddress = cctest.ServeRegister(t, rt)
	return rt, id
}

func invoke(t *testing.T, rt *Runtime, pkgID string, sim TxSimulator, args ...string) (*pb.Response, *pb.ChaincodeEvent, error) {
	t.Helper()
	txc, in := newTx(t, cctest.Signer(t, "Org1MSP"), "testcc", sim, nil, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return rt.Execute(ctx, pkgID, txc, in)
}

func mustOK(t *testing.T) func(*pb.Response, *pb.ChaincodeEvent, error) *pb.Response {
	return func(resp *pb.Response, _ *pb.ChaincodeEvent, err error) *pb.Response {
		t.Helper()
		if err != nil {
			t.Fatalf("execute: %v", err)
		}
		if resp.Status != 200 {
			t.Fatalf("status %d, message %q", resp.Status, resp.Message)
		}
		return resp
	}
}
