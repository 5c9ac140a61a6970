package participation

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/protos"
)

// fakeRegistrar joins any block whose data[0] is "channel:<name>".
type fakeRegistrar struct {
	mu       sync.Mutex
	channels map[string]uint64
}

func (f *fakeRegistrar) ChannelNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.channels {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (f *fakeRegistrar) ChannelInfo(name string) (ChannelInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.channels[name]
	if !ok {
		return ChannelInfo{}, ErrChannelNotExist
	}
	return ChannelInfo{Name: name, ConsensusRelation: RelationConsenter, Status: StatusActive, Height: h}, nil
}

func (f *fakeRegistrar) Join(b *cb.Block) (ChannelInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(b.GetData().GetData()) != 1 || !bytes.HasPrefix(b.Data.Data[0], []byte("channel:")) {
		return ChannelInfo{}, fmt.Errorf("%w: not a config block", ErrBadJoinBlock)
	}
	name := string(b.Data.Data[0][len("channel:"):])
	if _, ok := f.channels[name]; ok {
		return ChannelInfo{}, fmt.Errorf("%w: %s", ErrChannelAlreadyExists, name)
	}
	f.channels[name] = 1
	return ChannelInfo{Name: name, ConsensusRelation: RelationConsenter, Status: StatusActive, Height: 1}, nil
}

func (f *fakeRegistrar) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.channels[name]; !ok {
		return ErrChannelNotExist
	}
	delete(f.channels, name)
	return nil
}

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, cn string) *ca {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key}
}

func (c *ca) issue(t *testing.T, cn string, server bool) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func pool(cas ...*ca) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cas {
		p.AddCert(c.cert)
	}
	return p
}

func startAdmin(t *testing.T) (url string, tlsCA, adminCA *ca) {
	tlsCA, adminCA = newCA(t, "tlsca"), newCA(t, "adminca")
	srv := httptest.NewUnstartedServer(NewHandler(&fakeRegistrar{channels: map[string]uint64{}}, nil))
	srv.TLS = ServerTLSConfig(tlsCA.issue(t, "orderer", true), pool(adminCA))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, tlsCA, adminCA
}

func client(serverCA *ca, cert tls.Certificate) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool(serverCA), Certificates: []tls.Certificate{cert}}}}
}

func joinRequest(t *testing.T, url string, block []byte, field string) *http.Request {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile(field, "genesis.block")
	fw.Write(block)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, url+URLBaseV1Channels, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req
}

func do(t *testing.T, c *http.Client, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestParticipationOverMutualTLS(t *testing.T) {
	url, tlsCA, adminCA := startAdmin(t)
	c := client(tlsCA, adminCA.issue(t, "admin", false))
	get := func(p string) *http.Request { r, _ := http.NewRequest(http.MethodGet, url+p, nil); return r }
	del := func(p string) *http.Request { r, _ := http.NewRequest(http.MethodDelete, url+p, nil); return r }
	genesis := protos.Marshal(protos.NewBlock(0, nil, [][]byte{[]byte("channel:mychannel")}))

	code, _, body := do(t, c, get(URLBaseV1Channels))
	if code != 200 || body != `{"channels":null,"systemChannel":null}`+"\n" {
		t.Fatalf("empty list: %d %s", code, body)
	}
	code, hdr, body := do(t, c, joinRequest(t, url, genesis, FormConfigBlock))
	var info ChannelInfo
	json.Unmarshal([]byte(body), &info)
	if code != http.StatusCreated || hdr.Get("Location") != "/participation/v1/channels/mychannel" ||
		info != (ChannelInfo{Name: "mychannel", URL: "/participation/v1/channels/mychannel", ConsensusRelation: "consenter", Status: "active", Height: 1}) {
		t.Fatalf("join: %d %v %s", code, hdr, body)
	}
	code, hdr, body = do(t, c, joinRequest(t, url, genesis, FormConfigBlock))
	if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "GET, DELETE" || !jsonError(body, "cannot join: channel already exists: mychannel") {
		t.Fatalf("join twice: %d %s", code, body)
	}
	code, _, body = do(t, c, get(URLBaseV1Channels))
	if code != 200 || body != `{"channels":[{"name":"mychannel","url":"/participation/v1/channels/mychannel"}],"systemChannel":null}`+"\n" {
		t.Fatalf("list: %d %s", code, body)
	}
	code, _, body = do(t, c, get(URLBaseV1Channels+"/mychannel"))
	if code != 200 || body != `{"name":"mychannel","url":"/participation/v1/channels/mychannel","consensusRelation":"consenter","status":"active","height":1}`+"\n" {
		t.Fatalf("get: %d %s", code, body)
	}
	for _, tc := range []struct {
		name string
		req  *http.Request
		code int
		err  string
	}{
		{"unknown channel", get(URLBaseV1Channels + "/other"), 404, "channel does not exist"},
		{"bad name", get(URLBaseV1Channels + "/Bad_Name"), 400, "invalid channel ID"},
		{"bad block", joinRequest(t, url, []byte{0xff, 0xff}, FormConfigBlock), 400, "cannot unmarshal file part config-block into a block"},
		{"wrong field", joinRequest(t, url, genesis, "block"), 400, "form does not contain part key: config-block"},
		{"not a config block", joinRequest(t, url, protos.Marshal(protos.NewBlock(0, nil, [][]byte{[]byte("tx")})), FormConfigBlock), 400, "cannot join: invalid join block"},
		{"remove unknown", del(URLBaseV1Channels + "/other"), 404, "cannot remove: channel does not exist"},
		{"bad method", del(URLBaseV1Channels), 405, "invalid request method: DELETE"},
	} {
		code, _, body := do(t, c, tc.req)
		if code != tc.code || !jsonError(body, tc.err) {
			t.Errorf("%s: %d %s, want %d %q", tc.name, code, body, tc.code, tc.err)
		}
	}
	code, _, body = do(t, c, del(URLBaseV1Channels+"/mychannel"))
	if code != http.StatusNoContent || body != "" {
		t.Fatalf("remove: %d %q", code, body)
	}
	if code, _, _ = do(t, c, get(URLBaseV1Channels+"/mychannel")); code != 404 {
		t.Fatalf("get after remove: %d", code)
	}
}

func TestClientCertMustChainToAdminCA(t *testing.T) {
	url, tlsCA, _ := startAdmin(t)
	rogue := newCA(t, "rogue")
	_, err := client(tlsCA, rogue.issue(t, "admin", false)).Get(url + URLBaseV1Channels)
	if err == nil {
		t.Fatal("a client certificate from another CA was accepted")
	}
	noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(tlsCA)}}}
	if _, err := noCert.Get(url + URLBaseV1Channels); err == nil {
		t.Fatal("a client without certificate was accepted")
	}
}

func jsonError(body, contains string) bool {
	var e ErrorResponse
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return false
	}
	return bytes.Contains([]byte(e.Error), []byte(contains))
}
