package client

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-ledger/weft/internal/flowcontrol"
)

// Endpoint says how to reach one node.
type Endpoint struct {
	Address      string // host:port
	TLS          bool
	RootCertFile string // PEM CA certificates trusted for the node's TLS certificate
	RootCertPEM  []byte // the same, in memory (used when RootCertFile is empty)
	HostOverride string // TLS server name to expect instead of the address's host
	// ClientCertFile and ClientKeyFile, when set, are presented for mutual TLS.
	ClientCertFile string
	ClientKeyFile  string
	// ConnectTimeout bounds each attempt to connect (Fabric's --connTimeout);
	// 0 keeps gRPC's default of 20s.
	ConnectTimeout time.Duration
}

// MaxMessageSize is the gRPC message limit used by Weft's clients, as Fabric's (100 MiB).
const MaxMessageSize = 100 * 1024 * 1024

// TLSConfig builds the client TLS configuration of an endpoint.
func (e Endpoint) TLSConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: e.HostOverride}
	if e.RootCertFile != "" || len(e.RootCertPEM) > 0 {
		pem := e.RootCertPEM
		if e.RootCertFile != "" {
			var err error
			if pem, err = os.ReadFile(e.RootCertFile); err != nil {
				return nil, fmt.Errorf("read TLS root certificate for %s: %w", e.Address, err)
			}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS root certificate %s for %s holds no PEM certificate", e.RootCertFile, e.Address)
		}
		cfg.RootCAs = pool
	}
	if e.ClientCertFile != "" || e.ClientKeyFile != "" {
		pair, err := tls.LoadX509KeyPair(e.ClientCertFile, e.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("load TLS client key pair %s / %s: %w", e.ClientCertFile, e.ClientKeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Dial opens a gRPC client connection to the endpoint. The connection is lazy:
// errors to reach the node surface on the first call.
func Dial(e Endpoint) (*grpc.ClientConn, error) {
	if e.Address == "" {
		return nil, fmt.Errorf("no address to dial")
	}
	creds := insecure.NewCredentials()
	if e.TLS {
		cfg, err := e.TLSConfig()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	opts := append(flowcontrol.DialOptions(),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
	)
	if e.ConnectTimeout > 0 {
		opts = append(opts, grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: e.ConnectTimeout}))
	}
	conn, err := grpc.NewClient(e.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", e.Address, err)
	}
	return conn, nil
}
