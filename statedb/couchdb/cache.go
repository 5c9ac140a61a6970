package couchdb

import (
	"container/list"
	"slices"
	"sync"

	"github.com/weft-ledger/weft/statedb"
)

// cache holds committed state of every channel of one Client, least
// recently used first out, within a byte budget (cacheSize). Besides the
// value it keeps the document's _rev, so that Apply needs no round trip to
// learn it, and it remembers keys known to be absent.
//
// Only Apply writes what it committed (set); reads (Get, Preload) may only
// add what they fetched (fill) for keys no Apply of the channel wrote
// since they started, so a read racing a commit never leaves the older
// value behind. A read that overlapped an Apply still fills the keys that
// Apply does not write: under load an Apply is nearly always running, and
// dropping every such fill sent the next read of the same key (the
// validator's, after the endorser's) back to CouchDB.
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
	// applied holds, per channel, the keys of the last recentApplies
	// Applies, oldest first, each under the (odd) generation its start
	// set; pruned is the generation of the newest one dropped from it (0:
	// none yet).
	applied map[string][]appliedKeys
	pruned  map[string]uint64
}

// recentApplies bounds the Applies whose keys the cache remembers: a read
// that overlapped an older one (a read slower than that many commits)
// fills nothing.
const recentApplies = 8

// appliedKeys are the keys one Apply writes.
type appliedKeys struct {
	gen  uint64
	keys map[cacheKey]struct{}
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
		applied: map[string][]appliedKeys{},
		pruned:  map[string]uint64{},
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

// beginApply and endApply bracket an Apply of channel, which writes keys.
func (c *cache) beginApply(channel string, keys []cacheKey) {
	set := make(map[cacheKey]struct{}, len(keys))
	for _, k := range keys {
		set[k] = struct{}{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen[channel]++
	recent := append(c.applied[channel], appliedKeys{gen: c.gen[channel], keys: set})
	if len(recent) > recentApplies {
		c.pruned[channel] = recent[0].gen
		recent = slices.Delete(recent, 0, 1)
	}
	c.applied[channel] = recent
}

func (c *cache) endApply(channel string) {
	c.mu.Lock()
	c.gen[channel]++
	c.mu.Unlock()
}

// fill adds entries a read fetched, except those of keys an Apply of their
// channel wrote while the read ran: one running when generation gen was
// read (gen odd), or started since.
func (c *cache) fill(channel string, gen uint64, es []*cacheEntry) {
	if !c.enabled() || len(es) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen%2 == 0 && c.gen[channel] == gen {
		for _, e := range es {
			c.putLocked(e)
		}
		return
	}
	if p := c.pruned[channel]; p != 0 && p >= gen {
		return // an Apply that overlapped the read is forgotten
	}
	var overlapped []map[cacheKey]struct{}
	for _, a := range c.applied[channel] {
		if a.gen >= gen {
			overlapped = append(overlapped, a.keys)
		}
	}
next:
	for _, e := range es {
		for _, keys := range overlapped {
			if _, written := keys[e.key]; written {
				continue next
			}
		}
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
