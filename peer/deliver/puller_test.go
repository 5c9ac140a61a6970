package deliver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// fakeOrderer serves AtomicBroadcast/Deliver from a fixed chain. The first
// stream served by any orderer sharing broke breaks after breakAfter blocks
// (0 = never).
type fakeOrderer struct {
	ab.UnimplementedAtomicBroadcastServer
	blocks     []*cb.Block
	breakAfter int
	broke      *atomic.Bool // shared by the fixture's orderers
	readers    Policy       // the channel's /Channel/Readers

	mu      sync.Mutex
	streams int
	starts  []uint64 // requested start of each stream
}

func (o *fakeOrderer) Deliver(stream grpc.BidiStreamingServer[cb.Envelope, ab.DeliverResponse]) error {
	env, err := stream.Recv()
	if err != nil {
		return err
	}
	penv, err := protos.ParseEnvelope(env)
	if err != nil {
		return err
	}
	if err := o.readers.Evaluate([]protos.SignedData{penv.SignedData()}); err != nil {
		return stream.Send(&ab.DeliverResponse{Type: &ab.DeliverResponse_Status{Status: cb.Status_FORBIDDEN}})
	}
	seek := &ab.SeekInfo{}
	if err := proto.Unmarshal(penv.Payload.Data, seek); err != nil {
		return err
	}
	start := seek.Start.GetSpecified().GetNumber()
	first := o.broke.CompareAndSwap(false, true)
	o.mu.Lock()
	o.streams++
	o.starts = append(o.starts, start)
	o.mu.Unlock()
	sent := 0
	for n := start; n < uint64(len(o.blocks)); n++ {
		if first && o.breakAfter > 0 && sent == o.breakAfter {
			return errors.New("orderer crashed mid-stream")
		}
		if err := stream.Send(&ab.DeliverResponse{Type: &ab.DeliverResponse_Block{Block: o.blocks[n]}}); err != nil {
			return err
		}
		sent++
	}
	<-stream.Context().Done() // BLOCK_UNTIL_READY: nothing more to send
	return nil
}

func (o *fakeOrderer) seenStarts() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]uint64(nil), o.starts...)
}

// testChain returns the devnet genesis block followed by n-1 blocks.
func testChain(t *testing.T, d *devnet, signer protos.Signer, n int) []*cb.Block {
	blocks := []*cb.Block{d.genesis}
	prev := d.genesis
	for i := 1; i < n; i++ {
		e, _ := endorserTx(t, signer, testChannel, "basic", "", nil)
		b := nextBlock(prev, e)
		blocks = append(blocks, b)
		prev = b
	}
	return blocks
}

type pullerFixture struct {
	d        *devnet
	peer     protos.Signer
	blocks   []*cb.Block
	a, b     *fakeOrderer
	eps      []Endpoint
	accepted []uint64
	ahead    func(*cb.Block) // the puller's Ahead; nil for none
}

// newPullerFixture starts two fake orderers over TLS with the devnet orderer's
// certificate; they admit requests by the channel's real /Channel/Readers
// policy. The first stream (to either, the puller starts at random) breaks
// after breakAfter blocks.
func newPullerFixture(t *testing.T, nBlocks, breakAfter int) *pullerFixture {
	d := getDevnet(t)
	f := &pullerFixture{d: d, peer: d.Signer(t, "peer0.org1.example.com")}
	f.blocks = testChain(t, d, f.peer, nBlocks)
	readers, err := d.bundle.Policy("/Channel/Readers")
	if err != nil {
		t.Fatal(err)
	}
	broke := &atomic.Bool{}
	f.a = &fakeOrderer{blocks: f.blocks, breakAfter: breakAfter, broke: broke, readers: readers}
	f.b = &fakeOrderer{blocks: f.blocks, breakAfter: breakAfter, broke: broke, readers: readers}
	// the config's orderer endpoint carries the TLS roots of OrdererMSP
	eps := OrdererEndpoints(d.bundle)
	if len(eps) != 1 || eps[0].Address != "localhost:7050" {
		t.Fatalf("orderer endpoints from the config: %v", eps)
	}
	cert := d.TLSCert(t, "orderer.example.com")
	for _, o := range []*fakeOrderer{f.a, f.b} {
		addr := serveTLS(t, cert, func(s *grpc.Server) { ab.RegisterAtomicBroadcastServer(s, o) })
		f.eps = append(f.eps, Endpoint{Address: addr, TLSRoots: eps[0].TLSRoots})
	}
	return f
}

// pull runs the puller until want blocks were accepted, then cancels it.
func (f *pullerFixture) pull(t *testing.T, from uint64, want int, accept func(*cb.Block) error) {
	t.Helper()
	clientCert := f.d.TLSCert(t, "peer0.org1.example.com")
	p, err := NewPuller(PullerConfig{
		ChannelID:  testChannel,
		Ahead:      f.ahead,
		Endpoints:  func() []Endpoint { return f.eps },
		Signer:     f.peer,
		ClientCert: &clientCert,
		MinBackoff: time.Millisecond,
		MaxBackoff: 20 * time.Millisecond,
		// The fakes serve only the puller's own requests, not height checks.
		BehindTimeout: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- p.Pull(ctx, from, func(b *cb.Block) error {
			if err := accept(b); err != nil {
				return err
			}
			f.accepted = append(f.accepted, b.Header.Number)
			if len(f.accepted) == want {
				cancel()
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Pull returned %v, want context.Canceled", err)
		}
	case <-time.After(15 * time.Second):
		cancel()
		<-done
		t.Fatalf("puller accepted only %v", f.accepted)
	}
}

func TestPullerResumesAfterBrokenStream(t *testing.T) {
	f := newPullerFixture(t, 6, 2)
	var prevHash []byte
	f.pull(t, 1, 5, func(b *cb.Block) error {
		if prevHash != nil && string(b.Header.PreviousHash) != string(prevHash) {
			return fmt.Errorf("block %d does not chain", b.Header.Number)
		}
		prevHash = protos.BlockHeaderHash(b.Header)
		return nil
	})
	if fmt.Sprint(f.accepted) != "[1 2 3 4 5]" {
		t.Fatalf("accepted %v, want [1 2 3 4 5] with no duplicates", f.accepted)
	}
	// The first orderer broke after blocks 1 and 2; the other was asked to resume at 3.
	first, other := f.a, f.b
	if got := f.a.seenStarts(); len(got) == 0 || got[0] != 1 {
		first, other = f.b, f.a
	}
	if got := fmt.Sprint(first.seenStarts()); got != "[1]" {
		t.Errorf("the first orderer saw starts %s, want [1]", got)
	}
	if got := other.seenStarts(); len(got) == 0 || got[0] != 3 {
		t.Errorf("the other orderer saw starts %v, want first start 3", got)
	}
}

func TestPullerRetriesRejectedBlockElsewhere(t *testing.T) {
	f := newPullerFixture(t, 4, 0)
	rejected := false
	f.pull(t, 0, 4, func(b *cb.Block) error {
		if b.Header.Number == 2 && !rejected {
			rejected = true
			return errors.New("bad orderer signature")
		}
		return nil
	})
	if fmt.Sprint(f.accepted) != "[0 1 2 3]" {
		t.Fatalf("accepted %v, want [0 1 2 3]", f.accepted)
	}
	first, other := f.a, f.b
	if len(f.a.seenStarts()) == 0 || f.a.seenStarts()[0] != 0 {
		first, other = f.b, f.a
	}
	if got := fmt.Sprint(first.seenStarts()); got != "[0]" {
		t.Errorf("the first orderer saw starts %s, want [0]", got)
	}
	if got := other.seenStarts(); len(got) == 0 || got[0] != 2 {
		t.Errorf("after rejecting block 2 from the first orderer, the other saw starts %v, want 2 first", got)
	}
}

// The stream is read one block ahead of accept: Ahead is told of block n+1
// while accept still holds block n, and accept then gets that same block.
func TestPullerReadsOneBlockAhead(t *testing.T) {
	f := newPullerFixture(t, 4, 0)
	var mu sync.Mutex
	seen := map[uint64]*cb.Block{}
	arrived := map[uint64]chan struct{}{}
	for n := range uint64(4) {
		arrived[n] = make(chan struct{})
	}
	f.ahead = func(b *cb.Block) {
		mu.Lock()
		defer mu.Unlock()
		if seen[b.Header.Number] == nil {
			seen[b.Header.Number] = b
			close(arrived[b.Header.Number])
		}
	}
	f.pull(t, 1, 3, func(b *cb.Block) error {
		n := b.Header.Number
		mu.Lock()
		told := seen[n]
		mu.Unlock()
		if told != b {
			return fmt.Errorf("accept got block %d, which Ahead was not told of", n)
		}
		if n < 3 {
			// accept holds block n until Ahead is told of block n+1.
			select {
			case <-arrived[n+1]:
			case <-time.After(5 * time.Second):
				t.Errorf("block %d in accept: Ahead never told of block %d", n, n+1)
			}
		}
		return nil
	})
	if fmt.Sprint(f.accepted) != "[1 2 3]" {
		t.Fatalf("accepted %v, want [1 2 3]", f.accepted)
	}
}

func TestPullerStopsOnCancelWithNoEndpoints(t *testing.T) {
	signer := getDevnet(t).Signer(t, "peer0.org1.example.com")
	p, err := NewPuller(PullerConfig{ChannelID: testChannel, Endpoints: func() []Endpoint { return nil }, Signer: signer, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Pull(ctx, 0, func(*cb.Block) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pull returned %v", err)
	}
}
