package lifecycle

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"

	"github.com/weft-ledger/weft/protos"
)

// defLoader serves the definition of "cc" at the sequence it holds, and
// counts its calls.
type defLoader struct {
	seq   atomic.Int64
	calls atomic.Int64
}

func (l *defLoader) load(name string) (*Definition, error) {
	l.calls.Add(1)
	if name != "cc" {
		return nil, ErrNotDefined
	}
	return &Definition{Name: name, Sequence: l.seq.Load()}, nil
}

func TestDefinitionCacheKeepsLoadedDefinitions(t *testing.T) {
	c, l := NewDefinitionCache(), &defLoader{}
	l.seq.Store(1)
	for range 3 {
		d, err := c.Get("cc", l.load)
		if err != nil || d.Sequence != 1 {
			t.Fatalf("Get = %v, %v", d, err)
		}
	}
	if n := l.calls.Load(); n != 1 {
		t.Fatalf("loader called %d times for 3 Gets, want 1", n)
	}
	// Errors (not defined included) are not kept.
	for range 2 {
		if _, err := c.Get("other", l.load); !errors.Is(err, ErrNotDefined) {
			t.Fatalf("Get(other) err = %v", err)
		}
	}
	if n := l.calls.Load(); n != 3 {
		t.Fatalf("loader called %d times, want 3 (errors are loaded each time)", n)
	}
}

func TestDefinitionCacheInvalidate(t *testing.T) {
	c, l := NewDefinitionCache(), &defLoader{}
	l.seq.Store(1)
	if _, err := c.Get("cc", l.load); err != nil {
		t.Fatal(err)
	}
	l.seq.Store(2) // a new definition commits ...
	if d, _ := c.Get("cc", l.load); d.Sequence != 1 {
		t.Fatalf("before Invalidate: sequence %d, want the cached 1", d.Sequence)
	}
	c.Invalidate() // ... and the commit path invalidates
	if d, _ := c.Get("cc", l.load); d.Sequence != 2 {
		t.Fatalf("after Invalidate: sequence %d, want 2", d.Sequence)
	}
}

func TestDefinitionCachePackageIDs(t *testing.T) {
	c := NewDefinitionCache()
	var calls atomic.Int64
	pkgs := map[int64]string{1: "cc_1:aa", 2: ""}
	load := func(name string, seq int64) (string, error) {
		calls.Add(1)
		id, ok := pkgs[seq]
		if !ok {
			return "", errors.New("not approved")
		}
		return id, nil
	}
	for range 2 {
		for seq, want := range pkgs {
			if id, err := c.PackageID("cc", seq, load); err != nil || id != want {
				t.Fatalf("PackageID(cc, %d) = %q, %v; want %q", seq, id, err, want)
			}
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("loader called %d times, want 2 (once per sequence; empty IDs kept too)", n)
	}
	if _, err := c.PackageID("cc", 3, load); err == nil {
		t.Fatal("PackageID of an unapproved sequence: no error")
	}
	pkgs[1] = "cc_1:bb" // re-approved with another package at the same sequence
	c.Invalidate()
	if id, _ := c.PackageID("cc", 1, load); id != "cc_1:bb" {
		t.Fatalf("after Invalidate: package %q, want cc_1:bb", id)
	}
}

// A load under way when Invalidate is called may have read the old state: its
// result goes to its caller but is not kept.
func TestDefinitionCacheDropsLoadRacingInvalidate(t *testing.T) {
	c, l := NewDefinitionCache(), &defLoader{}
	l.seq.Store(1)
	d, err := c.Get("cc", func(name string) (*Definition, error) {
		d, err := l.load(name)
		l.seq.Store(2)
		c.Invalidate() // the commit path, while this load runs
		return d, err
	})
	if err != nil || d.Sequence != 1 {
		t.Fatalf("racing Get = %v, %v", d, err)
	}
	if d, _ := c.Get("cc", l.load); d.Sequence != 2 {
		t.Fatalf("after the racing load: sequence %d, want 2 (the racing result must not be kept)", d.Sequence)
	}
	_, err = c.PackageID("cc", 1, func(string, int64) (string, error) { c.Invalidate(); return "old", nil })
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := c.PackageID("cc", 1, func(string, int64) (string, error) { return "new", nil }); id != "new" {
		t.Fatalf("package after racing load = %q, want new", id)
	}
}

func TestNilDefinitionCacheLoadsEveryTime(t *testing.T) {
	var c *DefinitionCache
	l := &defLoader{}
	for range 2 {
		if _, err := c.Get("cc", l.load); err != nil {
			t.Fatal(err)
		}
	}
	c.Invalidate()
	if n := l.calls.Load(); n != 2 {
		t.Fatalf("nil cache: loader called %d times, want 2", n)
	}
}

// Concurrent readers and an invalidating writer: once the writer has stored
// sequence n and invalidated, no Get returns a sequence below n.
func TestDefinitionCacheConcurrent(t *testing.T) {
	c, l := NewDefinitionCache(), &defLoader{}
	var wg sync.WaitGroup
	var committed atomic.Int64
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := committed.Load()
				d, err := c.Get("cc", l.load)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Sequence < floor {
					t.Errorf("Get returned sequence %d after %d was committed and invalidated", d.Sequence, floor)
					return
				}
			}
		}()
	}
	for seq := int64(1); seq <= 300; seq++ {
		c.Invalidate() // before the state changes
		l.seq.Store(seq)
		c.Invalidate() // after
		committed.Store(seq)
	}
	close(stop)
	wg.Wait()
}

func TestReadSequence(t *testing.T) {
	st := mapState{Namespace + "\x00" + SequenceKey("cc"): protos.Marshal(&lb.StateData{Type: &lb.StateData_Int64{Int64: 7}})}
	if SequenceKey("cc") != "namespaces/fields/cc/Sequence" {
		t.Fatalf("SequenceKey = %s", SequenceKey("cc"))
	}
	if seq, err := ReadSequence(st, "cc"); err != nil || seq != 7 {
		t.Fatalf("ReadSequence(cc) = %d, %v", seq, err)
	}
	if seq, err := ReadSequence(st, "none"); err != nil || seq != 0 {
		t.Fatalf("ReadSequence(none) = %d, %v; want 0", seq, err)
	}
	st[Namespace+"\x00"+SequenceKey("bad")] = protos.Marshal(&lb.StateData{Type: &lb.StateData_String_{String_: "x"}})
	if _, err := ReadSequence(st, "bad"); err == nil {
		t.Fatal("ReadSequence of a string field: no error")
	}
}

type mapState map[string][]byte

func (m mapState) GetState(ns, key string) ([]byte, error) { return m[ns+"\x00"+key], nil }
