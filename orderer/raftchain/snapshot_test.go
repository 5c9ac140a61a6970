package raftchain

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/orderer/wal"
)

// The schedule asks for a snapshot once enough blocks or bytes were written,
// never while the writer is behind or when nothing new was applied.
func TestSnapshotSchedule(t *testing.T) {
	block := func(sizes ...int) *cb.Block {
		b := &cb.Block{Data: &cb.BlockData{}}
		for _, n := range sizes {
			b.Data.Data = append(b.Data.Data, make([]byte, n))
		}
		return b
	}
	type step struct {
		hand                     *cb.Block // handed to the writer first, if any
		written, handed, applied uint64
		want                     bool
	}
	for _, tc := range []struct {
		name  string
		sched snapshotSchedule
		steps []step
	}{
		{"never without intervals", snapshotSchedule{}, []step{
			{block(1000), 1, 1, 5, false},
		}},
		{"every 2 blocks", snapshotSchedule{everyBlocks: 2}, []step{
			{block(1), 1, 1, 3, false},
			{block(1), 1, 2, 4, false}, // two blocks handed, the writer is behind
			{nil, 2, 2, 4, true},
		}},
		{"every 100 bytes", snapshotSchedule{everyBytes: 100}, []step{
			{block(60), 1, 1, 3, false},
			{block(50), 2, 2, 4, true},
		}},
		{"nothing applied since the last one", snapshotSchedule{everyBlocks: 1, index: 4}, []step{
			{block(1), 1, 1, 4, false},
			{nil, 1, 1, 5, true},
		}},
	} {
		s := tc.sched
		for i, st := range tc.steps {
			if st.hand != nil {
				s.handed(st.hand)
			}
			if got := s.due(st.written, st.handed, st.applied); got != st.want {
				t.Errorf("%s, step %d: due = %t, want %t (schedule %+v)", tc.name, i, got, st.want, s)
			}
		}
	}
	s := snapshotSchedule{everyBlocks: 1}
	s.handed(block(10))
	if !s.due(1, 1, 2) {
		t.Fatal("not due after one block")
	}
	s.taken(2)
	if s.due(1, 1, 3) || s.index != 2 || s.bytes != 0 {
		t.Fatalf("due again right after a snapshot: %+v", s)
	}
}

// With small WAL segments and a snapshot every two blocks, the chain removes
// the segments its snapshots cover, and a restart replays what is left into
// the same chain.
func TestSnapshotsReleaseWALSegments(t *testing.T) {
	signer := newSigner(t)
	store := newMemStore(t)
	dir := t.TempDir()
	cfg := testConfig(t, dir, signer)
	cfg.WALSegmentSize = 2 << 10
	cfg.SnapshotIntervalBlocks = 2
	c := startChain(t, cfg, store)
	pad := strings.Repeat("p", 200)
	var want strings.Builder
	for i := 0; i < 40; i += 2 {
		a, b := fmt.Sprintf("%02d%s", i, pad), fmt.Sprintf("%02d%s", i+1, pad)
		order(t, c, a, b)
		fmt.Fprintf(&want, "[%s %s]", a, b)
	}
	store.waitHeight(t, 21)
	firstSegment := func() string {
		segs, err := wal.Segments(dir)
		if err != nil || len(segs) == 0 {
			t.Fatalf("WAL segments: %v %v", segs, err)
		}
		return filepath.Base(segs[0])
	}
	// 40 envelopes of 200 bytes fill several 2 KiB segments; the snapshots
	// taken on the way release the early ones.
	eventually.True(t, 5*time.Second, "early WAL segments released, at most 4 kept", func() bool {
		segs, _ := wal.Segments(dir)
		return !strings.HasPrefix(firstSegment(), "0000000000000000-") && len(segs) <= 4
	})
	c.Halt()

	c2 := startChain(t, cfg, store)
	tail := "40" + pad
	order(t, c2, tail, "41")
	store.waitHeight(t, 22)
	fmt.Fprintf(&want, "[%s 41]", tail)
	if got := store.contents(1); got != want.String() {
		t.Fatalf("blocks after restart differ:\n got %.200s\nwant %.200s", got, want.String())
	}
	verify(t, store, signer)
}
