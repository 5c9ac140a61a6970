package deliver

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

type mspPolicy string

func (p mspPolicy) Evaluate(sd []protos.SignedData) error {
	sid := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(sd[0].Identity, sid); err != nil || sid.Mspid != string(p) {
		return fmt.Errorf("principal %s.member not satisfied by %s", p, sid.Mspid)
	}
	return nil
}

// memChannel is a hand-written Channel whose height grows on append.
type memChannel struct {
	mu      sync.Mutex
	blocks  []*cb.Block
	grew    chan struct{} // closed and replaced on every append
	errored chan struct{}
}

func newMemChannel(n int) *memChannel {
	c := &memChannel{grew: make(chan struct{}), errored: make(chan struct{})}
	for range n {
		c.append()
	}
	return c
}

func (c *memChannel) append() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var prev []byte
	if len(c.blocks) > 0 {
		prev = protos.BlockHeaderHash(c.blocks[len(c.blocks)-1].Header)
	}
	n := uint64(len(c.blocks))
	c.blocks = append(c.blocks, protos.NewBlock(n, prev, [][]byte{[]byte(fmt.Sprintf("tx%d", n))}))
	close(c.grew)
	c.grew = make(chan struct{})
}

func (c *memChannel) Policy(path string) (Policy, error) {
	if path != ReadersPolicy {
		return nil, fmt.Errorf("unexpected policy %s", path)
	}
	return mspPolicy("Org1MSP"), nil
}
func (c *memChannel) Height() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return uint64(len(c.blocks))
}
func (c *memChannel) Block(n uint64) (*cb.Block, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blocks[n], nil
}
func (c *memChannel) WaitHeight(ctx context.Context, h uint64) error {
	for {
		c.mu.Lock()
		ok, grew := uint64(len(c.blocks)) >= h, c.grew
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-grew:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
func (c *memChannel) Errored() <-chan struct{} { return c.errored }

type channelMap map[string]Channel

func (m channelMap) Channel(name string) (Channel, bool) { c, ok := m[name]; return c, ok }

type server struct {
	ab.UnimplementedAtomicBroadcastServer
	h *Handler
}

func (s server) Deliver(stream ab.AtomicBroadcast_DeliverServer) error { return s.h.Handle(stream) }

type idSigner string

func (s idSigner) Sign([]byte) ([]byte, error) { return []byte("sig"), nil }
func (s idSigner) Serialize() ([]byte, error) {
	return protos.Marshal(&mspproto.SerializedIdentity{Mspid: string(s), IdBytes: []byte("cert")}), nil
}

func startServer(t *testing.T, chans channelMap) ab.AtomicBroadcastClient {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ab.RegisterAtomicBroadcastServer(srv, server{h: NewHandler(chans, nil)})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return ab.NewAtomicBroadcastClient(conn)
}

func specified(n uint64) *ab.SeekPosition {
	return &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: n}}}
}

var (
	oldest = &ab.SeekPosition{Type: &ab.SeekPosition_Oldest{Oldest: &ab.SeekOldest{}}}
	newest = &ab.SeekPosition{Type: &ab.SeekPosition_Newest{Newest: &ab.SeekNewest{}}}
)

func request(t *testing.T, channel, msp string, seek *ab.SeekInfo) *cb.Envelope {
	env, err := protos.NewSignedEnvelope(cb.HeaderType_DELIVER_SEEK_INFO, channel, idSigner(msp), seek)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// receive reads responses until a status and renders them: "0 1 2 SUCCESS".
func receive(t *testing.T, s ab.AtomicBroadcast_DeliverClient) string {
	t.Helper()
	var out []string
	for {
		r, err := s.Recv()
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		switch x := r.Type.(type) {
		case *ab.DeliverResponse_Block:
			tag := fmt.Sprint(x.Block.Header.Number)
			if x.Block.Data == nil {
				tag += "h"
			}
			out = append(out, tag)
		case *ab.DeliverResponse_Status:
			return strings.Join(append(out, x.Status.String()), " ")
		}
	}
}

func TestSeekSemantics(t *testing.T) {
	ch := newMemChannel(3)
	client := startServer(t, channelMap{"mychannel": ch})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := client.Deliver(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  *cb.Envelope
		want string
	}{
		{"oldest to newest", request(t, "mychannel", "Org1MSP", &ab.SeekInfo{Start: oldest, Stop: newest}), "0 1 2 SUCCESS"},
		{"specified", request(t, "mychannel", "Org1MSP", &ab.SeekInfo{Start: specified(1), Stop: specified(1)}), "1 SUCCESS"},
		{"newest", request(t, "mychannel", "Org1MSP", &ab.SeekInfo{Start: newest, Stop: newest}), "2 SUCCESS"},
		{"headers only", request(t, "mychannel", "Org1MSP", &ab.SeekInfo{Start: oldest, Stop: specified(0), ContentType: ab.SeekInfo_HEADER_WITH_SIG}), "0h SUCCESS"},
		{"not ready", request(t, "mychannel", "Org1MSP", &ab.SeekInfo{Start: specified(5), Stop: specified(5), Behavior: ab.SeekInfo_FAIL_IF_NOT_READY}), "NOT_FOUND"},
		{"partly ready", request(t, "mychannel", "Org1MSP", &ab.SeekInfo{Start: specified(2), Stop: specified(3), Behavior: ab.SeekInfo_FAIL_IF_NOT_READY}), "2 NOT_FOUND"},
		{"stop below start", request(t, "mychannel", "Org1MSP", &ab.SeekInfo{Start: specified(2), Stop: specified(1)}), "BAD_REQUEST"},
		{"no stop", request(t, "mychannel", "Org1MSP", &ab.SeekInfo{Start: oldest}), "BAD_REQUEST"},
		{"unknown channel", request(t, "other", "Org1MSP", &ab.SeekInfo{Start: oldest, Stop: newest}), "NOT_FOUND"},
		{"readers policy", request(t, "mychannel", "Org2MSP", &ab.SeekInfo{Start: oldest, Stop: newest}), "FORBIDDEN"},
		{"malformed", &cb.Envelope{Payload: []byte{0xff}}, "BAD_REQUEST"},
	} {
		if err := stream.Send(tc.env); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, stream); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}

	// BLOCK_UNTIL_READY streams blocks as they are written.
	if err := stream.Send(request(t, "mychannel", "Org1MSP", &ab.SeekInfo{Start: specified(3), Stop: specified(4)})); err != nil {
		t.Fatal(err)
	}
	got := make(chan string)
	go func() { got <- receive(t, stream) }()
	ch.append()
	ch.append()
	if g := <-got; g != "3 4 SUCCESS" {
		t.Fatalf("block until ready: %q", g)
	}
}

func TestStrictFailsWhenChainHalts(t *testing.T) {
	ch := newMemChannel(1)
	client := startServer(t, channelMap{"mychannel": ch})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, _ := client.Deliver(ctx)
	stream.Send(request(t, "mychannel", "Org1MSP", &ab.SeekInfo{Start: specified(0), Stop: specified(9), ErrorResponse: ab.SeekInfo_STRICT}))
	r, err := stream.Recv()
	if err != nil || r.GetBlock().GetHeader().GetNumber() != 0 || r.GetBlock() == nil {
		t.Fatalf("first response %v %v", r, err)
	}
	// the server now waits for block 1; the chain halts instead
	close(ch.errored)
	if g := receive(t, stream); g != "SERVICE_UNAVAILABLE" {
		t.Fatalf("strict on halted chain: %q", g)
	}
}
