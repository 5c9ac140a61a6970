// Package gossiptest holds what the gossip packages' tests share: a manual
// clock, hash-chained blocks, a ledger that checks them, and a verifier that
// trusts any well-formed identity. Only tests import it.
package gossiptest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// Clock is a manual clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Chain builds blocks 0..n-1, each linked to the previous one by hash.
func Chain(n int) []*cb.Block {
	out := make([]*cb.Block, n)
	var prev []byte
	for i := range n {
		b := &cb.Block{
			Header:   &cb.BlockHeader{Number: uint64(i), PreviousHash: prev, DataHash: []byte(fmt.Sprintf("data %d", i))},
			Data:     &cb.BlockData{Data: [][]byte{[]byte(fmt.Sprintf("tx %d", i))}},
			Metadata: &cb.BlockMetadata{Metadata: [][]byte{{}, {}, {}, {}, {}}},
		}
		prev = protos.BlockHeaderHash(b.Header)
		out[i] = b
	}
	return out
}

// Ledger is a gossip Committer that checks the number and the hash chain of
// every block, and refuses what Refuse says (set it before use).
type Ledger struct {
	Refuse func(*cb.Block) bool

	mu      sync.Mutex
	blocks  []*cb.Block
	refused []uint64
}

// NewLedger holds blocks (at least the genesis block).
func NewLedger(blocks []*cb.Block) *Ledger { return &Ledger{blocks: slices.Clone(blocks)} }

// Height is the number of blocks held.
func (l *Ledger) Height() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.blocks))
}

// Commit takes the next block if it extends the chain.
func (l *Ledger) Commit(b *cb.Block) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Refuse != nil && l.Refuse(b) {
		l.refused = append(l.refused, b.GetHeader().GetNumber())
		return errors.New("refused by the test")
	}
	h := uint64(len(l.blocks))
	if b.GetHeader().GetNumber() != h {
		return fmt.Errorf("expected block %d, got %d", h, b.GetHeader().GetNumber())
	}
	if !bytes.Equal(b.Header.PreviousHash, protos.BlockHeaderHash(l.blocks[h-1].Header)) {
		return fmt.Errorf("block %d does not extend block %d", h, h-1)
	}
	l.blocks = append(l.blocks, b)
	return nil
}

// Block returns a block held.
func (l *Ledger) Block(n uint64) (*cb.Block, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n >= uint64(len(l.blocks)) {
		return nil, fmt.Errorf("no block %d", n)
	}
	return l.blocks[n], nil
}

// Refused lists the numbers of the blocks Refuse refused.
func (l *Ledger) Refused() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.refused)
}

// TrustAll is an identity Verifier for a peer of an organisation no channel
// knows: it accepts any parsable identity and checks signatures with its key.
type TrustAll struct{}

// Validate returns the identity's MSP ID.
func (TrustAll) Validate(serialized []byte) (string, error) {
	id, err := msp.ParseSerializedIdentity(serialized)
	if err != nil {
		return "", err
	}
	return id.MSPID, nil
}

// Verify checks sig over msg with the identity's key.
func (TrustAll) Verify(serialized, sig, msg []byte) error {
	id, err := msp.ParseSerializedIdentity(serialized)
	if err != nil {
		return err
	}
	return id.Verify(msg, sig)
}
