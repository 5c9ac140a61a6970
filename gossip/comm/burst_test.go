package comm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/message"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testnet"
)

// TestBurstWithFabricBuffers sends 1,000 messages at once with Fabric's
// buffer sizes (send 200, receive 20), once while the connection is being
// made and once over an open one. Send drops what finds the buffer full,
// as Fabric does, so what must hold is: at least a buffer's worth arrives,
// nothing arrives twice or out of order, everything that arrives verifies,
// and the connection still carries messages afterwards.
func TestBurstWithFabricBuffers(t *testing.T) {
	const burst = 1000
	n := testnet.SampleNet(t)
	a := startNode(t, n, "peer0.org1.example.com", nodeOpt{})
	b := startNode(t, n, "peer0.org2.example.com", nodeOpt{})
	in := b.comm.Messages()

	envs := make([]*gp.Envelope, burst)
	for i := range envs {
		envs[i] = alive(t, a, uint64(i+1))
	}
	for round, name := range []string{"while connecting", "over an open connection"} {
		t.Run(name, func(t *testing.T) {
			for _, env := range envs {
				a.comm.Send(env, b.peer(t))
			}
			// A marker after the burst, resent until it arrives: then
			// everything of the burst that was not dropped has arrived.
			marker := uint64(1_000_000 + round)
			var got []uint64
			eventually.NoError(t, 30*time.Second, "the marker after the burst arrives", func(ctx context.Context) error {
				a.comm.Send(alive(t, a, marker), b.peer(t))
				for {
					select {
					case m := <-in:
						nonce := m.Message.Nonce
						if nonce == marker {
							return nil
						}
						if nonce >= 1_000_000 {
							continue // an earlier copy of a marker
						}
						if err := message.Verify(m.Envelope, m.Conn.Identity, func(_, sig, msg []byte) error { return a.signer.Verify(msg, sig) }); err != nil {
							t.Errorf("message %d does not verify: %v", nonce, err)
						}
						got = append(got, nonce)
					case <-time.After(time.Second):
						return errors.New("no marker yet")
					}
				}
			})
			if len(got) < comm.DefaultSendBufferSize || len(got) > burst {
				t.Fatalf("%d of %d messages arrived, want between the send buffer's %d and all", len(got), burst, comm.DefaultSendBufferSize)
			}
			for i := 1; i < len(got); i++ {
				if got[i] <= got[i-1] {
					t.Fatalf("message %d arrived after %d", got[i], got[i-1])
				}
			}
			t.Logf("%s: %d of %d arrived", name, len(got), burst)
		})
	}
	if b.streams.Load() != 1 || len(a.comm.Conns()) != 1 {
		t.Fatalf("%d streams, %d connections: the burst should run over one connection", b.streams.Load(), len(a.comm.Conns()))
	}
}
