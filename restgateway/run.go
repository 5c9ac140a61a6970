package restgateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/operations"
)

// Run serves the REST gateway of cfg until ctx ends, then shuts it down
// gracefully. With cfg.OperationsAddress set it also serves the operations
// endpoints there: /healthz, /readyz (ready once the peer connection is
// up), /metrics (HTTP requests by route and status, their latency),
// /logspec (through logging) and /version. logging may be nil (no logs,
// /logspec answers 404). ready, if not nil, is called with the API's
// address and the operations address ("" when off) once both accept
// connections.
func Run(ctx context.Context, cfg Config, logging *operations.Logging, ready func(api, ops string)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	if logging != nil {
		log = logging.Logger().With("component", "restgateway")
	}
	var wallet *Wallet
	if cfg.Wallet.Path != "" {
		w, err := LoadWallet(cfg.Wallet.Path, cfg.Wallet.MSPID)
		if err != nil {
			return fmt.Errorf("%s: %w", keyName("restgateway.wallet.path"), err)
		}
		wallet = w
	}
	conn, err := client.Dial(client.Endpoint{
		Address: cfg.Peer.Address, TLS: cfg.Peer.TLSEnabled, RootCertFile: cfg.Peer.RootCertFile,
		HostOverride: cfg.Peer.ServerHostOverride, ClientCertFile: cfg.Peer.ClientCertFile, ClientKeyFile: cfg.Peer.ClientKeyFile,
		ConnectTimeout: cfg.Peer.ConnectTimeout,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", keyName("restgateway.peer.address"), err)
	}
	defer conn.Close()
	var metrics *operations.Registry
	if cfg.OperationsAddress != "" {
		metrics = operations.NewRegistry()
	}
	httpCfg := cfg.HTTP
	httpCfg.AllowedHosts = allowedHosts(cfg.HTTP, cfg.ListenAddress)
	srv, err := New(Options{
		Conn: conn, Wallet: wallet, DefaultIdentity: cfg.Wallet.DefaultIdentity, AdminIdentities: cfg.Wallet.AdminIdentities,
		Auth: cfg.Auth, HTTP: httpCfg, BodyLimit: cfg.BodyLimit,
		Timeouts: cfg.Timeouts, Events: cfg.Events, Logger: log, Metrics: metrics,
	})
	if err != nil {
		return err
	}
	var tlsCfg *tls.Config
	if cfg.TLS.Enabled {
		if tlsCfg, err = serverTLS(cfg.TLS); err != nil {
			return err
		}
	}
	var ops *operations.Server
	if cfg.OperationsAddress != "" {
		ops = operations.NewServer(operations.Config{ListenAddress: cfg.OperationsAddress, Metrics: metrics, Logging: logging, Logger: log})
		ops.RegisterReadiness("peer", func(ctx context.Context) error { return peerReady(ctx, conn, cfg.Peer.Address) })
		if err := ops.Start(); err != nil {
			return fmt.Errorf("%s: %w", keyName("operations.listenAddress"), err)
		}
		defer func() {
			stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = ops.Stop(stop)
		}()
	}
	lis, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("%s: listen: %w", keyName("restgateway.listenAddress"), err)
	}
	hs := srv.HTTPServer()
	errc := make(chan error, 1)
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
		hs.TLSConfig = tlsCfg
		go func() { errc <- hs.ServeTLS(lis, "", "") }()
	} else {
		go func() { errc <- hs.Serve(lis) }()
	}
	opsAddr := ""
	if ops != nil {
		opsAddr = ops.Addr()
	}
	log.Info("REST gateway serving", "address", scheme+"://"+lis.Addr().String(), "operations", opsAddr, "peer", cfg.Peer.Address,
		"credentials", srv.auth.describe(), "allowed_hosts", srv.hosts.names(), "allowed_origins", srv.origins.list)
	if tlsCfg == nil && !isLoopback(lis.Addr()) {
		log.Warn("the REST gateway listens beyond loopback without TLS: bearer tokens cross the network in clear text; "+
			"set restgateway.tls or put a TLS proxy in front", "address", lis.Addr().String())
	}
	if ready != nil {
		ready(lis.Addr().String(), opsAddr)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("REST gateway on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	_ = hs.Close() // end event streams still open after the grace period
	return nil
}

// serverTLS is the API listener's TLS configuration: its certificate and,
// with client root CAs, client certificates verified against them (required
// with clientAuthRequired, else checked when presented).
func serverTLS(c TLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", keyName("restgateway.tls.cert.file"), keyName("restgateway.tls.key.file"), err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if len(c.ClientRootCAFiles) == 0 {
		return cfg, nil
	}
	pool := x509.NewCertPool()
	for _, f := range c.ClientRootCAFiles {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyName("restgateway.tls.clientRootCAs.files"), err)
		}
		if !pool.AppendCertsFromPEM(raw) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", keyName("restgateway.tls.clientRootCAs.files"), f)
		}
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	if c.ClientAuthRequired {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// peerReady reports whether the gRPC connection to the peer is up, trying
// to connect until ctx ends.
func peerReady(ctx context.Context, conn *grpc.ClientConn, addr string) error {
	conn.Connect()
	for {
		st := conn.GetState()
		if st == connectivity.Ready {
			return nil
		}
		if !conn.WaitForStateChange(ctx, st) {
			return fmt.Errorf("peer %s (restgateway.peer.address) is not reachable: connection %s", addr, st)
		}
	}
}
