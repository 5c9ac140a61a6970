package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/internal/loadgen"
)

func TestBenchFlagErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--batch-size", "10", "--msp", "x"}, "--batch-size sets up the network --devnet starts"},
		{[]string{"bench", "--batch-timeout", "2s", "--msp", "x"}, "--batch-timeout sets up the network --devnet starts"},
		{[]string{"bench", "--orgs", "3", "--msp", "x"}, "--orgs sets up the network --devnet starts"},
		{[]string{"bench", "--devnet", "--orgs", "5"}, "--orgs 5: 5 organisations: the development network runs 2"},
		{[]string{"bench", "--devnet", "--keys", "1"}, "--keys 1: give 0 (unique keys) or at least 2"},
		{[]string{"bench", "--devnet", "--zipf", "1"}, "--zipf draws the accounts of --keys"},
		{[]string{"bench", "--devnet", "--keys", "10", "--zipf", "-1"}, "--zipf -1: give an exponent >= 0"},
		{[]string{"bench", "--devnet", "--rate", "-5"}, "--rate -5"},
		{[]string{"bench", "--devnet", "--concurrency", "0"}, "--concurrency 0: give at least 1"},
	}
	for _, tt := range tests {
		env, _, _ := testEnv(nil)
		err := Run(context.Background(), env, tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

// The report prints what issue 15 asks of weft bench: throughput, latency
// percentiles, MVCC conflicts apart from other codes, CPU and RSS per
// process, and the signature bound with the run's fraction of it.
func TestBenchReport(t *testing.T) {
	t.Parallel()
	res := &loadgen.Result{
		Submitted: 1000, Valid: 800, Invalid: 200, Blocks: 4, Elapsed: 2 * time.Second, Limit: 500, MaxInFlight: 500,
		ByCode: map[pb.TxValidationCode]int{pb.TxValidationCode_VALID: 800, pb.TxValidationCode_MVCC_READ_CONFLICT: 150, pb.TxValidationCode_PHANTOM_READ_CONFLICT: 50},
	}
	for i := 1; i <= 100; i++ {
		res.Latencies = append(res.Latencies, time.Duration(i)*time.Millisecond)
	}
	rep := benchReport{
		cores: 2, cpu: "Test CPU", network: "devnet", topology: loadgen.Topology{Orgs: 2, PeersPerOrg: 1, Orderers: 1},
		keys: 1000, zipf: 1, res: res, loadgenCPU: 400 * time.Millisecond,
		ecdsa: loadgen.ECDSACost{Verify: 50 * time.Microsecond, Sign: 25 * time.Microsecond, N: 300},
		procs: []procFigures{{name: "orderer.example.com", cpu: 200 * time.Millisecond, peakRSS: 64 << 20}, {name: "peer0.org1.example.com", cpu: 600 * time.Millisecond, peakRSS: 80 << 20}},
	}
	var out bytes.Buffer
	rep.print(&out)
	got := out.String()
	// Issue 15's count, 9 verifies + 2 signs per tx, 2 verifies + 1 sign
	// per 250-tx block: 9.008 × 50 µs + 2.004 × 25 µs = 500.5 µs, so 2 cores
	// bound 3,996 tx/s; 400 tx/s is 0.100 of it. As Weft signs, 7 verifies:
	// 400.5 µs, 4,994 tx/s, 0.080.
	for _, want := range []string{
		"closed loop, 500 in flight",
		"1000 committed in 2.00s: 800 valid, 200 invalid; 4 blocks, 250.0 tx/block",
		"MVCC conflicts 150 MVCC_READ_CONFLICT (15.0% of committed), 75/s",
		"other invalid  PHANTOM_READ_CONFLICT 50",
		"throughput     400 valid committed tx/s",
		"p50 50ms  p90 90ms  p99 99ms",
		"orderer.example.com      cpu   0.20s  0.250 ms/tx  peak rss 64 MiB",
		"nodes total    cpu   0.80s  1.000 ms/tx (ms per valid tx; 0.800 per committed tx)",
		"load generator cpu   0.40s  0.500 ms/tx",
		"9 verifies + 2 signs per tx",
		"per block 2 verifies + 1 signs: 9.01 verifies + 2.00 signs = 0.500 ms CPU per tx",
		"signature bound 3996 tx/s on 2 cores",
		"fraction       0.100 of the signature bound (400 / 3996 tx/s)",
		"as weft signs  7 verifies + 2 signs per tx (each peer skips its own endorsement) + per block: 0.400 ms CPU per tx, bound 4994 tx/s, fraction 0.080",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}

	// Timed before and after the load, the bound takes the faster figure
	// of each operation: the same bound as above from verify 60/50 µs and
	// sign 25/30 µs.
	rep.ecdsaBefore = loadgen.ECDSACost{Verify: 60 * time.Microsecond, Sign: 25 * time.Microsecond, N: 300}
	rep.ecdsaAfter = loadgen.ECDSACost{Verify: 50 * time.Microsecond, Sign: 30 * time.Microsecond, N: 300}
	rep.ecdsa = rep.ecdsaBefore.Faster(rep.ecdsaAfter)
	out.Reset()
	rep.print(&out)
	got = out.String()
	for _, want := range []string{
		"ecdsa p-256    verify 50µs, sign 25µs CPU each, the faster of before the load (60µs, 25µs) and after it (50µs, 30µs)",
		"signature bound 3996 tx/s on 2 cores",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

func TestBenchOutcome(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		res     loadgen.Result
		hot     bool
		wantErr string
	}{
		{loadgen.Result{Valid: 10}, false, ""},
		{loadgen.Result{Valid: 9, Invalid: 1}, false, "only 9 of 10 transactions committed as valid (1 invalid, 0 failed"},
		{loadgen.Result{Valid: 8, Failed: 1}, false, "only 9 of 10 transactions were seen committed or failed"},
		{loadgen.Result{Valid: 3, Invalid: 5, Failed: 2}, true, ""},
		{loadgen.Result{Invalid: 10}, true, "none of 10 transfers"},
	} {
		err := benchOutcome(&c.res, 10, c.hot)
		if (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("benchOutcome(%+v, hot %v) = %v, want %q", c.res, c.hot, err, c.wantErr)
		}
	}
}
