package endorser

import (
	"errors"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/protos"
)

// TestPrivateWritesKeptPerChannel: the transient store is told the channel
// of each private write set (it records that channel's height), and an
// endorsement whose private writes it could not keep is refused rather than
// promising private data the peer does not hold.
func TestPrivateWritesKeptPerChannel(t *testing.T) {
	ev := newEnv(t)
	sp, txID, _ := protos.NewProposal(ev.user1, "mychannel", "basic", strArgs("putpriv", "coll1", "secret", "v"), nil)
	process(t, ev.e, sp)
	if got := ev.transient.channels[txID]; got != "mychannel" {
		t.Fatalf("transient store was given channel %q for %s, want mychannel", got, txID)
	}

	ev.transient.err = errors.New("disk full")
	sp, txID, _ = protos.NewProposal(ev.user1, "mychannel", "basic", strArgs("putpriv", "coll1", "secret", "v2"), nil)
	pr := process(t, ev.e, sp)
	if pr.GetResponse().GetStatus() != 500 || pr.GetEndorsement() != nil || !strings.Contains(pr.GetResponse().GetMessage(), "disk full") {
		t.Fatalf("endorsement with a failing transient store = %d %q (endorsed: %v), want 500 naming the cause, unendorsed",
			pr.GetResponse().GetStatus(), pr.GetResponse().GetMessage(), pr.GetEndorsement() != nil)
	}
	if ev.transient.get(txID) != nil {
		t.Fatalf("a private write set of %s was kept", txID)
	}
}
