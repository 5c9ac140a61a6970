package rpclimit

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// slow services: every call or stream announces itself on entered and
// holds until release is closed.
type slow struct {
	entered chan string
	release chan struct{}
}

type slowEndorser struct {
	pb.UnimplementedEndorserServer
	*slow
}

func (s slowEndorser) ProcessProposal(context.Context, *pb.SignedProposal) (*pb.ProposalResponse, error) {
	s.entered <- EndorserService
	<-s.release
	return &pb.ProposalResponse{}, nil
}

type slowDeliver struct {
	pb.UnimplementedDeliverServer
	*slow
}

func (s slowDeliver) Deliver(grpc.BidiStreamingServer[cb.Envelope, pb.DeliverResponse]) error {
	s.entered <- DeliverService
	<-s.release
	return nil
}

type slowGateway struct {
	gwpb.UnimplementedGatewayServer
	*slow
}

func (s slowGateway) Evaluate(context.Context, *gwpb.EvaluateRequest) (*gwpb.EvaluateResponse, error) {
	s.entered <- GatewayService
	<-s.release
	return &gwpb.EvaluateResponse{}, nil
}

func serve(t *testing.T, l *Limiter, s *slow) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(l.ServerOptions()...)
	pb.RegisterEndorserServer(srv, slowEndorser{slow: s})
	pb.RegisterDeliverServer(srv, slowDeliver{slow: s})
	gwpb.RegisterGatewayServer(srv, slowGateway{slow: s})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func wantRefused(t *testing.T, err error, msg string) {
	t.Helper()
	if status.Code(err) != codes.ResourceExhausted || status.Convert(err).Message() != msg {
		t.Fatalf("err = %v, want ResourceExhausted %q", err, msg)
	}
}

// With a limit of N, N slow calls are served and call N+1 is refused at once
// with Fabric's message; once one finishes, the next is served. Streams count
// while open; services without a limit are not counted.
func TestConcurrencyLimits(t *testing.T) {
	const nEndorse, nDeliver = 3, 2
	s := &slow{entered: make(chan string, 16), release: make(chan struct{})}
	l := New(map[string]int{EndorserService: nEndorse, DeliverService: nDeliver, GatewayService: 0},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	conn := serve(t, l, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	endorser, deliver, gateway := pb.NewEndorserClient(conn), pb.NewDeliverClient(conn), gwpb.NewGatewayClient(conn)

	var wg sync.WaitGroup
	for range nEndorse {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := endorser.ProcessProposal(ctx, &pb.SignedProposal{}); err != nil {
				t.Errorf("call within the limit: %v", err)
			}
		}()
	}
	var streams []grpc.BidiStreamingClient[cb.Envelope, pb.DeliverResponse]
	for range nDeliver {
		st, err := deliver.Deliver(ctx)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	// Gateway is unlimited: as many as we like.
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := gateway.Evaluate(ctx, &gwpb.EvaluateRequest{}); err != nil {
				t.Errorf("unlimited service: %v", err)
			}
		}()
	}
	for range nEndorse + nDeliver + 4 {
		<-s.entered
	}
	if got := l.InFlight(EndorserService); got != nEndorse {
		t.Fatalf("endorser in flight = %d, want %d", got, nEndorse)
	}

	_, err := endorser.ProcessProposal(ctx, &pb.SignedProposal{})
	wantRefused(t, err, "too many requests for /protos.Endorser, exceeding concurrency limit (3)")
	extra, err := deliver.Deliver(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = extra.Recv()
	wantRefused(t, err, "too many requests for /protos.Deliver, exceeding concurrency limit (2)")

	close(s.release)
	wg.Wait()
	for _, st := range streams {
		if _, err := st.Recv(); err != io.EOF {
			t.Fatalf("stream within the limit ended with %v", err)
		}
	}
	// Slots are given back: the next call is served.
	if _, err := endorser.ProcessProposal(ctx, &pb.SignedProposal{}); err != nil {
		t.Fatalf("call after the others finished: %v", err)
	}
	if got := l.InFlight(EndorserService); got != 0 {
		t.Fatalf("endorser in flight after all calls = %d", got)
	}
}
