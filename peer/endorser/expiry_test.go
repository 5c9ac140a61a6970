package endorser

import (
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/protos"
)

// TestExpiredCreatorRefused: a proposal whose creator is a valid member of
// the channel but whose certificate has expired is refused, on a channel and
// without one, with a message naming the creator and its NotAfter; the same
// member with a current certificate is endorsed.
func TestExpiredCreatorRefused(t *testing.T) {
	ev := newEnv(t)
	now := time.Now()
	expired := testnet.IssueIdentity(t, orgDir("org1"), "Org1MSP", "Expired@org1.example.com", "client", now.Add(-time.Minute))
	current := testnet.IssueIdentity(t, orgDir("org1"), "Org1MSP", "Current@org1.example.com", "client", now.Add(time.Hour))
	notAfter := expired.Cert.NotAfter.UTC().Format(time.RFC3339)

	if pr := process(t, ev.e, mustBuild(t, current, "basic", propOpts{})); pr.Endorsement == nil {
		t.Fatalf("current certificate not endorsed: %d %s", pr.Response.GetStatus(), pr.Response.GetMessage())
	}
	for _, tc := range []struct{ name, channel, cc, fn string }{
		{"on a channel", "mychannel", "basic", "put"},
		{"channel-less cscc", "", "cscc", "GetChannels"},
		{"channel-less qscc", "", "qscc", "GetChainInfo"},
	} {
		name := tc.name
		sp, _, err := protos.NewProposal(expired, tc.channel, tc.cc, strArgs(tc.fn, "k", "v"), nil)
		if err != nil {
			t.Fatal(err)
		}
		pr := process(t, ev.e, sp)
		if pr.Response.GetStatus() != 500 || pr.Endorsement != nil {
			t.Errorf("%s: expired creator got status %d (%s)", name, pr.Response.GetStatus(), pr.Response.GetMessage())
			continue
		}
		for _, want := range []string{"access denied", "Expired@org1.example.com", "expired", notAfter} {
			if !strings.Contains(pr.Response.Message, want) {
				t.Errorf("%s: message %q does not mention %q", name, pr.Response.Message, want)
			}
		}
	}
}
