package chaincode

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Sentinel errors callers branch on.
var (
	// ErrTimeout: the chaincode did not finish the transaction in time.
	ErrTimeout = errors.New("chaincode execution timed out")
	// ErrChaincodeUnavailable: the chaincode could not be launched or its
	// stream broke before the transaction finished.
	ErrChaincodeUnavailable = errors.New("chaincode unavailable")
)

// TransactionError is the failure a chaincode reported for a transaction (an
// ERROR message, which the official shim sends for responses with status >= 500).
type TransactionError struct {
	PackageID, TxID, Message string
}

func (e *TransactionError) Error() string {
	return "transaction returned with failure: " + e.Message
}

// Config tunes a Runtime; zero values take the defaults.
type Config struct {
	// ExecuteTimeout bounds one transaction (default 30s).
	ExecuteTimeout time.Duration
	// RegisterTimeout bounds how long a launched chaincode has to REGISTER
	// (default 60s).
	RegisterTimeout time.Duration
	// QueryBatchSize is the number of range results sent per QueryResponse
	// (default 100).
	QueryBatchSize int
	// TotalQueryLimit is ledger.state.totalQueryLimit: the most results one
	// query returns (default 100000, Fabric's; see totalQueryLimit).
	TotalQueryLimit int
	Logger          *slog.Logger
	// Metrics receives the chaincode_* metrics; nil counts nothing.
	Metrics *Metrics
	// CA, when set, authenticates chaincode that dials in (the peer sets it
	// when peer TLS is on). Each launch gets a client certificate from CA
	// whose common name is the package ID (LaunchTLS, handed to the
	// Launcher), and Register accepts a stream only if its connection
	// presents the certificate of a launch in progress and it registers as
	// that launch's package ID; a certificate serves one registration. The
	// gRPC server serving Register must use CA.ServerCredentials, so that a
	// connection without a certificate from CA fails the TLS handshake.
	//
	// Without CA nothing authenticates a connection to Register: it still
	// refuses a package ID this runtime is not launching, but whoever
	// registers first for a launch in progress is taken.
	CA *CA
}

// Launcher starts chaincode packages. A Launcher is behind an interface so
// tests (and other deployment styles) can start chaincode their own way.
type Launcher interface {
	// Launch starts packageID. For chaincode that dials the peer it returns an
	// Instance with a nil Stream, and the runtime waits for its REGISTER on
	// Register; chaincode-as-a-service returns the stream it dialled.
	//
	// tls, when not nil, is the TLS material of this launch: chaincode that
	// dials the peer must present its client certificate (and trust its root)
	// to be accepted. It is nil when the runtime has no CA.
	Launch(ctx context.Context, packageID string, tls *LaunchTLS) (*Instance, error)
}

// Instance is one running chaincode, as a Launcher started it.
type Instance struct {
	// Stream is the dialled Chaincode/Connect stream (chaincode-as-a-service),
	// or nil when the chaincode registers through ChaincodeSupport/Register.
	Stream ChaincodeStream
	// Exited, if not nil, is closed when the chaincode process has exited.
	Exited <-chan struct{}
	// Stop releases the instance (kills the process, closes the connection).
	// It may be nil, and must be safe to call more than once.
	Stop func()
}

// ChaincodeStream is one side of the bidirectional chaincode stream.
type ChaincodeStream interface {
	Send(*pb.ChaincodeMessage) error
	Recv() (*pb.ChaincodeMessage, error)
}

// Runtime runs user chaincode: it serves ChaincodeSupport/Register, launches
// packages through its Launcher and executes transactions on them.
type Runtime struct {
	pb.UnimplementedChaincodeSupportServer

	cfg      Config
	launcher Launcher
	log      *slog.Logger

	mu      sync.Mutex
	conns   map[string]*conn               // by package ID
	waiting map[string]*pending            // launched, awaiting REGISTER, by package ID
	issued  map[[sha256.Size]byte]*pending // waiting launches by their client certificate's hash (with a CA)
	closed  bool
	wg      sync.WaitGroup // stream goroutines of dialled chaincode
}

// pending is one launch awaiting its chaincode's REGISTER.
type pending struct {
	packageID  string
	registered chan *handler // buffered: Register never blocks on it
	certHash   [sha256.Size]byte
	hasCert    bool
}

// conn is the current connection to one chaincode; ready is closed once
// h or err is set (concurrent invocations share one launch).
type conn struct {
	ready chan struct{}
	h     *handler
	err   error
	inst  *Instance
}

// NewRuntime returns a runtime that launches chaincode with launcher. With a
// nil launcher the runtime is in development mode (Fabric's
// --peer-chaincodedev): chaincode started by hand registers by itself under
// any package ID not already registered; never use it on a network. A
// runtime with a launcher accepts only chaincode it launched.
func NewRuntime(cfg Config, launcher Launcher) *Runtime {
	if cfg.ExecuteTimeout <= 0 {
		cfg.ExecuteTimeout = 30 * time.Second
	}
	if cfg.RegisterTimeout <= 0 {
		cfg.RegisterTimeout = 60 * time.Second
	}
	if cfg.QueryBatchSize <= 0 {
		cfg.QueryBatchSize = 100
	}
	if cfg.TotalQueryLimit <= 0 {
		cfg.TotalQueryLimit = totalQueryLimit
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Runtime{
		cfg:      cfg,
		launcher: launcher,
		log:      cfg.Logger.With("component", "chaincode_runtime"),
		conns:    map[string]*conn{},
		waiting:  map[string]*pending{},
		issued:   map[[sha256.Size]byte]*pending{},
	}
}

// Execute runs one transaction of input on the chaincode packageID, launching
// it first if it is not running (or has died), and returns the chaincode's
// response and event. A chaincode-reported failure is a *TransactionError.
func (r *Runtime) Execute(ctx context.Context, packageID string, txc *TxContext, input *pb.ChaincodeInput) (*pb.Response, *pb.ChaincodeEvent, error) {
	if txc == nil || txc.TxID == "" {
		return nil, nil, fmt.Errorf("execute on chaincode %s: transaction context has no txid", packageID)
	}
	if txc.namespace() == "" {
		return nil, nil, fmt.Errorf("execute %s on chaincode %s: transaction context names no chaincode (set Namespace or Proposal)", txc.TxID, packageID)
	}
	h, err := r.handler(ctx, packageID)
	if err != nil {
		return nil, nil, err
	}
	return h.execute(ctx, txc, input, r.cfg.ExecuteTimeout)
}

// handler returns a live handler for packageID, launching the chaincode when
// needed.
func (r *Runtime) handler(ctx context.Context, packageID string) (*handler, error) {
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, fmt.Errorf("%w: chaincode runtime is closed (chaincode %s)", ErrChaincodeUnavailable, packageID)
		}
		c := r.conns[packageID]
		if c == nil {
			break // r.mu still held
		}
		select {
		case <-c.ready:
			if c.err == nil && c.h.alive() {
				r.mu.Unlock()
				return c.h, nil
			}
			// Dead or failed: release it and launch again.
			delete(r.conns, packageID)
			r.mu.Unlock()
			c.stop()
			continue
		default:
		}
		r.mu.Unlock()
		select {
		case <-c.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for chaincode %s to start: %w", packageID, ctx.Err())
		}
		r.mu.Lock()
		if c.err != nil {
			r.mu.Unlock()
			return nil, c.err
		}
		r.mu.Unlock()
	}
	c := &conn{ready: make(chan struct{})}
	r.conns[packageID] = c
	r.mu.Unlock()

	c.h, c.inst, c.err = r.launch(ctx, packageID)
	r.mu.Lock()
	if c.err != nil && r.conns[packageID] == c {
		delete(r.conns, packageID)
	}
	close(c.ready)
	r.mu.Unlock()
	return c.h, c.err
}

func (c *conn) stop() {
	if c.inst != nil && c.inst.Stop != nil {
		c.inst.Stop()
	}
}

func (r *Runtime) launch(ctx context.Context, packageID string) (*handler, *Instance, error) {
	if r.launcher == nil {
		return nil, nil, fmt.Errorf("%w: chaincode %s is not running and this peer has no chaincode launcher", ErrChaincodeUnavailable, packageID)
	}
	start := time.Now()
	wait := &pending{packageID: packageID, registered: make(chan *handler, 1)}
	var creds *LaunchTLS
	if r.cfg.CA != nil {
		// The certificate is only accepted while this launch waits for its
		// REGISTER, so its lifetime matters little; it covers a long build.
		var err error
		creds, wait.certHash, err = r.cfg.CA.issueClient(packageID, r.cfg.RegisterTimeout+24*time.Hour)
		if err != nil {
			r.cfg.Metrics.launched(packageID, start, true, false)
			return nil, nil, fmt.Errorf("%w: launch chaincode %s: issue its TLS client certificate: %v", ErrChaincodeUnavailable, packageID, err)
		}
		wait.hasCert = true
	}
	r.mu.Lock()
	r.waiting[packageID] = wait
	if wait.hasCert {
		r.issued[wait.certHash] = wait
	}
	r.mu.Unlock()
	defer r.forget(wait)

	r.log.Info("launching chaincode", "package_id", packageID, "tls", creds != nil)
	inst, err := r.launcher.Launch(ctx, packageID, creds)
	if err != nil {
		r.cfg.Metrics.launched(packageID, start, true, false)
		return nil, nil, fmt.Errorf("%w: launch chaincode %s: %v", ErrChaincodeUnavailable, packageID, err)
	}
	if inst.Stream != nil {
		h, err := r.serveDialled(packageID, inst)
		r.cfg.Metrics.launched(packageID, start, err != nil, false)
		if err != nil {
			if inst.Stop != nil {
				inst.Stop()
			}
			return nil, nil, err
		}
		return h, inst, nil
	}

	timer := time.NewTimer(r.cfg.RegisterTimeout)
	defer timer.Stop()
	fail := func(err error) (*handler, *Instance, error) {
		if inst.Stop != nil {
			inst.Stop()
		}
		return nil, nil, err
	}
	select {
	case h := <-wait.registered:
		r.log.Info("chaincode registered", "package_id", packageID)
		r.cfg.Metrics.launched(packageID, start, false, false)
		return h, inst, nil
	case <-inst.Exited:
		r.cfg.Metrics.launched(packageID, start, true, false)
		return fail(fmt.Errorf("%w: chaincode %s exited before it registered (see its log output)", ErrChaincodeUnavailable, packageID))
	case <-timer.C:
		r.cfg.Metrics.launched(packageID, start, false, true)
		return fail(fmt.Errorf("%w: chaincode %s did not register within %s; check that it can reach the peer's chaincode address", ErrChaincodeUnavailable, packageID, r.cfg.RegisterTimeout))
	case <-ctx.Done():
		r.cfg.Metrics.launched(packageID, start, true, false)
		return fail(fmt.Errorf("wait for chaincode %s to register: %w", packageID, ctx.Err()))
	}
}

// serveDialled runs the protocol on a stream the runtime dialled.
func (r *Runtime) serveDialled(packageID string, inst *Instance) (*handler, error) {
	name, err := readRegister(inst.Stream)
	if err != nil {
		return nil, fmt.Errorf("%w: chaincode %s: %v", ErrChaincodeUnavailable, packageID, err)
	}
	if name != packageID {
		return nil, fmt.Errorf("%w: chaincode service registered as %q but the installed package ID is %q; set the server's CCID (CHAINCODE_ID) to the package ID",
			ErrChaincodeUnavailable, name, packageID)
	}
	h := newHandler(packageID, inst.Stream, r.cfg.QueryBatchSize, r.log)
	h.metrics = r.cfg.Metrics
	h.queryLimit = r.cfg.TotalQueryLimit
	if err := h.acceptRegister(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChaincodeUnavailable, err)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := h.serve()
		r.log.Info("chaincode stream ended", "package_id", packageID, "err", err)
		if inst.Stop != nil {
			inst.Stop()
		}
	}()
	return h, nil
}

// forget removes a launch from the ones awaiting REGISTER (if Register has
// not claimed it already).
func (r *Runtime) forget(p *pending) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waiting[p.packageID] == p {
		delete(r.waiting, p.packageID)
	}
	if p.hasCert && r.issued[p.certHash] == p {
		delete(r.issued, p.certHash)
	}
}

// claim returns the launch in progress that a REGISTER as name on a stream
// with context ctx belongs to, and removes it from the waiting launches; nil
// without error in development mode when name was not launched. r.mu is held.
func (r *Runtime) claim(ctx context.Context, name string) (*pending, error) {
	if r.cfg.CA != nil {
		cert := clientCertificate(ctx)
		if cert == nil {
			return nil, status.Errorf(codes.Unauthenticated,
				"chaincode registration as %q refused: the connection presents no TLS client certificate; this peer accepts only chaincode it launched, with the client certificate it issued for that launch", name)
		}
		p := r.issued[sha256.Sum256(cert.Raw)]
		if p == nil {
			return nil, status.Errorf(codes.PermissionDenied,
				"chaincode registration as %q refused: its TLS client certificate (common name %q, serial %x) belongs to no launch in progress on this peer; a certificate serves one launch and one registration",
				name, cert.Subject.CommonName, cert.SerialNumber)
		}
		if p.packageID != name {
			return nil, status.Errorf(codes.PermissionDenied,
				"chaincode registration as %q refused: its TLS client certificate was issued for chaincode %q", name, p.packageID)
		}
		delete(r.issued, p.certHash)
		if r.waiting[name] == p {
			delete(r.waiting, name)
		}
		return p, nil
	}
	if p := r.waiting[name]; p != nil {
		delete(r.waiting, name)
		return p, nil
	}
	if r.launcher == nil {
		return nil, nil
	}
	return nil, status.Errorf(codes.PermissionDenied,
		"chaincode registration as %q refused: this peer is not launching chaincode %q; it accepts only chaincode it launched", name, name)
}

// Register serves ChaincodeSupport/Register: chaincode the peer launched
// dials in and registers with its package ID (see Config.CA for how the
// connection is authenticated; in development mode, chaincode a developer
// started by hand).
func (r *Runtime) Register(s pb.ChaincodeSupport_RegisterServer) error {
	remote := ""
	if p, ok := grpcpeer.FromContext(s.Context()); ok && p.Addr != nil {
		remote = p.Addr.String()
	}
	name, err := readRegister(s)
	if err != nil {
		r.log.Warn("chaincode registration refused", "remote", remote, "err", err)
		return err
	}
	h := newHandler(name, s, r.cfg.QueryBatchSize, r.log)
	h.metrics = r.cfg.Metrics
	h.queryLimit = r.cfg.TotalQueryLimit

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("chaincode runtime is closed; refusing registration of %s", name)
	}
	wait, err := r.claim(s.Context(), name)
	if err != nil {
		r.mu.Unlock()
		r.log.Warn("chaincode registration refused", "package_id", name, "remote", remote, "err", err)
		return err
	}
	if wait == nil {
		// Development mode: accept it as externally managed, unless it is
		// already running or being launched.
		if c := r.conns[name]; c != nil {
			select {
			case <-c.ready:
				if c.err == nil && c.h.alive() {
					r.mu.Unlock()
					return fmt.Errorf("chaincode %s is already registered with this peer", name)
				}
			default:
				r.mu.Unlock()
				return fmt.Errorf("chaincode %s is being launched by this peer; refusing a second registration", name)
			}
		}
		c := &conn{ready: make(chan struct{}), h: h}
		close(c.ready)
		r.conns[name] = c
	}
	r.mu.Unlock()

	if err := h.acceptRegister(); err != nil {
		h.end(err)
		return err
	}
	if wait != nil {
		wait.registered <- h
	}
	err = h.serve()
	r.log.Info("chaincode stream ended", "package_id", name, "err", err)
	return nil
}

// Close stops every chaincode this runtime launched or dialled and waits
// for their streams to end. Chaincode registered through Register ends when
// the gRPC server that serves Register stops.
func (r *Runtime) Close() {
	r.mu.Lock()
	r.closed = true
	conns := r.conns
	r.conns = map[string]*conn{}
	r.mu.Unlock()
	for _, c := range conns {
		select {
		case <-c.ready:
			c.stop()
		default:
		}
	}
	r.wg.Wait()
}
