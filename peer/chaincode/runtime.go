package chaincode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
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
	Logger         *slog.Logger
	// Metrics receives the chaincode_* metrics; nil counts nothing.
	Metrics *Metrics
}

// Launcher starts chaincode packages. A Launcher is behind an interface so
// tests (and other deployment styles) can start chaincode their own way.
type Launcher interface {
	// Launch starts packageID. For chaincode that dials the peer it returns an
	// Instance with a nil Stream, and the runtime waits for its REGISTER on
	// Register; chaincode-as-a-service returns the stream it dialled.
	Launch(ctx context.Context, packageID string) (*Instance, error)
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
	conns   map[string]*conn         // by package ID
	waiting map[string]chan *handler // launched, awaiting REGISTER, by package ID
	closed  bool
	wg      sync.WaitGroup // stream goroutines of dialled chaincode
}

// conn is the current connection to one chaincode; ready is closed once
// h or err is set (concurrent invocations share one launch).
type conn struct {
	ready chan struct{}
	h     *handler
	err   error
	inst  *Instance
}

// NewRuntime returns a runtime that launches chaincode with launcher (nil:
// only chaincode that registers by itself can run).
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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Runtime{
		cfg:      cfg,
		launcher: launcher,
		log:      cfg.Logger.With("component", "chaincode_runtime"),
		conns:    map[string]*conn{},
		waiting:  map[string]chan *handler{},
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
	wait := make(chan *handler, 1)
	r.mu.Lock()
	r.waiting[packageID] = wait
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.waiting[packageID] == wait {
			delete(r.waiting, packageID)
		}
		r.mu.Unlock()
	}()

	r.log.Info("launching chaincode", "package_id", packageID)
	start := time.Now()
	inst, err := r.launcher.Launch(ctx, packageID)
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
	case h := <-wait:
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

// Register serves ChaincodeSupport/Register: chaincode the peer launched (or
// a developer started by hand) dials in and registers with its package ID.
func (r *Runtime) Register(s pb.ChaincodeSupport_RegisterServer) error {
	name, err := readRegister(s)
	if err != nil {
		r.log.Warn("chaincode registration refused", "err", err)
		return err
	}
	h := newHandler(name, s, r.cfg.QueryBatchSize, r.log)
	h.metrics = r.cfg.Metrics

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("chaincode runtime is closed; refusing registration of %s", name)
	}
	wait := r.waiting[name]
	delete(r.waiting, name)
	if wait == nil {
		// Not launched by this peer: accept it as externally managed,
		// unless it is already running or being launched.
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
		wait <- h
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
