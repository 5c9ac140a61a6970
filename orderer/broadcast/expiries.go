package broadcast

import (
	"sync"
	"time"

	"github.com/weft-ledger/weft/msp"
)

// maxExpiries bounds the creators whose expiry is remembered; past it the
// memory starts again empty. Clients are few (a handful of applications and
// admins per organisation), so this is only a guard against a client that
// sends many certificates.
const maxExpiries = 4096

// expiries remembers, by marshalled creator, when its certificate expires,
// so that the expiry check of every envelope does not decode the creator's
// PEM certificate again: under load that decoding was about a tenth of the
// orderer's CPU, as much as a quarter of the creator's signature check.
type expiries struct {
	mu       sync.Mutex
	notAfter map[string]time.Time
}

// check is msp.CheckExpiry(creator, now), decoding each creator once.
func (e *expiries) check(creator []byte, now time.Time) error {
	e.mu.Lock()
	na, ok := e.notAfter[string(creator)]
	e.mu.Unlock()
	if ok && !now.After(na) {
		return nil
	}
	if ok {
		// Expired: decode again for the error naming the identity.
		return msp.CheckExpiry(creator, now)
	}
	id, err := msp.ParseSerializedIdentity(creator)
	if err != nil || id.Cert == nil {
		// Not remembered: as msp.CheckExpiry decides it, every time.
		return msp.CheckExpiry(creator, now)
	}
	e.mu.Lock()
	if e.notAfter == nil || len(e.notAfter) >= maxExpiries {
		e.notAfter = make(map[string]time.Time)
	}
	e.notAfter[string(creator)] = id.Cert.NotAfter
	e.mu.Unlock()
	return id.CheckExpiry(now)
}
