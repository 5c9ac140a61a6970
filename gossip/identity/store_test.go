package identity_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
)

// clock is a settable time source for the Store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock(t time.Time) *clock    { return &clock{t: t} }
func pkiOf(t *testing.T, b []byte) identity.PKIID {
	t.Helper()
	id, err := identity.PKIIDOf(b)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type fixture struct {
	net   *testnet.Net
	v     identity.Managers
	self  *msp.SigningIdentity
	other *msp.SigningIdentity // peer0.org2
}

func newFixture(t *testing.T) fixture {
	n := testnet.SampleNet(t)
	mgr := n.Bundle.MSPs()
	return fixture{
		net:   n,
		v:     identity.Managers(func() []*msp.Manager { return []*msp.Manager{mgr} }),
		self:  n.Signer(t, "peer0.org1.example.com"),
		other: n.Signer(t, "peer0.org2.example.com"),
	}
}

func TestStorePutGetVerify(t *testing.T) {
	f := newFixture(t)
	s, err := identity.NewStore(f.self.Serialized, f.v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Self(), pkiOf(t, f.self.Serialized)) {
		t.Fatalf("Self = %s, want the PKI-ID of peer0.org1", s.Self())
	}
	id := pkiOf(t, f.other.Serialized)
	if _, _, ok := s.Get(id); ok {
		t.Fatal("Get of an identity never put: found")
	}
	msg := []byte("hello")
	sig, err := f.other.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(id, sig, msg); !errors.Is(err, identity.ErrUnknown) || !strings.Contains(err.Error(), id.String()) {
		t.Fatalf("Verify by an unknown PKI-ID: %v, want ErrUnknown naming %s", err, id)
	}
	if err := s.Put(id, f.other.Serialized); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(id, f.other.Serialized); err != nil {
		t.Fatalf("second Put of the same identity: %v", err)
	}
	got, mspID, ok := s.Get(id)
	if !ok || mspID != "Org2MSP" || !bytes.Equal(got, f.other.Serialized) {
		t.Fatalf("Get = %v %q %v, want peer0.org2's identity of Org2MSP", len(got), mspID, ok)
	}
	if err := s.Verify(id, sig, msg); err != nil {
		t.Fatalf("Verify of a good signature: %v", err)
	}
	if err := s.Verify(id, sig, []byte("other")); err == nil || !strings.Contains(err.Error(), "Org2MSP") {
		t.Fatalf("Verify of a signature over other bytes: %v, want an error naming Org2MSP", err)
	}
	if n := len(s.List()); n != 2 {
		t.Fatalf("List holds %d identities, want 2 (self and peer0.org2)", n)
	}
}

func TestStoreRefuses(t *testing.T) {
	f := newFixture(t)
	s, err := identity.NewStore(f.self.Serialized, f.v)
	if err != nil {
		t.Fatal(err)
	}
	org3 := testnet.IssueIdentity(t, f.net.OrgDir(t, "Org1MSP"), "Org3MSP", "peer0.org3.example.com", "peer", time.Now().Add(time.Hour))
	expired := f.net.IssueUser(t, "Org1MSP", "old.org1.example.com", "peer", time.Now().Add(-time.Minute))
	for _, tc := range []struct {
		name       string
		pkiID      identity.PKIID
		serialized []byte
		want       error
		says       string
	}{
		{"other PKI-ID", pkiOf(t, f.net.Admin(t, "Org1MSP").Serialized), f.other.Serialized, identity.ErrMismatch, "Org2MSP"},
		{"empty PKI-ID", nil, f.other.Serialized, identity.ErrMismatch, "empty PKI-ID"},
		{"no identity", pkiOf(t, f.other.Serialized), nil, identity.ErrInvalid, "no identity"},
		{"garbage", identity.PKIID{1}, []byte{0xff, 0x01}, identity.ErrInvalid, "not a serialized identity"},
		{"unknown MSP", pkiOf(t, org3.Serialized), org3.Serialized, identity.ErrInvalid, "Org3MSP is valid for none of the MSPs this peer knows (OrdererMSP, Org1MSP, Org2MSP)"},
		{"expired", pkiOf(t, expired.Serialized), expired.Serialized, identity.ErrExpired, "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Put(tc.pkiID, tc.serialized)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Put: %v, want %v saying %q", err, tc.want, tc.says)
			}
			if _, _, ok := s.Get(tc.pkiID); ok {
				t.Fatal("refused identity is stored")
			}
		})
	}
	if _, err := identity.NewStore(org3.Serialized, f.v); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("NewStore with an own identity of an unknown MSP: %v, want ErrInvalid", err)
	}
}

func TestStoreExpiry(t *testing.T) {
	f := newFixture(t)
	c := newClock(time.Now())
	s, err := identity.NewStore(f.self.Serialized, f.v, identity.WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	other := pkiOf(t, f.other.Serialized)
	short := f.net.IssueUser(t, "Org1MSP", "short.org1.example.com", "peer", c.now().Add(10*time.Minute))
	shortID := pkiOf(t, short.Serialized)
	for _, p := range []struct {
		id identity.PKIID
		b  []byte
	}{{other, f.other.Serialized}, {shortID, short.Serialized}} {
		if err := s.Put(p.id, p.b); err != nil {
			t.Fatal(err)
		}
	}

	c.add(11 * time.Minute)
	if _, _, ok := s.Get(shortID); ok {
		t.Fatal("identity whose certificate expired is still returned")
	}
	if gone := s.Expire(); len(gone) != 0 {
		t.Fatalf("Expire removed %v, want nothing (the expired one went at Get, peer0.org2 was used 11 minutes ago)", gone)
	}

	c.add(identity.UsageTimeout - 10*time.Minute) // peer0.org2 unused for 61 minutes
	gone := s.Expire()
	if len(gone) != 1 || !bytes.Equal(gone[0], other) {
		t.Fatalf("Expire after an hour unused removed %v, want only %s", gone, other)
	}
	if _, _, ok := s.Get(s.Self()); !ok {
		t.Fatal("own identity expired for not being used")
	}

	// A use keeps an identity.
	if err := s.Put(other, f.other.Serialized); err != nil {
		t.Fatal(err)
	}
	c.add(identity.UsageTimeout / 2)
	s.Get(other)
	c.add(identity.UsageTimeout/2 + time.Minute)
	if gone := s.Expire(); len(gone) != 0 {
		t.Fatalf("Expire removed %v used half an hour ago", gone)
	}
}

func TestStorePurgeAndRevalidate(t *testing.T) {
	f := newFixture(t)
	var managers []*msp.Manager = []*msp.Manager{f.net.Bundle.MSPs()}
	var mu sync.Mutex
	v := identity.Managers(func() []*msp.Manager { mu.Lock(); defer mu.Unlock(); return managers })
	s, err := identity.NewStore(f.self.Serialized, v)
	if err != nil {
		t.Fatal(err)
	}
	other := pkiOf(t, f.other.Serialized)
	if err := s.Put(other, f.other.Serialized); err != nil {
		t.Fatal(err)
	}
	if gone := s.Revalidate(func(identity.PKIID, []byte) bool { return true }); len(gone) != 0 {
		t.Fatalf("Revalidate with the same MSPs removed %v", gone)
	}
	// The peer leaves every channel: only its own MSP is known.
	org1, _ := f.net.Bundle.MSPs().MSP("Org1MSP")
	mu.Lock()
	managers = []*msp.Manager{msp.NewManager(org1)}
	mu.Unlock()
	gone := s.Revalidate(func(identity.PKIID, []byte) bool { return true })
	if len(gone) != 1 || !bytes.Equal(gone[0], other) {
		t.Fatalf("Revalidate after Org2MSP left removed %v, want %s", gone, other)
	}
	if err := s.Put(other, f.other.Serialized); !errors.Is(err, identity.ErrInvalid) {
		t.Fatalf("Put of an Org2MSP identity with Org2MSP unknown: %v", err)
	}

	all := s.Purge(func(identity.PKIID, []byte) bool { return true })
	if len(all) != 0 {
		t.Fatalf("Purge of everything removed %v; the own identity stays and nothing else is stored", all)
	}
	if _, _, ok := s.Get(s.Self()); !ok {
		t.Fatal("Purge removed the own identity")
	}
}

func TestStoreRunStops(t *testing.T) {
	f := newFixture(t)
	s, err := identity.NewStore(f.self.Serialized, f.v, identity.WithUsageTimeout(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(pkiOf(t, f.other.Serialized), f.other.Serialized); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	removed := make(chan []identity.PKIID, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, func(ids []identity.PKIID) {
			select {
			case removed <- ids:
			default:
			}
		})
	}()
	select {
	case ids := <-removed:
		if len(ids) != 1 {
			t.Fatalf("Run removed %v, want peer0.org2 alone", ids)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run never expired the unused identity")
	}
	cancel()
	<-done
}

func TestStorePutSigned(t *testing.T) {
	f := newFixture(t)
	s, err := identity.NewStore(f.self.Serialized, f.v)
	if err != nil {
		t.Fatal(err)
	}
	id := pkiOf(t, f.other.Serialized)
	msg := []byte("conn establish")
	wrong, _ := f.self.Sign(msg)
	if err := s.PutSigned(id, f.other.Serialized, wrong, msg); err == nil || !strings.Contains(err.Error(), "signature of PKI-ID "+id.String()+" (Org2MSP)") {
		t.Fatalf("PutSigned with another's signature: %v", err)
	}
	if err := s.PutSigned(id, f.other.Serialized, nil, msg); err == nil || !strings.Contains(err.Error(), "no signature") {
		t.Fatalf("PutSigned without a signature: %v", err)
	}
	if _, _, ok := s.Get(id); ok {
		t.Fatal("an identity that did not prove itself is stored")
	}
	good, _ := f.other.Sign(msg)
	if err := s.PutSigned(id, f.other.Serialized, good, msg); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.Get(id); !ok {
		t.Fatal("proven identity not stored")
	}
}
