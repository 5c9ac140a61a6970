package orderer

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/orderer/participation"
	"github.com/weft-ledger/weft/protos"
)

// A panic while onboarding a channel (a bug met by the blocks pulled) fails
// that onboarding, reported with status "failed" and the panic, instead of
// ending the orderer.
func TestOnboardingPanicFailsOnlyThatChannel(t *testing.T) {
	r := &Registrar{ledgerDir: t.TempDir(), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		observeStore: func(string, *ledger.BlockStore) { panic("injected fault opening the store") }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ob := &onboarding{name: "mychannel", block: protos.NewBlock(3, nil, nil), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	r.onboard(ob)
	<-ob.done
	if info := ob.info(); info.Status != participation.StatusFailed {
		t.Fatalf("status %q, want %q", info.Status, participation.StatusFailed)
	}
	err := ob.failed.Load()
	if err == nil || !strings.Contains((*err).Error(), "onboarding channel mychannel") || !strings.Contains((*err).Error(), "panic: injected fault opening the store") {
		t.Fatalf("failure = %v, want the panic named", err)
	}
}
