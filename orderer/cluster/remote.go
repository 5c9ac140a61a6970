package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/weft-ledger/weft/internal/flowcontrol"
)

// remote is the outgoing stream to one node. Its goroutine owns the stream;
// others only enqueue and read live.
type remote struct {
	endpoint string
	conn     *grpc.ClientConn
	queue    chan *ab.StepRequest
	live     atomic.Bool // a Step stream is open
	dropping atomic.Bool // a full queue was logged and not yet drained
	cancel   context.CancelFunc
	done     chan struct{}
	log      *slog.Logger
	min, max time.Duration
}

// newRemote starts the goroutine that keeps a stream open to endpoint.
func (c *Comm) newRemote(endpoint string, serverPEM []byte) (*remote, error) {
	var pinned *x509.Certificate
	if len(serverPEM) > 0 {
		var err error
		if pinned, err = parseCertPEM(serverPEM); err != nil {
			return nil, fmt.Errorf("ServerTLSCert: %w", err)
		}
	}
	// The chain is verified in VerifyConnection against the roots of the
	// moment (SetRootCAs), not a pool fixed when the remote was made; the
	// standard verification is therefore switched off, not skipped.
	tc := &tls.Config{
		Certificates:       []tls.Certificate{c.cfg.Certificate},
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return c.verifyServer(endpoint, cs, pinned)
		},
	}
	// Fixed flow-control windows (flowcontrol): with gRPC's default,
	// bandwidth estimation sends a ping, which the other orderer answers,
	// for nearly every burst of Raft messages (every block).
	opts := append(flowcontrol.DialOptions(),
		grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: c.cfg.MinBackoff, Multiplier: 2, Jitter: 0.2, MaxDelay: c.cfg.MaxBackoff},
			MinConnectTimeout: c.cfg.DialTimeout,
		}))
	if c.cfg.KeepaliveInterval > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: c.cfg.KeepaliveInterval, Timeout: c.cfg.KeepaliveInterval}))
	}
	conn, err := grpc.NewClient(endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &remote{
		endpoint: endpoint,
		conn:     conn,
		queue:    make(chan *ab.StepRequest, c.cfg.QueueSize),
		cancel:   cancel,
		done:     make(chan struct{}),
		log:      c.log.With("endpoint", endpoint),
		min:      c.cfg.MinBackoff,
		max:      c.cfg.MaxBackoff,
	}
	go r.run(ctx)
	return r, nil
}

// enqueue never blocks; it reports false when the queue is full.
func (r *remote) enqueue(req *ab.StepRequest) bool {
	select {
	case r.queue <- req:
		return true
	default:
		if !r.dropping.Swap(true) {
			r.log.Warn("cluster send queue full: dropping messages to this orderer", "queue_size", cap(r.queue))
		}
		return false
	}
}

// close stops the goroutine, which closes the stream, and waits for it.
func (r *remote) close() {
	r.cancel()
	<-r.done
	r.conn.Close()
}

// run opens a stream, sends from the queue until the stream breaks, and
// starts again after a backoff, until ctx is cancelled.
func (r *remote) run(ctx context.Context) {
	defer close(r.done)
	wait := r.min
	down := false // a failure was logged at Warn and no stream opened since
	for {
		start := time.Now()
		opened, err := r.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > r.max {
			wait = r.min // the stream worked for a while: retry soon
		}
		if opened {
			down = false
		}
		if !down {
			r.log.Warn("cluster stream to orderer lost; reconnecting with backoff", "error", err)
			down = true
		}
		r.log.Debug("cluster stream broken; reconnecting", "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, r.max)
	}
}

// session runs one Step stream until it fails or ctx is done.
// opened reports whether a stream was established at all.
func (r *remote) session(ctx context.Context) (opened bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := ab.NewClusterClient(r.conn).Step(sctx)
	if err != nil {
		return false, fmt.Errorf("open cluster stream to %s: %w", r.endpoint, err)
	}
	r.live.Store(true)
	defer r.live.Store(false)
	r.log.Info("cluster stream open")

	// The server only answers with errors; reading tells us when it closes
	// the stream even while we have nothing to send.
	recvErr := make(chan error, 1)
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				recvErr <- err
				return
			}
		}
	}()
	for {
		select {
		case <-sctx.Done():
			return true, sctx.Err()
		case err := <-recvErr:
			return true, fmt.Errorf("cluster stream to %s closed: %w", r.endpoint, err)
		case req := <-r.queue:
			r.dropping.Store(false)
			if err := stream.Send(req); err != nil {
				return true, fmt.Errorf("send to %s: %w", r.endpoint, err)
			}
		}
	}
}

// verifyServer checks the server certificate another node presented: a chain
// to the current roots, valid for the name dialled, and, when the consenter's
// ServerTLSCert is known, that very certificate.
func (c *Comm) verifyServer(endpoint string, cs tls.ConnectionState, pinned *x509.Certificate) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("orderer %s presented no TLS server certificate", endpoint)
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, ic := range cs.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		host = endpoint
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.roots.Load(), Intermediates: inter, DNSName: host}); err != nil {
		return fmt.Errorf("orderer %s: TLS server certificate %q: %w", endpoint, leaf.Subject, err)
	}
	if pinned != nil && !equalBytes(leaf.Raw, pinned.Raw) {
		return fmt.Errorf("orderer %s presented a TLS server certificate that is not the consenter's ServerTLSCert (%s)", endpoint, pinned.Subject)
	}
	return nil
}
