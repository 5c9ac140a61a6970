package restgateway

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// The guards every request passes before its handler, in order: the Host
// header names this REST gateway (DNS rebinding), a browser request comes
// from an allowed origin (cross-site requests), the caller authenticates
// (auth.go), a body is JSON. Event streams are counted (streamLimiter).

// DefaultAllowedHosts are the host names accepted when
// restgateway.http.allowedHosts is empty, besides the listen address's host.
var DefaultAllowedHosts = []string{"localhost", "127.0.0.1", "::1"}

// hostGuard accepts the host names clients may address the REST gateway by.
type hostGuard map[string]bool

func newHostGuard(hosts []string) hostGuard {
	g := hostGuard{}
	for _, h := range hosts {
		g[normalHost(h)] = true
	}
	return g
}

// normalHost lowers a host name and drops its port, IPv6 brackets and a
// trailing dot.
func normalHost(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ".")
	return strings.ToLower(h)
}

func (g hostGuard) names() string {
	out := make([]string, 0, len(g))
	for h := range g {
		out = append(out, h)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// check refuses a Host header naming another host: a web page whose own
// name was made to resolve to this machine (DNS rebinding) sends its name.
func (g hostGuard) check(r *http.Request) *Error {
	if g[normalHost(r.Host)] {
		return nil
	}
	return apiErr(CodeHostNotAllowed, "Host: %q is not a name this REST gateway answers to (restgateway.http.allowedHosts: %s); "+
		"if clients reach it by that name, add it to restgateway.http.allowedHosts", r.Host, g.names())
}

// normalOrigin returns the origin scheme://host[:port] in lower case, ok
// false for anything else (a path, a query, no host).
func normalOrigin(o string) (string, bool) {
	if o == "null" {
		return o, true
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

// originGuard decides which browser origins may call the API, and answers
// their CORS preflights.
type originGuard struct {
	allowed map[string]bool
	list    string
}

func newOriginGuard(origins []string) originGuard {
	g := originGuard{allowed: map[string]bool{}, list: "none"}
	var names []string
	for _, o := range origins {
		if n, ok := normalOrigin(o); ok {
			g.allowed[n] = true
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		g.list = strings.Join(names, ", ")
	}
	return g
}

// check refuses a request a browser sends for a page of another origin: an
// Origin header not in the list, or, without one (a plain GET from an img
// or a link), Sec-Fetch-Site saying the page is another site's. public
// routes (the API's description) skip the second check so links to /docs
// work. For an allowed origin it sets the CORS response headers.
func (g originGuard) check(w http.ResponseWriter, r *http.Request, public bool) *Error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		site := r.Header.Get("Sec-Fetch-Site")
		if !public && (site == "cross-site" || site == "same-site") {
			return apiErr(CodeOriginNotAllowed, "Sec-Fetch-Site: %s: browsers may call this REST gateway only from the origins in restgateway.http.allowedOrigins (%s), with an Origin header",
				site, g.list)
		}
		return nil
	}
	n, ok := normalOrigin(origin)
	if !ok || !g.allowed[n] {
		return apiErr(CodeOriginNotAllowed, "Origin: %q is not allowed: browsers may call this REST gateway only from the origins in restgateway.http.allowedOrigins (%s)",
			origin, g.list)
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Location, WWW-Authenticate")
	return nil
}

// isPreflight reports whether r is a browser's CORS preflight.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// preflight answers a CORS preflight of an allowed origin (check passed).
func preflight(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, "+IdentityHeader+", Last-Event-ID")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// checkJSONBody refuses a body that is not declared JSON: forms and
// text/plain are what a web page can send cross-site without a preflight.
func checkJSONBody(r *http.Request) *Error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return apiErr(CodeUnsupportedMediaType, "the Content-Type header is missing: send the body as JSON with \"Content-Type: application/json\"")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return apiErr(CodeUnsupportedMediaType, "Content-Type: %q is not accepted: send the body as JSON with \"Content-Type: application/json\"", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return apiErr(CodeUnsupportedMediaType, "Content-Type: %q is not accepted: JSON bodies are UTF-8 (charset=utf-8 or none)", ct)
	}
	return nil
}

// streamLimiter counts open event streams, in all and per credential.
type streamLimiter struct {
	max, perCredential int

	mu    sync.Mutex
	total int
	open  map[string]int // by credential name
}

func newStreamLimiter(max, perCredential int) *streamLimiter {
	return &streamLimiter{max: max, perCredential: perCredential, open: map[string]int{}}
}

// acquire takes a stream slot for credential name; release gives it back.
func (l *streamLimiter) acquire(name string) (release func(), e *Error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max {
		return nil, apiErr(CodeTooManyStreams, "%d event streams are open, the most this REST gateway serves (restgateway.events.maxStreams); retry when one has ended", l.total)
	}
	if l.open[name] >= l.perCredential {
		return nil, apiErr(CodeTooManyStreams, "the credential %s has %d event streams open, the most one credential may hold (restgateway.events.maxStreamsPerCredential); close one first",
			name, l.open[name])
	}
	l.total++
	l.open[name]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.open[name]--; l.open[name] == 0 {
				delete(l.open, name)
			}
		})
	}, nil
}

// listenHost is the host of a listen address clients can address, "" for an
// unspecified address (all interfaces) or an empty host.
func listenHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ""
	}
	return host
}

// allowedHosts is restgateway.http.allowedHosts, or its default for the
// listen address.
func allowedHosts(h HTTPConfig, listenAddress string) []string {
	if len(h.AllowedHosts) > 0 {
		return h.AllowedHosts
	}
	hosts := append([]string{}, DefaultAllowedHosts...)
	if lh := listenHost(listenAddress); lh != "" {
		hosts = append(hosts, lh)
	}
	return hosts
}
