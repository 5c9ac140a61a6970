package statedbtest

import (
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/weft-ledger/weft/statedb"
)

var concurrencyTests = []namedTest{
	{"ConcurrentReadsDuringApply", testConcurrentReadsDuringApply},
}

// testConcurrentReadsDuringApply: Gets and range scans from several
// goroutines while blocks are applied (as endorsements run while a block
// commits). Every value a reader sees is one that was written with the
// version it carries; a reader never sees a key go back to an older
// version from Gets, nor from range scans (a Get after a scan may: a
// backend may serve Gets from a cache it updates once the Apply is done,
// and MVCC checks at commit catch such reads); once the writer is done, every read gives the final state (no
// cache kept a value a racing reader fetched before an Apply).
func testConcurrentReadsDuringApply(s *suite, t *testing.T) {
	db := s.db(t)
	const nKeys, nBlocks, nReaders = 60, 12, 4
	nss := []string{"basic", "mycc$$pcoll"}
	keys := make([]string, nKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("key%03d", i)
	}
	// Block n writes every key with value n, except that odd blocks delete
	// every tenth key and even blocks put it back.
	block := func(n uint64) *statedb.Batch {
		b := statedb.NewBatch()
		for _, ns := range nss {
			for i, k := range keys {
				ver := v(n, uint64(i))
				if i%10 == 9 && n%2 == 1 && n > 1 {
					b.Delete(ns, k, ver)
					continue
				}
				b.Put(ns, k, []byte(strconv.FormatUint(n, 10)), []byte("m"+strconv.FormatUint(n, 10)), ver)
			}
		}
		return b
	}
	m := model{}
	b := block(1)
	if err := db.Apply(b, v(1, 0)); err != nil {
		t.Fatal(err)
	}
	m.apply(b)

	loader, _ := db.(statedb.BulkLoader)
	var preload []statedb.NsKey
	for _, ns := range nss {
		for _, k := range keys {
			preload = append(preload, statedb.NsKey{Namespace: ns, Key: k})
		}
	}

	done := make(chan struct{})
	var started, finished sync.WaitGroup
	for r := range nReaders {
		started.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			rd := &reader{db: db, latest: map[string]uint64{}}
			first := true
			for {
				select {
				case <-done:
					return
				default:
				}
				for i, k := range keys {
					if (i+r)%nReaders == 0 {
						if err := rd.get(nss[i%2], k); err != nil {
							t.Errorf("reader %d: %v", r, err)
							break
						}
					}
				}
				if err := rd.scan(nss[r%2]); err != nil {
					t.Errorf("reader %d: %v", r, err)
				}
				if first {
					started.Done()
					first = false
				}
				if t.Failed() {
					return
				}
			}
		}()
	}

	// The writer starts once every reader has done a round, so reads and
	// Applies overlap.
	started.Wait()
	for n := uint64(2); n <= nBlocks && !t.Failed(); n++ {
		b := block(n)
		if loader != nil {
			if err := loader.Preload(preload); err != nil {
				t.Errorf("Preload before block %d: %v", n, err)
				break
			}
		}
		if err := db.Apply(b, v(n, 0)); err != nil {
			t.Errorf("Apply of block %d: %v", n, err)
			break
		}
		m.apply(b)
	}
	close(done)
	finished.Wait()
	if t.Failed() {
		return
	}
	s.check(t, db, m, 1)
	wantSavepoint(t, db, v(nBlocks, 0))
}

// reader checks what one goroutine reads; its methods return errors
// rather than failing the test, since they run off the test's goroutine.
type reader struct {
	db     statedb.DB
	latest map[string]uint64 // source/ns/key → highest block seen
}

func (r *reader) see(source, ns, key string, vv *statedb.VersionedValue) error {
	n := vv.Version.BlockNum
	if string(vv.Value) != strconv.FormatUint(n, 10) || string(vv.Metadata) != "m"+strconv.FormatUint(n, 10) {
		return fmt.Errorf("%s/%s: value %s, metadata %s at version %v, which block %d did not write", ns, key, show(vv.Value), show(vv.Metadata), vv.Version, n)
	}
	id := source + "/" + ns + "/" + key
	if n < r.latest[id] {
		return fmt.Errorf("%s/%s: read by %s at block %d after it was read at block %d", ns, key, source, n, r.latest[id])
	}
	r.latest[id] = n
	return nil
}

func (r *reader) get(ns, key string) error {
	vv, err := r.db.Get(ns, key)
	if err != nil {
		return fmt.Errorf("Get(%s, %s): %w", ns, key, err)
	}
	if vv == nil {
		if key[len(key)-1] != '9' {
			return fmt.Errorf("Get(%s, %s): absent, but no block deletes it", ns, key)
		}
		return nil
	}
	return r.see("Get", ns, key, vv)
}

func (r *reader) scan(ns string) error {
	it, err := r.db.GetRange(ns, "", "")
	if err != nil {
		return fmt.Errorf("GetRange(%s): %w", ns, err)
	}
	defer it.Close()
	prev := ""
	for n := 0; ; n++ {
		kv, err := it.Next()
		if err != nil {
			return fmt.Errorf("GetRange(%s).Next after %d results: %w", ns, n, err)
		}
		if kv == nil {
			if n < 54 { // the keys no block deletes
				return fmt.Errorf("GetRange(%s): %d results, fewer than the 54 keys always present", ns, n)
			}
			return nil
		}
		if n > 0 && kv.Key <= prev {
			return fmt.Errorf("GetRange(%s): %s after %s", ns, kv.Key, prev)
		}
		prev = kv.Key
		if err := r.see("GetRange", ns, kv.Key, &kv.VersionedValue); err != nil {
			return fmt.Errorf("GetRange: %w", err)
		}
	}
}
