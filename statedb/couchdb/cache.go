package couchdb

import (
	"container/list"
	"sync"

	"github.com/weft-ledger/weft/statedb"
)

// cache holds committed state of every channel of one Client, least
// recently used first out, within a byte budget (cacheSize). Besides the
// value it keeps the document's _rev, so that Apply needs no round trip to
// learn it, and it remembers keys known to be absent.
//
// Only Apply writes what it committed (set); reads (Get, Preload) may only
// add what they fetched (fill) when no Apply of the channel ran since they
// started, so a read racing a commit never leaves the older value behind.
type cache struct {
	max int // bytes; <= 0 disables the cache

	// mu guards everything below.
	mu      sync.Mutex
	used    int
	entries map[cacheKey]*list.Element // of *cacheEntry
	lru     *list.List                 // front: most recently used
	// gen counts, per channel, the starts and ends of Applies: odd while
	// one runs.
	gen map[string]uint64
}

type cacheKey struct{ channel, ns, key string }

// cacheEntry is what the cache knows of one key.
type cacheEntry struct {
	key cacheKey
	// present is false for a key known to be absent.
	present bool
	// valueKnown is false when only the version and _rev are known: the
	// value CouchDB hands back for it cannot be predicted (see
	// cacheableValue) and is read once.
	valueKnown bool
	vv         statedb.VersionedValue
	rev        string
	size       int
}

const entryOverhead = 160 // map slot, list element, struct, string headers

func (e *cacheEntry) computeSize() {
	e.size = entryOverhead + len(e.key.channel) + len(e.key.ns) + len(e.key.key) +
		len(e.vv.Value) + len(e.vv.Metadata) + len(e.rev)
}

func newCache(sizeMB int) *cache {
	return &cache{
		max:     sizeMB << 20,
		entries: map[cacheKey]*list.Element{},
		lru:     list.New(),
		gen:     map[string]uint64{},
	}
}

func (c *cache) enabled() bool { return c.max > 0 }

// get returns a copy of the entry of k.
func (c *cache) get(k cacheKey) (cacheEntry, bool) {
	if !c.enabled() {
		return cacheEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return cacheEntry{}, false
	}
	c.lru.MoveToFront(el)
	return *el.Value.(*cacheEntry), true
}

// generation is read by a reader before it fetches, and handed to fill.
func (c *cache) generation(channel string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen[channel]
}

// beginApply and endApply bracket an Apply of channel.
func (c *cache) beginApply(channel string) {
	c.mu.Lock()
	c.gen[channel]++
	c.mu.Unlock()
}

func (c *cache) endApply(channel string) {
	c.mu.Lock()
	c.gen[channel]++
	c.mu.Unlock()
}

// fill adds entries a read fetched when no Apply of their channel started
// since generation gen was read.
func (c *cache) fill(channel string, gen uint64, es []*cacheEntry) {
	if !c.enabled() || len(es) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen%2 == 1 || c.gen[channel] != gen {
		return
	}
	for _, e := range es {
		c.putLocked(e)
	}
}

// set records what an Apply committed.
func (c *cache) set(es []*cacheEntry) {
	if !c.enabled() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range es {
		c.putLocked(e)
	}
}

func (c *cache) putLocked(e *cacheEntry) {
	e.computeSize()
	if old, ok := c.entries[e.key]; ok {
		c.used -= old.Value.(*cacheEntry).size
		c.lru.Remove(old)
		delete(c.entries, e.key)
	}
	if e.size > c.max/4 {
		return // one value must not flush the cache
	}
	c.entries[e.key] = c.lru.PushFront(e)
	c.used += e.size
	for c.used > c.max {
		last := c.lru.Back()
		le := last.Value.(*cacheEntry)
		c.lru.Remove(last)
		delete(c.entries, le.key)
		c.used -= le.size
	}
}

// drop forgets keys, after an Apply failed part way and their _rev may
// have changed.
func (c *cache) drop(keys []cacheKey) {
	if !c.enabled() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if el, ok := c.entries[k]; ok {
			c.used -= el.Value.(*cacheEntry).size
			c.lru.Remove(el)
			delete(c.entries, k)
		}
	}
}

// stats reports the entries and bytes held, for tests.
func (c *cache) stats() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.used
}
