package opstest

import (
	"strings"
	"testing"

	"github.com/weft-ledger/weft/internal/operations"
)

func TestReference(t *testing.T) {
	ref := Reference()
	if len(ref) < 90 {
		t.Fatalf("reference has %d families", len(ref))
	}
	tc := ref["ledger_transaction_count"]
	if tc.Type != "counter" || strings.Join(tc.Labels, ",") != "channel,transaction_type,chaincode,validation_code" || tc.Help != "Number of transactions processed." {
		t.Fatalf("ledger_transaction_count = %+v", tc)
	}
	if b := ref["ledger_block_processing_time"].Buckets; len(b) != 7 || b[2] != 0.015 {
		t.Fatalf("ledger_block_processing_time buckets %v", b)
	}
}

// TestCompare: an exposition written by the registry is read back, and each
// kind of difference from the reference is named.
func TestCompare(t *testing.T) {
	r := operations.NewRegistry()
	r.Counter(operations.Opts{Name: "ledger_transaction_count", Help: "Number of transactions processed.",
		Labels: []string{"channel", "transaction_type", "chaincode", "validation_code"}}).Inc("c", "ENDORSER_TRANSACTION", `odd"name`, "VALID")
	r.Histogram(operations.Opts{Name: "ledger_statedb_commit_time", Help: "Time taken in seconds for committing block changes to state db.",
		Labels: []string{"channel"}}, nil).Observe(1, "c") // default buckets: wrong
	r.Gauge(operations.Opts{Name: "ledger_blockchain_height", Help: "Height of the chain.", Labels: []string{"channel"}}).Set(1, "c")
	r.Counter(operations.Opts{Name: "endorser_proposals_received", Help: "The number of proposals received.", Labels: []string{"channel"}}).Inc("c")
	r.Counter(operations.Opts{Name: "weft_own", Help: "x"})
	r.Counter(operations.Opts{Name: "stranger", Help: "x"})
	var b strings.Builder
	r.WriteText(&b)
	fams, err := Parse(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if s := fams["ledger_transaction_count"].Series(map[string]string{"chaincode": `odd"name`}); len(s) != 1 || s[0].Value != 1 {
		t.Fatalf("series = %+v", s)
	}
	got := strings.Join(Compare(fams, []string{"weft_own"}), "\n")
	for _, want := range []string{
		"endorser_proposals_received: sample endorser_proposals_received has labels [channel], Fabric's are []",
		`ledger_blockchain_height: HELP "Height of the chain.", Fabric's is "Height of the chain in blocks."`,
		"ledger_statedb_commit_time: buckets",
		"stranger: not a Fabric v2.5 family",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Compare lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "ledger_transaction_count") || strings.Contains(got, "weft_own") {
		t.Errorf("Compare names a matching family:\n%s", got)
	}
}
