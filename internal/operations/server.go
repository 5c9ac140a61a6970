package operations

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"time"
)

// Checker reports whether one component is healthy (nil) or why not. It
// must return promptly once ctx is done.
type Checker func(ctx context.Context) error

// Config configures a Server.
type Config struct {
	// ListenAddress is host:port of the listener (operations.listenAddress,
	// Operations.ListenAddress); port 0 picks a free one.
	ListenAddress string
	// TLS, when set, serves HTTPS (see TLSFiles). /logspec then requires a
	// verified client certificate, as Fabric's operations service does.
	TLS *tls.Config
	// Metrics is served on /metrics; nil answers 404 (metrics disabled).
	Metrics *Registry
	// Logging is read and changed through /logspec; nil answers 404.
	Logging *Logging
	// Version overrides the version reported by /version (default: the
	// main module's version from the build information).
	Version string
	// CheckTimeout bounds one round of health or readiness checks (default 10s).
	CheckTimeout time.Duration
	Logger       *slog.Logger
}

// Server is the operations HTTP service of one node.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux

	mu        sync.Mutex // guards liveness, readiness, lis, srv
	liveness  map[string]Checker
	readiness map[string]Checker
	lis       net.Listener
	srv       *http.Server
	done      chan struct{} // closed when Serve's goroutine ends
}

// NewServer builds the service; it binds nothing until Listen or Start.
func NewServer(cfg Config) *Server {
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(),
		liveness: map[string]Checker{}, readiness: map[string]Checker{}}
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { s.serveChecks(w, r, s.checkers(false)) })
	s.mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { s.serveChecks(w, r, s.checkers(true)) })
	s.mux.HandleFunc("/logspec", s.serveLogSpec)
	s.mux.HandleFunc("/version", s.serveVersion)
	s.mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Metrics == nil {
			writeJSON(w, http.StatusNotFound, errorBody{Error: "metrics are disabled on this node (metrics.provider is not prometheus)"})
			return
		}
		s.cfg.Metrics.ServeHTTP(w, r)
	})
	return s
}

// RegisterChecker adds a liveness check (/healthz) under a component name;
// a second registration of the name replaces the first.
func (s *Server) RegisterChecker(component string, fn Checker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.liveness[component] = fn
}

// RegisterReadiness adds a readiness check (/readyz) under a component name.
func (s *Server) RegisterReadiness(component string, fn Checker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readiness[component] = fn
}

// Handler returns the endpoints, for tests or to mount them elsewhere.
func (s *Server) Handler() http.Handler { return s.mux }

// Listen binds the listener, so that a busy port fails at start.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis != nil {
		return nil
	}
	lis, err := net.Listen("tcp", s.cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("operations listener on %s: %w", s.cfg.ListenAddress, err)
	}
	s.lis = lis
	return nil
}

// Serve serves in the background on the listener bound by Listen.
func (s *Server) Serve() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis == nil || s.srv != nil {
		return
	}
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: s.cfg.TLS}
	s.done = make(chan struct{})
	lis, srv, done := s.lis, s.srv, s.done
	if s.cfg.TLS != nil {
		lis = tls.NewListener(lis, s.cfg.TLS)
	}
	go func() {
		defer close(done)
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("operations server stopped", "address", s.Addr(), "err", err)
		}
	}()
	s.log.Info("operations service started", "address", s.lis.Addr().String(), "tls", s.cfg.TLS != nil)
}

// Start is Listen then Serve.
func (s *Server) Start() error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.Serve()
	return nil
}

// Addr is the bound address ("" before Listen).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis == nil {
		return ""
	}
	return s.lis.Addr().String()
}

// Stop closes the listener and waits (bounded by ctx) for requests in
// progress. It is safe to call more than once, and without Serve.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	lis, srv, done := s.lis, s.srv, s.done
	s.lis, s.srv = nil, nil
	s.mu.Unlock()
	if srv == nil {
		if lis != nil {
			return lis.Close()
		}
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
	}
	<-done
	return err
}

func (s *Server) checkers(ready bool) map[string]Checker {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.liveness
	if ready {
		src = s.readiness
	}
	out := make(map[string]Checker, len(src))
	for k, v := range src {
		out[k] = v
	}
	return out
}

// HealthStatus is the body of /healthz and /readyz, in Fabric's shape.
type HealthStatus struct {
	Status       string        `json:"status"`
	Time         time.Time     `json:"time"`
	FailedChecks []FailedCheck `json:"failed_checks,omitempty"`
}

// FailedCheck names a component whose check failed and why.
type FailedCheck struct {
	Component string `json:"component"`
	Reason    string `json:"reason"`
}

// Status values of HealthStatus.
const (
	StatusOK          = "OK"
	StatusUnavailable = "Service Unavailable"
)

// RunChecks runs checks concurrently, bounded by timeout, and returns the
// failures sorted by component.
func RunChecks(ctx context.Context, checks map[string]Checker, timeout time.Duration) []FailedCheck {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(checks))
	for name, fn := range checks {
		go func() {
			err := safeCheck(ctx, fn)
			results <- result{name, err}
		}()
	}
	var failed []FailedCheck
	finished := map[string]bool{}
	for range checks {
		select {
		case r := <-results:
			finished[r.name] = true
			if r.err != nil {
				failed = append(failed, FailedCheck{r.name, r.err.Error()})
			}
			continue
		case <-ctx.Done():
		}
		// Results that arrived with the deadline still count.
		for drained := false; !drained; {
			select {
			case r := <-results:
				finished[r.name] = true
				if r.err != nil {
					failed = append(failed, FailedCheck{r.name, r.err.Error()})
				}
			default:
				drained = true
			}
		}
		// Checks that ignore ctx are left behind, named as unfinished.
		for name := range checks {
			if !finished[name] {
				failed = append(failed, FailedCheck{name, fmt.Sprintf("check did not finish within %s", timeout)})
			}
		}
		break
	}
	sort.Slice(failed, func(i, j int) bool { return failed[i].Component < failed[j].Component })
	return failed
}

func safeCheck(ctx context.Context, fn Checker) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("check panicked: %v", r)
		}
	}()
	return fn(ctx)
}

func (s *Server) serveChecks(w http.ResponseWriter, r *http.Request, checks map[string]Checker) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: r.Method + " is not supported on " + r.URL.Path + "; use GET"})
		return
	}
	failed := RunChecks(r.Context(), checks, s.cfg.CheckTimeout)
	st := HealthStatus{Status: StatusOK, Time: time.Now().UTC(), FailedChecks: failed}
	code := http.StatusOK
	if len(failed) > 0 {
		st.Status, code = StatusUnavailable, http.StatusServiceUnavailable
		s.log.Warn("health checks failed", "endpoint", r.URL.Path, "failed_checks", failed)
	}
	writeJSON(w, code, st)
}

// LogSpec is the body of GET and PUT /logspec.
type LogSpec struct {
	Spec string `json:"spec"`
}

type errorBody struct {
	Error string `json:"error"`
}

func (s *Server) serveLogSpec(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Logging == nil {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "this node's log levels cannot be changed at run time"})
		return
	}
	if s.cfg.TLS != nil && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "/logspec requires a client certificate issued by one of the operations TLS clientRootCAs"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, LogSpec{Spec: s.cfg.Logging.Spec()})
	case http.MethodPut:
		var body LogSpec
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf(`body is not {"spec": "..."}: %v`, err)})
			return
		}
		if err := s.cfg.Logging.SetSpec(body.Spec); err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
			return
		}
		s.log.Info("log spec changed", "spec", s.cfg.Logging.Spec())
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: r.Method + " is not supported on /logspec; use GET or PUT"})
	}
}

// VersionInfo is the body of /version, with Fabric's field names.
type VersionInfo struct {
	Version   string `json:"Version"`
	CommitSHA string `json:"CommitSHA"`
}

// BuildVersion reads the main module's version and VCS revision from the
// binary's build information ("(devel)" and "development build" when unknown).
func BuildVersion() VersionInfo {
	v := VersionInfo{Version: "(devel)", CommitSHA: "development build"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			v.CommitSHA = s.Value
		}
	}
	return v
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: r.Method + " is not supported on /version; use GET"})
		return
	}
	v := BuildVersion()
	if s.cfg.Version != "" {
		v.Version = s.cfg.Version
	}
	writeJSON(w, http.StatusOK, v)
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// TLSFiles is the operations listener's TLS material as configured
// (operations.tls.* in core.yaml, Operations.TLS in orderer.yaml).
type TLSFiles struct {
	CertFile, KeyFile string
	// ClientAuthRequired makes every request present a certificate issued
	// by ClientRootCAs; otherwise one is verified when given (and /logspec
	// requires it).
	ClientAuthRequired bool
	ClientRootCAs      []string
}

// Config loads the key pair and client roots; errors name the file.
func (f TLSFiles) Config() (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("operations TLS key pair (%s, %s): %w", f.CertFile, f.KeyFile, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if len(f.ClientRootCAs) > 0 {
		pool := x509.NewCertPool()
		for _, file := range f.ClientRootCAs {
			raw, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("operations TLS clientRootCAs: %w", err)
			}
			if !pool.AppendCertsFromPEM(raw) {
				return nil, fmt.Errorf("operations TLS clientRootCAs: %s holds no PEM certificate", file)
			}
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	if f.ClientAuthRequired {
		if tc.ClientCAs == nil {
			return nil, errors.New("operations TLS clientAuthRequired is true but no clientRootCAs are given to verify client certificates")
		}
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
