package restgateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
)

// TestUnauthenticatedRequestsAreRefused: without a credential, or with one
// the REST gateway does not know, every /v1 route answers 401 and the peer
// sees nothing; the answer to a wrong token is the same whichever identity
// the request names. The API's description needs no credential.
func TestUnauthenticatedRequestsAreRefused(t *testing.T) {
	ts, peer := newTestServer(t)
	cc := ts.URL + "/v1/channels/mychannel/chaincodes/basic"
	routes := []struct{ method, url, body string }{
		{"GET", ts.URL + "/v1/channels/mychannel", ""},
		{"GET", ts.URL + "/v1/channels/mychannel/blocks/1", ""},
		{"GET", ts.URL + "/v1/channels/mychannel/transactions/t1/status", ""},
		{"GET", cc + "/events", ""},
		{"POST", cc + "/evaluate", `{"function":"Echo","args":["x"]}`},
		{"POST", cc + "/submit", `{"function":"Create"}`},
		{"POST", cc + "/prepare", `{"function":"Create"}`},
		{"POST", ts.URL + "/v1/channels/mychannel/transactions/t1/commit?async=true", `{"transaction":"AA==","signature":"AA=="}`},
		{"GET", ts.URL + "/v1/nothing", ""},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+strings.TrimPrefix(rt.url, ts.URL), func(t *testing.T) {
			r := do(t, rt.method, rt.url, rt.body, "Authorization", "")
			e := expectError(t, r, 401, CodeUnauthenticated)
			if !strings.Contains(e.Message, "Authorization: Bearer") {
				t.Errorf("message %q does not say how to authenticate", e.Message)
			}
			if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="weft-restgateway"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}

	var messages []string
	for _, id := range []string{"", "User1@org1.example.com", "Admin@org1.example.com", "Nobody@nowhere"} {
		r := do(t, "POST", cc+"/evaluate", `{"function":"Echo","args":["x"]}`, "Authorization", "Bearer "+testToken+"x", IdentityHeader, id)
		e := expectError(t, r, 401, CodeUnauthenticated)
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate for a wrong token = %q", got)
		}
		messages = append(messages, e.Message)
	}
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Fatalf("a wrong token gets different answers by identity: %q and %q", messages[0], m)
		}
	}
	if strings.Contains(messages[0], "User1") {
		t.Fatalf("a wrong token's answer %q names an identity", messages[0])
	}
	e := expectError(t, do(t, "GET", ts.URL+"/v1/channels/mychannel", "", "Authorization", "Basic dXNlcjpwdw=="), 401, CodeUnauthenticated)
	if !strings.Contains(e.Message, `"Basic"`) {
		t.Errorf("Basic credentials: message %q does not name the scheme", e.Message)
	}
	if n := peer.callCount(); n != 0 {
		t.Fatalf("unauthenticated requests made %d calls to the peer: %v", n, peer.calls)
	}
	for _, path := range []string{"/openapi.json", "/docs"} {
		if r := do(t, "GET", ts.URL+path, "", "Authorization", ""); r.status != 200 {
			t.Errorf("GET %s without a credential: %d %s", path, r.status, r.body)
		}
	}
}

// adminWallet holds User1 and Admin of Org1.
func adminWallet(t *testing.T) *Wallet {
	n := testnet.SampleNet(t)
	return NewWallet(map[string]*msp.SigningIdentity{
		"User1@org1.example.com": n.User(t, "User1", "Org1MSP"),
		"Admin@org1.example.com": n.Admin(t, "Org1MSP"),
	})
}

const adminToken = "test-token-of-the-org1-admin"

// TestIdentityIsTheCredentials: a token bound to User1 cannot sign as
// another identity through X-Weft-Identity; a token bound to the admin (with
// allowAdmin) signs as the admin.
func TestIdentityIsTheCredentials(t *testing.T) {
	ts, peer := newTestServer(t, func(o *Options) {
		o.Wallet = adminWallet(t)
		o.Auth.Tokens = []TokenCredential{
			{Token: testToken, Identity: "User1@org1.example.com"},
			{Token: adminToken, Identity: "Admin@org1.example.com", AllowAdmin: true},
		}
	})
	url := ts.URL + "/v1/channels/mychannel/chaincodes/basic/evaluate"
	for _, asked := range []string{"Admin@org1.example.com", "Nobody@org1.example.com"} {
		e := expectError(t, do(t, "POST", url, `{"function":"Echo","args":["x"]}`, IdentityHeader, asked), 403, CodeIdentityNotAllowed)
		if !strings.Contains(e.Message, asked) || !strings.Contains(e.Message, "User1@org1.example.com") || !strings.Contains(e.Message, "restgateway.auth.tokens[0]") {
			t.Errorf("message %q does not name the identity asked for, the credential and its identity", e.Message)
		}
	}
	if n := peer.callCount(); n != 0 {
		t.Fatalf("refused requests made %d calls to the peer", n)
	}
	n := testnet.SampleNet(t)
	for _, c := range []struct {
		token, header string
		want          *msp.SigningIdentity
	}{
		{testToken, "", n.User(t, "User1", "Org1MSP")},
		{testToken, "User1@org1.example.com", n.User(t, "User1", "Org1MSP")},
		{adminToken, "", n.Admin(t, "Org1MSP")},
	} {
		r := do(t, "POST", url, `{"function":"Echo","args":["x"]}`, "Authorization", "Bearer "+c.token, IdentityHeader, c.header)
		if r.status != 200 {
			t.Fatalf("evaluate: %d %s", r.status, r.body)
		}
		peer.mu.Lock()
		creator := peer.creators[len(peer.creators)-1]
		peer.mu.Unlock()
		if want, _ := c.want.Serialize(); !bytes.Equal(creator, want) {
			t.Fatalf("proposal signed by %q, want %s", creator, c.want)
		}
	}
}

// TestAdminIdentitiesNeedAllowAdmin: a credential bound to an admin
// identity (NodeOU admin role, or listed as admin) stops New unless its
// entry allows admins; so does a credential bound to an identity the wallet
// lacks.
func TestAdminIdentitiesNeedAllowAdmin(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Options)
		want   []string
	}{
		{"token bound to the admin", func(o *Options) {
			o.Auth.Tokens = []TokenCredential{{Token: adminToken, Identity: "Admin@org1.example.com"}}
		}, []string{"restgateway.auth.tokens[0]", "Admin@org1.example.com", "admin identity", "OU=admin", "allowAdmin: true"}},
		{"admin as default identity", func(o *Options) {
			o.DefaultIdentity = "Admin@org1.example.com"
			o.Auth.Tokens = []TokenCredential{{Token: adminToken}}
		}, []string{"restgateway.auth.tokens[0]", "Admin@org1.example.com", "allowAdmin: true"}},
		{"listed as admin", func(o *Options) {
			o.AdminIdentities = []string{"User1@org1.example.com"}
		}, []string{"restgateway.auth.tokens[0]", "User1@org1.example.com", "restgateway.wallet.adminIdentities"}},
		{"client certificate bound to the admin", func(o *Options) {
			o.Auth.ClientCerts = []ClientCertCredential{{CommonName: "Admin@org1.example.com", Identity: "Admin@org1.example.com"}}
		}, []string{"restgateway.auth.clientCerts[0]", "Admin@org1.example.com", "allowAdmin: true"}},
		{"identity not in the wallet", func(o *Options) {
			o.Auth.Tokens = []TokenCredential{{Token: adminToken, Identity: "Eve@org1.example.com"}}
		}, []string{"restgateway.auth.tokens[0]", "Eve@org1.example.com", "not in the wallet"}},
		{"no credentials", func(o *Options) { o.Auth = AuthConfig{} }, []string{"no credentials", "restgateway.auth.tokens"}},
	}
	n := testnet.SampleNet(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Options{Conn: neverDialled(t), Wallet: adminWallet(t), DefaultIdentity: "User1@org1.example.com",
				Auth: AuthConfig{Tokens: []TokenCredential{{Token: testToken}}}}
			c.mutate(&o)
			_, err := New(o)
			if err == nil {
				t.Fatal("New accepted the configuration")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	o := Options{Conn: neverDialled(t), Wallet: adminWallet(t),
		Auth: AuthConfig{Tokens: []TokenCredential{{Token: adminToken, Identity: "Admin@org1.example.com", AllowAdmin: true}}}}
	s, err := New(o)
	if err != nil {
		t.Fatalf("allowAdmin: %v", err)
	}
	if got := s.auth.tokens[0].cred.signer; !got.Cert.Equal(n.Admin(t, "Org1MSP").Cert) {
		t.Fatalf("admin token bound to %s", got)
	}
}

// TestJSONBodiesOnly: a POST whose body is not declared JSON (what an HTML
// form or a no-preflight fetch sends) is refused with 415 naming the
// header, before the peer sees anything.
func TestJSONBodiesOnly(t *testing.T) {
	ts, peer := newTestServer(t)
	url := ts.URL + "/v1/channels/mychannel/chaincodes/basic/submit"
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin1", "json", ""} {
		header := []string{"Content-Type", ct}
		e := expectError(t, do(t, "POST", url, `{"function":"Create"}`, header...), 415, CodeUnsupportedMediaType)
		if !strings.Contains(e.Message, "Content-Type") || (ct != "" && !strings.Contains(e.Message, ct)) {
			t.Errorf("Content-Type %q: message %q does not name the header and its value", ct, e.Message)
		}
	}
	if n := peer.callCount(); n != 0 {
		t.Fatalf("refused bodies made %d calls to the peer", n)
	}
	if r := do(t, "POST", url, `{"function":"Create"}`, "Content-Type", "application/json; charset=UTF-8"); r.status != 200 {
		t.Fatalf("application/json; charset=UTF-8: %d %s", r.status, r.body)
	}
}

// TestCrossSiteRequestsAreRefused: a request a browser sends for another
// site's page is refused, even with a valid credential; an allowed origin
// gets CORS headers and its preflights answered.
func TestCrossSiteRequestsAreRefused(t *testing.T) {
	ts, peer := newTestServer(t, func(o *Options) { o.HTTP.AllowedOrigins = []string{"http://localhost:3000"} })
	url := ts.URL + "/v1/channels/mychannel/chaincodes/basic/submit"
	for _, origin := range []string{"https://evil.example", "http://localhost:3001", "null"} {
		e := expectError(t, do(t, "POST", url, `{"function":"Create"}`, "Origin", origin), 403, CodeOriginNotAllowed)
		if !strings.Contains(e.Message, "Origin: \""+origin+"\"") || !strings.Contains(e.Message, "restgateway.http.allowedOrigins") {
			t.Errorf("origin %s: message %q does not name the origin and the key", origin, e.Message)
		}
	}
	e := expectError(t, do(t, "GET", ts.URL+"/v1/channels/mychannel", "", "Sec-Fetch-Site", "cross-site"), 403, CodeOriginNotAllowed)
	if !strings.Contains(e.Message, "Sec-Fetch-Site: cross-site") {
		t.Errorf("message %q does not name the header", e.Message)
	}
	if n := peer.callCount(); n != 0 {
		t.Fatalf("cross-site requests made %d calls to the peer", n)
	}
	if r := do(t, "GET", ts.URL+"/docs", "", "Sec-Fetch-Site", "cross-site", "Authorization", ""); r.status != 200 {
		t.Errorf("a link to /docs from another site: %d", r.status)
	}

	r := do(t, "POST", url, `{"function":"Create"}`, "Origin", "http://localhost:3000")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Fatalf("allowed origin: %d, Access-Control-Allow-Origin %q: %s", r.status, r.header.Get("Access-Control-Allow-Origin"), r.body)
	}
	r = do(t, "OPTIONS", url, "", "Authorization", "", "Origin", "http://localhost:3000", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization, content-type")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight of an allowed origin: %d %v", r.status, r.header)
	}
	expectError(t, do(t, "OPTIONS", url, "", "Authorization", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST"), 403, CodeOriginNotAllowed)
}

// TestDNSRebindingIsRefused: a request addressed to another host name (a
// page of evil.example whose name now resolves to 127.0.0.1) is refused,
// whatever the port; configured names replace the defaults.
func TestDNSRebindingIsRefused(t *testing.T) {
	ts, peer := newTestServer(t)
	for _, host := range []string{"evil.example", "evil.example:8080", "localhost.evil.example"} {
		e := expectError(t, do(t, "GET", ts.URL+"/v1/channels/mychannel", "", "Host", host), 421, CodeHostNotAllowed)
		if !strings.Contains(e.Message, `"`+host+`"`) || !strings.Contains(e.Message, "restgateway.http.allowedHosts") {
			t.Errorf("Host %s: message %q does not name the host and the key", host, e.Message)
		}
	}
	if n := peer.callCount(); n != 0 {
		t.Fatalf("requests to other hosts made %d calls to the peer", n)
	}
	for _, host := range []string{"localhost:8080", "LOCALHOST", "[::1]:9", "127.0.0.1"} {
		if r := do(t, "GET", ts.URL+"/v1/channels/mychannel", "", "Host", host); r.status != 200 {
			t.Errorf("Host %s: %d %s", host, r.status, r.body)
		}
	}

	ts, _ = newTestServer(t, func(o *Options) { o.HTTP.AllowedHosts = []string{"gateway.internal"} })
	expectError(t, do(t, "GET", ts.URL+"/v1/channels/mychannel", "", "Host", "localhost"), 421, CodeHostNotAllowed)
	if r := do(t, "GET", ts.URL+"/v1/channels/mychannel", "", "Host", "gateway.internal:443"); r.status != 200 {
		t.Errorf("configured host: %d %s", r.status, r.body)
	}
}

// openStream opens an event stream with token and returns its response
// (status 200 means a stream slot is held until the body is closed).
func openStream(t *testing.T, url, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func streamRefused(t *testing.T, resp *http.Response) Error {
	t.Helper()
	raw, _ := io.ReadAll(resp.Body)
	e := expectError(t, httpResult{resp.StatusCode, resp.Header, raw}, 503, CodeTooManyStreams)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 TOO_MANY_STREAMS without Retry-After")
	}
	return e
}

// TestEventStreamsAreBounded: streams over restgateway.events.maxStreams, or
// over the per-credential cap, are refused with 503 naming the limit; a
// stream that ends frees its slot.
func TestEventStreamsAreBounded(t *testing.T) {
	const other = "test-token-of-another-client"
	ts, _ := newTestServer(t, func(o *Options) {
		o.Events.MaxStreams, o.Events.MaxStreamsPerCredential = 3, 2
		o.Auth.Tokens = append(o.Auth.Tokens, TokenCredential{Token: other})
	})
	url := ts.URL + "/v1/channels/mychannel/chaincodes/basic/events"
	first := openStream(t, url, testToken)
	if first.StatusCode != 200 || openStream(t, url, testToken).StatusCode != 200 {
		t.Fatal("the first two streams were refused")
	}
	e := streamRefused(t, openStream(t, url, testToken))
	if !strings.Contains(e.Message, "restgateway.auth.tokens[0]") || !strings.Contains(e.Message, "restgateway.events.maxStreamsPerCredential") {
		t.Errorf("message %q does not name the credential and the limit", e.Message)
	}
	if openStream(t, url, other).StatusCode != 200 {
		t.Fatal("another credential's stream was refused below the limits")
	}
	e = streamRefused(t, openStream(t, url, other))
	if !strings.Contains(e.Message, "3 event streams are open") || !strings.Contains(e.Message, "restgateway.events.maxStreams") {
		t.Errorf("message %q does not name the count and the limit", e.Message)
	}

	first.Body.Close() // the client goes away: its slot comes free
	eventually.True(t, 10*time.Second, "a stream admitted after one closed", func() bool {
		resp := openStream(t, url, other)
		defer resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// TestSlowHeadersAreCut: a client trickling its request headers (slowloris)
// is disconnected when restgateway.http.readHeaderTimeout passes.
func TestSlowHeadersAreCut(t *testing.T) {
	const timeout = 200 * time.Millisecond
	ts, peer := newTestServer(t, func(o *Options) { o.HTTP.ReadHeaderTimeout = timeout })
	// Taken before dialling: the server starts its clock when it accepts,
	// which may come before Dial returns here.
	start := time.Now()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		if _, err := io.WriteString(conn, "GET /v1/channels/mychannel HTTP/1.1\r\nHost: localhost\r\n"); err != nil {
			return
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(conn, "X-Slow: 1\r\n"); err != nil {
					return
				}
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // only against a hung test
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a connection whose headers never ended")
	}
	if took := time.Since(start); took < timeout {
		t.Fatalf("connection closed after %v, before the header timeout %v", took, timeout)
	}
	if n := peer.callCount(); n != 0 {
		t.Fatalf("an unfinished request made %d calls to the peer", n)
	}
}

// TestTimeoutsDoNotCutLongResponses: the write and read timeouts bound each
// write, not a response: an event stream and a status wait outlive them.
func TestTimeoutsDoNotCutLongResponses(t *testing.T) {
	ts, _ := newTestServer(t, func(o *Options) { o.HTTP.WriteTimeout, o.HTTP.ReadTimeout = 50*time.Millisecond, 50*time.Millisecond })
	resp := openStream(t, ts.URL+"/v1/channels/mychannel/chaincodes/basic/events?timeout=1s&heartbeat=100ms", testToken)
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %d %v", resp.StatusCode, err)
	}
	if text := string(raw); strings.Count(text, ": heartbeat") < 3 || !strings.Contains(text, "event: end") {
		t.Fatalf("a 1s stream under a 50ms write timeout was cut short:\n%s", text)
	}
	r := do(t, "GET", ts.URL+"/v1/channels/mychannel/transactions/unknown/status?wait=300ms", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"status":"PENDING"`) {
		t.Fatalf("a 300ms status wait under a 50ms write timeout: %d %s", r.status, r.body)
	}
}

// TestMutualTLS runs the REST gateway from a configuration with HTTPS and
// client certificates: a mapped certificate signs as its identity, an
// unmapped one of the same CA gets 401 naming it, one of another CA fails
// the handshake, and bearer tokens still work over TLS.
func TestMutualTLS(t *testing.T) {
	peerAddr, peer := startFakePeer(t)
	n := testnet.SampleNet(t)
	org1 := n.Path("peerOrganizations", "org1.example.com")
	server := n.TLS(t, "peer0.org1.example.com")
	userTLS := func(org, user string) string {
		return n.Path("peerOrganizations", org, "users", user+"@"+org, "tls")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "restgateway.yaml")
	writeFile(t, file, `
restgateway:
  listenAddress: 127.0.0.1:0
  peer:
    address: `+peerAddr+`
    tls:
      enabled: false
  wallet:
    path: `+filepath.Join(org1, "users")+`
    mspId: Org1MSP
  auth:
    tokens:
      - token: `+testToken+`
        identity: User1@org1.example.com
    clientCerts:
      - commonName: User1@org1.example.com
        identity: User1@org1.example.com
  tls:
    enabled: true
    cert:
      file: `+server.Cert+`
    key:
      file: `+server.Key+`
    clientRootCAs:
      files:
        - `+filepath.Join(userTLS("org1.example.com", "User1"), "ca.crt")+`
operations:
  listenAddress: ""
`)
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	api := startRun(t, cfg)

	roots := x509.NewCertPool()
	ca, _ := os.ReadFile(server.CA)
	roots.AppendCertsFromPEM(ca)
	client := func(certDir string) *http.Client {
		c := &tls.Config{RootCAs: roots}
		if certDir != "" {
			pair, err := tls.LoadX509KeyPair(filepath.Join(certDir, "client.crt"), filepath.Join(certDir, "client.key"))
			if err != nil {
				t.Fatal(err)
			}
			c.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: c}}
	}
	get := func(c *http.Client, header ...string) (httpResult, error) {
		req, _ := http.NewRequest("GET", "https://"+api+"/v1/channels/mychannel", nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			return httpResult{}, err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return httpResult{resp.StatusCode, resp.Header, raw}, nil
	}

	r, err := get(client(userTLS("org1.example.com", "User1")))
	if err != nil || r.status != 200 {
		t.Fatalf("User1's client certificate: %v %d %s", err, r.status, r.body)
	}
	peer.mu.Lock()
	creator := peer.creators[len(peer.creators)-1]
	peer.mu.Unlock()
	if want, _ := n.User(t, "User1", "Org1MSP").Serialize(); !bytes.Equal(creator, want) {
		t.Fatal("a request over mutual TLS was not signed by the certificate's identity")
	}

	r, err = get(client(userTLS("org1.example.com", "Admin")))
	if err != nil {
		t.Fatal(err)
	}
	if e := expectError(t, r, 401, CodeUnauthenticated); !strings.Contains(e.Message, "Admin@org1.example.com") || !strings.Contains(e.Message, "restgateway.auth.clientCerts") {
		t.Errorf("unmapped certificate: message %q does not name the certificate and the key", e.Message)
	}
	expectError(t, mustGet(t)(get(client(""))), 401, CodeUnauthenticated)
	if r := mustGet(t)(get(client(""), "Authorization", "Bearer "+testToken)); r.status != 200 {
		t.Fatalf("bearer token over TLS: %d %s", r.status, r.body)
	}
	// A certificate of another CA: Go's client does not even offer it (the
	// server names its CAs); forced on the server, the handshake fails.
	foreign := client(userTLS("org2.example.com", "User1"))
	expectError(t, mustGet(t)(get(foreign)), 401, CodeUnauthenticated)
	tr := foreign.Transport.(*http.Transport)
	pair := tr.TLSClientConfig.Certificates[0]
	tr.TLSClientConfig.Certificates = nil
	tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	tr.CloseIdleConnections()
	if r, err := get(foreign); err == nil {
		t.Fatalf("a client certificate of another CA passed the TLS handshake: %d %s", r.status, r.body)
	}
}

func mustGet(t *testing.T) func(httpResult, error) httpResult {
	return func(r httpResult, err error) httpResult {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// startRun runs the REST gateway of cfg until the test ends and returns its
// API address.
func startRun(t *testing.T, cfg Config) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, nil, func(api, _ string) { ready <- api }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		done <- nil
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not become ready")
	}
	return ""
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAuthConfigErrorsNameTheKey: credentials that cannot work stop the
// start with an error naming the entry.
func TestAuthConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "short"), "abc\n")
	writeFile(t, filepath.Join(dir, "empty"), "\n")
	const base = "restgateway:\n  peer:\n    tls:\n      enabled: false\n"
	cases := []struct{ name, yaml, want string }{
		{"no credentials", "", "no credentials: set restgateway.auth.tokens (bearer tokens) or restgateway.auth.clientCerts"},
		{"missing token file", "  auth:\n    tokens:\n      - tokenFile: nothere\n", "restgateway.auth.tokens[0].tokenFile: open " + filepath.Join(dir, "nothere")},
		{"empty token file", "  auth:\n    tokens:\n      - tokenFile: empty\n", "restgateway.auth.tokens[0].tokenFile " + filepath.Join(dir, "empty") + " is empty"},
		{"short token", "  auth:\n    tokens:\n      - tokenFile: short\n", "restgateway.auth.tokens[0]: the token is 3 characters long"},
		{"token and file", "  auth:\n    tokens:\n      - {token: 0123456789abcdef0123, tokenFile: short}\n", "restgateway.auth.tokens[0] sets both token and tokenFile"},
		{"unknown field", "  auth:\n    tokens:\n      - {token: 0123456789abcdef0123, identty: x}\n", `restgateway.auth.tokens[0] has an unknown field "identty"`},
		{"bad allowAdmin", "  auth:\n    tokens:\n      - {token: 0123456789abcdef0123, allowAdmin: maybe}\n", "restgateway.auth.tokens[0].allowAdmin = maybe is not true or false"},
		{"same token twice", "  auth:\n    tokens:\n      - {token: 0123456789abcdef0123}\n      - {token: 0123456789abcdef0123}\n", "restgateway.auth.tokens[0] and restgateway.auth.tokens[1] hold the same token"},
		{"not a list", "  auth:\n    tokens: secret\n", "restgateway.auth.tokens is a list"},
		{"client certs without TLS", "  auth:\n    clientCerts:\n      - {commonName: User1@org1.example.com}\n", "restgateway.auth.clientCerts needs restgateway.tls.enabled"},
		{"client cert without name", "  auth:\n    clientCerts:\n      - {identity: User1@org1.example.com}\n", "restgateway.auth.clientCerts[0].commonName is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, "restgateway.yaml")
			writeFile(t, file, base+c.yaml)
			_, err := LoadConfig(file)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), "0123456789abcdef0123") || strings.Contains(err.Error(), "abc\n") {
				t.Fatalf("error %q shows a secret", err)
			}
		})
	}
}

// TestWriteNewToken: a random token, readable by its owner only, kept when
// the file exists.
func TestWriteNewToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "restgateway", "token")
	wrote, err := WriteNewToken(file)
	if err != nil || !wrote {
		t.Fatalf("WriteNewToken: %v %v", wrote, err)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v (%v), want 0600", st.Mode(), err)
	}
	raw, _ := os.ReadFile(file)
	tok := strings.TrimSpace(string(raw))
	if len(tok) != 64 {
		t.Fatalf("token %d characters, want 64 hex digits", len(tok))
	}
	if wrote, err := WriteNewToken(file); err != nil || wrote {
		t.Fatalf("second WriteNewToken: %v %v, want the file kept", wrote, err)
	}
	if again, _ := os.ReadFile(file); !bytes.Equal(again, raw) {
		t.Fatal("WriteNewToken replaced an existing token")
	}
	other, _ := NewToken()
	if other == tok {
		t.Fatal("two tokens are equal")
	}
}
