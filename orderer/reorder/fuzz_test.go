package reorder

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzOrder feeds batches cut out of arbitrary bytes (client input, as far
// as the orderer knows): the decision must be a permutation of them, and
// the same twice.
func FuzzOrder(f *testing.F) {
	seed := bytes.Join(txs(f, "r:a@1.0 w:a r:b@1.0 w:b", "w:a", "q:a-c", "pr:c1/a@1.0 pw:c1/b", "m:a r:b"), []byte{0xfe, 0xfe})
	f.Add(seed, uint8(3))
	f.Add(configEnvelope(), uint8(1))
	f.Add([]byte("\x0a\x02\x0a\x00"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		var envs [][]byte
		if split%2 == 0 {
			envs = bytes.Split(data, []byte{0xfe, 0xfe})
		} else {
			// Overlapping windows: many envelopes share bytes.
			step := int(split)/2 + 1
			for i := 0; i < len(data); i += step {
				envs = append(envs, data[i:])
			}
		}
		// Permutation, not Order: Order would hide a panic.
		perm := Permutation(envs)
		if perm != nil {
			seen := make([]bool, len(envs))
			for _, p := range perm {
				if p < 0 || p >= len(envs) || seen[p] {
					t.Fatalf("Permutation %v of %d envelopes is not a permutation", perm, len(envs))
				}
				seen[p] = true
			}
			if len(perm) != len(envs) {
				t.Fatalf("Permutation has %d entries for %d envelopes", len(perm), len(envs))
			}
		}
		if again := Permutation(envs); !slices.Equal(perm, again) {
			t.Fatalf("Permutation decided %v, then %v", perm, again)
		}
	})
}
