package flowcontrol

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// pingCounter counts the HTTP/2 PING frames (not acks) read from a
// connection: the ones the other side sends on its own.
type pingCounter struct {
	net.Conn
	mu    sync.Mutex
	buf   []byte
	pings int
}

func (c *pingCounter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p[:n]...)
	for len(c.buf) >= 9 { // a frame: 24-bit length, type, flags, stream ID, payload
		size := 9 + int(binary.BigEndian.Uint32(append([]byte{0}, c.buf[:3]...)))
		if len(c.buf) < size {
			break
		}
		const pingFrame, ackFlag = 0x6, 0x1
		if c.buf[3] == pingFrame && c.buf[4]&ackFlag == 0 {
			c.pings++
		}
		c.buf = c.buf[size:]
	}
	return n, err
}

func (c *pingCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pings
}

// countingListener wraps every accepted connection in a pingCounter.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*pingCounter
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	pc := &pingCounter{Conn: c}
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
		n += c.count()
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

	var conn *pingCounter
	dopts = append(dopts, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			conn = &pingCounter{Conn: c}
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
	return conn.count(), lis.count()
}

// With fixed windows neither side probes the bandwidth; with gRPC's
// defaults the server pings after every request of one-at-a-time calls.
func TestFixedWindowsSendNoBandwidthPings(t *testing.T) {
	if s, c := pings(t, ServerOptions(), DialOptions()); s != 0 || c != 0 {
		t.Fatalf("with fixed windows the server sent %d PINGs and the client %d, want none", s, c)
	}
	if s, _ := pings(t, nil, nil); s < 10 {
		t.Fatalf("with gRPC's defaults the server sent %d PINGs over 20 calls; the test no longer sees what the fixed windows avoid", s)
	}
}
