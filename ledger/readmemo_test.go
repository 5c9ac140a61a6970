package ledger

import (
	"fmt"
	"testing"

	"github.com/weft-ledger/weft/statedb"
)

// countingReader counts the Gets that reach the state.
type countingReader struct {
	statedb.Reader
	gets int
}

func (c *countingReader) Get(ns, key string) (*statedb.VersionedValue, error) {
	c.gets++
	return c.Reader.Get(ns, key)
}

// The memo answers remembered keys (absent ones too) without reading the
// state, reads the state for the others, keeps at most maxMemo keys and
// forgets them all on reset.
func TestReadMemo(t *testing.T) {
	db := newMemState()
	v1 := statedb.Version{BlockNum: 1}
	if err := statedb.Update(db, v1, func(b *statedb.Batch) error {
		b.Put("ns", "a", []byte("1"), []byte("meta"), v1)
		b.Put("ns", "b", []byte("2"), nil, v1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c := &countingReader{Reader: db}
	m := &readMemo{}
	m.reset(c)
	a, err := db.Get("ns", "a")
	if err != nil {
		t.Fatal(err)
	}
	m.remember("ns", "a", a)
	m.remember("ns", "gone", nil)
	if vv, err := m.Get("ns", "a"); err != nil || vv == nil || string(vv.Metadata) != "meta" || vv.Version != v1 {
		t.Fatalf("memo Get(ns, a) = %+v, %v; want the remembered value", vv, err)
	}
	if vv, err := m.Get("ns", "gone"); err != nil || vv != nil {
		t.Fatalf("memo Get(ns, gone) = %+v, %v; want absent", vv, err)
	}
	if vv, err := m.Get("other", "a"); err != nil || vv != nil {
		t.Fatalf("memo Get(other, a) = %+v, %v; want absent (another namespace)", vv, err)
	}
	if c.gets != 1 {
		t.Fatalf("%d Gets reached the state, want 1 (only other/a)", c.gets)
	}
	if vv, err := m.Get("ns", "b"); err != nil || vv == nil || string(vv.Value) != "2" {
		t.Fatalf("memo Get(ns, b) = %+v, %v; want the state's value", vv, err)
	}

	m.reset(c)
	c.gets = 0
	if _, err := m.Get("ns", "a"); err != nil || c.gets != 1 {
		t.Fatalf("after reset, Get(ns, a) reached the state %d times (err %v), want 1", c.gets, err)
	}
	for i := range maxMemo + 1 {
		m.remember("ns", fmt.Sprint("k", i), nil)
	}
	c.gets = 0
	if _, err := m.Get("ns", fmt.Sprint("k", maxMemo-1)); err != nil || c.gets != 0 {
		t.Fatalf("a key within the bound reached the state %d times (err %v), want 0", c.gets, err)
	}
	if _, err := m.Get("ns", fmt.Sprint("k", maxMemo)); err != nil || c.gets != 1 {
		t.Fatalf("a key beyond the bound reached the state %d times (err %v), want 1", c.gets, err)
	}
}
