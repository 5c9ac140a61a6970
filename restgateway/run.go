package restgateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	srv, err := New(Options{
		Conn: conn, Wallet: wallet, DefaultIdentity: cfg.Wallet.DefaultIdentity, BodyLimit: cfg.BodyLimit,
		Timeouts: cfg.Timeouts, Events: cfg.Events, Logger: log, Metrics: metrics,
	})
	if err != nil {
		return err
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
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(lis) }()
	opsAddr := ""
	if ops != nil {
		opsAddr = ops.Addr()
	}
	log.Info("REST gateway serving", "address", lis.Addr().String(), "operations", opsAddr, "peer", cfg.Peer.Address,
		"identities", describeNames(wallet.Names()), "default_identity", cfg.Wallet.DefaultIdentity)
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
