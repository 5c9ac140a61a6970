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

// BenchmarkProcessProposalLifecycle is BenchmarkProcessProposal with the
// chaincode resolved by the real `_lifecycle` from committed state: with the
// per-channel definition cache, and without it (every proposal reads and
// decodes the definition and the approved package).
func BenchmarkProcessProposalLifecycle(b *testing.B) {
	for _, cached := range []bool{true, false} {
		b.Run(map[bool]string{true: "cached", false: "uncached"}[cached], func(b *testing.B) {
			n := newLCNet(b, cached, "basic_1.0")
			n.define("1.0", 1, "basic_1.0")
			sp, _ := buildProposal(b, n.user, "mychannel", "basic", strArgs("put", "k", "v"), propOpts{})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				pr, err := n.org1.e.ProcessProposal(ctx, sp)
				if err != nil || pr.Response.GetStatus() != 200 || pr.Endorsement == nil {
					b.Fatalf("proposal not endorsed: %v %v", err, pr.GetResponse())
				}
			}
		})
	}
}

// BenchmarkResolve measures resolving the chaincode of a proposal alone
// (definition, recorded sequence read, approved package) with the real
// `_lifecycle`, with and without the definition cache.
func BenchmarkResolve(b *testing.B) {
	for _, cached := range []bool{true, false} {
		b.Run(map[bool]string{true: "cached", false: "uncached"}[cached], func(b *testing.B) {
			n := newLCNet(b, cached, "basic_1.0")
			n.define("1.0", 1, "basic_1.0")
			ch, err := n.org1.e.channels.Channel("mychannel")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				sim := ch.Ledger.NewSimulator("tx")
				if _, _, err := n.org1.e.resolve("mychannel", "basic", ch.Definitions, ch.Ledger.CommittedState(), sim); err != nil {
					b.Fatal(err)
				}
				sim.Done()
			}
		})
	}
}

// BenchmarkProcessProposalAdapter is BenchmarkProcessProposal on the real
// ledger adapter, as a peer runs it: the chaincode interest reads the
// written key's metadata from the ledger.
func BenchmarkProcessProposalAdapter(b *testing.B) {
	ev := newEnv(b)
	ch, err := ev.e.channels.Channel("mychannel")
	if err != nil {
		b.Fatal(err)
	}
	ch.Ledger = ev.ledger.Ledger
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
