package ledger

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"

	"github.com/weft-ledger/weft/statedb"
)

var errDiskFull = errors.New("simulated state database failure: no space left on device")

// failingState is the world state with a fault seam on Apply: while armed,
// the next fails Apply calls fail without writing anything.
type failingState struct {
	statedb.DB
	mu    sync.Mutex
	fails int
	calls int // Apply calls refused
}

func (s *failingState) Apply(b *statedb.Batch, sp statedb.Version) error {
	s.mu.Lock()
	if s.fails > 0 {
		s.fails--
		s.calls++
		s.mu.Unlock()
		return errDiskFull
	}
	s.mu.Unlock()
	return s.DB.Apply(b, sp)
}

func (s *failingState) failNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = n
}

func openFailing(t *testing.T, dir string) (*Ledger, *failingState) {
	t.Helper()
	var fs *failingState
	l, err := OpenWithOptions(dir, Options{Logger: quietLog, WrapState: func(db statedb.DB) statedb.DB {
		fs = &failingState{DB: db}
		return fs
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, fs
}

// A state write that fails after the block was appended leaves the block in
// the chain and the state behind; the ledger refuses to move on (no later
// block is appended, none is half applied) and applies it, without a
// reopen, as soon as the state database works again: through Recover or
// the next Commit.
func TestFailedStateWriteRecoversWithoutReopen(t *testing.T) {
	t.Parallel()
	blocks, privates := pvtWorkload()
	ref := openLedger(t, t.TempDir())
	for _, b := range blocks {
		must(t, ref.Commit(cloneBlock(b), privates[b.Header.Number]))
	}
	want := dump(t, ref.State(), pvtNamespaces...)
	ref.Close()
	const failAt = 1 // a block with private writes

	for _, viaRecover := range []bool{true, false} {
		name := "next commit applies it"
		if viaRecover {
			name = "Recover applies it"
		}
		t.Run(name, func(t *testing.T) {
			l, fs := openFailing(t, t.TempDir())
			for _, b := range blocks[:failAt] {
				must(t, l.Commit(cloneBlock(b), privates[b.Header.Number]))
			}
			fs.failNext(3)
			err := l.Commit(cloneBlock(blocks[failAt]), privates[failAt])
			if !errors.Is(err, ErrStateBehind) || !errors.Is(err, errDiskFull) {
				t.Fatalf("Commit with a failing state = %v, want ErrStateBehind wrapping the cause", err)
			}
			if h, sh := l.Blocks().Height(), l.StateHeight(); h != failAt+1 || sh != failAt {
				t.Fatalf("block store height %d, state height %d; want %d and %d", h, sh, failAt+1, failAt)
			}
			if sp, _, _ := l.State().Savepoint(); sp.BlockNum != failAt-1 {
				t.Fatalf("savepoint %v moved with a failed write", sp)
			}
			// Still failing: Recover and the next Commit report it, and the
			// next block is not appended.
			if err := l.Recover(); !errors.Is(err, ErrStateBehind) {
				t.Fatalf("Recover with a failing state = %v, want ErrStateBehind", err)
			}
			if err := l.Commit(cloneBlock(blocks[failAt+1]), privates[failAt+1]); !errors.Is(err, ErrStateBehind) {
				t.Fatalf("Commit of the next block with a failing state = %v, want ErrStateBehind", err)
			}
			if h := l.Blocks().Height(); h != failAt+1 {
				t.Fatalf("block %d appended while block %d is not applied (height %d)", failAt+1, failAt, h)
			}
			// That was the third and last injected failure: the database works again.
			if fs.calls != 3 {
				t.Fatalf("%d Apply calls failed, want 3", fs.calls)
			}
			if viaRecover {
				must(t, l.Recover())
				if sh := l.StateHeight(); sh != failAt+1 {
					t.Fatalf("state height %d after Recover, want %d", sh, failAt+1)
				}
				must(t, l.Recover()) // nothing left to do
			}
			for _, b := range blocks[failAt+1:] {
				must(t, l.Commit(cloneBlock(b), privates[b.Header.Number]))
			}
			if got := dump(t, l.State(), pvtNamespaces...); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("state after recovery differs from a ledger that never failed:\n got %q\nwant %q", got, want)
			}
			if h, sh := l.Blocks().Height(), l.StateHeight(); h != uint64(len(blocks)) || sh != h {
				t.Fatalf("block store height %d, state height %d, want both %d", h, sh, len(blocks))
			}
			if got := storedPrivate(t, l, uint64(len(blocks))); len(got) != 3 {
				t.Fatalf("stored private sets after recovery = %q, want the 3 valid, hash-matching ones", got)
			}
		})
	}
}

// The history index follows a recovered block too, once its state is applied.
func TestFailedStateWriteRecoversHistory(t *testing.T) {
	t.Parallel()
	blocks := crashWorkload()
	ref := openLedger(t, t.TempDir())
	for _, b := range crashWorkload() {
		must(t, ref.Commit(b, nil))
	}
	want := historyDump(t, ref)
	wantState := dump(t, ref.State(), "basic")
	ref.Close()

	l, fs := openFailing(t, t.TempDir())
	commit := func(b *cb.Block) error { return l.Commit(cloneBlock(b), map[uint64]*rwset.TxPvtReadWriteSet{}) }
	must(t, commit(blocks[0]))
	must(t, commit(blocks[1]))
	fs.failNext(1)
	if err := commit(blocks[2]); !errors.Is(err, ErrStateBehind) {
		t.Fatalf("Commit = %v, want ErrStateBehind", err)
	}
	for _, b := range blocks[3:] {
		must(t, commit(b))
	}
	if got := historyDump(t, l); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history differs from a ledger that never failed:\n got %q\nwant %q", got, want)
	}
	if got := dump(t, l.State(), "basic"); fmt.Sprint(got) != fmt.Sprint(wantState) {
		t.Fatalf("state differs from a ledger that never failed:\n got %q\nwant %q", got, wantState)
	}
}
