package orderer

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/orderer/broadcast"
	"github.com/weft-ledger/weft/protos"
)

// BenchmarkNodeBroadcastDeliver drives a real orderer (TLS gRPC, the
// sampleconfig channel: BatchTimeout 200ms, MaxMessageCount 500, the default
// 500ms Raft tick) the way `weft bench` does: 128 broadcast streams with one
// envelope of ~3 KiB in flight each, and two Deliver streams (the peers)
// reading every block. One op is one envelope acknowledged and delivered to
// both readers; ack-ms is the mean broadcast round trip.
func BenchmarkNodeBroadcastDeliver(b *testing.B) {
	const streams, readers, bodySize = 128, 2, 3000
	n := newNetwork(b)
	node, err := New(n.cfg, n.signer, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	node.Start()
	b.Cleanup(node.Stop)
	if code, body := join(b, n.adminClient(b), node.AdminAddr(), n.genesis); code != http.StatusCreated {
		b.Fatalf("join: %d %s", code, body)
	}
	client := n.dial(b, node.Addr())
	user1 := n.user(b, "Org1", "User1")

	body := make([]byte, bodySize)
	rand.Read(body)
	envs := make([]*cb.Envelope, b.N)
	for i := range envs {
		envs[i] = tx(b, user1, "mychannel", string(body))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var delivered sync.WaitGroup
	ready := make(chan struct{}, readers)
	for range readers {
		delivered.Add(1)
		go func() {
			defer delivered.Done()
			s, err := client.Deliver(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			req, _ := protos.NewSignedEnvelope(cb.HeaderType_DELIVER_SEEK_INFO, "mychannel", user1, &ab.SeekInfo{
				Start: &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: 1}}},
				Stop:  &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: math.MaxUint64}}},
			})
			if err := s.Send(req); err != nil {
				b.Error(err)
				return
			}
			ready <- struct{}{}
			for got := 0; got < b.N; {
				r, err := s.Recv()
				if err != nil {
					b.Errorf("deliver after %d txs: %v", got, err)
					return
				}
				got += len(r.GetBlock().GetData().GetData())
			}
		}()
	}
	for range readers {
		<-ready
	}

	next := make(chan *cb.Envelope)
	var ackNanos sync.Mutex
	var ackTotal time.Duration
	var wg sync.WaitGroup
	b.ResetTimer()
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := client.Broadcast(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			defer s.CloseSend()
			var mine time.Duration
			for env := range next {
				t0 := time.Now()
				if err := s.Send(env); err != nil {
					b.Error(err)
					return
				}
				r, err := s.Recv()
				if err != nil || r.Status != cb.Status_SUCCESS {
					b.Errorf("broadcast: %v %v", r, err)
					return
				}
				mine += time.Since(t0)
			}
			ackNanos.Lock()
			ackTotal += mine
			ackNanos.Unlock()
		}()
	}
	for _, e := range envs {
		next <- e
	}
	close(next)
	wg.Wait()
	delivered.Wait()
	b.StopTimer()
	b.ReportMetric(float64(ackTotal.Milliseconds())/float64(b.N), "ack-ms")
}

// BenchmarkNodeLoneEnvelope measures what one client alone sees: one ~3 KiB
// envelope at a time broadcast to a real orderer (TLS gRPC, the sampleconfig
// channel: BatchTimeout 200ms) and waited for on a Deliver stream. Nothing
// else is coming, so with Weft.CutWhenIdle the orderer cuts at once rather
// than hold the envelope for BatchTimeout: ns/op is broadcast sent → block
// received (WEFT_HOLD=1: Fabric's cut, for the comparison).
func BenchmarkNodeLoneEnvelope(b *testing.B) {
	n := newNetwork(b)
	n.cfg.Weft.CutWhenIdle = os.Getenv("WEFT_HOLD") == ""
	node, err := New(n.cfg, n.signer, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	node.Start()
	b.Cleanup(node.Stop)
	if code, body := join(b, n.adminClient(b), node.AdminAddr(), n.genesis); code != http.StatusCreated {
		b.Fatalf("join: %d %s", code, body)
	}
	client := n.dial(b, node.Addr())
	user1 := n.user(b, "Org1", "User1")
	body := make([]byte, 3000)
	rand.Read(body)
	envs := make([]*cb.Envelope, b.N)
	for i := range envs {
		envs[i] = tx(b, user1, "mychannel", string(body))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := client.Deliver(ctx)
	if err != nil {
		b.Fatal(err)
	}
	req, _ := protos.NewSignedEnvelope(cb.HeaderType_DELIVER_SEEK_INFO, "mychannel", user1, &ab.SeekInfo{
		Start: &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: 1}}},
		Stop:  &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: math.MaxUint64}}},
	})
	if err := d.Send(req); err != nil {
		b.Fatal(err)
	}
	s, err := client.Broadcast(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer s.CloseSend()
	b.ResetTimer()
	for _, env := range envs {
		if err := s.Send(env); err != nil {
			b.Fatal(err)
		}
		if r, err := s.Recv(); err != nil || r.Status != cb.Status_SUCCESS {
			b.Fatalf("broadcast: %v %v", r, err)
		}
		r, err := d.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if got := len(r.GetBlock().GetData().GetData()); got != 1 {
			b.Fatalf("block %d holds %d envelopes, want the one sent", r.GetBlock().GetHeader().GetNumber(), got)
		}
	}
}

// benchChannel is the sampleconfig channel with a consensus that commits at once.
type benchChannel struct{ bundle *channelconfig.Bundle }

func (c benchChannel) Policy(path string) (broadcast.Policy, error) { return c.bundle.Policy(path) }
func (c benchChannel) AbsoluteMaxBytes() uint32                     { return c.bundle.Orderer().AbsoluteMaxBytes }
func (c benchChannel) Submit(context.Context, []byte) (<-chan error, error) {
	done := make(chan error, 1)
	done <- nil
	return done, nil
}
func (c benchChannel) ProcessConfigUpdate(*cb.Envelope) (*cb.Envelope, error) {
	return nil, errors.New("config updates are not benchmarked")
}

type benchChannels map[string]broadcast.Channel

func (m benchChannels) Channel(name string) (broadcast.Channel, bool) { c, ok := m[name]; return c, ok }

// BenchmarkBroadcastProcess measures the admission of one ~3 KiB envelope
// (parse, size, /Channel/Writers with real certificates and signatures,
// re-encode) with consensus taken out. The verify sub-benchmark is one ECDSA
// verification of the same envelope signature: process minus verify is what
// broadcast adds, and a process near one verify shows the signature is checked
// once.
func BenchmarkBroadcastProcess(b *testing.B) {
	n := newNetwork(b)
	bundle, err := channelconfig.BundleFromBlock(n.genesis)
	if err != nil {
		b.Fatal(err)
	}
	h := broadcast.NewHandler(benchChannels{"mychannel": benchChannel{bundle}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	user1 := n.user(b, "Org1", "User1")
	body := make([]byte, 3000)
	rand.Read(body)
	env := tx(b, user1, "mychannel", string(body))
	b.Run("process", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if r := h.Process(context.Background(), env); r.Status != cb.Status_SUCCESS {
				b.Fatalf("%v %s", r.Status, r.Info)
			}
		}
	})
	b.Run("verify", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := user1.Verify(env.Payload, env.Signature); err != nil {
				b.Fatal(err)
			}
		}
	})
}
