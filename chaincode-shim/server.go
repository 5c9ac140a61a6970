package shim

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
)

// TLSProperties configures a ChaincodeServer's TLS. TLS is on unless Disabled.
type TLSProperties struct {
	// Disabled turns TLS off.
	Disabled bool
	// Key and Cert are the server's PEM key and certificate.
	Key  []byte
	Cert []byte
	// ClientCACerts, when set, makes the server require a client certificate
	// issued by one of these PEM CAs (the peer's client certificate).
	ClientCACerts []byte
}

// ChaincodeServer runs a chaincode as a service: it serves the
// peer.Chaincode gRPC service and, for every Connect the peer makes, runs the
// chaincode protocol on that stream with CCID as the registered name.
type ChaincodeServer struct {
	// CCID is the chaincode's package ID as the peer knows it.
	CCID string
	// Address is the host:port to listen on.
	Address string
	// CC is the chaincode to run.
	CC Chaincode
	// TLSProps configures TLS.
	TLSProps TLSProperties
	// KaOpts overrides the server keepalive (default: ping after 1 min, 20 s timeout).
	KaOpts *keepalive.ServerParameters
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger

	mu      sync.Mutex // guards server and stopped
	server  *grpc.Server
	stopped bool
}

var _ pb.ChaincodeServer = (*ChaincodeServer)(nil)

// Connect implements pb.ChaincodeServer: the peer's stream to this chaincode.
func (cs *ChaincodeServer) Connect(stream pb.Chaincode_ConnectServer) error {
	return chat(cs.CCID, stream, cs.CC, cs.logger())
}

func (cs *ChaincodeServer) logger() *slog.Logger {
	if cs.Logger != nil {
		return cs.Logger
	}
	return slog.Default()
}

func (cs *ChaincodeServer) validate() error {
	switch {
	case cs.CCID == "":
		return errors.New("shim: ChaincodeServer.CCID must be set to the chaincode's package ID")
	case cs.CC == nil:
		return errors.New("shim: ChaincodeServer.CC must be set to the chaincode to run")
	}
	return nil
}

// Start listens on Address and serves until Stop is called or the listener fails.
func (cs *ChaincodeServer) Start() error {
	if err := cs.validate(); err != nil {
		return err
	}
	if cs.Address == "" {
		return errors.New("shim: ChaincodeServer.Address must be set to the host:port to listen on")
	}
	lis, err := net.Listen("tcp", cs.Address)
	if err != nil {
		return fmt.Errorf("shim: listen on %s: %w", cs.Address, err)
	}
	return cs.Serve(lis)
}

// Serve serves on lis (which it closes) until Stop is called.
func (cs *ChaincodeServer) Serve(lis net.Listener) error {
	if err := cs.validate(); err != nil {
		lis.Close()
		return err
	}
	opts, err := cs.serverOptions()
	if err != nil {
		lis.Close()
		return err
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterChaincodeServer(srv, cs)

	cs.mu.Lock()
	if cs.stopped {
		cs.mu.Unlock()
		lis.Close()
		return nil
	}
	cs.server = srv
	cs.mu.Unlock()

	cs.logger().Info("chaincode server listening", "address", lis.Addr().String(), "ccid", cs.CCID, "tls", !cs.TLSProps.Disabled)
	if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("shim: serve chaincode %s on %s: %w", cs.CCID, lis.Addr(), err)
	}
	return nil
}

// Stop closes the listener and every peer connection; running invocations
// see ErrStreamClosed on their next stub call.
func (cs *ChaincodeServer) Stop() {
	cs.mu.Lock()
	srv := cs.server
	cs.stopped = true
	cs.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

func (cs *ChaincodeServer) serverOptions() ([]grpc.ServerOption, error) {
	ka := keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}
	if cs.KaOpts != nil {
		ka = *cs.KaOpts
	}
	opts := []grpc.ServerOption{
		grpc.KeepaliveParams(ka),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Minute, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(maxMessageSize),
		grpc.MaxSendMsgSize(maxMessageSize),
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(streamWindow),
		grpc.ConnectionTimeout(5 * time.Second),
	}
	if cs.TLSProps.Disabled {
		return opts, nil
	}
	cfg, err := serverTLSConfig(cs.TLSProps)
	if err != nil {
		return nil, err
	}
	return append(opts, grpc.Creds(credentials.NewTLS(cfg))), nil
}

func serverTLSConfig(p TLSProperties) (*tls.Config, error) {
	if len(p.Key) == 0 || len(p.Cert) == 0 {
		return nil, errors.New("shim: TLS is enabled but TLSProps.Key or TLSProps.Cert is empty; provide both or set TLSProps.Disabled")
	}
	pair, err := tls.X509KeyPair(p.Cert, p.Key)
	if err != nil {
		return nil, fmt.Errorf("shim: load server TLS key pair: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, SessionTicketsDisabled: true}
	if len(p.ClientCACerts) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(p.ClientCACerts) {
			return nil, errors.New("shim: TLSProps.ClientCACerts holds no PEM certificate")
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
