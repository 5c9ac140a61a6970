package testnet

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// ServeTLS serves gRPC with TLS (cert, TLS 1.2 or later) on lis until the
// test ends and returns the listener's address. register adds the services.
func ServeTLS(tb testing.TB, lis net.Listener, cert tls.Certificate, register func(*grpc.Server)) string {
	tb.Helper()
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	register(srv)
	go func() { _ = srv.Serve(lis) }()
	tb.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// DialTLS opens a gRPC client connection to addr trusting roots; it is
// closed when the test ends.
func DialTLS(tb testing.TB, addr string, roots *x509.CertPool) *grpc.ClientConn {
	tb.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})))
	if err != nil {
		tb.Fatalf("testnet: dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}
