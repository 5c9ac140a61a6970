package externalbuilder_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/peer/chaincode/externalbuilder"
	"github.com/weft-ledger/weft/peer/chaincode/internal/cctest"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// builder returns the test builder testdata/builders/<name>.
func builder(t *testing.T, name string, env ...string) externalbuilder.Builder {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "builders", name))
	if err != nil {
		t.Fatal(err)
	}
	b := externalbuilder.Builder{Name: name, Path: p, PropagateEnvironment: env}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	testccOnce sync.Once
	testccBin  string
	testccErr  error
)

// testcc builds the official-shim test chaincode of peer/chaincode once.
func testcc(t *testing.T) string {
	t.Helper()
	testccOnce.Do(func() {
		dir, err := os.MkdirTemp("", "weft-externalbuilder-testcc-")
		if err != nil {
			testccErr = err
			return
		}
		testccBin = filepath.Join(dir, "testcc")
		cmd := exec.Command("go", "build", "-o", testccBin, ".")
		cmd.Dir = filepath.Join("..", "testdata", "cc")
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			testccErr = fmt.Errorf("build test chaincode: %v\n%s", err, out)
		}
	})
	if testccErr != nil {
		t.Fatal(testccErr)
	}
	return testccBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testccBin != "" {
		os.RemoveAll(filepath.Dir(testccBin))
	}
	os.Exit(code)
}

type peerSide struct {
	launcher *chaincode.PackageLauncher
	rt       *chaincode.Runtime
	pkgDir   string
	addr     string // where the runtime serves Register
}

// newPeer returns a runtime serving Register on loopback whose launcher
// tries builders first.
func newPeer(t *testing.T, builders ...externalbuilder.Builder) *peerSide {
	t.Helper()
	dir := t.TempDir()
	log := testLogger(t)
	l := &chaincode.PackageLauncher{
		PackageDir:       filepath.Join(dir, "packages"),
		BuildDir:         filepath.Join(dir, "builds"),
		LocalMSPID:       "Org1MSP",
		ExternalBuilders: builders,
		Logger:           log,
	}
	rt := chaincode.NewRuntime(chaincode.Config{RegisterTimeout: time.Minute, Logger: log}, l)
	l.PeerAddress = cctest.ServeRegister(t, rt)
	return &peerSide{launcher: l, rt: rt, pkgDir: l.PackageDir, addr: l.PeerAddress}
}

// invoke runs one transaction on packageID against state.
func (p *peerSide) invoke(t *testing.T, packageID string, state *memState, args ...string) (*pb.Response, error) {
	t.Helper()
	var bargs [][]byte
	for _, a := range args {
		bargs = append(bargs, []byte(a))
	}
	sp, txID, err := protos.NewProposal(cctest.Signer(t, "Org1MSP"), "mychannel", "testcc", bargs, nil)
	if err != nil {
		t.Fatal(err)
	}
	prop, err := protos.ParseProposal(sp)
	if err != nil {
		t.Fatal(err)
	}
	txc := &chaincode.TxContext{ChannelID: "mychannel", TxID: txID, SignedProposal: sp, Proposal: prop, Simulator: state}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, _, err := p.rt.Execute(ctx, packageID, txc, &pb.ChaincodeInput{Args: bargs})
	return resp, err
}

// putGet writes a key through the chaincode and reads it back.
func (p *peerSide) putGet(t *testing.T, packageID string) {
	t.Helper()
	state := &memState{m: map[string][]byte{}}
	if resp, err := p.invoke(t, packageID, state, "put", "color", "blue"); err != nil || resp.Status != 200 {
		t.Fatalf("put: %v %v", resp, err)
	}
	if got := string(state.m["testcc\x00color"]); got != "blue" {
		t.Fatalf("put wrote %q, want blue", got)
	}
	resp, err := p.invoke(t, packageID, state, "get", "color")
	if err != nil || resp.Status != 200 || string(resp.Payload) != "blue" {
		t.Fatalf("get: %v %v, want blue", resp, err)
	}
}

func readLog(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(raw), " ", "_"))
}

// A builder whose release writes connection.json: the peer dials the
// chaincode server it names, after a builder that refuses the package.
func TestBuilderReleaseConnectionIsDialled(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "builder.log")
	t.Setenv("BUILDER_LOG", logFile)
	t.Setenv("WEFT_EB_SECRET", "must-not-reach-builders")
	p := newPeer(t, builder(t, "refuse-sh", "BUILDER_LOG"), builder(t, "ccaas-sh", "BUILDER_LOG"))
	addr := cctest.FreeAddr(t)
	conn, _ := json.Marshal(map[string]any{"address": addr, "dial_timeout": "20s", "tls_required": false})
	id := cctest.WritePackage(t, p.pkgDir, "sh-ccaas", "ccsh_1", map[string][]byte{"connection.json": conn})
	cctest.StartService(t, testcc(t), addr, id)

	p.putGet(t, id)

	want := []string{"refuse-sh_detect", "ccaas-sh_detect", "ccaas-sh_build", "ccaas-sh_release"}
	if got := readLog(t, logFile); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("builder steps = %v, want %v", got, want)
	}
	envRaw, err := os.ReadFile(filepath.Join(p.launcher.BuildDir, "external", id, "bld", "env.txt"))
	if err != nil {
		t.Fatalf("build output not kept per package: %v", err)
	}
	env := string(envRaw)
	if !strings.Contains(env, "BUILDER_LOG="+logFile) || !strings.Contains(env, "PATH=") {
		t.Errorf("build environment lacks BUILDER_LOG or PATH:\n%s", env)
	}
	if strings.Contains(env, "WEFT_EB_SECRET") {
		t.Errorf("a variable not in propagateEnvironment reached the builder:\n%s", env)
	}

	// A later launch (a new launcher, as after a peer restart) reuses the
	// kept build: neither detect nor build runs again.
	l2 := &chaincode.PackageLauncher{
		PackageDir: p.launcher.PackageDir, BuildDir: p.launcher.BuildDir,
		ExternalBuilders: p.launcher.ExternalBuilders, Logger: testLogger(t),
	}
	inst, err := l2.Launch(context.Background(), id, nil)
	if err != nil {
		t.Fatalf("second launch: %v", err)
	}
	inst.Stop()
	if got := readLog(t, logFile); len(got) != len(want) {
		t.Fatalf("second launch ran builder steps again: %v", got)
	}
}

// A builder with bin/run: run gets chaincode.json and the chaincode it starts
// dials the peer and registers.
func TestBuilderRunRegistersWithPeer(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TESTCC_BIN", testcc(t))
	t.Setenv("RUN_COPY", filepath.Join(dir, "chaincode.json"))
	p := newPeer(t, builder(t, "refuse-sh"), builder(t, "binary-sh", "TESTCC_BIN", "RUN_COPY"))
	id := cctest.WritePackage(t, p.pkgDir, "sh-binary", "ccbin_1", map[string][]byte{"README": []byte("built by binary-sh")})

	p.putGet(t, id)

	raw, err := os.ReadFile(filepath.Join(dir, "chaincode.json"))
	if err != nil {
		t.Fatalf("run did not see chaincode.json: %v", err)
	}
	var rc map[string]string
	if err := json.Unmarshal(raw, &rc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"chaincode_id": id, "peer_address": p.addr, "mspid": "Org1MSP", "client_cert": "", "client_key": "", "root_cert": ""}
	if fmt.Sprint(rc) != fmt.Sprint(want) {
		t.Fatalf("chaincode.json = %v, want %v", rc, want)
	}
}

// With peer TLS on, the chaincode bin/run starts registers over mutual TLS
// with the client certificate chaincode.json carries.
func TestBuilderRunRegistersOverMutualTLS(t *testing.T) {
	t.Setenv("TESTCC_BIN", testcc(t))
	ca, err := chaincode.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log := testLogger(t)
	l := &chaincode.PackageLauncher{
		PackageDir:       filepath.Join(dir, "packages"),
		BuildDir:         filepath.Join(dir, "builds"),
		LocalMSPID:       "Org1MSP",
		ExternalBuilders: []externalbuilder.Builder{builder(t, "binary-sh", "TESTCC_BIN")},
		Logger:           log,
	}
	rt := chaincode.NewRuntime(chaincode.Config{RegisterTimeout: time.Minute, Logger: log, CA: ca}, l)
	creds, err := ca.ServerCredentials(log, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	l.PeerAddress = cctest.ServeRegister(t, rt, grpc.Creds(creds))
	p := &peerSide{launcher: l, rt: rt, pkgDir: l.PackageDir, addr: l.PeerAddress}
	id := cctest.WritePackage(t, p.pkgDir, "sh-binary", "ccbintls_1", map[string][]byte{"README": []byte("built by binary-sh")})
	p.putGet(t, id)
}

// When bin/run exits the instance reports it; the peer can launch again.
func TestBuilderRunExitIsReported(t *testing.T) {
	t.Setenv("TESTCC_BIN", testcc(t))
	dir := t.TempDir()
	l := &chaincode.PackageLauncher{
		PackageDir:       filepath.Join(dir, "packages"),
		BuildDir:         filepath.Join(dir, "builds"),
		PeerAddress:      cctest.FreeAddr(t), // nothing listens: the chaincode gives up
		ExternalBuilders: []externalbuilder.Builder{builder(t, "binary-sh", "TESTCC_BIN")},
		Logger:           testLogger(t),
	}
	id := cctest.WritePackage(t, l.PackageDir, "sh-binary", "ccbin_2", map[string][]byte{"x": []byte("y")})
	inst, err := l.Launch(context.Background(), id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop()
	select {
	case <-inst.Exited:
	case <-time.After(time.Minute):
		t.Fatal("Exited not closed after the chaincode could not reach the peer")
	}
}

// Stop ends bin/run and what it started.
func TestBuilderStopEndsRunAndItsChildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	t.Setenv("PIDFILE", pidFile)
	dir := t.TempDir()
	l := &chaincode.PackageLauncher{
		PackageDir:       filepath.Join(dir, "packages"),
		BuildDir:         filepath.Join(dir, "builds"),
		ExternalBuilders: []externalbuilder.Builder{builder(t, "sleep-sh", "PIDFILE")},
		Logger:           testLogger(t),
	}
	id := cctest.WritePackage(t, l.PackageDir, "sh-sleep", "sleep_1", map[string][]byte{"x": []byte("y")})
	inst, err := l.Launch(context.Background(), id, nil)
	if err != nil {
		t.Fatal(err)
	}
	var child string
	eventually.True(t, 20*time.Second, "the builder's run writes its child's pid", func() bool {
		b, err := os.ReadFile(pidFile)
		child = strings.TrimSpace(string(b))
		return err == nil && child != ""
	})
	done := make(chan struct{})
	go func() { inst.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Stop did not return")
	}
	select {
	case <-inst.Exited:
	default:
		t.Fatal("Exited not closed after Stop")
	}
	eventually.True(t, 20*time.Second, "child "+child+" gone after Stop", func() bool { return !running(child) })
}

// running reports whether pid is a live (not zombie) process.
func running(pid string) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// No builder detects a ccaas package: the built-in ccaas handling dials it.
func TestBuilderDetectRefusedFallsThroughToBuiltIn(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "builder.log")
	t.Setenv("BUILDER_LOG", logFile)
	p := newPeer(t, builder(t, "refuse-sh", "BUILDER_LOG"), builder(t, "ccaas-sh", "BUILDER_LOG"))
	addr := cctest.FreeAddr(t)
	conn, _ := json.Marshal(map[string]any{"address": addr, "dial_timeout": "20s"})
	id := cctest.WritePackage(t, p.pkgDir, "ccaas", "builtin_1", map[string][]byte{"connection.json": conn})
	cctest.StartService(t, testcc(t), addr, id)

	p.putGet(t, id)

	want := []string{"refuse-sh_detect", "ccaas-sh_detect"}
	if got := readLog(t, logFile); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("builder steps = %v, want only the two detects %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(p.launcher.BuildDir, "external", id)); !os.IsNotExist(err) {
		t.Fatalf("a build was kept for a package no builder detected (stat: %v)", err)
	}
}

func TestBuilderBuildFailureNamesBuilderAndStep(t *testing.T) {
	dir := t.TempDir()
	l := &chaincode.PackageLauncher{
		PackageDir:       filepath.Join(dir, "packages"),
		BuildDir:         filepath.Join(dir, "builds"),
		ExternalBuilders: []externalbuilder.Builder{builder(t, "refuse-sh"), builder(t, "fail-sh")},
		Logger:           testLogger(t),
	}
	id := cctest.WritePackage(t, l.PackageDir, "sh-fail", "broken_1", map[string][]byte{"x": []byte("y")})
	_, err := l.Launch(context.Background(), id, nil)
	if err == nil {
		t.Fatal("Launch succeeded with a failing build")
	}
	var se *externalbuilder.StepError
	if !errors.As(err, &se) || se.Builder != "fail-sh" || se.Step != "build" || se.PackageID != id {
		t.Fatalf("err = %v, want a StepError of fail-sh build for %s", err, id)
	}
	msg := err.Error()
	for _, w := range []string{"external builder fail-sh", "bin/build", id, "exit status 2", "compile step 499", "fatal: compiler exploded"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not contain %q:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "compile step 1 of") {
		t.Errorf("error holds all of stderr, want its tail only (%d bytes)", len(msg))
	}
	if _, err := os.Stat(filepath.Join(l.BuildDir, "external", id)); !os.IsNotExist(err) {
		t.Fatalf("a failed build was kept (stat: %v)", err)
	}
}

func TestBuilderNoRunAndNoConnection(t *testing.T) {
	dir := t.TempDir()
	l := &chaincode.PackageLauncher{
		PackageDir:       filepath.Join(dir, "packages"),
		BuildDir:         filepath.Join(dir, "builds"),
		ExternalBuilders: []externalbuilder.Builder{builder(t, "noop-sh")},
		Logger:           testLogger(t),
	}
	id := cctest.WritePackage(t, l.PackageDir, "sh-noop", "noop_1", map[string][]byte{"x": []byte("y")})
	_, err := l.Launch(context.Background(), id, nil)
	if err == nil || !strings.Contains(err.Error(), "external builder noop-sh") || !strings.Contains(err.Error(), "no bin/run") {
		t.Fatalf("Launch = %v, want an error naming noop-sh and its missing bin/run", err)
	}
}

// memState is a TxSimulator over a map (ns + "\x00" + key).
type memState struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memState) GetState(ns, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[ns+"\x00"+key], nil
}

func (s *memState) GetStateRange(ns, start, end string) (statedb.Iterator, error) {
	return nil, errors.New("range queries are not used by these tests")
}

func (s *memState) SetState(ns, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[ns+"\x00"+key] = value
	return nil
}

func (s *memState) DeleteState(ns, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, ns+"\x00"+key)
	return nil
}

func (s *memState) GetPrivateDataHash(ns, coll, key string) ([]byte, error) { return nil, nil }

func (s *memState) PutPrivateData(ns, coll, key string, value []byte) error {
	return errors.New("private data is not used by these tests")
}

func testLogger(t *testing.T) *slog.Logger { return cctest.Logger(t, slog.LevelInfo) }

// With TLS material given to the launch, chaincode.json carries it as PEM.
func TestBuilderChaincodeJSONCarriesTLS(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TESTCC_BIN", testcc(t))
	t.Setenv("RUN_COPY", filepath.Join(dir, "chaincode.json"))
	creds := &chaincode.LaunchTLS{ClientCertPEM: []byte("CLIENT CERT PEM\n"), ClientKeyPEM: []byte("CLIENT KEY PEM\n"), RootCertPEM: []byte("ROOT CERT PEM\n")}
	l := &chaincode.PackageLauncher{
		PackageDir:       filepath.Join(dir, "packages"),
		BuildDir:         filepath.Join(dir, "builds"),
		PeerAddress:      cctest.FreeAddr(t),
		LocalMSPID:       "Org2MSP",
		ExternalBuilders: []externalbuilder.Builder{builder(t, "binary-sh", "TESTCC_BIN", "RUN_COPY")},
		Logger:           testLogger(t),
	}
	id := cctest.WritePackage(t, l.PackageDir, "sh-binary", "tls_1", map[string][]byte{"x": []byte("y")})
	inst, err := l.Launch(context.Background(), id, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop()
	select { // nothing listens at PeerAddress: the chaincode gives up
	case <-inst.Exited:
	case <-time.After(time.Minute):
		t.Fatal("run did not exit")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "chaincode.json"))
	if err != nil {
		t.Fatalf("run did not see chaincode.json: %v", err)
	}
	var rc externalbuilder.RunConfig
	if err := json.Unmarshal(raw, &rc); err != nil {
		t.Fatal(err)
	}
	want := externalbuilder.RunConfig{ChaincodeID: id, PeerAddress: l.PeerAddress, MSPID: "Org2MSP",
		ClientCert: string(creds.ClientCertPEM), ClientKey: string(creds.ClientKeyPEM), RootCert: string(creds.RootCertPEM)}
	if rc != want {
		t.Fatalf("chaincode.json = %+v, want %+v", rc, want)
	}
}
