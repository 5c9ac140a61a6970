package rpcrecover

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
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
