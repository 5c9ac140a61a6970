package peer

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/protos"
)

// storeWithBlocks opens a block store holding n chained empty blocks.
func storeWithBlocks(t *testing.T, n int) (*ledger.BlockStore, *cb.Block) {
	t.Helper()
	s, err := ledger.OpenBlockStoreWithOptions(t.TempDir(), ledger.BlockStoreOptions{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var prev *cb.Block
	for i := 0; i < n; i++ {
		prev = appendNext(t, s, prev)
	}
	return s, prev
}

func appendNext(t *testing.T, s *ledger.BlockStore, prev *cb.Block) *cb.Block {
	t.Helper()
	var b *cb.Block
	if prev == nil {
		b = protos.NewBlock(0, nil, [][]byte{[]byte("genesis")})
	} else {
		b = protos.NewBlock(prev.Header.Number+1, protos.BlockHeaderHash(prev.Header), [][]byte{[]byte("tx")})
	}
	if err := s.Append(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCommittedBlocksHeight(t *testing.T) {
	t.Parallel()
	s, last := storeWithBlocks(t, 2)
	c := newCommittedBlocks(s)
	if got := c.Height(); got != 2 {
		t.Fatalf("initial Height() = %d, want the store's height 2", got)
	}
	// A block appended but not yet applied to the state stays invisible.
	appendNext(t, s, last)
	if got, store := c.Height(), s.Height(); got != 2 || store != 3 {
		t.Fatalf("after append without advance: Height() = %d (want 2), store height %d (want 3)", got, store)
	}
	// Nor is it served, until the commit path publishes it.
	if b, err := c.Block(2); !errors.Is(err, ledger.ErrBlockNotFound) {
		t.Fatalf("Block(2) before advance = %v, %v; want ErrBlockNotFound", b, err)
	}
	c.advance(3)
	if got := c.Height(); got != 3 {
		t.Fatalf("after advance(3): Height() = %d", got)
	}
	if b, err := c.Block(2); err != nil || b.Header.Number != 2 {
		t.Fatalf("Block(2) after advance = %v, %v", b, err)
	}
	c.advance(1) // never goes back
	if got := c.Height(); got != 3 {
		t.Fatalf("after advance(1): Height() = %d, want 3", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, h := range []uint64{0, 1, 3} {
		if err := c.WaitHeight(ctx, h); err != nil {
			t.Fatalf("WaitHeight(%d) at height 3: %v", h, err)
		}
	}
}

func TestCommittedBlocksWaitHeight(t *testing.T) {
	t.Parallel()
	s, _ := storeWithBlocks(t, 1)
	c := newCommittedBlocks(s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	type result struct {
		err    error
		height uint64 // Height() seen right after WaitHeight returned
	}
	done := make(chan result, 1)
	go func() {
		err := c.WaitHeight(ctx, 5)
		done <- result{err, c.Height()}
	}()
	for h := uint64(2); h <= 4; h++ {
		c.advance(h)
		select {
		case r := <-done:
			t.Fatalf("WaitHeight(5) returned at height %d (err %v)", r.height, r.err)
		default:
		}
	}
	c.advance(6) // may jump past the awaited height
	select {
	case r := <-done:
		if r.err != nil || r.height < 5 {
			t.Fatalf("WaitHeight(5) = %v with Height() = %d", r.err, r.height)
		}
	case <-ctx.Done():
		t.Fatal("WaitHeight(5) did not return after advance(6)")
	}
}

func TestCommittedBlocksWaitHeightCancel(t *testing.T) {
	t.Parallel()
	s, _ := storeWithBlocks(t, 1)
	c := newCommittedBlocks(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.WaitHeight(ctx, 100) }()
	c.advance(2)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitHeight after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitHeight ignored the cancelled context")
	}
	expired, cancel2 := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel2()
	if err := c.WaitHeight(expired, 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitHeight with an expiring context = %v, want DeadlineExceeded", err)
	}
}

// TestCommittedBlocksNoGoroutineLeak checks that waiters, whether released by
// a commit or by their context, leave nothing running behind.
func TestCommittedBlocksNoGoroutineLeak(t *testing.T) {
	s, _ := storeWithBlocks(t, 1)
	c := newCommittedBlocks(s)
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx := context.Background()
			h := uint64(3)
			if i%2 == 1 {
				wctx, h = ctx, 1000 // released only by cancel
			}
			errs <- c.WaitHeight(wctx, h)
		}()
	}
	c.advance(3)
	cancel()
	wg.Wait()
	close(errs)
	var ok, cancelled int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, context.Canceled):
			cancelled++
		default:
			t.Fatalf("unexpected WaitHeight error: %v", err)
		}
	}
	if ok != 50 || cancelled != 50 {
		t.Fatalf("%d waiters released by the commit, %d by cancel; want 50 and 50", ok, cancelled)
	}
	eventually.True(t, 5*time.Second, "goroutines to return to their count before the waiters", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// A published block is served as it was published, without reading the
// block file again; it stays hidden until published, and an older block
// falls back to the store.
func TestCommittedBlocksServesPublishedBlock(t *testing.T) {
	t.Parallel()
	s, last := storeWithBlocks(t, 1)
	c := newCommittedBlocks(s)
	b := appendNext(t, s, last)
	if _, err := c.Block(1); !errors.Is(err, ledger.ErrBlockNotFound) {
		t.Fatalf("Block(1) before publish: err = %v, want ErrBlockNotFound", err)
	}
	c.publish(b)
	if got := c.Height(); got != 2 {
		t.Fatalf("Height() after publish = %d, want 2", got)
	}
	got, err := c.Block(1)
	if err != nil || got != b {
		t.Fatalf("Block(1) = %p, %v; want the published block %p", got, err, b)
	}
	old, err := c.Block(0)
	if err != nil || old.GetHeader().GetNumber() != 0 {
		t.Fatalf("Block(0) = %v, %v; want block 0 from the store", old, err)
	}
	// A block kept for another number in the same slot is not served for n.
	for n := 2; n <= 17; n++ {
		b = appendNext(t, s, b)
		c.publish(b)
	}
	if got, err := c.Block(1); err != nil || got.GetHeader().GetNumber() != 1 {
		t.Fatalf("Block(1) after its slot was reused = block %d, %v; want block 1", got.GetHeader().GetNumber(), err)
	}
}
