package lifecycle

import (
	"fmt"
	"sync"
)

// DefinitionCache holds, for one channel, the committed chaincode definitions
// and this organisation's approved package IDs (per name and sequence) that
// were read from that channel's committed state, so that endorsing does not
// read and decode the `_lifecycle` keys for every proposal.
//
// Its owner must call Invalidate whenever a block that writes the `_lifecycle`
// namespace (public state or an implicit collection) commits on the channel:
// once before the block's state is applied and once after, so no entry read
// from the old state outlives the commit. A load that was under way when
// Invalidate was called is returned to its caller but not kept.
//
// Only successful reads are kept; errors (ErrNotDefined included) are not.
// Returned definitions are shared: callers must not modify them.
// A nil *DefinitionCache caches nothing. It is safe for concurrent use.
type DefinitionCache struct {
	mu   sync.RWMutex
	gen  uint64 // incremented by Invalidate
	defs map[string]*Definition
	pkgs map[packageKey]string
}

type packageKey struct {
	name     string
	sequence int64
}

// NewDefinitionCache returns an empty cache.
func NewDefinitionCache() *DefinitionCache {
	return &DefinitionCache{defs: map[string]*Definition{}, pkgs: map[packageKey]string{}}
}

// Get returns the cached definition of chaincode name, or calls load, keeps
// its result unless the cache was invalidated meanwhile, and returns it.
func (c *DefinitionCache) Get(name string, load func(name string) (*Definition, error)) (*Definition, error) {
	if c == nil {
		return load(name)
	}
	c.mu.RLock()
	d, ok := c.defs[name]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return d, nil
	}
	d, err := load(name)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, fmt.Errorf("chaincode %s: definition loader returned no definition and no error", name)
	}
	c.mu.Lock()
	if c.gen == gen {
		c.defs[name] = d
	}
	c.mu.Unlock()
	return d, nil
}

// PackageID returns the cached package ID this organisation approved for
// chaincode name at sequence, or calls load and keeps its result unless the
// cache was invalidated meanwhile. An empty package ID (approved without a
// package) is kept too.
func (c *DefinitionCache) PackageID(name string, sequence int64, load func(name string, sequence int64) (string, error)) (string, error) {
	if c == nil {
		return load(name, sequence)
	}
	k := packageKey{name, sequence}
	c.mu.RLock()
	id, ok := c.pkgs[k]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return id, nil
	}
	id, err := load(name, sequence)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.pkgs[k] = id
	}
	c.mu.Unlock()
	return id, nil
}

// Invalidate drops every entry, and keeps out the results of loads under way.
func (c *DefinitionCache) Invalidate() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	clear(c.defs)
	clear(c.pkgs)
	c.mu.Unlock()
}

// SequenceKey is the public `_lifecycle` key holding the sequence of the
// committed definition of chaincode name: the key endorsements read so that
// an upgrade between endorsement and commit invalidates the transaction.
func SequenceKey(name string) string { return fieldKey(namespacesPrefix, name, "Sequence") }

// ReadSequence reads the sequence of the committed definition of chaincode
// name through state (a simulator records this read); 0 when none is committed.
func ReadSequence(state StateReader, name string) (int64, error) {
	seq, err := readInt64(namespacesPrefix, name, "Sequence", nsReader{Namespace, state})
	if err != nil {
		return 0, fmt.Errorf("read sequence of chaincode %s: %w", name, err)
	}
	return seq, nil
}
