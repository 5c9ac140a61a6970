package statedb

import (
	"fmt"
	"sort"
)

// Version is the height of the transaction that last wrote a key.
type Version struct {
	BlockNum, TxNum uint64
}

// Compare returns -1, 0 or +1 as v is lower than, equal to or higher than o.
func (v Version) Compare(o Version) int {
	switch {
	case v.BlockNum < o.BlockNum:
		return -1
	case v.BlockNum > o.BlockNum:
		return 1
	case v.TxNum < o.TxNum:
		return -1
	case v.TxNum > o.TxNum:
		return 1
	}
	return 0
}

// String formats v as block:tx.
func (v Version) String() string { return fmt.Sprintf("%d:%d", v.BlockNum, v.TxNum) }

// VersionedValue is a stored value with its metadata and version.
type VersionedValue struct {
	Value, Metadata []byte
	Version         Version
}

// KV is one result of a range scan.
type KV struct {
	Namespace, Key string
	VersionedValue
}

// Iterator walks range results in key order.
type Iterator interface {
	// Next returns the next entry, or nil, nil when the range is exhausted.
	Next() (*KV, error)
	// Close releases the iterator; it is safe to call more than once.
	Close()
}

// DB is a versioned key/value store, the world state of one channel.
type DB interface {
	// Get returns the value of key in ns, or nil, nil when it is absent.
	Get(ns, key string) (*VersionedValue, error)
	// GetRange iterates the keys of ns in [startKey, endKey) in byte order;
	// an empty endKey scans to the end of ns, an empty startKey from its start.
	GetRange(ns, startKey, endKey string) (Iterator, error)
	// Apply writes every update of b and the savepoint in one atomic step.
	Apply(b *Batch, savepoint Version) error
	// Savepoint returns the savepoint of the last Apply; ok is false on a fresh DB.
	Savepoint() (v Version, ok bool, err error)
	// Close releases the store.
	Close() error
}

// Update fills a fresh Batch with fn and applies it at savepoint.
func Update(db DB, savepoint Version, fn func(*Batch) error) error {
	b := NewBatch()
	if err := fn(b); err != nil {
		return err
	}
	return db.Apply(b, savepoint)
}

type update struct {
	vv      VersionedValue
	deleted bool
}

// Batch holds pending updates, keyed by namespace and key; a later update of
// the same key replaces the earlier one. A Batch is not safe for concurrent use.
type Batch struct {
	updates map[string]map[string]*update
}

// NewBatch returns an empty batch.
func NewBatch() *Batch { return &Batch{updates: map[string]map[string]*update{}} }

func (b *Batch) set(ns, key string, u *update) {
	m := b.updates[ns]
	if m == nil {
		m = map[string]*update{}
		b.updates[ns] = m
	}
	m[key] = u
}

// Put records a write of value (and metadata, nil for none) at version v.
func (b *Batch) Put(ns, key string, value, metadata []byte, v Version) {
	b.set(ns, key, &update{vv: VersionedValue{Value: value, Metadata: metadata, Version: v}})
}

// Delete records a delete of key at version v.
func (b *Batch) Delete(ns, key string, v Version) {
	b.set(ns, key, &update{vv: VersionedValue{Version: v}, deleted: true})
}

// Get returns the pending update of key: ok is false when the batch does not
// touch it; deleted is true (and vv carries only the version) for a delete.
func (b *Batch) Get(ns, key string) (vv *VersionedValue, deleted, ok bool) {
	u, ok := b.updates[ns][key]
	if !ok {
		return nil, false, false
	}
	c := u.vv
	return &c, u.deleted, true
}

// Len returns the number of pending updates.
func (b *Batch) Len() int {
	n := 0
	for _, m := range b.updates {
		n += len(m)
	}
	return n
}

// Namespaces returns the namespaces the batch touches, sorted.
func (b *Batch) Namespaces() []string {
	out := make([]string, 0, len(b.updates))
	for ns := range b.updates {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// Keys returns the keys of ns the batch touches, sorted.
func (b *Batch) Keys(ns string) []string {
	m := b.updates[ns]
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ForEach calls fn for every update in namespace then key order; vv is nil
// for a delete. It stops at the first error fn returns.
func (b *Batch) ForEach(fn func(ns, key string, vv *VersionedValue, deleted bool, v Version) error) error {
	for _, ns := range b.Namespaces() {
		for _, key := range b.Keys(ns) {
			u := b.updates[ns][key]
			var vv *VersionedValue
			if !u.deleted {
				c := u.vv
				vv = &c
			}
			if err := fn(ns, key, vv, u.deleted, u.vv.Version); err != nil {
				return err
			}
		}
	}
	return nil
}
