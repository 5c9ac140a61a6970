package broadcast

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
)

// panicChannel panics when an envelope is handed to it, as a bug met by one
// envelope would.
type panicChannel struct{ *fakeChannel }

func (panicChannel) Submit(context.Context, []byte) (<-chan error, error) {
	panic("injected fault ordering an envelope")
}

// A panic while checking or ordering one envelope answers that envelope
// INTERNAL_SERVER_ERROR naming the panic; a panic of the Observe callback is
// dropped; the stream answers the next envelopes as usual.
func TestBroadcastPanicFailsOnlyThatEnvelope(t *testing.T) {
	org1 := newTestSigner(t, "Org1MSP", "User1")
	ok := &fakeChannel{max: 5000}
	h := NewHandler(channelMap{"boom": panicChannel{&fakeChannel{max: 5000}}, "ok": ok}, nil)
	var observed atomic.Int32
	h.Observe = func(Outcome) {
		if observed.Add(1) == 2 {
			panic("injected fault in Observe")
		}
	}
	s := &fakeStream{ctx: context.Background(), in: make(chan *cb.Envelope, 3)}
	s.in <- envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "boom", org1, 10)
	s.in <- envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "ok", org1, 10)
	s.in <- envelope(t, cb.HeaderType_ENDORSER_TRANSACTION, "ok", org1, 10)
	close(s.in)
	if err := h.Handle(s); err != nil {
		t.Fatalf("Handle = %v", err)
	}
	if len(s.out) != 3 {
		t.Fatalf("%d responses, want 3", len(s.out))
	}
	if r := s.out[0]; r.Status != cb.Status_INTERNAL_SERVER_ERROR || !strings.Contains(r.Info, "panic: injected fault ordering an envelope") {
		t.Fatalf("response to the panicking envelope = %v", r)
	}
	for i, r := range s.out[1:] {
		if r.Status != cb.Status_SUCCESS {
			t.Fatalf("response %d = %v, want SUCCESS", i+1, r)
		}
	}
	if len(ok.ordered) != 2 {
		t.Fatalf("ordered %d envelopes, want 2", len(ok.ordered))
	}
	if observed.Load() != 3 {
		t.Fatalf("Observe called %d times, want 3", observed.Load())
	}
}
