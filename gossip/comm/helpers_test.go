package comm_test

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
)

var hosts = []string{"peer0.org1.example.com", "peer1.org1.example.com", "peer0.org2.example.com"}

// roots trusts the TLS CAs of both organisations.
func roots(t *testing.T, n *testnet.Net) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, h := range []string{"peer0.org1.example.com", "peer0.org2.example.com"} {
		pem, err := os.ReadFile(n.TLS(t, h).CA)
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(pem)
	}
	return pool
}

// node is one Comm served by a gRPC server on 127.0.0.1 with TLS that
// requests client certificates, as a Fabric peer's server does.
type node struct {
	signer  *msp.SigningIdentity
	tlsCert tls.Certificate
	store   *identity.Store
	comm    *comm.Comm
	addr    string
	streams atomic.Int32 // GossipStreams the server accepted
	srv     *grpc.Server
}

type nodeOpt struct {
	signer   *msp.SigningIdentity // default: the host's
	verifier identity.Verifier    // default: the channel's MSPs
	noTLS    bool
	tweak    func(*comm.Config)
}

func startNode(t *testing.T, n *testnet.Net, host string, o nodeOpt) *node {
	t.Helper()
	logs := newTestWriter(t)
	nd := &node{signer: o.signer, tlsCert: n.TLSCert(t, host)}
	if nd.signer == nil {
		nd.signer = n.Signer(t, host)
	}
	v := o.verifier
	if v == nil {
		mgr := n.Bundle.MSPs()
		v = identity.Managers(func() []*msp.Manager { return []*msp.Manager{mgr} })
	}
	store, err := identity.NewStore(nd.signer.Serialized, v)
	if err != nil {
		t.Fatal(err)
	}
	nd.store = store
	cfg := comm.Config{
		Signer:   nd.signer,
		Identity: nd.signer.Serialized,
		Store:    store,
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", host),
	}
	var opts []grpc.ServerOption
	if !o.noTLS {
		pool := roots(t, n)
		cfg.TLSCert = &nd.tlsCert
		cfg.TLSRoots = func() *x509.CertPool { return pool }
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{nd.tlsCert},
			ClientAuth:   tls.RequestClientCert,
			MinVersion:   tls.VersionTLS12,
		})))
	}
	if o.tweak != nil {
		o.tweak(&cfg)
	}
	c, err := comm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nd.comm = c
	opts = append(opts, grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		nd.streams.Add(1)
		return h(srv, ss)
	}))
	nd.srv = grpc.NewServer(opts...)
	c.Register(nd.srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nd.addr = lis.Addr().String()
	go func() { _ = nd.srv.Serve(lis) }()
	t.Cleanup(nd.stop)
	return nd
}

// stop closes the Comm, then the server: the order a peer shuts down in.
func (nd *node) stop() {
	nd.comm.Close()
	nd.srv.Stop()
}

func (nd *node) pkiID(t *testing.T) identity.PKIID {
	t.Helper()
	id, err := identity.PKIIDOf(nd.signer.Serialized)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (nd *node) peer(t *testing.T) comm.RemotePeer {
	return comm.RemotePeer{Endpoint: nd.addr, PKIID: nd.pkiID(t)}
}

// testWriter sends logs to t.Log, so that they show with a failure only,
// and drops those written after the test ended (a gRPC handler may still be
// returning).
type testWriter struct {
	t    *testing.T
	over *atomic.Bool
}

func newTestWriter(t *testing.T) testWriter {
	w := testWriter{t: t, over: &atomic.Bool{}}
	t.Cleanup(func() { w.over.Store(true) }) // registered first, runs last
	return w
}

func (w testWriter) Write(p []byte) (int, error) {
	if !w.over.Load() {
		w.t.Log(string(p))
	}
	return len(p), nil
}
