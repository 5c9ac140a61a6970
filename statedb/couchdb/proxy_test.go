package couchdb

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// proxy is a reverse proxy on loopback in front of the test server. It
// logs the requests it sees and can make them fail, go down (connections
// refused) and come back on the same port, or make the server look like
// CouchDB 3 with _find bookmarks.
type proxy struct {
	t      testing.TB
	target *url.URL
	rp     *httputil.ReverseProxy

	// mu guards everything below.
	mu       sync.Mutex
	addr     string
	srv      *http.Server
	log      []string // "METHOD /path"
	armed    bool
	failLeft int // requests that still pass once armed
	lose     bool
	failed   int
	// couch3 answers GET / as CouchDB 3.3.3 and emulates _find bookmarks
	// with skip, as CouchDB 3 pages.
	couch3 bool
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: u, rp: httputil.NewSingleHostReverseProxy(u)}
	p.rp.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) URL() string { return "http://" + p.addr }

func (p *proxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle)}
	p.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every connection: requests are refused.
func (p *proxy) down() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens again on the same port.
func (p *proxy) up() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// failAfter lets n more requests through, then fails every request: with
// lose, the request reaches the server and its answer is lost (502); else
// it is refused (503) without reaching the server.
func (p *proxy) failAfter(n int, lose bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed, p.failLeft, p.lose, p.failed = true, n, lose, 0
}

// heal stops failing requests.
func (p *proxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
}

func (p *proxy) failures() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// requests returns the requests logged since the last call.
func (p *proxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.log
	p.log = nil
	return out
}

func count(reqs []string, substr string) int {
	n := 0
	for _, r := range reqs {
		if strings.Contains(r, substr) {
			n++
		}
	}
	return n
}

func (p *proxy) handle(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.log = append(p.log, r.Method+" "+r.URL.EscapedPath())
	fail, lose := false, p.lose
	if p.armed {
		if p.failLeft > 0 {
			p.failLeft--
		} else {
			fail = true
			p.failed++
		}
	}
	couch3 := p.couch3
	p.mu.Unlock()
	if fail && !lose {
		http.Error(w, `{"error":"unavailable","reason":"test proxy refuses"}`, http.StatusServiceUnavailable)
		return
	}
	if fail {
		rec := &discardWriter{header: http.Header{}}
		p.rp.ServeHTTP(rec, r)
		http.Error(w, `{"error":"bad_gateway","reason":"test proxy lost the answer"}`, http.StatusBadGateway)
		return
	}
	if couch3 && r.Method == http.MethodGet && r.URL.Path == "/" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"couchdb":"Welcome","version":"3.3.3","vendor":{"name":"The Apache Software Foundation"}}`)
		return
	}
	if couch3 && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_find") {
		p.findWithBookmark(w, r)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// findWithBookmark turns a bookmark into a skip on the way in, and adds a
// bookmark (the skip of the next page) to the answer on the way out.
func (p *proxy) findWithBookmark(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var q map[string]any
	if err := json.Unmarshal(body, &q); err != nil {
		http.Error(w, `{"error":"bad_request"}`, http.StatusBadRequest)
		return
	}
	skip := 0
	if s, ok := q["skip"].(float64); ok {
		skip = int(s)
	}
	if b, ok := q["bookmark"].(string); ok {
		n, err := strconv.Atoi(strings.TrimPrefix(b, "bm-"))
		if err != nil {
			http.Error(w, `{"error":"invalid_bookmark"}`, http.StatusBadRequest)
			return
		}
		skip = n
		delete(q, "bookmark")
	}
	q["skip"] = skip
	nb, _ := json.Marshal(q)
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(nb))
	r2.ContentLength = int64(len(nb))
	rec := &discardWriter{header: http.Header{}}
	p.rp.ServeHTTP(rec, r2)
	var res map[string]any
	if err := json.Unmarshal(rec.body.Bytes(), &res); err != nil || rec.status >= 300 {
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
		return
	}
	docs, _ := res["docs"].([]any)
	res["bookmark"] = "bm-" + strconv.Itoa(skip+len(docs))
	out, _ := json.Marshal(res)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// discardWriter records an answer the client will not see as sent.
type discardWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (d *discardWriter) Header() http.Header { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return d.body.Write(b)
}
func (d *discardWriter) WriteHeader(s int) { d.status = s }
