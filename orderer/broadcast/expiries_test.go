package broadcast

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/msp"
)

// A remembered creator is judged against the clock of each check: valid
// before its NotAfter, refused after it with the error msp.CheckExpiry gives.
func TestExpiriesRemembered(t *testing.T) {
	notAfter := time.Now().Add(time.Hour).Truncate(time.Second)
	creator := signerValidUntil(t, "Org1MSP", "User1@org1.example.com", notAfter).sid
	var e expiries
	for range 2 {
		if err := e.check(creator, notAfter.Add(-time.Minute)); err != nil {
			t.Fatalf("before NotAfter: %v", err)
		}
	}
	if len(e.notAfter) != 1 {
		t.Fatalf("%d creators remembered, want 1", len(e.notAfter))
	}
	later := notAfter.Add(time.Minute)
	err := e.check(creator, later)
	want := msp.CheckExpiry(creator, later)
	if err == nil || !errors.Is(err, msp.ErrExpired) || err.Error() != want.Error() {
		t.Fatalf("after NotAfter: %v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), "User1@org1.example.com") {
		t.Fatalf("error %q does not name the creator", err)
	}
}

// Creators that do not decode are not remembered and pass, as with
// msp.CheckExpiry (the Writers policy refuses them); the memory is bounded.
func TestExpiriesBounded(t *testing.T) {
	var e expiries
	if err := e.check([]byte("not an identity"), time.Now()); err != nil {
		t.Fatalf("undecodable creator: %v", err)
	}
	if len(e.notAfter) != 0 {
		t.Fatalf("an undecodable creator was remembered")
	}
	creator := signerValidUntil(t, "Org1MSP", "User1@org1.example.com", time.Now().Add(time.Hour)).sid
	e.notAfter = make(map[string]time.Time)
	for i := range maxExpiries {
		e.notAfter[string(rune(i))+"x"] = time.Now()
	}
	if err := e.check(creator, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(e.notAfter) != 1 {
		t.Fatalf("%d creators remembered after the bound, want 1", len(e.notAfter))
	}
}
