package orderer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/internal/rpcrecover"
	"github.com/weft-ledger/weft/orderer/broadcast"
	"github.com/weft-ledger/weft/orderer/cluster"
	"github.com/weft-ledger/weft/orderer/deliver"
	"github.com/weft-ledger/weft/orderer/participation"
	"github.com/weft-ledger/weft/protos"
)

const maxGRPCMessage = 100 << 20

// Option adjusts a Node for tests and embedders.
type Option func(*Node)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(n *Node) { n.log = l } }

// WithLogging makes the node log through lg, whose levels the operations
// service's /logspec reads and changes (it replaces WithLogger). Without it
// the node's logger is wrapped with the level filter of Logging.Spec.
func WithLogging(lg *operations.Logging) Option {
	return func(n *Node) { n.logging = lg; n.log = lg.Logger() }
}

// WithTickInterval overrides every channel's Raft tick interval (tests use a
// short one so batch timeouts fire quickly).
func WithTickInterval(d time.Duration) Option { return func(n *Node) { n.tickInterval = d } }

// Node is a running ordering node.
type Node struct {
	cfg          Config
	signer       protos.Signer
	log          *slog.Logger
	tickInterval time.Duration

	registrar *Registrar
	grpc      *grpc.Server
	admin     *http.Server
	ops       *operations.Server // nil without Operations.ListenAddress
	// stopProfile stops the pprof server of General.Profile (nil when off).
	stopProfile func()
	metrics     *metrics
	logging     *operations.Logging

	lis, adminLis net.Listener
	wg            sync.WaitGroup
	stopOnce      sync.Once
}

// New prepares an orderer: it reads its TLS material, opens the channels
// found under FileLedger.Location and binds its listeners. Serving starts
// with Start.
func New(cfg Config, signer protos.Signer, opts ...Option) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, signer: signer, log: slog.Default(), metrics: newMetrics()}
	for _, o := range opts {
		o(n)
	}
	if n.logging == nil {
		lg, err := operations.NewLogging(n.log.Handler(), cfg.Logging.Spec)
		if err != nil {
			return nil, err
		}
		n.logging, n.log = lg, lg.Logger()
	}
	n.metrics.reg.OnScrape(n.scrape)
	self := consenterMatch{host: cfg.General.ListenAddress, port: uint32(cfg.General.ListenPort)}
	var grpcOpts []grpc.ServerOption
	var ctls *clusterTLS
	if cfg.General.TLS.Enabled {
		tc, certDER, err := serverTLS("General.TLS", cfg.General.TLS)
		if err != nil {
			return nil, err
		}
		if ctls, err = loadClusterTLS(cfg); err != nil {
			return nil, err
		}
		self.tlsCertDER = certDER
		if cl := ctls.cert.Certificate; len(cl) > 0 {
			// The cluster client certificate identifies this orderer in the
			// consenter lists as well as the server certificate does.
			self.clientCertDER = cl[0]
		}
		// Other orderers' cluster streams present their client certificate,
		// which the cluster service matches against the consenters; other
		// clients connect without one.
		if tc.ClientAuth == tls.NoClientCert {
			tc.ClientAuth = tls.RequestClientCert
		} else {
			for _, c := range ctls.roots {
				tc.ClientCAs.AddCert(c)
			}
		}
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(tc)))
	}
	grpcOpts = append(grpcOpts,
		grpc.MaxRecvMsgSize(maxGRPCMessage), grpc.MaxSendMsgSize(maxGRPCMessage),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Minute, PermitWithoutStream: true}))

	if err := os.MkdirAll(filepath.Join(cfg.FileLedger.Location, "chains"), 0o755); err != nil {
		return nil, fmt.Errorf("FileLedger.Location %s: %w", cfg.FileLedger.Location, err)
	}
	n.registrar = newRegistrar(cfg.FileLedger.Location, cfg.walDir(), signer, self, cfg.Consensus.SnapshotIntervalBlocks, n.log)
	n.registrar.tickInterval = n.tickInterval
	n.registrar.reorder = map[string]bool{}
	n.registrar.holdBatches = !cfg.Weft.CutWhenIdle
	for _, ch := range cfg.Weft.Reorder.Channels {
		n.registrar.reorder[ch] = true
	}
	n.registrar.observeStore = n.metrics.observeStore
	n.registrar.observePersist = n.metrics.observePersist
	if ctls != nil {
		comm, err := cluster.NewComm(cluster.CommConfig{
			Certificate: ctls.cert,
			RootCAs:     ctls.pool(),
			QueueSize:   cfg.General.Cluster.SendBufferSize,
			DialTimeout: cfg.General.Cluster.DialTimeout,
			Logger:      n.log,
		})
		if err != nil {
			return nil, err
		}
		n.registrar.comm, n.registrar.tls = comm, ctls
	}
	if err := n.registrar.openExisting(); err != nil {
		n.closeRegistrar()
		return nil, err
	}

	// The metrics interceptors come first, so they see the Internal code
	// rpcrecover turns a panic into.
	// A fixed flow-control window for what clients send (broadcast
	// envelopes, Raft messages of the cluster): with gRPC's default the
	// server answers bursts of data with bandwidth-estimation pings and
	// small window updates, each a write and a wake-up on both ends.
	grpcOpts = append(grpcOpts, grpc.InitialWindowSize(serverWindow), grpc.InitialConnWindowSize(serverWindow))
	grpcOpts = append(grpcOpts, operations.GRPCServerOptions(n.metrics.reg)...)
	n.grpc = grpc.NewServer(append(grpcOpts, rpcrecover.ServerOptions(n.log)...)...)
	bh := broadcast.NewHandler(broadcastChannels{n.registrar}, n.log)
	bh.Observe = n.metrics.observeBroadcast
	dh := deliver.NewHandler(deliverChannels{n.registrar}, n.log)
	dh.Metrics = n.metrics.deliver
	dh.TimeWindow = cfg.General.Authentication.TimeWindow
	dh.MutualTLS = cfg.General.TLS.Enabled && cfg.General.TLS.ClientAuthRequired
	ab.RegisterAtomicBroadcastServer(n.grpc, &abServer{b: bh, d: dh})
	if n.registrar.comm != nil {
		ab.RegisterClusterServer(n.grpc, cluster.NewServer(n.registrar.comm, stepDispatcher{n.registrar}, n.log))
	}
	var err error
	if n.lis, err = net.Listen("tcp", cfg.ListenAddr()); err != nil {
		n.closeRegistrar()
		return nil, fmt.Errorf("General.ListenAddress/ListenPort %s: %w", cfg.ListenAddr(), err)
	}
	if cfg.Admin.ListenAddress != "" {
		tc, _, err := serverTLS("Admin.TLS", cfg.Admin.TLS)
		if err != nil {
			n.closeListeners()
			n.closeRegistrar()
			return nil, err
		}
		mux := http.NewServeMux()
		var h http.Handler = participation.NewHandler(n.registrar, n.log)
		if !cfg.ChannelParticipation.Enabled {
			h = disabled{}
		}
		mux.Handle(participation.URLBaseV1, h)
		n.admin = &http.Server{Handler: mux, TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second}
		if n.adminLis, err = net.Listen("tcp", cfg.Admin.ListenAddress); err != nil {
			n.closeListeners()
			n.closeRegistrar()
			return nil, fmt.Errorf("Admin.ListenAddress %s: %w", cfg.Admin.ListenAddress, err)
		}
	}
	if cfg.Operations.ListenAddress != "" {
		if n.ops, err = n.newOperations(); err == nil {
			err = n.ops.Listen()
		}
		if err != nil {
			n.closeListeners()
			n.closeRegistrar()
			return nil, fmt.Errorf("Operations.ListenAddress %s: %w", cfg.Operations.ListenAddress, err)
		}
	}
	return n, nil
}

// serverWindow is the HTTP/2 flow-control window of the orderer's gRPC
// connections and streams, for data clients send.
const serverWindow = 1 << 20

// closeRegistrar stops the channels, then the cluster communication.
func (n *Node) closeRegistrar() {
	n.registrar.Close()
	if n.registrar.comm != nil {
		n.registrar.comm.Close()
	}
}

func (n *Node) closeListeners() {
	for _, l := range []net.Listener{n.lis, n.adminLis} {
		if l != nil {
			l.Close()
		}
	}
	if n.ops != nil {
		n.ops.Stop(context.Background())
	}
}

// Start serves gRPC, admin and operations endpoints in the background.
func (n *Node) Start() {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.grpc.Serve(n.lis); err != nil {
			n.log.Error("gRPC server stopped", "error", err)
		}
	}()
	if n.admin != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.admin.Serve(tls.NewListener(n.adminLis, n.admin.TLSConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.log.Error("admin server stopped", "error", err)
			}
		}()
	}
	if n.ops != nil {
		n.ops.Serve()
	}
	if n.cfg.General.Profile.Enabled {
		stop, err := operations.ServeProfile(n.cfg.General.Profile.Address, "General.Profile.Address", n.log)
		if err != nil {
			n.log.Error("no pprof", "error", err)
		} else {
			n.stopProfile = stop
		}
	}
	n.log.Info("orderer started", "listen", n.lis.Addr().String(), "admin", addrOf(n.adminLis), "operations", n.OperationsAddr(),
		"channels", n.registrar.ChannelNames())
}

// Addr is the gRPC listener's address; AdminAddr and OperationsAddr the
// others ("" when not configured).
func (n *Node) Addr() string      { return n.lis.Addr().String() }
func (n *Node) AdminAddr() string { return addrOf(n.adminLis) }
func (n *Node) OperationsAddr() string {
	if n.ops == nil {
		return ""
	}
	return n.ops.Addr()
}

// Registrar returns the node's channel registrar.
func (n *Node) Registrar() *Registrar { return n.registrar }

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// Stop stops the listeners, then every channel. It is safe to call twice.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if n.admin != nil {
			n.admin.Shutdown(ctx)
		}
		if n.ops != nil {
			n.ops.Stop(ctx)
		}
		if n.stopProfile != nil {
			n.stopProfile()
		}
		// Deliver streams wait on blocks: closing the chains and stores while
		// the gRPC server drains ends them.
		done := make(chan struct{})
		go func() { n.grpc.GracefulStop(); close(done) }()
		n.closeRegistrar()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			n.grpc.Stop()
			<-done
		}
		n.wg.Wait()
	})
}

type abServer struct {
	ab.UnimplementedAtomicBroadcastServer
	b *broadcast.Handler
	d *deliver.Handler
}

func (s *abServer) Broadcast(stream ab.AtomicBroadcast_BroadcastServer) error {
	return s.b.Handle(stream)
}
func (s *abServer) Deliver(stream ab.AtomicBroadcast_DeliverServer) error { return s.d.Handle(stream) }

type disabled struct{}

func (disabled) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(participation.ErrorResponse{Error: "channel participation API is disabled"})
}

// loadClusterTLS reads General.Cluster: the client key pair (default the
// General.TLS pair) and the root CAs (General.Cluster.RootCAs and
// General.TLS.RootCAs).
func loadClusterTLS(cfg Config) (*clusterTLS, error) {
	cl := cfg.General.Cluster
	certFile, keyFile, key := cl.ClientCertificate, cl.ClientPrivateKey, "General.Cluster.ClientCertificate/ClientPrivateKey"
	if certFile == "" {
		certFile, keyFile, key = cfg.General.TLS.Certificate, cfg.General.TLS.PrivateKey, "General.TLS.Certificate/PrivateKey (cluster client certificate)"
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s (%s, %s): %w", key, certFile, keyFile, err)
	}
	t := &clusterTLS{cert: pair}
	for _, set := range []struct {
		key   string
		files []string
	}{{"General.Cluster.RootCAs", cl.RootCAs}, {"General.TLS.RootCAs", cfg.General.TLS.RootCAs}} {
		certs, err := readCerts(set.key, set.files)
		if err != nil {
			return nil, err
		}
		t.roots = append(t.roots, certs...)
	}
	return t, nil
}

// serverTLS loads a listener's key pair and, when client auth is required,
// its client root CAs. It returns the leaf certificate's DER too.
func serverTLS(key string, t TLSConfig) (*tls.Config, []byte, error) {
	pair, err := tls.LoadX509KeyPair(t.Certificate, t.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%s.Certificate/PrivateKey (%s, %s): %w", key, t.Certificate, t.PrivateKey, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if t.ClientAuthRequired {
		pool, err := certPool(key+".ClientRootCAs", t.ClientRootCAs)
		if err != nil {
			return nil, nil, err
		}
		if key == "Admin.TLS" {
			tc = participation.ServerTLSConfig(pair, pool)
		} else {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
			tc.ClientCAs = pool
		}
	}
	return tc, pair.Certificate[0], nil
}

func certPool(key string, files []string) (*x509.CertPool, error) {
	certs, err := readCerts(key, files)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// readCerts reads every PEM certificate of files; key names the setting.
func readCerts(key string, files []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		found := false
		for rest := raw; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", key, f, err)
			}
			out = append(out, c)
			found = true
		}
		if !found {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", key, f)
		}
	}
	return out, nil
}
