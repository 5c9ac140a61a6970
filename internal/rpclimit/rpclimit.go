package rpclimit

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Service names as gRPC spells them in a method's full name, with the
// leading slash Fabric's messages show.
const (
	EndorserService = "/protos.Endorser"
	DeliverService  = "/protos.Deliver"
	GatewayService  = "/gateway.Gateway"
)

// Limiter holds one counter per limited service. It is safe for concurrent use.
type Limiter struct {
	limits map[string]*counter
	log    *slog.Logger
}

type counter struct {
	max      int64
	inFlight atomic.Int64
}

// New returns a Limiter allowing limits[service] requests at once (services
// named as EndorserService, with the leading slash); a limit of 0 or less
// leaves a service unlimited. log may be nil.
func New(limits map[string]int, log *slog.Logger) *Limiter {
	if log == nil {
		log = slog.Default()
	}
	l := &Limiter{limits: map[string]*counter{}, log: log}
	for svc, n := range limits {
		if n > 0 {
			l.limits[svc] = &counter{max: int64(n)}
		}
	}
	return l
}

// InFlight is the number of calls and streams of service being served.
func (l *Limiter) InFlight(service string) int {
	if c := l.limits[service]; c != nil {
		return int(c.inFlight.Load())
	}
	return 0
}

// acquire takes a slot for the service of fullMethod; release is nil when the
// service is not limited. It fails when the service is full.
func (l *Limiter) acquire(fullMethod string) (release func(), err error) {
	svc := serviceOf(fullMethod)
	c := l.limits[svc]
	if c == nil {
		return nil, nil
	}
	if c.inFlight.Add(1) > c.max {
		c.inFlight.Add(-1)
		l.log.Warn("request refused: service at its concurrency limit", "service", svc, "method", fullMethod, "limit", c.max)
		return nil, status.Errorf(codes.ResourceExhausted, "too many requests for %s, exceeding concurrency limit (%d)", svc, c.max)
	}
	return func() { c.inFlight.Add(-1) }, nil
}

// serviceOf is "/protos.Endorser" for "/protos.Endorser/ProcessProposal".
func serviceOf(fullMethod string) string {
	if i := strings.LastIndexByte(fullMethod, '/'); i > 0 {
		return fullMethod[:i]
	}
	return fullMethod
}

// ServerOptions returns the unary and stream interceptors that enforce the
// limits. Put them after the metrics interceptors, so refused calls are
// counted, and before rpcrecover's.
func (l *Limiter) ServerOptions() []grpc.ServerOption {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		release, err := l.acquire(info.FullMethod)
		if err != nil {
			return nil, err
		}
		if release != nil {
			defer release()
		}
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		release, err := l.acquire(info.FullMethod)
		if err != nil {
			return err
		}
		if release != nil {
			defer release()
		}
		return handler(srv, ss)
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream)}
}
