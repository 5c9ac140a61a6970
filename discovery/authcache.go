package discovery

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/weft-ledger/weft/protos"
)

// Fabric's defaults for peer.discovery.authCacheMaxSize and
// authCachePurgeRetentionRatio.
const (
	DefaultAuthCacheMaxSize       = 1000
	DefaultAuthCacheRetentionRate = 0.75
)

// authCache remembers, per channel and per signed request, whether the
// request's signer was allowed, so that a client repeating a request (SDKs
// send the same signed request again and again) is not verified each time.
// The verdicts of a channel are forgotten when its config sequence changes.
// When a channel's cache is full, entries are evicted down to the retention
// ratio (which ones is arbitrary, as in Fabric).
type authCache struct {
	maxSize   int
	retention float64
	check     func(channel string, sd protos.SignedData) error
	sequence  func(channel string) uint64

	mu       sync.Mutex // guards channels and everything in them
	channels map[string]*channelVerdicts
}

type channelVerdicts struct {
	sequence uint64
	verdicts map[[sha256.Size]byte]error
}

func newAuthCache(maxSize int, retention float64, check func(string, protos.SignedData) error, sequence func(string) uint64) *authCache {
	if maxSize <= 0 {
		maxSize = DefaultAuthCacheMaxSize
	}
	if retention < 0 || retention > 1 {
		retention = DefaultAuthCacheRetentionRate
	}
	return &authCache{maxSize: maxSize, retention: retention, check: check, sequence: sequence, channels: map[string]*channelVerdicts{}}
}

func signedDataKey(sd protos.SignedData) [sha256.Size]byte {
	h := sha256.New()
	for _, b := range [][]byte{sd.Data, sd.Identity, sd.Signature} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// eligible returns the cached verdict for sd on channel, computing and
// storing it on a miss. The check runs outside the lock; a verdict computed
// under a config sequence that changed meanwhile is returned but not stored.
func (c *authCache) eligible(channel string, sd protos.SignedData) error {
	key := signedDataKey(sd)
	seq := c.sequence(channel)
	c.mu.Lock()
	cv := c.channels[channel]
	if cv == nil || cv.sequence != seq {
		cv = &channelVerdicts{sequence: seq, verdicts: map[[sha256.Size]byte]error{}}
		c.channels[channel] = cv
	}
	if verdict, ok := cv.verdicts[key]; ok {
		c.mu.Unlock()
		return verdict
	}
	c.mu.Unlock()

	verdict := c.check(channel, sd)
	now := c.sequence(channel)

	c.mu.Lock()
	defer c.mu.Unlock()
	if now != seq || c.channels[channel] != cv {
		return verdict
	}
	if len(cv.verdicts)+1 > c.maxSize {
		evict := c.maxSize - int(c.retention*float64(c.maxSize))
		for k := range cv.verdicts {
			if evict <= 0 {
				break
			}
			delete(cv.verdicts, k)
			evict--
		}
	}
	cv.verdicts[key] = verdict
	return verdict
}
