package chaincode

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
	"github.com/weft-ledger/weft/peer/chaincode/externalbuilder"
)

// MaxMessageSize bounds chaincode stream messages (as Fabric's 100 MB); the
// gRPC server serving Register should use the same limit.
const MaxMessageSize = 100 << 20

// PackageLauncher launches installed packages. The operator's external
// builders come first, as in Fabric: the first whose bin/detect accepts the
// package builds it, and its release either names a chaincode server to dial
// (chaincode/server/connection.json) or its bin/run starts chaincode that
// dials PeerAddress. Packages no external builder detects are handled by the
// built-in rules: "ccaas" packages are dialled at the address of their
// connection.json; "golang" packages are built with the local Go toolchain
// (the binary cached per package ID) and run as a child process that dials
// PeerAddress.
type PackageLauncher struct {
	// PackageDir holds the installed packages, <PackageDir>/<packageID>.tar.gz.
	PackageDir string
	// BuildDir caches built binaries, <BuildDir>/<packageID>/chaincode.
	BuildDir string
	// PeerAddress is the host:port peer-launched chaincode dials (the
	// listener serving this runtime's Register).
	PeerAddress string
	// TLS, when set, is handed to peer-launched chaincode as the official
	// shim reads it (CORE_PEER_TLS_ENABLED and the files below).
	TLS *LaunchTLS
	// LocalMSPID is passed as CORE_PEER_LOCALMSPID (stub.GetMSPID).
	LocalMSPID string
	// GoBinary is the go command (default "go" from PATH).
	GoBinary string
	// Env is added to the environment of `go build` (e.g. GOFLAGS, GOPROXY).
	Env []string
	// ExternalBuilders are the operator's builders (core.yaml
	// chaincode.externalBuilders), tried in order before the built-in
	// handling; their builds are kept under <BuildDir>/external/<packageID>.
	ExternalBuilders []externalbuilder.Builder
	Logger           *slog.Logger

	buildMu sync.Mutex // one build at a time; builds share the Go cache anyway
}

// LaunchTLS names the PEM files peer-launched chaincode uses to dial the peer.
type LaunchTLS struct {
	RootCertFile   string // CA of the peer's chaincode listener
	ClientCertFile string
	ClientKeyFile  string
}

// Launch implements Launcher.
func (l *PackageLauncher) Launch(ctx context.Context, packageID string) (*Instance, error) {
	raw, err := os.ReadFile(filepath.Join(l.PackageDir, packageID+".tar.gz"))
	if err != nil {
		return nil, fmt.Errorf("chaincode package %s is not installed on this peer: %w", packageID, err)
	}
	if inst, built, err := l.launchExternal(ctx, packageID, raw); built || err != nil {
		return inst, err
	}
	pkg, err := ParsePackage(raw)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", packageID, err)
	}
	switch pkg.Type {
	case "ccaas":
		ci, err := pkg.Connection()
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", packageID, err)
		}
		return DialChaincode(ctx, ci)
	case "golang":
		bin, err := l.build(ctx, packageID, pkg)
		if err != nil {
			return nil, err
		}
		return l.start(packageID, bin)
	default:
		return nil, fmt.Errorf("package %s has type %q; this peer runs \"golang\" and \"ccaas\" packages", packageID, pkg.Type)
	}
}

// launchExternal launches packageID with the external builder that detects
// it; built is false when none does.
func (l *PackageLauncher) launchExternal(ctx context.Context, packageID string, raw []byte) (inst *Instance, built bool, err error) {
	if len(l.ExternalBuilders) == 0 {
		return nil, false, nil
	}
	d := &externalbuilder.Detector{
		Builders: l.ExternalBuilders,
		BuildDir: filepath.Join(l.BuildDir, "external"),
		Logger:   l.logger(),
	}
	l.buildMu.Lock()
	b, err := d.Build(ctx, packageID, raw)
	l.buildMu.Unlock()
	if err != nil || b == nil {
		return nil, false, err
	}
	conn, ok, err := b.ConnectionJSON()
	if err != nil {
		return nil, true, err
	}
	if ok {
		ci, err := parseConnectionJSON(conn)
		if err != nil {
			return nil, true, fmt.Errorf("external builder %s, chaincode package %s: release chaincode/server/connection.json: %w", b.Builder.Name, packageID, err)
		}
		inst, err := DialChaincode(ctx, ci)
		return inst, true, err
	}
	rc, err := l.runConfig(packageID)
	if err != nil {
		return nil, true, err
	}
	p, err := b.Run(rc)
	if err != nil {
		return nil, true, err
	}
	return &Instance{Exited: p.Exited, Stop: p.Stop}, true, nil
}

// runConfig is chaincode.json for an external builder's bin/run.
func (l *PackageLauncher) runConfig(packageID string) (externalbuilder.RunConfig, error) {
	rc := externalbuilder.RunConfig{ChaincodeID: packageID, PeerAddress: l.PeerAddress, MSPID: l.LocalMSPID}
	if l.TLS == nil {
		return rc, nil
	}
	for _, f := range []struct {
		dst  *string
		file string
	}{
		{&rc.ClientCert, l.TLS.ClientCertFile},
		{&rc.ClientKey, l.TLS.ClientKeyFile},
		{&rc.RootCert, l.TLS.RootCertFile},
	} {
		b, err := os.ReadFile(f.file)
		if err != nil {
			return rc, fmt.Errorf("chaincode.json for chaincode package %s: %w", packageID, err)
		}
		*f.dst = string(b)
	}
	return rc, nil
}

// parseConnectionJSON decodes a connection.json a builder's release wrote.
func parseConnectionJSON(raw []byte) (*ConnectionInfo, error) {
	ci := &ConnectionInfo{}
	if err := json.Unmarshal(raw, ci); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if ci.Address == "" {
		return nil, errors.New("no address; set address to the chaincode server's host:port")
	}
	return ci, nil
}

func (l *PackageLauncher) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}

// build returns the cached binary of packageID, building it first if needed.
func (l *PackageLauncher) build(ctx context.Context, packageID string, pkg *Package) (string, error) {
	l.buildMu.Lock()
	defer l.buildMu.Unlock()
	dir := filepath.Join(l.BuildDir, strings.ReplaceAll(packageID, string(filepath.Separator), "_"))
	bin := filepath.Join(dir, "chaincode")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	src := filepath.Join(dir, "src")
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("clean build folder of %s: %w", packageID, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create build folder of %s: %w", packageID, err)
	}
	if err := ccpackage.Extract(pkg.Code, dir); err != nil {
		return "", fmt.Errorf("extract code of %s: %w", packageID, err)
	}
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		return "", fmt.Errorf("golang package %s has no src/go.mod; package chaincode as a Go module", packageID)
	}
	args := []string{"build", "-o", bin}
	if fi, err := os.Stat(filepath.Join(src, "vendor")); err == nil && fi.IsDir() {
		args = append(args, "-mod=vendor")
	}
	args = append(args, ".")
	goBin := l.GoBinary
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), l.Env...)
	l.logger().Info("building chaincode", "package_id", packageID, "dir", src)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of chaincode %s failed: %w\n%s", packageID, err, out)
	}
	return bin, nil
}

// start runs a built chaincode binary that dials PeerAddress.
func (l *PackageLauncher) start(packageID, bin string) (*Instance, error) {
	env := []string{
		"CORE_CHAINCODE_ID_NAME=" + packageID,
		"CORE_PEER_ADDRESS=" + l.PeerAddress,
		"CORE_PEER_TLS_ENABLED=false",
	}
	if p := os.Getenv("PATH"); p != "" {
		env = append(env, "PATH="+p)
	}
	if l.LocalMSPID != "" {
		env = append(env, "CORE_PEER_LOCALMSPID="+l.LocalMSPID)
	}
	if l.TLS != nil {
		env[2] = "CORE_PEER_TLS_ENABLED=true"
		env = append(env,
			"CORE_PEER_TLS_ROOTCERT_FILE="+l.TLS.RootCertFile,
			"CORE_TLS_CLIENT_CERT_FILE="+l.TLS.ClientCertFile,
			"CORE_TLS_CLIENT_KEY_FILE="+l.TLS.ClientKeyFile,
		)
	}
	cmd := exec.Command(bin, "-peer.address="+l.PeerAddress)
	cmd.Env = env
	log := l.logger().With("chaincode", packageID)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start chaincode %s (%s): %w", packageID, bin, err)
	}
	exited := make(chan struct{})
	go func() {
		logLines(log, stdout)
		err := cmd.Wait()
		log.Info("chaincode process exited", "pid", cmd.Process.Pid, "err", err)
		close(exited)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
		})
		<-exited
	}
	return &Instance{Exited: exited, Stop: stop}, nil
}

func logLines(log *slog.Logger, r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		log.Info("chaincode output", "line", sc.Text())
	}
}

// DialChaincode connects to chaincode-as-a-service and opens its
// Chaincode/Connect stream.
func DialChaincode(ctx context.Context, ci *ConnectionInfo) (*Instance, error) {
	timeout, err := ci.Timeout()
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if ci.TLSRequired {
		tc, err := ci.tlsConfig()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tc)
	}
	cc, err := grpc.NewClient(ci.Address, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)))
	if err != nil {
		return nil, fmt.Errorf("dial chaincode service at %s: %w", ci.Address, err)
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cc.Connect()
	for s := cc.GetState(); s != connectivity.Ready; s = cc.GetState() {
		if !cc.WaitForStateChange(dctx, s) {
			_ = cc.Close()
			return nil, fmt.Errorf("chaincode service at %s not reachable within %s (last state %s)", ci.Address, timeout, s)
		}
	}
	sctx, scancel := context.WithCancel(context.Background())
	st, err := pb.NewChaincodeClient(cc).Connect(sctx)
	if err != nil {
		scancel()
		_ = cc.Close()
		return nil, fmt.Errorf("open Chaincode/Connect stream to %s: %w", ci.Address, err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			scancel()
			_ = cc.Close()
		})
	}
	return &Instance{Stream: st, Stop: stop}, nil
}

func (ci *ConnectionInfo) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if host, _, err := net.SplitHostPort(ci.Address); err == nil {
		tc.ServerName = host
	}
	if ci.RootCert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(ci.RootCert)) {
			return nil, errors.New("connection.json root_cert holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if ci.ClientAuthRequired {
		cert, err := tls.X509KeyPair([]byte(ci.ClientCert), []byte(ci.ClientKey))
		if err != nil {
			return nil, fmt.Errorf("connection.json client_cert/client_key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
