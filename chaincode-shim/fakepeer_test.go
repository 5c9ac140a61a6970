package shim

import (
	"context"
	"testing"
	"time"

	"github.com/weft-ledger/weft/chaincode-shim/internal/fakepeer"
)

const waitLimit = fakepeer.WaitLimit

// connectInProc runs cc through Start against a fake peer over real gRPC on
// 127.0.0.1 and returns the peer's session once registered. Start is stopped
// (and required to return) at cleanup.
func connectInProc(t *testing.T, cc Chaincode, name string) (*fakepeer.Session, *fakepeer.Peer) {
	t.Helper()
	peer, addr := fakepeer.StartPeer(t)
	t.Setenv(EnvChaincodeIDName, name)
	t.Setenv(EnvPeerAddress, addr)
	t.Setenv(EnvTLSEnabled, "false")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- StartWithContext(ctx, cc) }()
	s := peer.NextSession(t)
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Error("Start did not return after its context was cancelled")
		}
	})
	if got := s.WaitRegistered(t); got != name {
		t.Fatalf("registered as %q, want %q", got, name)
	}
	return s, peer
}
