package orderer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/orderer/blockcutter"
	"github.com/weft-ledger/weft/orderer/broadcast"
	"github.com/weft-ledger/weft/orderer/raftchain"
	"github.com/weft-ledger/weft/protos"
)

// genesisOnly is a block store holding a genesis block and nothing else.
type genesisOnly struct{ g *cb.Block }

func (s genesisOnly) Height() uint64 { return 1 }
func (s genesisOnly) Block(n uint64) (*cb.Block, error) {
	if n != 0 {
		return nil, errors.New("no such block")
	}
	return s.g, nil
}
func (s genesisOnly) Append(*cb.Block) error { return errors.New("read-only store") }

type nopSigner struct{}

func (nopSigner) Sign([]byte) ([]byte, error) { return []byte("sig"), nil }
func (nopSigner) Serialize() ([]byte, error)  { return []byte("orderer"), nil }

// The broadcast stream waits for an envelope's commit itself (no goroutine
// per envelope): the chain's answer, mapped to broadcast's sentinels, wins
// even when the chain stopped right after giving it; a chain that stops
// without answering answers SERVICE_UNAVAILABLE; a stream that ends answers
// its context's error.
func TestChannelAwait(t *testing.T) {
	chain, err := raftchain.New(raftchain.Config{ChannelID: "mychannel", NodeID: 1, Voters: []uint64{1}, WALDir: t.TempDir(), Signer: nopSigner{},
		Batch: blockcutter.Config{MaxMessageCount: 10, AbsoluteMaxBytes: 1 << 20, PreferredMaxBytes: 1 << 19, BatchTimeout: time.Second}},
		genesisOnly{protos.NewBlock(0, nil, nil)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &channel{name: "mychannel", chain: chain}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.await(ctx, make(chan error)); !errors.Is(err, context.Canceled) {
		t.Fatalf("await with the stream ended = %v, want context.Canceled", err)
	}

	chain.Halt()
	answered := make(chan error, 1)
	answered <- raftchain.ErrNoLeader
	if err := c.await(context.Background(), answered); !errors.Is(err, broadcast.ErrUnavailable) || !strings.Contains(err.Error(), "no Raft leader") {
		t.Fatalf("await of an answered envelope on a halted chain = %v, want the answer (no leader)", err)
	}
	ok := make(chan error, 1)
	ok <- nil
	if err := c.await(context.Background(), ok); err != nil {
		t.Fatalf("await of a committed envelope on a halted chain = %v, want nil", err)
	}
	err = c.await(context.Background(), make(chan error))
	if !errors.Is(err, broadcast.ErrUnavailable) || !strings.Contains(err.Error(), raftchain.ErrHalted.Error()) {
		t.Fatalf("await on a chain halted without answering = %v, want ErrUnavailable naming ErrHalted", err)
	}
}
