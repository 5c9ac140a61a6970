package peer

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/statedb"
)

var errStateDown = errors.New("injected state database failure")

// brokenState fails every write of block `at` to the state while broken is
// set: the fault seam on the state database's Apply.
type brokenState struct {
	statedb.DB
	at     uint64
	broken atomic.Bool
	failed atomic.Int32
}

func (s *brokenState) Apply(b *statedb.Batch, sp statedb.Version) error {
	if sp.BlockNum == s.at && s.broken.Load() {
		s.failed.Add(1)
		return errStateDown
	}
	return s.DB.Apply(b, sp)
}

// A state write that fails after the block was appended holds the channel
// at that block — not published to clients, no later block checked — and
// /healthz says so; the commit loop retries with the puller's backoff, and
// once the state database works again the block and the ones after it
// commit, without a restart.
func TestFailedStateWriteRecoversWithoutRestart(t *testing.T) {
	t.Parallel()
	bs := &brokenState{at: 2}
	bs.broken.Store(true)
	p := startPanicNet(t, hooks{wrapState: func(db statedb.DB) statedb.DB {
		bs.DB = db
		return bs
	}})

	eventually.True(t, 10*time.Second, "the state write of block 2 retried", func() bool { return bs.failed.Load() >= 3 })
	if h := p.ch.committed.Height(); h != 2 {
		t.Fatalf("committed height %d while block 2's state write fails, want 2 (block 2 must not be served)", h)
	}
	if h, sh := p.ch.ledger.Blocks().Height(), p.ch.ledger.StateHeight(); h != 3 || sh != 2 {
		t.Fatalf("block store height %d, state height %d; want 3 and 2 (block 2 appended, block 3 not)", h, sh)
	}
	code, body := httpGet(t, p.ops+"/healthz")
	if code != 503 || !strings.Contains(body, `"component":"commits"`) || !strings.Contains(body, "block 2 is appended but its writes could not be applied") ||
		!strings.Contains(body, errStateDown.Error()) {
		t.Fatalf("/healthz while the state write fails = %d %s", code, body)
	}

	bs.broken.Store(false)
	eventually.True(t, 10*time.Second, "blocks 2 and 3 committed", func() bool { return p.ch.committed.Height() == 4 })
	if sp, ok, err := p.ch.ledger.State().Savepoint(); err != nil || !ok || sp.BlockNum != 3 {
		t.Fatalf("state savepoint %v %v %v, want block 3", sp, ok, err)
	}
	if got, usual := p.code(t, 2, 0), p.code(t, 3, 0); got != usual {
		t.Fatalf("block 2 tx 0 = %s, want %s like the same transaction in block 3", got, usual)
	}
	if code, body := httpGet(t, p.ops+"/healthz"); code != 200 {
		t.Fatalf("/healthz after recovery = %d %s", code, body)
	}
}
