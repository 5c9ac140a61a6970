package msp

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestManagerIdentityCache(t *testing.T) {
	o1 := newTestOrg(t, "Org1MSP", "org1.example.com")
	mgr := NewManager(o1.msp)
	user := o1.issue(t, "User1@org1.example.com", OUClient)

	// The caller's buffer is reused after the call: the cached identity must
	// not alias it.
	buf := bytes.Clone(user.Serialized)
	first, err := mgr.DeserializeIdentity(buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 0
	}
	if !bytes.Equal(first.Serialized, user.Serialized) {
		t.Fatal("cached identity aliases the caller's buffer")
	}
	second, err := mgr.DeserializeIdentity(user.Serialized)
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Fatal("second deserialization parsed the certificate again instead of using the cache")
	}
	if err := second.Verify([]byte("m"), mustSign(t, user, "m")); err != nil {
		t.Fatalf("cached identity does not verify its signatures: %v", err)
	}

	// Identities that fail validation are never cached as valid.
	intruder := newTestOrg(t, "Org1MSP", "org1.example.com").issue(t, "intruder", OUClient)
	for range 2 {
		if _, err := mgr.DeserializeIdentity(intruder.Serialized); !errors.Is(err, ErrInvalidIdentity) {
			t.Fatalf("identity of a foreign CA: got %v, want ErrInvalidIdentity", err)
		}
	}
	other := newTestOrg(t, "Org2MSP", "org2.example.com").issue(t, "peer0", OUPeer)
	if _, err := mgr.DeserializeIdentity(other.Serialized); !errors.Is(err, ErrUnknownMSP) {
		t.Fatalf("identity of an unknown MSP: got %v, want ErrUnknownMSP", err)
	}
}

func TestManagerIdentityCacheConcurrentAndBounded(t *testing.T) {
	o1 := newTestOrg(t, "Org1MSP", "org1.example.com")
	mgr := NewManager(o1.msp)
	ids := []*SigningIdentity{o1.issue(t, "peer0", OUPeer), o1.issue(t, "User1", OUClient)}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 8 {
		wg.Go(func() {
			for i := range 100 {
				want := ids[i%len(ids)]
				got, err := mgr.DeserializeIdentity(want.Serialized)
				if err != nil || !bytes.Equal(got.Cert.Raw, want.Cert.Raw) {
					errs <- fmt.Errorf("identity %d: %v", i%len(ids), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	c := newIdentityCache()
	for i := range 3 * maxCachedDeserialized {
		c.put(&Identity{MSPID: "Org1MSP", Serialized: []byte(fmt.Sprint(i))})
	}
	if len(c.m) > maxCachedDeserialized {
		t.Fatalf("cache holds %d entries, bound is %d", len(c.m), maxCachedDeserialized)
	}
	if _, ok := c.get([]byte(fmt.Sprint(3*maxCachedDeserialized - 1))); !ok {
		t.Fatal("most recent entry evicted")
	}
	var zero Manager // a zero Manager has no cache and no MSPs
	if _, err := zero.DeserializeIdentity(ids[0].Serialized); !errors.Is(err, ErrUnknownMSP) {
		t.Fatalf("zero Manager: %v", err)
	}
}

func mustSign(t *testing.T, si *SigningIdentity, msg string) []byte {
	t.Helper()
	sig, err := si.Sign([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// BenchmarkDeserializeIdentity measures what the peer pays per signature to
// turn a creator or endorser into a validated identity.
func BenchmarkDeserializeIdentity(b *testing.B) {
	o1 := newTestOrg(b, "Org1MSP", "org1.example.com")
	mgr := NewManager(o1.msp)
	user := o1.issue(b, "User1@org1.example.com", OUClient)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mgr.DeserializeIdentity(user.Serialized); err != nil {
			b.Fatal(err)
		}
	}
}
