package flowcontrol

import (
	"context"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// countingListener wraps every accepted connection in a pingCounter.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*PingConn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	pc := CountPings(c, true)
	l.mu.Lock()
	l.conns = append(l.conns, pc)
	l.mu.Unlock()
	return pc, nil
}

func (l *countingListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.conns {
		n += c.Pings()
	}
	return n
}

// pings makes 20 unary calls between a server and a client with the given
// options and returns the PINGs each side received from the other.
func pings(t *testing.T, sopts []grpc.ServerOption, dopts []grpc.DialOption) (byServer, byClient int) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis := &countingListener{Listener: raw}
	srv := grpc.NewServer(sopts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	var conn *PingConn
	dopts = append(dopts, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			conn = CountPings(c, false)
			return conn, nil
		}))
	cc, err := grpc.NewClient(raw.Addr().String(), dopts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)
	for range 20 {
		if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	return conn.Pings(), lis.count()
}

// With fixed windows neither side probes the bandwidth; with gRPC's
// defaults each pings after nearly every message of one-at-a-time calls.
func TestFixedWindowsSendNoBandwidthPings(t *testing.T) {
	if s, c := pings(t, ServerOptions(), DialOptions()); s != 0 || c != 0 {
		t.Fatalf("with fixed windows the server sent %d PINGs and the client %d, want none", s, c)
	}
	if s, c := pings(t, nil, nil); s < 10 || c < 10 {
		t.Fatalf("with gRPC's defaults the server sent %d PINGs and the client %d over 20 calls; the test no longer sees what the fixed windows avoid", s, c)
	}
}
