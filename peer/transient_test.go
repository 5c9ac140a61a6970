package peer

import (
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
)

func pvtSet(ns string) *rwset.TxPvtReadWriteSet {
	return &rwset.TxPvtReadWriteSet{NsPvtRwset: []*rwset.NsPvtReadWriteSet{{Namespace: ns}}}
}

// taken renders a Take result as "index=namespace" in index order.
func taken(m map[uint64]*rwset.TxPvtReadWriteSet) []string {
	var out []string
	for i, p := range m {
		out = append(out, fmt.Sprintf("%d=%s", i, p.NsPvtRwset[0].Namespace))
	}
	sort.Strings(out)
	return out
}

func TestTransientStore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		max  int
		run  func(s *transientStore) []string
		want []string
	}{
		{
			name: "take keys results by position in the block and skips unknown ids",
			max:  10,
			run: func(s *transientStore) []string {
				s.Put("a", pvtSet("ns-a"))
				s.Put("b", pvtSet("ns-b"))
				s.Put("c", pvtSet("ns-c"))
				return taken(s.Take([]string{"c", "unknown", "a"}))
			},
			want: []string{"0=ns-c", "2=ns-a"},
		},
		{
			name: "take removes what it returns",
			max:  10,
			run: func(s *transientStore) []string {
				s.Put("a", pvtSet("ns-a"))
				s.Put("b", pvtSet("ns-b"))
				s.Take([]string{"a"})
				return taken(s.Take([]string{"a", "b"}))
			},
			want: []string{"1=ns-b"},
		},
		{
			name: "oldest entries are dropped past the bound",
			max:  2,
			run: func(s *transientStore) []string {
				s.Put("a", pvtSet("ns-a"))
				s.Put("b", pvtSet("ns-b"))
				s.Put("c", pvtSet("ns-c"))
				return taken(s.Take([]string{"a", "b", "c"}))
			},
			want: []string{"1=ns-b", "2=ns-c"},
		},
		{
			name: "putting a txid again replaces its set without taking a second slot",
			max:  2,
			run: func(s *transientStore) []string {
				s.Put("a", pvtSet("ns-a1"))
				s.Put("a", pvtSet("ns-a2"))
				s.Put("b", pvtSet("ns-b"))
				return taken(s.Take([]string{"a", "b"}))
			},
			want: []string{"0=ns-a2", "1=ns-b"},
		},
		{
			name: "a replaced entry keeps its age",
			max:  2,
			run: func(s *transientStore) []string {
				s.Put("a", pvtSet("ns-a1"))
				s.Put("b", pvtSet("ns-b"))
				s.Put("a", pvtSet("ns-a2"))
				s.Put("c", pvtSet("ns-c"))
				return taken(s.Take([]string{"a", "b", "c"}))
			},
			want: []string{"1=ns-b", "2=ns-c"},
		},
		{
			name: "taken entries no longer count against the bound",
			max:  2,
			run: func(s *transientStore) []string {
				s.Put("a", pvtSet("ns-a"))
				s.Put("b", pvtSet("ns-b"))
				s.Take([]string{"a"})
				s.Put("c", pvtSet("ns-c"))
				return taken(s.Take([]string{"b", "c"}))
			},
			want: []string{"0=ns-b", "1=ns-c"},
		},
		{
			name: "empty sets are ignored and evict nothing",
			max:  1,
			run: func(s *transientStore) []string {
				s.Put("a", pvtSet("ns-a"))
				s.Put("nil", nil)
				s.Put("empty", &rwset.TxPvtReadWriteSet{})
				return taken(s.Take([]string{"a", "nil", "empty"}))
			},
			want: []string{"0=ns-a"},
		},
		{
			name: "take of nothing",
			max:  1,
			run: func(s *transientStore) []string {
				return taken(s.Take(nil))
			},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTransientStore(tt.max)
			got := tt.run(s)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if len(s.entries) != len(s.order) {
				t.Fatalf("entries (%d) and order (%d) disagree: %v", len(s.entries), len(s.order), s.order)
			}
			if len(s.order) > tt.max {
				t.Fatalf("store holds %d entries, bound is %d", len(s.order), tt.max)
			}
		})
	}
}

func TestTransientStoreConcurrent(t *testing.T) {
	t.Parallel()
	s := newTransientStore(50)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := fmt.Sprintf("w%d-tx%d", w, i)
				s.Put(id, pvtSet(id))
				if got := s.Take([]string{id}); len(got) > 1 {
					t.Errorf("Take(%s) returned %d sets", id, len(got))
				}
			}
		}()
	}
	wg.Wait()
	if len(s.entries) != len(s.order) || len(s.order) > 50 {
		t.Fatalf("after concurrent use: %d entries, %d in order, bound 50", len(s.entries), len(s.order))
	}
}
