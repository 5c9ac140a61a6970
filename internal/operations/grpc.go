package operations

import (
	"context"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// GRPCServerOptions instruments a gRPC server with Fabric's grpc_server_*
// and grpc_comm_conn_* families in r: requests received and completed and
// their duration per service, method and status code, stream messages sent
// and received, and connections opened and closed. The service label is the
// method's service with dots turned into underscores (protos_Endorser,
// orderer_AtomicBroadcast), the method label its name, the code label the
// gRPC status code's name (OK, Unavailable).
func GRPCServerOptions(r *Registry) []grpc.ServerOption {
	m := newGRPCMetrics(r)
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(m.unary),
		grpc.ChainStreamInterceptor(m.stream),
		grpc.StatsHandler(connCounter{m.connOpened, m.connClosed}),
	}
}

type grpcMetrics struct {
	unaryDuration, streamDuration   *Histogram
	unaryReceived, streamReceived   *Counter
	unaryCompleted, streamCompleted *Counter
	msgsSent, msgsReceived          *Counter
	connOpened, connClosed          CounterSeries

	methods sync.Map // full method name → *grpcMethod
}

// grpcMethod holds a method's label values and its unlabelled-by-code series.
type grpcMethod struct {
	service, method        string
	received               CounterSeries
	msgsSent, msgsReceived CounterSeries
}

func newGRPCMetrics(r *Registry) *grpcMetrics {
	sm := []string{"service", "method"}
	smc := []string{"service", "method", "code"}
	return &grpcMetrics{
		unaryDuration: r.Histogram(Opts{Name: "grpc_server_unary_request_duration", Labels: smc,
			Help: "The time to complete a unary request."}, nil),
		unaryReceived: r.Counter(Opts{Name: "grpc_server_unary_requests_received", Labels: sm,
			Help: "The number of unary requests received."}),
		unaryCompleted: r.Counter(Opts{Name: "grpc_server_unary_requests_completed", Labels: smc,
			Help: "The number of unary requests completed."}),
		streamDuration: r.Histogram(Opts{Name: "grpc_server_stream_request_duration", Labels: smc,
			Help: "The time to complete a stream request."}, nil),
		streamReceived: r.Counter(Opts{Name: "grpc_server_stream_requests_received", Labels: sm,
			Help: "The number of stream requests received."}),
		streamCompleted: r.Counter(Opts{Name: "grpc_server_stream_requests_completed", Labels: smc,
			Help: "The number of stream requests completed."}),
		msgsReceived: r.Counter(Opts{Name: "grpc_server_stream_messages_received", Labels: sm,
			Help: "The number of stream messages received."}),
		msgsSent: r.Counter(Opts{Name: "grpc_server_stream_messages_sent", Labels: sm,
			Help: "The number of stream messages sent."}),
		connOpened: r.Counter(Opts{Name: "grpc_comm_conn_opened",
			Help: "gRPC connections opened. Open minus closed is the active number of connections."}).With(),
		connClosed: r.Counter(Opts{Name: "grpc_comm_conn_closed",
			Help: "gRPC connections closed. Open minus closed is the active number of connections."}).With(),
	}
}

// method returns the label values and series of a full method name
// ("/protos.Endorser/ProcessProposal"), computed once per method.
func (m *grpcMetrics) method(full string, received *Counter) *grpcMethod {
	if v, ok := m.methods.Load(full); ok {
		return v.(*grpcMethod)
	}
	service, method := "unknown", "unknown"
	if parts := strings.Split(strings.ReplaceAll(full, ".", "_"), "/"); len(parts) == 3 {
		service, method = parts[1], parts[2]
	}
	gm := &grpcMethod{service: service, method: method, received: received.With(service, method),
		msgsSent: m.msgsSent.With(service, method), msgsReceived: m.msgsReceived.With(service, method)}
	v, _ := m.methods.LoadOrStore(full, gm)
	return v.(*grpcMethod)
}

func (m *grpcMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	gm := m.method(info.FullMethod, m.unaryReceived)
	gm.received.Inc()
	start := time.Now()
	resp, err := handler(ctx, req)
	code := status.Code(err).String()
	m.unaryDuration.Observe(time.Since(start).Seconds(), gm.service, gm.method, code)
	m.unaryCompleted.Inc(gm.service, gm.method, code)
	return resp, err
}

func (m *grpcMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	gm := m.method(info.FullMethod, m.streamReceived)
	gm.received.Inc()
	start := time.Now()
	err := handler(srv, &countingStream{ServerStream: ss, m: gm})
	code := status.Code(err).String()
	m.streamDuration.Observe(time.Since(start).Seconds(), gm.service, gm.method, code)
	m.streamCompleted.Inc(gm.service, gm.method, code)
	return err
}

// countingStream counts the messages of one stream.
type countingStream struct {
	grpc.ServerStream
	m *grpcMethod
}

func (s *countingStream) SendMsg(msg any) error {
	s.m.msgsSent.Inc()
	return s.ServerStream.SendMsg(msg)
}

func (s *countingStream) RecvMsg(msg any) error {
	err := s.ServerStream.RecvMsg(msg)
	if err == nil {
		s.m.msgsReceived.Inc()
	}
	return err
}

// connCounter counts the server's connections.
type connCounter struct{ opened, closed CounterSeries }

func (connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (connCounter) HandleRPC(context.Context, stats.RPCStats)                         {}
func (connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (c connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	switch s.(type) {
	case *stats.ConnBegin:
		c.opened.Inc()
	case *stats.ConnEnd:
		c.closed.Inc()
	}
}
