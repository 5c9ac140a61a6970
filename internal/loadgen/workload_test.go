package loadgen

import (
	"math"
	"strings"
	"testing"
	"time"
)

// The sampler's frequencies follow 1/(k+1)^s: with s = 1 over 1,000 keys
// the hottest key takes 1/H(1000) ≈ 13.4% of the draws and twice the second.
func TestZipfFrequencies(t *testing.T) {
	const n, draws = 1000, 200_000
	z, err := NewZipf(n, 1.0, 42)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, n)
	for range draws {
		counts[z.Next()]++
	}
	h := 0.0
	for k := 1; k <= n; k++ {
		h += 1 / float64(k)
	}
	if got, want := float64(counts[0])/draws, 1/h; math.Abs(got-want) > 0.01 {
		t.Errorf("key 0 drawn %.4f of the time, want %.4f", got, want)
	}
	if r := float64(counts[0]) / float64(counts[1]); r < 1.8 || r > 2.2 {
		t.Errorf("key 0 / key 1 = %.2f, want about 2", r)
	}
	if r := float64(counts[0]) / float64(counts[9]); r < 8 || r > 12 {
		t.Errorf("key 0 / key 9 = %.2f, want about 10", r)
	}
}

func TestZipfZeroIsUniform(t *testing.T) {
	const n, draws = 10, 100_000
	z, err := NewZipf(n, 0, 7)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, n)
	for range draws {
		counts[z.Next()]++
	}
	for k, c := range counts {
		if f := float64(c) / draws; math.Abs(f-0.1) > 0.01 {
			t.Errorf("key %d drawn %.4f of the time, want 0.1", k, f)
		}
	}
}

func TestZipfRefusesBadInput(t *testing.T) {
	for _, c := range []struct {
		n int
		s float64
	}{{0, 1}, {10, -1}, {10, math.NaN()}} {
		if _, err := NewZipf(c.n, c.s, 1); err == nil {
			t.Errorf("NewZipf(%d, %g) accepted", c.n, c.s)
		}
	}
	if _, err := Transfers("acct", 1, 1, 1); err == nil {
		t.Error("Transfers over one account accepted")
	}
}

func TestTransfersDrawTwoDifferentAccounts(t *testing.T) {
	args, err := Transfers("acct", 2, 1.0, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		a := args(i)
		if len(a) != 4 || string(a[0]) != "TransferValue" || string(a[3]) != "1" {
			t.Fatalf("transfer %d = %q", i, a)
		}
		if string(a[1]) == string(a[2]) || !strings.HasPrefix(string(a[1]), "acct-") || !strings.HasPrefix(string(a[2]), "acct-") {
			t.Fatalf("transfer %d moves %q -> %q", i, a[1], a[2])
		}
	}
	create := CreateAccounts("acct")(7)
	if string(create[0]) != "CreateAsset" || string(create[1]) != "acct-7" || string(create[5]) != "1000000" {
		t.Fatalf("account 7 created with %q", create)
	}
}

// The signature count of the topologies docs/benchmarks.md quotes.
func TestTopologySignatureWork(t *testing.T) {
	for _, c := range []struct {
		top                        Topology
		verifies, signs, bv, bsign int
		protocolVerifies           int
	}{
		// Orderer 1; two endorsers 1 + 1 sign each; two committing peers,
		// each creator + the other's endorsement.
		// Issue 15's count: each peer verifies both endorsements, 9.
		{Topology{Orgs: 2, PeersPerOrg: 1, Orderers: 1}, 7, 2, 2, 1, 9},
		// peer1s verify the creator and both endorsements.
		{Topology{Orgs: 2, PeersPerOrg: 2, Orderers: 3}, 13, 2, 4, 3, 15},
		{Topology{Orgs: 3, PeersPerOrg: 1, Orderers: 1}, 13, 3, 3, 1, 16},
	} {
		v, s := c.top.PerTx()
		bv, bs := c.top.PerBlock()
		if v != c.verifies || s != c.signs || bv != c.bv || bs != c.bsign {
			t.Errorf("%+v: per tx %d verifies %d signs, per block %d and %d; want %d %d, %d %d", c.top, v, s, bv, bs, c.verifies, c.signs, c.bv, c.bsign)
		}
		if pv, ps := c.top.ProtocolPerTx(); pv != c.protocolVerifies || ps != c.signs {
			t.Errorf("%+v: protocol count %d verifies %d signs, want %d and %d", c.top, pv, ps, c.protocolVerifies, c.signs)
		}
	}
	v, s := Topology{Orgs: 2, PeersPerOrg: 1, Orderers: 1}.Work(100)
	if math.Abs(v-7.02) > 1e-9 || math.Abs(s-2.01) > 1e-9 {
		t.Errorf("work at 100 tx/block = %g verifies %g signs, want 7.02 and 2.01", v, s)
	}
	if v, s := (Topology{Orgs: 2, PeersPerOrg: 1, Orderers: 1}).ProtocolWork(100); math.Abs(v-9.02) > 1e-9 || math.Abs(s-2.01) > 1e-9 {
		t.Errorf("protocol work at 100 tx/block = %g verifies %g signs, want 9.02 and 2.01", v, s)
	}
	cost := ECDSACost{Verify: 150 * time.Microsecond, Sign: 75 * time.Microsecond}
	if got := cost.PerTx(7, 2); got != 1200*time.Microsecond {
		t.Errorf("7 verifies + 2 signs = %s, want 1.2ms", got)
	}
	if got := Bound(2, 1200*time.Microsecond); math.Abs(got-2000/1.2) > 1e-6 {
		t.Errorf("bound of 2 cores at 1.2ms/tx = %g tx/s", got)
	}
	if Bound(2, 0) != 0 {
		t.Error("bound of zero work is not 0")
	}
}

func TestMeasureECDSA(t *testing.T) {
	c, err := MeasureECDSA(30)
	if err != nil {
		t.Fatal(err)
	}
	if c.Verify <= 0 || c.Sign <= 0 || c.N != 30 {
		t.Fatalf("measured %+v", c)
	}
}
