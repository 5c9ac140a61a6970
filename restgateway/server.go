package restgateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/msp"
)

// IdentityHeader may name the wallet identity a request signs with; it can
// only repeat the identity the caller's credential is bound to.
const IdentityHeader = "X-Weft-Identity"

// Options are a Server's dependencies and settings.
type Options struct {
	// Conn reaches the peer serving the Fabric Gateway service (and qscc).
	Conn grpc.ClientConnInterface
	// Wallet holds the identities the REST gateway signs with; nil for none.
	Wallet *Wallet
	// DefaultIdentity is the identity of credentials that name none.
	DefaultIdentity string
	// AdminIdentities are wallet identities to treat as admins besides those
	// with the NodeOU admin role in their certificate.
	AdminIdentities []string
	// Auth holds the credentials callers authenticate with; at least one.
	Auth AuthConfig
	// HTTP holds the host and origin allow-lists and the timeouts
	// (HTTPServer applies those); zero values take the defaults of
	// sampleconfig/restgateway.yaml, no hosts DefaultAllowedHosts.
	HTTP HTTPConfig
	// BodyLimit bounds request bodies (default DefaultBodyLimit).
	BodyLimit int64
	Timeouts  Timeouts
	Events    EventsConfig
	Logger    *slog.Logger
	// Metrics, when set, receives restgateway_http_requests_total and
	// restgateway_http_request_duration_seconds by route and status.
	Metrics *operations.Registry
}

// Server is the REST gateway's HTTP handler.
type Server struct {
	opts    Options
	gw      gwpb.GatewayClient
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []route
	docHTML []byte

	auth    *authenticator
	hosts   hostGuard
	origins originGuard
	streams *streamLimiter

	requests *operations.Counter   // nil without Options.Metrics
	latency  *operations.Histogram // nil without Options.Metrics
}

// route is one operation the server serves; the list feeds the mux and the
// test that keeps openapi.json complete.
type route struct {
	method, pattern string
	handler         http.HandlerFunc
}

// New checks o and builds the server.
func New(o Options) (*Server, error) {
	if o.Conn == nil {
		return nil, fmt.Errorf("restgateway: no connection to a peer (Options.Conn)")
	}
	if o.DefaultIdentity != "" {
		if _, ok := o.Wallet.Identity(o.DefaultIdentity); !ok {
			return nil, fmt.Errorf("restgateway: default identity %q (%s) is not in the wallet; it holds %s",
				o.DefaultIdentity, keyName("restgateway.wallet.defaultIdentity"), describeNames(o.Wallet.Names()))
		}
	}
	if o.BodyLimit <= 0 {
		o.BodyLimit = DefaultBodyLimit
	}
	def := Timeouts{Evaluate: 30 * time.Second, Endorse: 30 * time.Second, Submit: 30 * time.Second, CommitStatus: time.Minute}
	if o.Timeouts.Evaluate <= 0 {
		o.Timeouts.Evaluate = def.Evaluate
	}
	if o.Timeouts.Endorse <= 0 {
		o.Timeouts.Endorse = def.Endorse
	}
	if o.Timeouts.Submit <= 0 {
		o.Timeouts.Submit = def.Submit
	}
	if o.Timeouts.CommitStatus <= 0 {
		o.Timeouts.CommitStatus = def.CommitStatus
	}
	if o.Events.Heartbeat <= 0 {
		o.Events.Heartbeat = 15 * time.Second
	}
	if o.Events.MaxDuration <= 0 {
		o.Events.MaxDuration = time.Hour
	}
	if o.Events.MaxStreams <= 0 {
		o.Events.MaxStreams = 64
	}
	if o.Events.MaxStreamsPerCredential <= 0 {
		o.Events.MaxStreamsPerCredential = 16
	}
	if len(o.HTTP.AllowedHosts) == 0 {
		o.HTTP.AllowedHosts = DefaultAllowedHosts
	}
	for _, d := range []struct {
		val *time.Duration
		def time.Duration
	}{{&o.HTTP.ReadHeaderTimeout, 10 * time.Second}, {&o.HTTP.ReadTimeout, 30 * time.Second}, {&o.HTTP.WriteTimeout, 30 * time.Second}, {&o.HTTP.IdleTimeout, 2 * time.Minute}} {
		if *d.val <= 0 {
			*d.val = d.def
		}
	}
	auth, err := newAuthenticator(o.Auth, o.Wallet, o.DefaultIdentity, o.AdminIdentities)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts: o, gw: gwpb.NewGatewayClient(o.Conn), log: log, mux: http.NewServeMux(),
		auth: auth, hosts: newHostGuard(o.HTTP.AllowedHosts), origins: newOriginGuard(o.HTTP.AllowedOrigins),
		streams: newStreamLimiter(o.Events.MaxStreams, o.Events.MaxStreamsPerCredential),
	}
	if o.Metrics != nil {
		s.requests = o.Metrics.Counter(operations.Opts{Name: "restgateway_http_requests_total",
			Help: "REST gateway requests by method, route pattern and HTTP status.", Labels: []string{"method", "route", "status"}})
		s.latency = o.Metrics.Histogram(operations.Opts{Name: "restgateway_http_request_duration_seconds",
			Help: "REST gateway request durations (event streams included) by method and route pattern.", Labels: []string{"method", "route"}}, nil)
	}
	html, err := renderDocs(openAPIDoc)
	if err != nil {
		return nil, fmt.Errorf("restgateway: render /docs from openapi.json: %w", err)
	}
	s.docHTML = html
	s.routes = []route{
		{"GET", "/openapi.json", s.handleOpenAPI},
		{"GET", "/docs", s.handleDocs},
		{"GET", "/v1/channels/{channel}", s.handleChainInfo},
		{"GET", "/v1/channels/{channel}/blocks/{number}", s.handleBlock},
		{"GET", "/v1/channels/{channel}/transactions/{txId}", s.handleTransaction},
		{"GET", "/v1/channels/{channel}/transactions/{txId}/status", s.handleStatus},
		{"POST", "/v1/channels/{channel}/chaincodes/{chaincode}/evaluate", s.handleEvaluate},
		{"POST", "/v1/channels/{channel}/chaincodes/{chaincode}/submit", s.handleSubmit},
		{"GET", "/v1/channels/{channel}/chaincodes/{chaincode}/events", s.handleEvents},
		{"POST", "/v1/channels/{channel}/chaincodes/{chaincode}/prepare", s.handlePrepare},
		{"POST", "/v1/channels/{channel}/transactions/{txId}/endorse", s.handleEndorse},
		{"POST", "/v1/channels/{channel}/transactions/{txId}/commit", s.handleCommit},
	}
	methods := map[string][]string{}
	for _, r := range s.routes {
		s.mux.HandleFunc(r.method+" "+r.pattern, r.handler)
		methods[r.pattern] = append(methods[r.pattern], r.method)
	}
	for p, ms := range methods {
		allow := strings.Join(ms, ", ")
		if contains(ms, "GET") {
			allow += ", HEAD"
		}
		s.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, apiErr(CodeMethodNotAllowed, "%s %s is not served; this path takes %s", r.Method, r.URL.Path, allow))
		})
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apiErr(CodeNotFound, "no route %s %s; see /openapi.json or /docs for the API", r.Method, r.URL.Path))
	})
	return s, nil
}

// publicRoutes are served without authentication: the API's description.
var publicRoutes = map[string]bool{"GET /openapi.json": true, "GET /docs": true}

// ServeHTTP serves the API: the guards (Host, Origin, authentication, JSON
// body), then the route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := newStatusWriter(w, s.opts.HTTP.WriteTimeout)
	_, pattern := s.mux.Handler(r) // e.g. "POST /v1/..."; "/" for unknown paths
	cred, e := s.guard(sw, r, pattern)
	switch {
	case e != nil:
		if e.Code == CodeUnauthenticated && len(s.auth.tokens) > 0 {
			challenge := `Bearer realm="weft-restgateway"`
			if r.Header.Get("Authorization") != "" {
				challenge += `, error="invalid_token"`
			}
			sw.Header().Set("WWW-Authenticate", challenge)
		}
		s.log.Info("request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "code", e.Code, "reason", e.Message)
		writeError(sw, e)
	case isPreflight(r):
		preflight(sw)
	case cred != nil:
		s.mux.ServeHTTP(sw, withCredential(r, cred))
	default:
		s.mux.ServeHTTP(sw, r)
	}
	took := time.Since(start)
	if s.requests != nil {
		route := pattern
		if _, p, ok := strings.Cut(route, " "); ok {
			route = p
		}
		s.requests.Inc(r.Method, route, strconv.Itoa(sw.status))
		s.latency.Observe(took.Seconds(), r.Method, route)
	}
	cname := ""
	if cred != nil {
		cname = cred.name
	}
	s.log.Debug("http request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", took, "credential", cname)
}

// guard runs the checks every request passes before its route, in order,
// and returns the caller's credential (nil for public routes and CORS
// preflights).
func (s *Server) guard(w http.ResponseWriter, r *http.Request, pattern string) (*credential, *Error) {
	if e := s.hosts.check(r); e != nil {
		return nil, e
	}
	if e := s.origins.check(w, r, publicRoutes[pattern]); e != nil {
		return nil, e
	}
	if isPreflight(r) {
		return nil, nil // a preflight carries no credential
	}
	if publicRoutes[pattern] { // HEAD requests match the GET patterns too
		return nil, nil
	}
	cred, e := s.auth.authenticate(r)
	if e != nil {
		return nil, e
	}
	if e := checkIdentityHeader(r, cred); e != nil {
		return nil, e
	}
	if strings.HasPrefix(pattern, "POST ") {
		if e := checkJSONBody(r); e != nil {
			return nil, e
		}
	}
	return cred, nil
}

// statusWriter records the status for the request log and gives every
// write its own deadline (restgateway.http.writeTimeout): a response may
// take as long as its handler needs, but a client that stops reading is cut
// off. It passes Flush through (Unwrap) so event streams work.
type statusWriter struct {
	http.ResponseWriter
	status       int
	rc           *http.ResponseController
	writeTimeout time.Duration
}

func newStatusWriter(w http.ResponseWriter, writeTimeout time.Duration) *statusWriter {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, rc: http.NewResponseController(w), writeTimeout: writeTimeout}
	if writeTimeout > 0 {
		// Lift the deadline the connection's previous response left, so that
		// the server's own writes (100 Continue) are not cut short.
		_ = sw.rc.SetWriteDeadline(time.Time{})
	}
	return sw
}

func (w *statusWriter) deadline() {
	if w.writeTimeout > 0 {
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.writeTimeout))
	}
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.deadline()
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.deadline()
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// HTTPServer returns an http.Server for s with the timeouts of
// Options.HTTP. The write timeout is applied per write by s itself, so event
// streams live as long as they should.
func (s *Server) HTTPServer() *http.Server {
	h := s.opts.HTTP
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: h.ReadHeaderTimeout,
		ReadTimeout:       h.ReadTimeout,
		IdleTimeout:       h.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelInfo),
	}
}

// signer returns the wallet identity the request's credential is bound to.
func (s *Server) signer(r *http.Request) (*msp.SigningIdentity, *Error) {
	c := credentialOf(r)
	if c == nil {
		return nil, apiErr(CodeInternal, "%s %s reached a handler that signs without a credential", r.Method, r.URL.Path)
	}
	if c.signer == nil {
		return nil, apiErr(CodeNoIdentity, "the credential %s is bound to no wallet identity, so the REST gateway cannot sign for it; "+
			"use the client-signed flow (prepare, endorse, commit with ?async=true), or bind the credential to an identity (its identity field, or restgateway.wallet.defaultIdentity)", c.name)
	}
	return c.signer, nil
}

func describeNames(names []string) string {
	if len(names) == 0 {
		return "no identities"
	}
	return strings.Join(names, ", ")
}

// decodeBody reads a JSON request body into v, refusing unknown fields,
// trailing data and bodies over the limit.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) *Error {
	body := http.MaxBytesReader(w, r.Body, s.opts.BodyLimit)
	raw, err := io.ReadAll(body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return apiErr(CodeBodyTooLarge, "request body is larger than the limit of %d bytes (restgateway.bodyLimit)", s.opts.BodyLimit)
	}
	if err != nil {
		return apiErr(CodeBadRequest, "read request body: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return apiErr(CodeBadJSON, "request body is empty; send a JSON object (see /openapi.json)")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badJSON(err)
	}
	if dec.More() {
		return apiErr(CodeBadJSON, "request body holds more than one JSON value")
	}
	return nil
}

func badJSON(err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return apiErr(CodeBadJSON, "request body is not valid JSON: %v (at byte %d)", err, syn.Offset)
	case errors.As(err, &typ):
		e := apiErr(CodeBadJSON, "field %q must be a JSON %s, got %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		e.Details = []Detail{{Field: typ.Field}}
		return e
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apiErr(CodeBadJSON, "request body is truncated JSON")
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		e := apiErr(CodeBadJSON, "unknown field %q in the request body (see /openapi.json for the fields)", f)
		e.Details = []Detail{{Field: f}}
		return e
	}
	return apiErr(CodeBadJSON, "request body: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice":
		return "array"
	case "map", "struct":
		return "object"
	case "bool":
		return "boolean"
	case "string":
		return "string"
	}
	return "number"
}

// result is a chaincode's answer in the three forms clients want.
type result struct {
	Result       *string         `json:"result"`               // text, or null when not UTF-8 text
	ResultBase64 string          `json:"resultBase64"`         // the exact bytes
	ResultJSON   json.RawMessage `json:"resultJson,omitempty"` // the text parsed, when it is JSON
}

func newResult(payload []byte) result {
	r := result{ResultBase64: b64(payload)}
	if utf8.Valid(payload) {
		s := string(payload)
		r.Result = &s
		if t := bytes.TrimSpace(payload); len(t) > 0 && json.Valid(t) {
			r.ResultJSON = json.RawMessage(t)
		}
	}
	return r
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Routes lists "METHOD pattern" of every operation served, sorted.
func (s *Server) Routes() []string {
	out := make([]string, 0, len(s.routes))
	for _, r := range s.routes {
		out = append(out, r.method+" "+r.pattern)
	}
	sort.Strings(out)
	return out
}
