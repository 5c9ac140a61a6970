package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/msp"
)

// UsageTimeout is how long a stored identity may go unused (no Get, no
// Verify, no Put) before Expire removes it: Fabric's identity usage
// threshold (gossip/identity/identity.go), one hour.
const UsageTimeout = time.Hour

// Errors the Store's errors wrap, for callers that branch on the cause.
var (
	// ErrInvalid: the Verifier refused the identity (no organisation this
	// peer knows issued it, revoked, malformed).
	ErrInvalid = errors.New("gossip identity is not valid")
	// ErrMismatch: the PKI-ID given is not the one of the identity.
	ErrMismatch = errors.New("gossip identity does not match its PKI-ID")
	// ErrExpired: the identity's certificate has expired.
	ErrExpired = errors.New("gossip identity has expired")
	// ErrUnknown: no identity is stored for the PKI-ID.
	ErrUnknown = errors.New("gossip identity unknown")
)

// Verifier is what the peer knows about organisations: supplied by the peer
// node (it checks against the MSPs of every joined channel and the local
// MSP).
type Verifier interface {
	// Validate returns the MSP ID of a valid serialized identity, or an
	// error naming why not.
	Validate(serialized []byte) (mspID string, err error)
	// Verify checks signature over msg by the serialized identity.
	Verify(serialized, signature, msg []byte) error
}

// Option changes a Store's defaults; tests use them to drive time.
type Option func(*Store)

// WithClock makes the Store read the time from now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithUsageTimeout replaces UsageTimeout.
func WithUsageTimeout(d time.Duration) Option { return func(s *Store) { s.usageTimeout = d } }

// Info is one stored identity.
type Info struct {
	PKIID      PKIID
	Serialized []byte
	MSPID      string
}

// Store keeps the identities of gossip peers by PKI-ID, each one validated
// by the Verifier before it is kept, and verifies signatures against them.
// It is safe for concurrent use.
type Store struct {
	self         PKIID
	v            Verifier
	now          func() time.Time
	usageTimeout time.Duration

	mu  sync.Mutex        // guards ids
	ids map[string]*entry // by string(PKIID)
}

type entry struct {
	pkiID      PKIID
	serialized []byte
	mspID      string
	notAfter   time.Time // zero when the certificate could not be parsed
	lastUsed   time.Time
}

// NewStore returns a Store holding the peer's own identity self, which must
// be valid for v.
func NewStore(self []byte, v Verifier, opts ...Option) (*Store, error) {
	if v == nil {
		return nil, errors.New("gossip identity store needs a Verifier")
	}
	s := &Store{v: v, now: time.Now, usageTimeout: UsageTimeout, ids: map[string]*entry{}}
	for _, o := range opts {
		o(s)
	}
	id, err := PKIIDOf(self)
	if err != nil {
		return nil, fmt.Errorf("own gossip identity: %w", err)
	}
	if err := s.Put(id, self); err != nil {
		return nil, fmt.Errorf("own gossip identity: %w", err)
	}
	s.self = id
	return s, nil
}

// Self is the PKI-ID of the peer's own identity.
func (s *Store) Self() PKIID { return s.self }

// Put stores serialized under pkiID after checking that pkiID is its PKI-ID,
// that the Verifier accepts it and that its certificate has not expired.
// Putting an identity already stored is not an error; it counts as a use.
// The identity is validated every time, so one that became invalid (its
// organisation left the channels) is refused even while still stored.
func (s *Store) Put(pkiID PKIID, serialized []byte) error {
	return s.put(pkiID, serialized, nil)
}

// PutSigned is Put for an identity that must first prove itself: it is
// stored only when signature over msg verifies against it (a handshake's
// signed ConnEstablish), so a refused handshake leaves nothing behind.
func (s *Store) PutSigned(pkiID PKIID, serialized, signature, msg []byte) error {
	return s.put(pkiID, serialized, func(mspID string) error {
		if len(signature) == 0 {
			return fmt.Errorf("PKI-ID %s (%s): no signature", pkiID, mspID)
		}
		if err := s.v.Verify(serialized, signature, msg); err != nil {
			return fmt.Errorf("signature of PKI-ID %s (%s): %w", pkiID, mspID, err)
		}
		return nil
	})
}

func (s *Store) put(pkiID PKIID, serialized []byte, prove func(mspID string) error) error {
	if len(pkiID) == 0 {
		return fmt.Errorf("%w: empty PKI-ID", ErrMismatch)
	}
	if len(serialized) == 0 {
		return fmt.Errorf("%w: PKI-ID %s comes with no identity", ErrInvalid, pkiID)
	}
	actual, err := PKIIDOf(serialized)
	if err != nil {
		return fmt.Errorf("%w: PKI-ID %s: %v", ErrInvalid, pkiID, err)
	}
	if !bytes.Equal(actual, pkiID) {
		return fmt.Errorf("%w: claimed %s, identity of MSP %s has %s", ErrMismatch, pkiID, mspIDOf(serialized), actual)
	}
	mspID, err := s.v.Validate(serialized)
	if err != nil {
		return fmt.Errorf("%w: PKI-ID %s of MSP %s: %v", ErrInvalid, pkiID, mspIDOf(serialized), err)
	}
	now := s.now()
	if err := msp.CheckExpiry(serialized, now); err != nil {
		return fmt.Errorf("%w: PKI-ID %s: %v", ErrExpired, pkiID, err)
	}
	if prove != nil {
		if err := prove(mspID); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.ids[string(pkiID)]; ok {
		e.lastUsed = now
		return nil
	}
	e := &entry{pkiID: append(PKIID(nil), pkiID...), serialized: append([]byte(nil), serialized...), mspID: mspID, lastUsed: now}
	if id, err := msp.ParseSerializedIdentity(serialized); err == nil && id.Cert != nil {
		e.notAfter = id.Cert.NotAfter
	}
	s.ids[string(pkiID)] = e
	return nil
}

// Get returns the identity stored for pkiID and its MSP ID; ok is false when
// none is stored or its certificate has expired since. A Get counts as a use.
func (s *Store) Get(pkiID PKIID) (serialized []byte, mspID string, ok bool) {
	e := s.use(pkiID)
	if e == nil {
		return nil, "", false
	}
	return e.serialized, e.mspID, true
}

// use returns the live entry of pkiID and marks it used, or nil; an entry
// found expired is removed on the way.
func (s *Store) use(pkiID PKIID) *entry {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.ids[string(pkiID)]
	if !ok {
		return nil
	}
	if !e.notAfter.IsZero() && now.After(e.notAfter) {
		delete(s.ids, string(pkiID))
		return nil
	}
	e.lastUsed = now
	return e
}

// Verify checks that signature over msg was made by the identity stored for
// pkiID.
func (s *Store) Verify(pkiID PKIID, signature, msg []byte) error {
	e := s.use(pkiID)
	if e == nil {
		return fmt.Errorf("%w: no identity stored for PKI-ID %s (never learned, unused for %v, or expired)", ErrUnknown, pkiID, s.usageTimeout)
	}
	if err := s.v.Verify(e.serialized, signature, msg); err != nil {
		return fmt.Errorf("signature of PKI-ID %s (%s): %w", pkiID, e.mspID, err)
	}
	return nil
}

// List returns every stored identity, the peer's own included.
func (s *Store) List() []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Info, 0, len(s.ids))
	for _, e := range s.ids {
		out = append(out, Info{PKIID: e.pkiID, Serialized: e.serialized, MSPID: e.mspID})
	}
	return out
}

// Expire removes the identities whose certificate has expired and those
// (other than the peer's own) not used for the usage timeout, and returns
// their PKI-IDs so that the caller can close their connections and forget
// them. Run calls it periodically.
func (s *Store) Expire() []PKIID {
	now := s.now()
	return s.remove(func(e *entry) bool {
		if !e.notAfter.IsZero() && now.After(e.notAfter) {
			return true
		}
		return !s.isSelf(e.pkiID) && now.Sub(e.lastUsed) > s.usageTimeout
	})
}

// Revalidate validates again the identities (other than the peer's own) for
// which suspect returns true and removes those the Verifier now refuses (an organisation removed from
// a channel, a certificate revoked by a new CRL), returning their PKI-IDs:
// Fabric's SuspectPeers. The Verifier is not called under the Store's lock.
func (s *Store) Revalidate(suspect func(pkiID PKIID, serialized []byte) bool) []PKIID {
	bad := map[string]bool{}
	for _, info := range s.List() {
		if !s.isSelf(info.PKIID) && suspect(info.PKIID, info.Serialized) {
			if _, err := s.v.Validate(info.Serialized); err != nil {
				bad[string(info.PKIID)] = true
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return s.remove(func(e *entry) bool { return bad[string(e.pkiID)] })
}

// Purge removes the identities for which pred returns true and returns
// their PKI-IDs. The peer's own identity is never removed.
func (s *Store) Purge(pred func(pkiID PKIID, serialized []byte) bool) []PKIID {
	return s.remove(func(e *entry) bool { return !s.isSelf(e.pkiID) && pred(e.pkiID, e.serialized) })
}

func (s *Store) remove(pred func(*entry) bool) []PKIID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []PKIID
	for k, e := range s.ids {
		if pred(e) {
			delete(s.ids, k)
			gone = append(gone, e.pkiID)
		}
	}
	return gone
}

func (s *Store) isSelf(id PKIID) bool { return bytes.Equal(id, s.self) }

// Run calls Expire every tenth of the usage timeout (Fabric's period) until
// ctx is done, handing what it removed to removed (which may be nil).
func (s *Store) Run(ctx context.Context, removed func([]PKIID)) {
	t := time.NewTicker(s.usageTimeout / 10)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if gone := s.Expire(); len(gone) > 0 && removed != nil {
				removed(gone)
			}
		}
	}
}

// mspIDOf is the MSP ID a serialized identity claims, for error messages.
func mspIDOf(serialized []byte) string {
	sid := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(serialized, sid); err != nil || sid.Mspid == "" {
		return "(none)"
	}
	return sid.Mspid
}

// MSPIDOf is the MSP ID a serialized identity claims, unvalidated: for logs
// and errors about an identity that was refused.
func MSPIDOf(serialized []byte) string { return mspIDOf(serialized) }
