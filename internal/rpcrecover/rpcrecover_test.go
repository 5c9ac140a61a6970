package rpcrecover

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

type panickyEndorser struct{ pb.UnimplementedEndorserServer }

func (panickyEndorser) ProcessProposal(context.Context, *pb.SignedProposal) (*pb.ProposalResponse, error) {
	panic("boom in unary")
}

type panickyDeliver struct{ pb.UnimplementedDeliverServer }

func (panickyDeliver) Deliver(s grpc.BidiStreamingServer[cb.Envelope, pb.DeliverResponse]) error {
	panic("boom in stream")
}

func TestPanicsBecomeInternalErrors(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(ServerOptions(slog.New(slog.NewTextHandler(io.Discard, nil)))...)
	pb.RegisterEndorserServer(srv, panickyEndorser{})
	pb.RegisterDeliverServer(srv, panickyDeliver{})
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	for i := 0; i < 2; i++ { // the server survives the first panic
		_, err = pb.NewEndorserClient(conn).ProcessProposal(context.Background(), &pb.SignedProposal{})
		if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "ProcessProposal") {
			t.Fatalf("call %d: err = %v, want Internal naming the method", i, err)
		}
	}
	stream, err := pb.NewDeliverClient(conn).Deliver(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Internal {
		t.Fatalf("stream err = %v, want Internal", err)
	}
}

// syncBuf is a log sink safe for concurrent writers.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

//go:noinline
func explode() error { panic("boom in a worker") }

// A goroutine started for a request turns its panic into an error for that
// request, logged with the stack; the process goes on.
func TestGoroutinePanicBecomesError(t *testing.T) {
	var logs syncBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	errc := make(chan error, 1)
	go func() {
		var err error
		defer func() { errc <- err }()
		defer Recover(log, "validate transaction 1 of block 2", &err)
		explode()
	}()
	err := <-errc
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "boom in a worker" ||
		!strings.Contains(err.Error(), "validate transaction 1 of block 2") || !strings.Contains(err.Error(), "boom in a worker") {
		t.Fatalf("err = %v, want a *PanicError naming the work and the panic", err)
	}
	if !strings.Contains(string(pe.Stack), "rpcrecover.explode") {
		t.Fatalf("stack does not show where it panicked:\n%s", pe.Stack)
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "rpcrecover.explode") {
		t.Fatalf("the panic was not logged with its stack: %s", out)
	}

	if err := Call(log, "send answer", explode); !errors.As(err, &pe) || pe.What != "send answer" {
		t.Fatalf("Call = %v, want a *PanicError for send answer", err)
	}
	want := errors.New("plain failure")
	if err := Call(log, "send answer", func() error { return want }); err != want {
		t.Fatalf("Call without a panic = %v, want the function's own error", err)
	}
}
