package deliver

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/internal/eventually"
)

// A panic in the goroutine watching a deliver stream ends that stream only:
// the puller reconnects and goes on from the next block, each block once.
func TestPullerSurvivesMonitorPanic(t *testing.T) {
	f := newPullerFixture(t, 4, 0)
	var calls atomic.Int32
	panicked := make(chan struct{})
	clientCert := f.d.TLSCert(t, "peer0.org1.example.com")
	p, err := NewPuller(PullerConfig{
		ChannelID: testChannel,
		// The second call is the monitor's first check of the stream.
		Endpoints: func() []Endpoint {
			if calls.Add(1) == 2 {
				close(panicked)
				panic("injected fault in the stream monitor")
			}
			return f.eps
		},
		Signer: f.peer, ClientCert: &clientCert,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, BehindTimeout: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var accepted []uint64
	done := make(chan error, 1)
	go func() {
		done <- p.Pull(ctx, 1, func(b *cb.Block) error {
			if b.Header.Number == 2 {
				<-panicked // the monitor of the first stream panics meanwhile
			}
			accepted = append(accepted, b.Header.Number)
			return nil
		})
	}()
	// The puller reads the endpoints again to reconnect: the stream ended,
	// the puller did not.
	eventually.True(t, 20*time.Second, "a new stream after the panic", func() bool { return calls.Load() >= 3 })
	cancel()
	<-done
	if fmt.Sprint(accepted) != "[1 2 3]" {
		t.Fatalf("accepted %v, want [1 2 3]", accepted)
	}
}
