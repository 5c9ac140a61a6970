package transientstore

import (
	"errors"
	"fmt"
	"sort"
	"strings"
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

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *Store, txID string, height uint64, ns string) {
	t.Helper()
	if err := s.Put(txID, height, pvtSet(ns)); err != nil {
		t.Fatal(err)
	}
}

func take(t *testing.T, s *Store, txIDs ...string) []string {
	t.Helper()
	m, err := s.Take(txIDs)
	if err != nil {
		t.Fatal(err)
	}
	return taken(m)
}

func TestStore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, s *Store) []string
		want []string
	}{
		{
			name: "take keys results by position in the block and skips unknown ids",
			run: func(t *testing.T, s *Store) []string {
				put(t, s, "a", 1, "ns-a")
				put(t, s, "b", 1, "ns-b")
				put(t, s, "c", 2, "ns-c")
				return take(t, s, "c", "unknown", "a")
			},
			want: []string{"0=ns-c", "2=ns-a"},
		},
		{
			name: "take removes what it returns",
			run: func(t *testing.T, s *Store) []string {
				put(t, s, "a", 1, "ns-a")
				put(t, s, "b", 1, "ns-b")
				take(t, s, "a")
				return take(t, s, "a", "b")
			},
			want: []string{"1=ns-b"},
		},
		{
			name: "several endorsements of one transaction: take returns one and removes all",
			run: func(t *testing.T, s *Store) []string {
				put(t, s, "a", 1, "ns-a")
				put(t, s, "a", 1, "ns-a")
				put(t, s, "a", 3, "ns-a")
				first := take(t, s, "a")
				return append(first, take(t, s, "a")...)
			},
			want: []string{"0=ns-a"},
		},
		{
			name: "a txid that is a prefix of another does not take it",
			run: func(t *testing.T, s *Store) []string {
				put(t, s, "ab", 1, "ns-ab")
				put(t, s, "a", 1, "ns-a")
				return append(take(t, s, "a"), take(t, s, "x", "ab")...)
			},
			want: []string{"0=ns-a", "1=ns-ab"},
		},
		{
			name: "empty sets are not stored",
			run: func(t *testing.T, s *Store) []string {
				if err := s.Put("nil", 1, nil); err != nil {
					t.Fatal(err)
				}
				if err := s.Put("empty", 1, &rwset.TxPvtReadWriteSet{}); err != nil {
					t.Fatal(err)
				}
				return take(t, s, "nil", "empty")
			},
			want: nil,
		},
		{
			name: "purge below a height removes older entries only",
			run: func(t *testing.T, s *Store) []string {
				put(t, s, "a", 1, "ns-a")
				put(t, s, "b", 4, "ns-b")
				put(t, s, "c", 5, "ns-c")
				put(t, s, "d", 4, "ns-d")
				put(t, s, "d", 9, "ns-d") // a later endorsement of d survives
				n, err := s.PurgeBelow(5)
				if err != nil {
					t.Fatal(err)
				}
				if n != 3 {
					t.Errorf("PurgeBelow(5) removed %d entries, want 3 (a, b, d at 4)", n)
				}
				return take(t, s, "a", "b", "c", "d")
			},
			want: []string{"2=ns-c", "3=ns-d"},
		},
		{
			name: "purge after take finds nothing left",
			run: func(t *testing.T, s *Store) []string {
				put(t, s, "a", 1, "ns-a")
				take(t, s, "a")
				n, err := s.PurgeBelow(100)
				if err != nil || n != 0 {
					t.Errorf("PurgeBelow(100) after Take = %d, %v; want 0, nil", n, err)
				}
				return nil
			},
			want: nil,
		},
		{
			name: "take of nothing",
			run: func(t *testing.T, s *Store) []string {
				return take(t, s)
			},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, t.TempDir())
			got := tt.run(t, s)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPutRefusesTxIDsTheLayoutCannotHold(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	for _, id := range []string{"", "a\x00b"} {
		err := s.Put(id, 1, pvtSet("ns"))
		if err == nil || !strings.Contains(err.Error(), s.Dir()) {
			t.Errorf("Put(%q) = %v, want an error naming the folder %s", id, err, s.Dir())
		}
	}
}

func TestReopenKeepsEntries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "a", 7, "ns-a")
	put(t, s, "b", 2, "ns-b")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("c", 1, pvtSet("ns-c")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close = %v, want ErrClosed", err)
	}
	s = open(t, dir)
	if n, err := s.PurgeBelow(5); err != nil || n != 1 {
		t.Fatalf("PurgeBelow(5) after reopening = %d, %v; want 1 (b), nil", n, err)
	}
	if got := take(t, s, "b", "a"); fmt.Sprint(got) != "[1=ns-a]" {
		t.Fatalf("after reopening, Take = %v, want [1=ns-a]", got)
	}
}

func TestForeignBytesNameTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		key   string
		value []byte
		want  string
	}{
		{name: "no version byte", key: "tx1\x00" + strings.Repeat("\x00", 16), value: []byte("hello"), want: "not a transient store entry"},
		{name: "empty value", key: "tx1\x00" + strings.Repeat("\x01", 16), value: nil, want: "not a transient store entry"},
		{name: "not a protobuf", key: "tx1\x00" + strings.Repeat("\x02", 16), value: []byte{valueVersion, 0xff, 0xff, 0xff}, want: "decode the private write set"},
		{name: "a protobuf without namespaces", key: "tx1\x00" + strings.Repeat("\x03", 16), value: []byte{valueVersion}, want: "holds no namespace"},
		{name: "short key", key: "tx1\x00abc", value: []byte{valueVersion}, want: "is not a transient store key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, t.TempDir())
			key := "t" + tt.key
			if err := s.db.Put([]byte(key), tt.value, nil); err != nil {
				t.Fatal(err)
			}
			put(t, s, "tx2", 1, "ns-2")
			if _, err := s.Get([]string{"tx1"}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
				t.Errorf("Get of a foreign entry = %v, want an error naming %q", err, key)
			}
			got, err := s.Take([]string{"tx1", "tx2"})
			if err == nil {
				t.Fatalf("Take of a foreign entry: no error, got %v", taken(got))
			}
			for _, w := range []string{tt.want, fmt.Sprintf("%q", key), "tx1", s.Dir()} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if fmt.Sprint(taken(got)) != "[1=ns-2]" {
				t.Errorf("Take returned %v next to the error, want [1=ns-2]", taken(got))
			}
			// The foreign entry is removed, so it does not fail every block.
			if _, err := s.Take([]string{"tx1"}); err != nil {
				t.Errorf("second Take of tx1: %v", err)
			}
		})
	}
}

func TestForeignHeightKeyNamesTheKey(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	key := "h\x00\x00\x00\x00\x00\x00\x00\x01junk"
	if err := s.db.Put([]byte(key), nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err := s.PurgeBelow(2)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
		t.Fatalf("PurgeBelow over a foreign key = %v, want an error naming %q", err, key)
	}
}

func TestConcurrentTakeReturnsEachSetOnce(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	const txs = 50
	for i := range txs {
		put(t, s, fmt.Sprintf("tx%d", i), uint64(i), fmt.Sprintf("ns%d", i))
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range txs {
				got, err := s.Take([]string{fmt.Sprintf("tx%d", i)})
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total += len(got)
				mu.Unlock()
			}
		}()
	}
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Put(fmt.Sprintf("late%d", i), 100, pvtSet("late")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if total != txs {
		t.Fatalf("concurrent Takes returned %d sets, want %d (each once)", total, txs)
	}
}

func TestGetKeepsAndRemoveRemoves(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	put(t, s, "a", 1, "ns-a")
	put(t, s, "a", 2, "ns-a")
	put(t, s, "b", 1, "ns-b")
	for range 2 { // a block committed again reads the same sets again
		got, err := s.Get([]string{"b", "a", "x"})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(taken(got)) != "[0=ns-b 1=ns-a]" {
			t.Fatalf("Get = %v, want [0=ns-b 1=ns-a]", taken(got))
		}
	}
	if err := s.Remove([]string{"a", "x"}); err != nil {
		t.Fatal(err)
	}
	if got := take(t, s, "a", "b"); fmt.Sprint(got) != "[1=ns-b]" {
		t.Fatalf("after Remove(a): Take = %v, want [1=ns-b]", got)
	}
	// Remove took the height index entries of a too.
	if n, err := s.PurgeBelow(10); err != nil || n != 0 {
		t.Fatalf("PurgeBelow after Remove and Take = %d, %v; want 0, nil", n, err)
	}
}

func collSet(ns string, colls ...string) *rwset.TxPvtReadWriteSet {
	n := &rwset.NsPvtReadWriteSet{Namespace: ns}
	for _, c := range colls {
		n.CollectionPvtRwset = append(n.CollectionPvtRwset, &rwset.CollectionPvtReadWriteSet{CollectionName: c, Rwset: []byte(ns + "/" + c)})
	}
	return &rwset.TxPvtReadWriteSet{NsPvtRwset: []*rwset.NsPvtReadWriteSet{n}}
}

// collections renders a set as "ns/coll" entries, sorted.
func collections(p *rwset.TxPvtReadWriteSet) []string {
	var out []string
	for _, n := range p.GetNsPvtRwset() {
		for _, c := range n.CollectionPvtRwset {
			out = append(out, n.Namespace+"/"+c.CollectionName)
		}
	}
	sort.Strings(out)
	return out
}

// Other peers push a transaction's collections one at a time: a block's
// commit must see all of them, and a pull is answered from every entry.
func TestCollectionsPushedApartAreTakenTogether(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir())
	for _, p := range []*rwset.TxPvtReadWriteSet{collSet("cc", "a"), collSet("cc", "b"), collSet("other", "x"), collSet("cc", "a")} {
		if err := s.Put("tx1", 3, p); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := s.Entries("tx1")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Fatalf("Entries returned %d sets, want the 4 stored", len(entries))
	}
	got, err := s.Get([]string{"tx0", "tx1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"cc/a", "cc/b", "other/x"}; strings.Join(collections(got[1]), " ") != strings.Join(want, " ") {
		t.Fatalf("Get merged %v, want %v", collections(got[1]), want)
	}
	if _, ok := got[0]; ok {
		t.Fatal("Get returned a set for a transaction never stored")
	}
	if none, _ := s.Entries("tx2"); len(none) != 0 {
		t.Fatalf("Entries of an unknown transaction: %d sets", len(none))
	}
}
