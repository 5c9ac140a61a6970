package reorder

import (
	"bytes"
	"slices"
	"testing"
)

// Range queries read keys n0–n9, which the state does not hold, so that the
// recorded (empty) results are right. Each case gives a batch, the order Order must choose (nil: unchanged) and
// what a real ledger makes of the batch before and after, per original
// transaction: V valid, x invalid.
func TestOrder(t *testing.T) {
	cfg := configEnvelope()
	cases := []struct {
		name          string
		specs         []string // "CONFIG" for a config envelope, "JUNK" for bytes that do not decode
		want          []int
		before, after string
	}{
		{
			name:   "independent transactions keep their order",
			specs:  []string{"r:a@1.0 w:a", "r:b@1.0 w:b", "w:c", "r:d@1.0"},
			before: "VVVV", after: "VVVV",
		},
		{
			name:   "a chain runs backwards so every read is still current",
			specs:  []string{"w:a", "r:a@1.0 w:b", "r:b@1.0"},
			want:   []int{2, 1, 0},
			before: "VxV", after: "VVV",
		},
		{
			name:   "of transfers sharing keys, the ones with fewer conflicts win",
			specs:  []string{"r:a@1.0 w:a r:b@1.0 w:b", "r:a@1.0 w:a r:c@1.0 w:c", "r:b@1.0 w:b r:d@1.0 w:d"},
			want:   []int{1, 2, 0},
			before: "Vxx", after: "xVV",
		},
		{
			name:   "a blind write goes after the reader",
			specs:  []string{"w:a", "r:a@1.0"},
			want:   []int{1, 0},
			before: "Vx", after: "VV",
		},
		{
			name:   "a delete goes after the reader",
			specs:  []string{"d:a", "r:a@1.0"},
			want:   []int{1, 0},
			before: "Vx", after: "VV",
		},
		{
			name:   "a write into a range query goes after it",
			specs:  []string{"w:n5", "q:n0-n9"},
			want:   []int{1, 0},
			before: "Vx", after: "VV",
		},
		{
			name:   "an insert into a range query goes after it (phantom)",
			specs:  []string{"w:n55", "q:n0-n9"},
			want:   []int{1, 0},
			before: "Vx", after: "VV",
		},
		{
			name:   "a write past an exhausted range's end does not conflict",
			specs:  []string{"w:n9", "q:n0-n9"},
			before: "VV", after: "VV",
		},
		{
			name:   "a range the simulator stopped early includes its last key",
			specs:  []string{"w:n3", "q:n0-n3!"},
			want:   []int{1, 0},
			before: "Vx", after: "VV",
		},
		{
			name:   "an unbounded range covers every later key",
			specs:  []string{"w:zz", "q:n0-"},
			want:   []int{1, 0},
			before: "Vx", after: "VV",
		},
		{
			name:   "private keys conflict by collection and hash",
			specs:  []string{"pw:c1/a", "pr:c1/a@1.0", "pw:c2/b", "pr:c1/b@1.0 r:b@1.0"},
			want:   []int{1, 0, 2, 3},
			before: "VxVV", after: "VVVV",
		},
		{
			name:   "a public key and a private key of the same name do not conflict, nor do two namespaces",
			specs:  []string{"w:a", "pr:c1/a@1.0 r:other:a@1.0"},
			before: "VV", after: "VV",
		},
		{
			name:   "a cycle loses one transaction, placed last",
			specs:  []string{"r:a@1.0 w:b", "r:b@1.0 w:c", "r:c@1.0 w:a", "w:c"},
			before: "VxVV", after: "VxVV",
		},
		{
			name:   "a cycle and a chain: the cycle's loser goes last, the chain runs backwards",
			specs:  []string{"r:a@1.0 w:b", "r:b@1.0 w:a", "w:d", "r:d@1.0 w:e", "r:e@1.0"},
			want:   []int{0, 4, 3, 2, 1},
			before: "VxVxV", after: "VxVVV",
		},
		{
			name:   "nothing moves across a config envelope",
			specs:  []string{"w:a", "r:a@1.0", "CONFIG", "w:b", "r:b@1.0"},
			want:   []int{1, 0, 2, 4, 3},
			before: "VxVVx", after: "VVVVV",
		},
		{
			name:   "a reader after a config envelope stays after it",
			specs:  []string{"w:a", "CONFIG", "r:a@1.0"},
			before: "VVx", after: "VVx",
		},
		{
			name:   "undecodable bytes keep their place",
			specs:  []string{"w:a", "JUNK", "r:a@1.0", "w:b", "r:b@1.0"},
			want:   []int{0, 1, 2, 4, 3},
			before: "VxxVx", after: "VxxVV",
		},
		{
			name:   "a repeated TxID stays after the first",
			specs:  []string{"id:X w:a", "r:a@1.0", "id:X w:a"},
			want:   []int{1, 0, 2},
			before: "VxV", after: "VVV", // the ledger does not look at TxIDs: the validator marks the second X DUPLICATE_TXID
		},
		{
			name:   "a metadata change is kept apart from other users of its key",
			specs:  []string{"m:a", "r:a@1.0"},
			before: "Vx", after: "Vx",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			envs := make([][]byte, len(c.specs))
			for i, s := range c.specs {
				switch s {
				case "CONFIG":
					envs[i] = cfg
				case "JUNK":
					envs[i] = []byte("\xff\xff not a protobuf")
				default:
					envs[i] = tx(t, i, s)
				}
			}
			perm := Permutation(envs)
			if !slices.Equal(perm, c.want) {
				t.Fatalf("Permutation = %v, want %v", perm, c.want)
			}
			out := Order(envs)
			checkPermutation(t, envs, out)
			if got := verdicts(newOracle(t, setupKeys).commit(t, envs), nil); got != c.before {
				t.Errorf("before reordering: %s, want %s", got, c.before)
			}
			if got := verdicts(newOracle(t, setupKeys).commit(t, out), perm); got != c.after {
				t.Errorf("after reordering: %s, want %s", got, c.after)
			}
		})
	}
}

// checkPermutation fails unless out holds exactly the envelopes of in.
func checkPermutation(t testing.TB, in, out [][]byte) {
	t.Helper()
	if len(in) != len(out) {
		t.Fatalf("%d envelopes in, %d out", len(in), len(out))
	}
	used := make([]bool, len(in))
next:
	for _, o := range out {
		for i, e := range in {
			if !used[i] && bytes.Equal(e, o) {
				used[i] = true
				continue next
			}
		}
		t.Fatalf("output holds an envelope that is not in the input, or holds one twice")
	}
}

func TestOrderKeepsTheInputWhenNothingGains(t *testing.T) {
	envs := txs(t, "r:a@1.0 w:a", "r:a@1.0 w:a") // one of two wins whatever the order
	out := Order(envs)
	if &out[0] != &envs[0] {
		t.Fatal("Order returned a new slice for a batch it does not change")
	}
	if Order(nil) != nil || Permutation([][]byte{tx(t, 0, "w:a")}) != nil {
		t.Fatal("an empty or single-transaction batch changed")
	}
}

func TestOrderIsDeterministic(t *testing.T) {
	specs := []string{"r:a@1.0 w:a r:b@1.0 w:b", "r:b@1.0 w:b r:c@1.0 w:c", "r:c@1.0 w:c r:a@1.0 w:a", "w:d", "r:d@1.0 w:e", "q:a-z", "r:e@1.0 w:f"}
	first := Permutation(txs(t, specs...))
	for range 20 {
		if got := Permutation(txs(t, specs...)); !slices.Equal(got, first) {
			t.Fatalf("Permutation = %v, then %v", first, got)
		}
	}
}

func TestStaleReadsAreDoomed(t *testing.T) {
	r := newRun(parse(t, "r:a@0.0 w:b", "r:a@1.0", "r:a", "pr:c1/a@0.3", "pr:c1/a@0.2 w:z", "q:a-b"))
	var doomed []bool
	for _, x := range r.txs {
		doomed = append(doomed, x.doomed)
	}
	if want := []bool{true, false, false, false, true, false}; !slices.Equal(doomed, want) {
		t.Fatalf("doomed = %v, want %v", doomed, want)
	}
}

func parse(t testing.TB, specs ...string) []*txn {
	t.Helper()
	var out []*txn
	for i, env := range txs(t, specs...) {
		s, ok := decode(env)
		if !ok {
			t.Fatalf("decode %q failed", specs[i])
		}
		out = append(out, &txn{pos: i, set: s})
	}
	return out
}
