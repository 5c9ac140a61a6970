package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/weft-ledger/weft/internal/flowcontrol"
)

// connPool caches one gRPC client connection per remote address;
// connections are established lazily by gRPC and shared by all calls. When an
// address's TLS roots change (a config update), its connection is replaced.
type connPool struct {
	clientCert *tls.Certificate

	mu    sync.Mutex // guards conns
	conns map[string]pooledConn
}

type pooledConn struct {
	conn  *grpc.ClientConn
	roots *x509.CertPool
}

// connectTimeout bounds one connection attempt to another peer.
const connectTimeout = 3 * time.Second

func newConnPool(clientCert *tls.Certificate) *connPool {
	return &connPool{clientCert: clientCert, conns: map[string]pooledConn{}}
}

// get returns the connection to address, verifying the server against roots.
func (p *connPool) get(address string, roots *x509.CertPool) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.conns[address]
	if ok && old.roots.Equal(roots) {
		return old.conn, nil
	}
	if roots == nil {
		return nil, fmt.Errorf("no TLS root CAs for %s: the organisation's MSP lists no tls_root_certs", address)
	}
	tlsCfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if p.clientCert != nil {
		tlsCfg.Certificates = []tls.Certificate{*p.clientCert}
	}
	// A peer whose host stopped answering (a stopped container) must not
	// hold an endorsement for gRPC's default 20 s connect timeout: give up
	// after a few seconds and let the next peer of the organisation endorse.
	c, err := grpc.NewClient(address, append(flowcontrol.DialOptions(), grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: connectTimeout, Backoff: backoff.DefaultConfig}))...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", address, err)
	}
	if ok {
		_ = old.conn.Close() // the organisation's TLS roots changed
	}
	p.conns[address] = pooledConn{conn: c, roots: roots}
	return c, nil
}

func (p *connPool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for k, c := range p.conns {
		errs = append(errs, c.conn.Close())
		delete(p.conns, k)
	}
	return errors.Join(errs...)
}
