package ledger

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/eventually"
)

// fakeIndex is an index of TxIDs in memory whose scans can be held half way,
// so that writes land while a filter is being built.
type fakeIndex struct {
	mu   sync.Mutex
	ids  []string
	f    *txFilter
	hold chan chan struct{} // a scan sends a channel here and waits for it to close
}

// write indexes id, then tells the filter, as BlockStore.Append does.
func (x *fakeIndex) write(id string) {
	x.mu.Lock()
	x.ids = append(x.ids, id)
	x.mu.Unlock()
	x.f.add(map[string]txLoc{id: {}})
}

func (x *fakeIndex) scan(stop func() bool, add func(id []byte)) error {
	x.mu.Lock()
	snapshot := append([]string(nil), x.ids...)
	x.mu.Unlock()
	if x.hold != nil {
		release := make(chan struct{})
		x.hold <- release
		<-release
	}
	for _, id := range snapshot {
		if stop() {
			return errFilterStopped
		}
		add([]byte(id))
	}
	return nil
}

// A TxID written to the index is never reported absent: not before the
// first filter is built, not while it is built, not across the rebuilds that
// enlarge it as the index grows.
func TestTxFilterNeverHidesAnIndexedTxID(t *testing.T) {
	x := &fakeIndex{hold: make(chan chan struct{})}
	x.f = newTxFilter(x.scan, 1024) // full at 102 entries: many rebuilds
	defer x.f.stop()
	id := func(i int) string { return fmt.Sprintf("tx-%06d", i) }
	checkAll := func(n int) {
		t.Helper()
		for i := range n {
			if !x.f.mayContain(id(i)) {
				t.Fatalf("%s was written to the index but the filter says absent", id(i))
			}
		}
	}
	for i := range 50 {
		x.write(id(i))
	}
	checkAll(50) // no filter yet: everything "maybe"
	x.f.start()
	release := <-x.hold // the first scan has its snapshot of 50 TxIDs
	for i := 50; i < 80; i++ {
		x.write(id(i))
	}
	close(release)
	eventually.True(t, 10*time.Second, "the first filter to be built", func() bool { return x.f.live.Load() != nil })
	checkAll(80)

	// Writers and readers together, with every rebuild held half way while
	// more TxIDs arrive.
	x.mu.Lock()
	next := len(x.ids)
	x.mu.Unlock()
	const total = 6000
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case release := <-x.hold:
				close(release)
			case <-done:
				return
			}
		}
	}()
	for i := next; i < total; i++ {
		x.write(id(i))
		if !x.f.mayContain(id(i)) {
			t.Fatalf("%s reported absent right after it was written", id(i))
		}
		if i%500 == 0 {
			checkAll(i + 1)
		}
	}
	eventually.True(t, 10*time.Second, "the last rebuild to finish", func() bool {
		x.f.mu.Lock()
		defer x.f.mu.Unlock()
		return x.f.building == nil
	})
	close(done)
	wg.Wait()
	checkAll(total)
	live := x.f.live.Load()
	if live.bits() < total*bitsPerTx {
		t.Fatalf("filter of %d bits for %d TxIDs: it was not enlarged", live.bits(), total)
	}
	// Absent TxIDs are mostly answered absent.
	maybe := 0
	for i := range 10000 {
		if x.f.mayContain(fmt.Sprintf("absent-%d", i)) {
			maybe++
		}
	}
	if maybe > 300 {
		t.Fatalf("%d of 10000 absent TxIDs answered maybe; want about 1%%", maybe)
	}
}

// A stopped filter's build ends and the filter keeps answering "maybe".
func TestTxFilterStopDuringBuild(t *testing.T) {
	x := &fakeIndex{hold: make(chan chan struct{})}
	x.f = newTxFilter(x.scan, 1024)
	x.write("a")
	x.f.start()
	release := <-x.hold
	stopped := make(chan struct{})
	go func() {
		x.f.stop()
		close(stopped)
	}()
	eventually.True(t, 10*time.Second, "stop to be under way", func() bool {
		x.f.mu.Lock()
		defer x.f.mu.Unlock()
		return x.f.stopped
	})
	close(release) // the scan goes on, sees the stop and ends
	<-stopped
	if x.f.live.Load() != nil {
		t.Fatal("a stopped build became the live filter")
	}
	if !x.f.mayContain("a") || !x.f.mayContain("b") {
		t.Fatal("without a filter every TxID must be a maybe")
	}
}

// The block store's TxExists is exact with the filter: true for every TxID
// appended, before and after a reopen (which rebuilds the filter from the
// index), false for others.
func TestBlockStoreTxExistsWithFilter(t *testing.T) {
	dir := t.TempDir()
	blocks := makeChain(60)
	s := openStore(t, dir, 0)
	appendAll(t, s, blocks[:30])
	check := func(s *BlockStore, upto int) {
		t.Helper()
		for _, b := range blocks[:upto] {
			for _, raw := range b.Data.Data {
				id := txIDOf(raw)
				if ok, err := s.TxExists(id); err != nil || !ok {
					t.Fatalf("TxExists(%s) = %v, %v after it was appended", id, ok, err)
				}
			}
		}
		for _, b := range blocks[upto:] {
			for _, raw := range b.Data.Data {
				id := txIDOf(raw)
				if ok, err := s.TxExists(id); err != nil || ok {
					t.Fatalf("TxExists(%s) = %v, %v before it was appended", id, ok, err)
				}
			}
		}
	}
	check(s, 30)
	eventually.True(t, 10*time.Second, "the TxID filter to be built", func() bool { return s.ix.txs.live.Load() != nil })
	appendAll(t, s, blocks[30:45])
	check(s, 45)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir, 0)
	defer s.Close()
	check(s, 45) // while the filter is rebuilt from the index
	eventually.True(t, 10*time.Second, "the TxID filter to be rebuilt", func() bool { return s.ix.txs.live.Load() != nil })
	check(s, 45)
	appendAll(t, s, blocks[45:])
	check(s, 60)
}

func BenchmarkTxExistsAbsent(b *testing.B) {
	dir := b.TempDir()
	s, err := OpenBlockStoreWithOptions(dir, BlockStoreOptions{Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, blk := range makeChain(2000) {
		if err := s.Append(blk); err != nil {
			b.Fatal(err)
		}
	}
	eventually.True(b, 10*time.Second, "the TxID filter to be built", func() bool { return s.ix.txs.live.Load() != nil })
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("%064x", i*7919)
	}
	run := func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if ok, err := s.TxExists(ids[i%len(ids)]); err != nil || ok {
				b.Fatal(ok, err)
			}
			i++
		}
	}
	b.Run("filter", run)
	// Without a live filter every lookup goes to LevelDB, as before it.
	s.ix.txs.live.Store(nil)
	b.Run("index", run)
}
