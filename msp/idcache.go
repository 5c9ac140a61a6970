package msp

import (
	"bytes"
	"crypto/x509"
	"sync"
)

// maxCachedDeserialized bounds the identities a Manager keeps deserialized. A
// channel sees a few hundred distinct creators and endorsers in practice; past
// the bound arbitrary entries are evicted (a miss costs one certificate parse).
const maxCachedDeserialized = 1024

// identityCache maps a marshalled msp.SerializedIdentity to the Identity it
// deserializes to, once that identity has been validated. The Identities it
// hands out are shared and must not be modified.
type identityCache struct {
	mu sync.RWMutex // guards m
	m  map[string]*Identity
}

func newIdentityCache() *identityCache {
	return &identityCache{m: map[string]*Identity{}}
}

func (c *identityCache) get(serialized []byte) (*Identity, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	id, ok := c.m[string(serialized)]
	c.mu.RUnlock()
	return id, ok
}

// put stores id under its own (copied) serialized bytes, evicting arbitrary
// entries past the bound. A nil cache (a zero Manager) keeps nothing.
func (c *identityCache) put(id *Identity) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for old := range c.m {
		if len(c.m) < maxCachedDeserialized {
			break
		}
		delete(c.m, old)
	}
	c.m[string(id.Serialized)] = id
}

// shareable returns a copy of id with certificate cert (id's, normalised)
// that owns its serialized bytes, so a cached identity never aliases a
// caller's (possibly reused) buffer.
func shareable(id *Identity, cert *x509.Certificate) *Identity {
	return &Identity{MSPID: id.MSPID, Cert: cert, Serialized: bytes.Clone(id.Serialized)}
}
