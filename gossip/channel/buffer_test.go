package channel

import (
	"errors"
	"strconv"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
)

func pendingBlock(n uint64) pending {
	return pending{block: &cb.Block{Header: &cb.BlockHeader{Number: n}}}
}

func TestOrderedBuffer(t *testing.T) {
	type step struct {
		add     uint64 // block number to add
		height  uint64 // ledger height at the time
		wantErr error
	}
	for _, tc := range []struct {
		name  string
		limit int
		steps []step
		// committed is the ledger height before draining; drained lists
		// the blocks next hands out, in order.
		committed uint64
		drained   []uint64
	}{
		{"in order", 5, []step{{1, 1, nil}, {2, 1, nil}, {3, 1, nil}}, 1, []uint64{1, 2, 3}},
		{"out of order", 5, []step{{3, 1, nil}, {1, 1, nil}, {2, 1, nil}}, 1, []uint64{1, 2, 3}},
		{"duplicate", 5, []step{{2, 1, nil}, {2, 1, errBlockDuplicate}, {1, 1, nil}}, 1, []uint64{1, 2}},
		{"already committed", 5, []step{{0, 1, errBlockOld}, {4, 5, errBlockOld}}, 5, nil},
		{"gap stops the drain", 5, []step{{1, 1, nil}, {3, 1, nil}}, 1, []uint64{1}},
		{"far future refused", 3, []step{{3, 1, nil}, {4, 1, errBlockTooFar}, {100, 1, errBlockTooFar}}, 1, nil},
		{"limit moves with the height", 3, []step{{4, 2, nil}, {5, 3, nil}}, 4, []uint64{4, 5}},
		{"blocks committed elsewhere are dropped", 5, []step{{1, 1, nil}, {2, 1, nil}, {3, 1, nil}}, 3, []uint64{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newOrderedBuffer(tc.limit)
			for _, s := range tc.steps {
				err := b.add(s.add, s.height, pendingBlock(s.add))
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("add(%d) at height %d: %v, want %v", s.add, s.height, err, s.wantErr)
				}
			}
			h := tc.committed
			var got []uint64
			for {
				p, ok := b.next(h)
				if !ok {
					break
				}
				got = append(got, p.block.Header.Number)
				h++
			}
			if len(got) != len(tc.drained) {
				t.Fatalf("drained %v, want %v", got, tc.drained)
			}
			for i := range got {
				if got[i] != tc.drained[i] {
					t.Fatalf("drained %v, want %v", got, tc.drained)
				}
			}
		})
	}
}

// FuzzOrderedBuffer adds arbitrary block numbers at arbitrary heights and
// checks the buffer's promises: it never holds more than its limit, never
// a block below the height, and hands out each number at most once, in
// ledger order.
func FuzzOrderedBuffer(f *testing.F) {
	f.Add([]byte{1, 2, 3, 0, 0, 200, 5, 5, 1})
	f.Add([]byte{255, 1, 0, 3, 2, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const limit = 8
		b := newOrderedBuffer(limit)
		height := uint64(1)
		handed := map[uint64]bool{}
		for i, op := range ops {
			switch {
			case op%7 == 0: // the ledger commits what the buffer has next
				p, ok := b.next(height)
				for n := range b.blocks {
					if n <= height-1 || (ok && n == height) {
						t.Fatalf("op %d: after next at height %d the buffer still holds block %d", i, height, n)
					}
				}
				if b.len() > limit {
					t.Fatalf("op %d: buffer holds %d blocks, limit %d", i, b.len(), limit)
				}
				if ok {
					n := p.block.Header.Number
					if n != height || handed[n] {
						t.Fatalf("op %d: next handed block %d at height %d (handed before: %v)", i, n, height, handed[n])
					}
					handed[n] = true
					height++
				}
			case op%11 == 0: // another path (the orderer) commits a block
				height++
			default:
				n := height + uint64(op) - 100 // below, at and above the height
				if uint64(op) < 100 && height < 100-uint64(op) {
					n = 0
				}
				err := b.add(n, height, pendingBlock(n))
				switch {
				case n < height && !errors.Is(err, errBlockOld):
					t.Fatalf("op %d: add(%d) at height %d: %v, want old", i, n, height, err)
				case n >= height+limit && !errors.Is(err, errBlockTooFar):
					t.Fatalf("op %d: add(%d) at height %d: %v, want too far", i, n, height, err)
				}
			}
			for n := range b.blocks {
				if n >= height+limit {
					t.Fatalf("op %d: holds block %d at height %d, past the limit", i, n, height)
				}
			}
		}
		// Draining hands out a contiguous run from the height.
		for {
			p, ok := b.next(height)
			if !ok {
				break
			}
			if p.block.Header.Number != height {
				t.Fatalf("drain: block %d at height %d", p.block.Header.Number, height)
			}
			height++
		}
		for n := range b.blocks {
			if n <= height {
				t.Fatalf("after drain, block %d at or below height %d left", n, height)
			}
		}
	})
}

func TestBlockStoreKeepsNewest(t *testing.T) {
	s := newBlockStore(3)
	for _, n := range []uint64{5, 1, 7, 6, 2} {
		s.add(n, &storedBlock{})
	}
	if len(s.blocks) != 3 {
		t.Fatalf("store holds %d blocks, want 3", len(s.blocks))
	}
	for _, n := range []uint64{5, 6, 7} {
		if _, ok := s.blocks[n]; !ok {
			t.Errorf("block %d evicted; store holds %v", n, keys(s))
		}
	}
}

func keys(s *blockStore) []string {
	var out []string
	for n := range s.blocks {
		out = append(out, strconv.FormatUint(n, 10))
	}
	return out
}
