package chaincode

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
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
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-ledger/weft/internal/flowcontrol"
	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
	"github.com/weft-ledger/weft/peer/chaincode/externalbuilder"
)

// MaxMessageSize bounds chaincode stream messages (as Fabric's 100 MB); the
// gRPC server serving Register should use the same limit.
const MaxMessageSize = 100 << 20

// ServerOptions are the gRPC server options for serving ChaincodeSupport
// (Register) to chaincode: MaxMessageSize each way and fixed flow-control
// windows (flowcontrol): the chaincode stream carries small messages one at
// a time, and gRPC's automatic window sizing cost nearly every message a
// PING, its ack and a WINDOW_UPDATE. Add credentials as needed.
func ServerOptions() []grpc.ServerOption {
	return append(flowcontrol.ServerOptions(), grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize))
}

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
	// listener serving this runtime's Register). With TLS, the listener's
	// certificate must be valid for its host.
	PeerAddress string
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
	// PackageLimits bound reading and extracting packages
	// (peer.limits.chaincodePackage); zero fields take ccpackage's defaults.
	PackageLimits ccpackage.Limits

	buildMu sync.Mutex // one build at a time; builds share the Go cache anyway
}

// Launch implements Launcher. The TLS material of the launch, when given, goes
// to chaincode that dials the peer as Fabric hands it over: to a Go process in
// Fabric's environment variables and files, to an external builder's bin/run
// in chaincode.json. Chaincode-as-a-service does not need it: the peer dials
// it, with the TLS settings of its connection.json.
func (l *PackageLauncher) Launch(ctx context.Context, packageID string, creds *LaunchTLS) (*Instance, error) {
	raw, err := os.ReadFile(filepath.Join(l.PackageDir, packageID+".tar.gz"))
	if err != nil {
		return nil, fmt.Errorf("chaincode package %s is not installed on this peer: %w", packageID, err)
	}
	if inst, built, err := l.launchExternal(ctx, packageID, raw, creds); built || err != nil {
		return inst, err
	}
	pkg, err := ParsePackageWithin(l.PackageLimits, raw)
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
		return l.start(packageID, bin, creds)
	default:
		return nil, fmt.Errorf("package %s has type %q; this peer runs \"golang\" and \"ccaas\" packages", packageID, pkg.Type)
	}
}

// launchExternal launches packageID with the external builder that detects
// it; built is false when none does.
func (l *PackageLauncher) launchExternal(ctx context.Context, packageID string, raw []byte, creds *LaunchTLS) (inst *Instance, built bool, err error) {
	if len(l.ExternalBuilders) == 0 {
		return nil, false, nil
	}
	d := &externalbuilder.Detector{
		Builders: l.ExternalBuilders,
		BuildDir: filepath.Join(l.BuildDir, "external"),
		Logger:   l.logger(),
		Limits:   l.PackageLimits,
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
	p, err := b.Run(l.runConfig(packageID, creds))
	if err != nil {
		return nil, true, err
	}
	return &Instance{Exited: p.Exited, Stop: p.Stop}, true, nil
}

// runConfig is chaincode.json for an external builder's bin/run.
func (l *PackageLauncher) runConfig(packageID string, creds *LaunchTLS) externalbuilder.RunConfig {
	rc := externalbuilder.RunConfig{ChaincodeID: packageID, PeerAddress: l.PeerAddress, MSPID: l.LocalMSPID}
	if creds != nil {
		rc.ClientCert, rc.ClientKey, rc.RootCert = string(creds.ClientCertPEM), string(creds.ClientKeyPEM), string(creds.RootCertPEM)
	}
	return rc
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
	if err := l.PackageLimits.Extract(pkg.Code, dir); err != nil {
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
func (l *PackageLauncher) start(packageID, bin string, creds *LaunchTLS) (*Instance, error) {
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
	tlsDir := ""
	if creds != nil {
		var tlsEnv []string
		var err error
		tlsDir, tlsEnv, err = l.writeLaunchTLS(packageID, creds)
		if err != nil {
			return nil, err
		}
		env[2] = "CORE_PEER_TLS_ENABLED=true"
		env = append(env, tlsEnv...)
	}
	cmd := exec.Command(bin, "-peer.address="+l.PeerAddress)
	cmd.Env = env
	log := l.logger().With("chaincode", packageID)
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		cmd.Stderr = cmd.Stdout
		err = cmd.Start()
	}
	if err != nil {
		if tlsDir != "" {
			os.RemoveAll(tlsDir)
		}
		return nil, fmt.Errorf("start chaincode %s (%s): %w", packageID, bin, err)
	}
	exited := make(chan struct{})
	go func() {
		logLines(log, stdout)
		err := cmd.Wait()
		log.Info("chaincode process exited", "pid", cmd.Process.Pid, "err", err)
		if tlsDir != "" {
			os.RemoveAll(tlsDir)
		}
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

// writeLaunchTLS writes the TLS material of one launch into a new folder
// that only this user can read, as Fabric's peer writes it into a chaincode
// container: client_pem.key and client_pem.crt (PEM), client.key and
// client.crt (the base64 of the PEM), peer.crt (the root of the chaincode
// listener's certificate). It returns the folder, removed once the chaincode
// exits, and the environment variables both shims read: the official shim
// and Weft's take CORE_TLS_CLIENT_KEY_FILE / CORE_TLS_CLIENT_CERT_FILE
// first, and older official shims CORE_TLS_CLIENT_KEY_PATH /
// CORE_TLS_CLIENT_CERT_PATH.
func (l *PackageLauncher) writeLaunchTLS(packageID string, creds *LaunchTLS) (string, []string, error) {
	base := ""
	if l.BuildDir != "" {
		base = filepath.Join(l.BuildDir, "launch-tls")
		if err := os.MkdirAll(base, 0o700); err != nil {
			return "", nil, fmt.Errorf("chaincode %s: create the folder of its TLS files: %w", packageID, err)
		}
	}
	dir, err := os.MkdirTemp(base, "launch-")
	if err != nil {
		return "", nil, fmt.Errorf("chaincode %s: create the folder of its TLS files: %w", packageID, err)
	}
	b64 := func(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }
	files := []struct {
		name, env string
		data      []byte
	}{
		{"client_pem.key", "CORE_TLS_CLIENT_KEY_FILE", creds.ClientKeyPEM},
		{"client_pem.crt", "CORE_TLS_CLIENT_CERT_FILE", creds.ClientCertPEM},
		{"client.key", "CORE_TLS_CLIENT_KEY_PATH", b64(creds.ClientKeyPEM)},
		{"client.crt", "CORE_TLS_CLIENT_CERT_PATH", b64(creds.ClientCertPEM)},
		{"peer.crt", "CORE_PEER_TLS_ROOTCERT_FILE", creds.RootCertPEM},
	}
	var env []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("chaincode %s: write its TLS file %s: %w", packageID, f.name, err)
		}
		env = append(env, f.env+"="+p)
	}
	return dir, env, nil
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
	cc, err := grpc.NewClient(ci.Address, append(flowcontrol.DialOptions(), grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)))...)
	if err != nil {
		return nil, fmt.Errorf("dial chaincode service at %s: %w", ci.Address, err)
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cc.Connect()
	for s := cc.GetState(); s != connectivity.Ready; s = cc.GetState() {
		if !cc.WaitForStateChange(dctx, s) {
			err := fmt.Errorf("chaincode service at %s not reachable within %s (last state %s)", ci.Address, timeout, s)
			// A stream opened now fails with the last connection error,
			// which names the cause (refused, TLS verification, ...).
			if s == connectivity.TransientFailure {
				ectx, ecancel := context.WithTimeout(context.Background(), time.Second)
				if st, serr := pb.NewChaincodeClient(cc).Connect(ectx); serr != nil {
					err = fmt.Errorf("%w: %v", err, serr)
				} else {
					_ = st.CloseSend()
				}
				ecancel()
			}
			_ = cc.Close()
			return nil, err
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

// tlsConfig is the peer's side of TLS to a chaincode server with
// tls_required: the server's certificate must chain to root_cert (required,
// as in Fabric) and carry the host of address (or domain); with
// client_auth_required the peer presents client_cert and client_key.
func (ci *ConnectionInfo) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if host, _, err := net.SplitHostPort(ci.Address); err == nil {
		tc.ServerName = host
	}
	if ci.Domain != "" {
		tc.ServerName = ci.Domain
	}
	if ci.RootCert == "" {
		return nil, errors.New("connection.json: tls_required is true but root_cert is empty; set it to the PEM of the CA of the chaincode server's TLS certificate")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ci.RootCert)) {
		return nil, errors.New("connection.json root_cert holds no PEM certificate")
	}
	tc.RootCAs = pool
	if ci.ClientAuthRequired {
		if ci.ClientCert == "" || ci.ClientKey == "" {
			return nil, errors.New("connection.json: client_auth_required is true but client_cert or client_key is empty; set both to PEM")
		}
		cert, err := tls.X509KeyPair([]byte(ci.ClientCert), []byte(ci.ClientKey))
		if err != nil {
			return nil, fmt.Errorf("connection.json client_cert/client_key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
