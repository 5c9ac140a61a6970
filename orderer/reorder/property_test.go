package reorder

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestOrderNeverLosesValidTransactions commits random batches to two real
// ledgers holding the same state, one as given and one reordered, and
// checks that the reordered block holds the same envelopes and at least as
// many valid transactions. Reads are current or absent; range queries run
// over keys the state does not hold yet. With stale reads mixed in (of an
// older version, which the orderer cannot always tell), a batch may lose
// (Order may keep a stale transaction rather than a current one it
// conflicts with); then the sum over all batches must still not be lower.
func TestOrderNeverLosesValidTransactions(t *testing.T) {
	for _, stale := range []bool{false, true} {
		t.Run(fmt.Sprintf("stale=%v", stale), func(t *testing.T) {
			const cases = 60
			var setup []string
			for i := range cases {
				setup = append(setup, fmt.Sprintf("w:ns%[1]d:a w:ns%[1]d:b w:ns%[1]d:c w:ns%[1]d:d w:ns%[1]d:e w:ns%[1]d:f pw:ns%[1]d:c1/a pw:ns%[1]d:c1/b", i))
			}
			given, reordered := newOracle(t, strings.Join(setup, " ")), newOracle(t, strings.Join(setup, " "))
			seed := uint64(1)
			if stale {
				seed = 2
			}
			rng := rand.New(rand.NewPCG(seed, 15))
			before, after, changed, losses := 0, 0, 0, 0
			for c := range cases {
				envs := randomBatch(t, rng, fmt.Sprintf("ns%d", c), stale)
				out := Order(envs)
				checkPermutation(t, envs, out)
				b := countValid(given.commit(t, envs))
				a := countValid(reordered.commit(t, out))
				if a < b {
					losses++
					if !stale {
						t.Errorf("case %d: %d valid after reordering, %d before", c, a, b)
					}
				}
				before, after = before+b, after+a
				if &out[0] != &envs[0] {
					changed++
				}
			}
			t.Logf("%d batches, %d reordered, %d lost: %d valid transactions before, %d after", cases, changed, losses, before, after)
			if after < before {
				t.Errorf("%d valid transactions after reordering, %d before", after, before)
			}
		})
	}
}

// randomBatch draws 2 to 30 transactions over a few keys of namespace ns.
func randomBatch(t testing.TB, rng *rand.Rand, ns string, stale bool) [][]byte {
	existing := []string{"a", "b", "c", "d", "e", "f"}
	absent := []string{"g", "h"}
	n := 2 + rng.IntN(29)
	specs := make([]string, n)
	for i := range specs {
		var items []string
		for range 1 + rng.IntN(4) {
			k := existing[rng.IntN(len(existing))]
			switch op := rng.IntN(19); {
			case op < 7:
				v := "@1.0"
				if stale && rng.IntN(6) == 0 {
					v = "@0.0"
				}
				items = append(items, fmt.Sprintf("r:%s:%s%s w:%s:%s", ns, k, v, ns, k)) // read-modify-write
			case op < 10:
				items = append(items, fmt.Sprintf("r:%s:%s@1.0", ns, k))
			case op < 11:
				items = append(items, fmt.Sprintf("r:%s:%s", ns, absent[rng.IntN(2)]))
			case op < 14:
				items = append(items, fmt.Sprintf("w:%s:%s", ns, k))
			case op < 15:
				items = append(items, fmt.Sprintf("w:%s:%s", ns, absent[rng.IntN(2)]))
			case op < 16:
				items = append(items, fmt.Sprintf("d:%s:%s", ns, k))
			case op < 17:
				items = append(items, fmt.Sprintf("q:%s:g-i", ns))
			case op < 18:
				items = append(items, fmt.Sprintf("pr:%s:c1/a@1.0", ns))
			default:
				items = append(items, fmt.Sprintf("pw:%s:c1/a", ns))
			}
		}
		specs[i] = strings.Join(items, " ")
	}
	out := make([][]byte, n)
	for i, s := range specs {
		out[i] = tx(t, i, s)
	}
	return out
}
