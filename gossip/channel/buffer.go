package channel

import (
	"errors"
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/identity"
)

// Reasons the ordered buffer refuses a block; callers log them and drop the
// block.
var (
	errBlockOld       = errors.New("block already committed")
	errBlockDuplicate = errors.New("block already waiting for commit")
	errBlockTooFar    = errors.New("block too far ahead of the ledger")
)

// source says how a block reached this peer, which decides what happens
// after it is committed.
type source int

const (
	fromPush     source = iota // a DataMessage pushed to us: forwarded once committed
	fromPull                   // a DataUpdate of block pull
	fromTransfer               // a RemoteStateResponse of state transfer
)

func (s source) String() string {
	switch s {
	case fromPush:
		return "push"
	case fromPull:
		return "pull"
	default:
		return "state transfer"
	}
}

// pending is one received block waiting for its turn to be committed.
type pending struct {
	block *cb.Block
	// env is the DataMessage envelope as received (push) or as built for it,
	// kept to forward and to serve block pull without re-marshalling.
	env    *gp.Envelope
	from   identity.PKIID
	source source
}

// orderedBuffer holds received blocks until the ledger reaches their
// number. It is a plain structure with no goroutines and no lock: the
// Channel's mutex guards it. Blocks below the ledger height are refused
// (already committed), and so are blocks at or past height+limit, so that a
// peer cannot make us hold an unbounded number of far-future blocks.
type orderedBuffer struct {
	limit  uint64
	blocks map[uint64]pending
}

func newOrderedBuffer(limit int) *orderedBuffer {
	if limit < 1 {
		limit = 1
	}
	return &orderedBuffer{limit: uint64(limit), blocks: map[uint64]pending{}}
}

// add keeps p for block number n while the ledger is at height.
func (b *orderedBuffer) add(n, height uint64, p pending) error {
	switch {
	case n < height:
		return fmt.Errorf("%w: block %d, ledger height %d", errBlockOld, n, height)
	case n-height >= b.limit:
		return fmt.Errorf("%w: block %d, ledger height %d, buffer holds %d blocks (peer.gossip.state.blockBufferSize)", errBlockTooFar, n, height, b.limit)
	}
	if _, ok := b.blocks[n]; ok {
		return fmt.Errorf("%w: block %d", errBlockDuplicate, n)
	}
	b.blocks[n] = p
	return nil
}

// next removes and returns the block at height, after dropping every block
// below it (committed meanwhile by another path, such as the orderer).
func (b *orderedBuffer) next(height uint64) (pending, bool) {
	for n := range b.blocks {
		if n < height {
			delete(b.blocks, n)
		}
	}
	p, ok := b.blocks[height]
	if ok {
		delete(b.blocks, height)
	}
	return p, ok
}

func (b *orderedBuffer) len() int { return len(b.blocks) }
