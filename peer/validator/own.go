package validator

import (
	"bytes"
	"crypto/sha256"
	"sync"

	"github.com/weft-ledger/weft/protos"
)

// OwnSignatures remembers the most recent signatures this peer made, so that
// validation need not verify the peer's own endorsements again: a signature
// the peer made over exactly the same bytes, as exactly the identity the
// endorsement names, is valid by construction. Anything not remembered is
// verified as usual. It is safe for concurrent use.
type OwnSignatures struct {
	identity []byte // the peer's serialized identity

	mu    sync.Mutex          // guards byKey and ring
	byKey map[string][32]byte // signature -> SHA-256 of the signed message
	ring  []string            // signatures in insertion order, for eviction
	next  int
}

// NewOwnSignatures remembers up to capacity signatures made by the identity
// serialized as identity.
func NewOwnSignatures(identity []byte, capacity int) *OwnSignatures {
	capacity = max(capacity, 1)
	return &OwnSignatures{identity: bytes.Clone(identity), byKey: make(map[string][32]byte, capacity), ring: make([]string, capacity)}
}

// Record remembers that the peer signed msg with sig.
func (o *OwnSignatures) Record(msg, sig []byte) {
	digest := sha256.Sum256(msg)
	key := string(sig)
	o.mu.Lock()
	defer o.mu.Unlock()
	if old := o.ring[o.next]; old != "" {
		delete(o.byKey, old)
	}
	o.ring[o.next] = key
	o.next = (o.next + 1) % len(o.ring)
	o.byKey[key] = digest
}

// Made reports whether sd is a signature this peer made, as its own
// identity, over exactly sd.Data.
func (o *OwnSignatures) Made(sd protos.SignedData) bool {
	if o == nil || !bytes.Equal(sd.Identity, o.identity) {
		return false
	}
	o.mu.Lock()
	digest, ok := o.byKey[string(sd.Signature)]
	o.mu.Unlock()
	return ok && digest == sha256.Sum256(sd.Data)
}

// Signer wraps s so that every signature it makes is remembered. A signer of
// another identity than o's is returned as is.
func (o *OwnSignatures) Signer(s protos.Signer) protos.Signer {
	if ser, err := s.Serialize(); err != nil || !bytes.Equal(ser, o.identity) {
		return s
	}
	return recordingSigner{Signer: s, own: o}
}

type recordingSigner struct {
	protos.Signer
	own *OwnSignatures
}

func (r recordingSigner) Sign(msg []byte) ([]byte, error) {
	sig, err := r.Signer.Sign(msg)
	if err == nil {
		r.own.Record(msg, sig)
	}
	return sig, err
}
