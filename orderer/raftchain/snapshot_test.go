package raftchain

import (
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
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
