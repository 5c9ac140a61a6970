package deliver

import (
	"context"
	"fmt"
	"net"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// startHandler is startServer that also returns the handler, to look at
// what it shares between streams.
func startHandler(t *testing.T, chans channelMap) (*Handler, *grpc.ClientConn) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(chans, nil)
	srv := grpc.NewServer()
	ab.RegisterAtomicBroadcastServer(srv, server{h: h})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return h, conn
}

// fetch asks for blocks from..to of channel and returns them.
func fetch(t *testing.T, conn *grpc.ClientConn, channel string, from, to uint64, opts ...grpc.CallOption) []*cb.Block {
	t.Helper()
	s, err := ab.NewAtomicBroadcastClient(conn).Deliver(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(request(t, channel, "Org1MSP", &ab.SeekInfo{Start: specified(from), Stop: specified(to)})); err != nil {
		t.Fatal(err)
	}
	var got []*cb.Block
	for {
		r, err := s.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		switch x := r.Type.(type) {
		case *ab.DeliverResponse_Block:
			got = append(got, x.Block)
		case *ab.DeliverResponse_Status:
			if x.Status != cb.Status_SUCCESS {
				t.Fatalf("status %s", x.Status)
			}
			s.CloseSend()
			return got
		}
	}
}

func sameBlocks(t *testing.T, what string, got []*cb.Block, ch *memChannel, from uint64) {
	t.Helper()
	for i, b := range got {
		want, _ := ch.Block(from + uint64(i))
		if !proto.Equal(b, want) {
			t.Fatalf("%s: block %d differs from the channel's", what, from+uint64(i))
		}
	}
}

func sharedCount(h *Handler) int {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	return len(h.shared.entries)
}

// Streams share one encoding of a recent block, per channel and per block
// (not per number), and a compressed stream encodes its own.
func TestSharedEncoding(t *testing.T) {
	a, b := newMemChannel(3), newMemChannel(3)
	// Channel b's blocks have the same numbers as a's but other contents.
	for i := range b.blocks {
		b.blocks[i] = protos.NewBlock(uint64(i), nil, [][]byte{[]byte(fmt.Sprintf("other%d", i))})
	}
	h, conn := startHandler(t, channelMap{"a": a, "b": b})

	sameBlocks(t, "gzip stream", fetch(t, conn, "a", 0, 2, grpc.UseCompressor(gzip.Name)), a, 0)
	if n := sharedCount(h); n != 0 {
		t.Fatalf("a compressed stream shared %d encodings; want none", n)
	}
	for i := range 2 {
		sameBlocks(t, fmt.Sprintf("stream %d on a", i), fetch(t, conn, "a", 0, 2), a, 0)
		sameBlocks(t, fmt.Sprintf("stream %d on b", i), fetch(t, conn, "b", 0, 2), b, 0)
	}
	if n := sharedCount(h); n != 6 {
		t.Fatalf("%d shared encodings; want 6 (3 blocks of 2 channels)", n)
	}
	// Block 1 of a read again (another *cb.Block, here with other
	// contents): its old encoding must not be sent for it.
	a.mu.Lock()
	a.blocks[1] = protos.NewBlock(1, nil, [][]byte{[]byte("reread")})
	a.mu.Unlock()
	sameBlocks(t, "after re-read", fetch(t, conn, "a", 0, 2), a, 0)
	sameBlocks(t, "gzip after sharing", fetch(t, conn, "a", 0, 2, grpc.UseCompressor(gzip.Name)), a, 0)
}

// A stream far behind the top sends its blocks without keeping their
// encoding, so it does not push out the blocks the streams at the top share.
func TestSharedOnlyNearTop(t *testing.T) {
	ch := newMemChannel(sharedDepth + 4)
	h, conn := startHandler(t, channelMap{"a": ch})
	sameBlocks(t, "old blocks", fetch(t, conn, "a", 0, 3), ch, 0)
	if n := sharedCount(h); n != 0 {
		t.Fatalf("%d shared encodings of blocks %d deep; want none", n, sharedDepth)
	}
	sameBlocks(t, "top", fetch(t, conn, "a", sharedDepth+3, sharedDepth+3), ch, sharedDepth+3)
	if n := sharedCount(h); n != 1 {
		t.Fatalf("%d shared encodings; want 1", n)
	}
}
