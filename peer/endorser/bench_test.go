package endorser

import (
	"context"
	"testing"
)

// BenchmarkProcessProposal measures the endorser's own work on a proposal
// (parse, creator check, Writers ACL, simulation bookkeeping, signing the
// response) with a chaincode that does nothing but one read and one write.
func BenchmarkProcessProposal(b *testing.B) {
	ev := newEnv(b)
	sp, _ := buildProposal(b, ev.user1, "mychannel", "basic", strArgs("put", "k", "v"), propOpts{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		pr, err := ev.e.ProcessProposal(ctx, sp)
		if err != nil || pr.Response.GetStatus() != 200 || pr.Endorsement == nil {
			b.Fatalf("proposal not endorsed: %v %v", err, pr.GetResponse())
		}
	}
}
