package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/eventually"
)

// waitTimeout bounds every wait for a condition in these tests.
const waitTimeout = 10 * time.Second

// testCA issues TLS certificates for 127.0.0.1 and localhost.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"example.com"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

var serial = struct {
	sync.Mutex
	n int64
}{n: 100}

// issue returns a key pair usable as TLS server and client certificate, its
// PEM certificate and its key.
func (ca *testCA) issue(t *testing.T, cn string) (tls.Certificate, []byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial.Lock()
	serial.n++
	sn := serial.n
	serial.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(sn),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"example.com"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost", cn},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemCert, key
}

// logSink is a slog.Handler that keeps every record for the test to wait on.
type logSink struct {
	mu      sync.Mutex
	records []logRecord
	changed chan struct{} // closed and replaced on every record
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{})} }

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &boundSink{sink: s, attrs: attrs}
}
func (s *logSink) WithGroup(string) slog.Handler { return s }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	return s.add(nil, r)
}

func (s *logSink) add(bound []slog.Attr, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range bound {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	s.mu.Lock()
	s.records = append(s.records, rec)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

type boundSink struct {
	sink  *logSink
	attrs []slog.Attr
}

func (b *boundSink) Enabled(context.Context, slog.Level) bool { return true }
func (b *boundSink) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &boundSink{sink: b.sink, attrs: append(append([]slog.Attr{}, b.attrs...), attrs...)}
}
func (b *boundSink) WithGroup(string) slog.Handler { return b }
func (b *boundSink) Handle(_ context.Context, r slog.Record) error {
	return b.sink.add(b.attrs, r)
}

// waitFor returns the first record matching msg whose attributes contain
// every key=value of want (a value matches if it is a substring).
func (s *logSink) waitFor(t *testing.T, msg string, want map[string]string) logRecord {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		s.mu.Lock()
		for _, r := range s.records {
			if r.msg == msg && attrsMatch(r.attrs, want) {
				s.mu.Unlock()
				return r
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no log record %q with %v within %s; have:\n%s", msg, want, waitTimeout, s.dump())
		}
	}
}

func (s *logSink) dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, r := range s.records {
		fmt.Fprintf(&b, "  %s %q %v\n", r.level, r.msg, r.attrs)
	}
	return b.String()
}

func attrsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if !strings.Contains(have[k], v) {
			return false
		}
	}
	return true
}

// received is one message a node's Handler got.
type received struct {
	channel string
	from    uint64
	m       *raftpb.Message
}

// node is one orderer's cluster side: a Comm, and a Server on 127.0.0.1.
type node struct {
	t       *testing.T
	name    string
	cert    tls.Certificate
	certPEM []byte
	addr    string
	comm    *Comm
	logs    *logSink
	got     chan received

	mu  sync.Mutex
	srv *grpc.Server
}

func startNode(t *testing.T, ca *testCA, name string, cfg CommConfig) *node {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t, ca, name, cfg, lis.Addr().String())
	n.serve(lis)
	return n
}

// newNode makes a node that does not listen yet (see serve).
func newNode(t *testing.T, ca *testCA, name string, cfg CommConfig, addr string) *node {
	t.Helper()
	cert, certPEM, _ := ca.issue(t, name)
	logs := newLogSink()
	cfg.Certificate = cert
	cfg.RootCAs = ca.pool
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 20 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 200 * time.Millisecond
	}
	cfg.DialTimeout = 2 * time.Second
	cfg.Logger = slog.New(logs).With("node", name)
	comm, err := NewComm(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, name: name, cert: cert, certPEM: certPEM, addr: addr, comm: comm, logs: logs, got: make(chan received, 1000)}
	t.Cleanup(func() {
		comm.Close()
		n.stop()
	})
	return n
}

// serve starts the node's gRPC server on lis; the TLS config asks for a
// client certificate without requiring it, as the general listener does.
func (n *node) serve(lis net.Listener) {
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{n.cert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
	})))
	ab.RegisterClusterServer(srv, NewServer(n.comm, n, slog.New(n.logs).With("node", n.name)))
	n.mu.Lock()
	n.srv = srv
	n.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
}

func (n *node) stop() {
	n.mu.Lock()
	srv := n.srv
	n.srv = nil
	n.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// Step implements Handler.
func (n *node) Step(ctx context.Context, channel string, from uint64, m *raftpb.Message) error {
	select {
	case n.got <- received{channel, from, m}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *node) member(id uint64) Member {
	return Member{ID: id, Endpoint: n.addr, ServerTLSCert: n.certPEM, ClientTLSCert: n.certPEM}
}

func (n *node) configure(channel string, self uint64, members ...Member) {
	n.t.Helper()
	if err := n.comm.Configure(channel, self, members); err != nil {
		n.t.Fatal(err)
	}
}

// next waits for the next message the node's Handler gets.
func (n *node) next() received {
	n.t.Helper()
	select {
	case r := <-n.got:
		return r
	case <-time.After(waitTimeout):
		n.t.Fatalf("node %s received no message within %s", n.name, waitTimeout)
		return received{}
	}
}

// none checks that the Handler got nothing so far.
func (n *node) none() {
	n.t.Helper()
	select {
	case r := <-n.got:
		n.t.Fatalf("node %s received an unexpected message on channel %s from %d: %v", n.name, r.channel, r.from, r.m)
	default:
	}
}

func (n *node) remoteCount() int {
	n.comm.mu.RLock()
	defer n.comm.mu.RUnlock()
	return len(n.comm.remotes)
}

// waitReachable waits until Reachable(channel) equals want.
func (n *node) waitReachable(channel string, want ...uint64) {
	n.t.Helper()
	// gRPC connection state has no change signal: poll it.
	eventually.True(n.t, waitTimeout, fmt.Sprintf("node %s reaches %v on %s", n.name, want, channel), func() bool {
		return fmt.Sprint(n.comm.Reachable(channel)) == fmt.Sprint(want)
	})
}

func heartbeat(from, to, term uint64) *raftpb.Message {
	return &raftpb.Message{Type: raftpb.MessageType_MsgHeartbeat.Enum(), From: proto.Uint64(from), To: proto.Uint64(to), Term: proto.Uint64(term)}
}

// testSigner signs as an OrdererMSP identity.
type testSigner struct {
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func (s testSigner) Sign(msg []byte) ([]byte, error) {
	sum := sha256.Sum256(msg)
	return ecdsa.SignASN1(rand.Reader, s.key, sum[:])
}

func (s testSigner) Serialize() ([]byte, error) {
	return proto.Marshal(&mspproto.SerializedIdentity{Mspid: "OrdererMSP", IdBytes: s.certPEM})
}
