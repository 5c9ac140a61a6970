package commitcheck

import (
	"bytes"
	"context"
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/ledger"
)

// Local is the peer's own committed chain.
type Local interface {
	Height() uint64
	Block(n uint64) (*cb.Block, error)
}

// Remote is another peer of the channel.
type Remote interface {
	// Height returns the number of blocks the remote peer has committed.
	Height(ctx context.Context) (uint64, error)
	// Block returns block n as the remote peer committed it.
	Block(ctx context.Context, n uint64) (*cb.Block, error)
}

// Outcome says what a comparison found.
type Outcome int

const (
	// Match: both peers recorded the same commit hash for Block.
	Match Outcome = iota
	// Mismatch: they recorded different commit hashes for Block; their world
	// states have diverged at or before it.
	Mismatch
	// NotComparable: no block both have committed carries a commit hash on
	// both sides (a fresh channel, or ledgers made before commit hashes).
	NotComparable
)

func (o Outcome) String() string {
	switch o {
	case Match:
		return "match"
	case Mismatch:
		return "mismatch"
	default:
		return "not comparable"
	}
}

// Result is one comparison.
type Result struct {
	Outcome Outcome
	Block   uint64 // the block compared
	Local   []byte // its commit hash here
	Remote  []byte // its commit hash at the other peer
}

// Compare compares the commit hash of the highest block both peers have
// committed. An error means the remote peer could not be asked or sent a
// block that is not the one asked for; it says nothing about divergence.
func Compare(ctx context.Context, local Local, remote Remote) (Result, error) {
	rh, err := remote.Height(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("ask its height: %w", err)
	}
	h := min(local.Height(), rh)
	if h < 2 {
		return Result{Outcome: NotComparable}, nil // block 0 never carries a commit hash
	}
	n := h - 1
	lb, err := local.Block(n)
	if err != nil {
		return Result{}, fmt.Errorf("read local block %d: %w", n, err)
	}
	rb, err := remote.Block(ctx, n)
	if err != nil {
		return Result{}, fmt.Errorf("ask for block %d: %w", n, err)
	}
	if got := rb.GetHeader().GetNumber(); got != n {
		return Result{}, fmt.Errorf("asked for block %d, got block %d", n, got)
	}
	if !bytes.Equal(rb.GetHeader().GetDataHash(), lb.GetHeader().GetDataHash()) ||
		!bytes.Equal(rb.GetHeader().GetPreviousHash(), lb.GetHeader().GetPreviousHash()) {
		// Not the same block at all: a different chain, not a different state.
		return Result{}, fmt.Errorf("its block %d has another header than ours: it follows another chain for this channel", n)
	}
	lh, err := ledger.CommitHash(lb)
	if err != nil {
		return Result{}, fmt.Errorf("local block %d: %w", n, err)
	}
	rhash, err := ledger.CommitHash(rb)
	if err != nil {
		return Result{}, fmt.Errorf("its block %d: %w", n, err)
	}
	res := Result{Block: n, Local: lh, Remote: rhash}
	switch {
	case len(lh) == 0 || len(rhash) == 0:
		res.Outcome = NotComparable
	case bytes.Equal(lh, rhash):
		res.Outcome = Match
	default:
		res.Outcome = Mismatch
	}
	return res, nil
}
