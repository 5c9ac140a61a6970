package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Zipf draws key indexes 0..n-1 with P(k) proportional to 1/(k+1)^s: key 0
// is the hottest, and s = 0 is uniform. Unlike math/rand's Zipf it takes any
// s >= 0, including the s = 1 of the hot-key workload. It is not safe for
// concurrent use.
type Zipf struct {
	cdf []float64 // cdf[k] = P(index <= k)
	rnd *rand.Rand
}

// NewZipf returns a sampler over n keys with exponent s, seeded with seed.
func NewZipf(n int, s float64, seed uint64) (*Zipf, error) {
	if n < 1 {
		return nil, fmt.Errorf("zipf: need at least one key, got %d", n)
	}
	if s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return nil, fmt.Errorf("zipf: the exponent must be a number >= 0, got %g", s)
	}
	cdf := make([]float64, n)
	sum := 0.0
	for k := range cdf {
		sum += math.Pow(float64(k+1), -s)
		cdf[k] = sum
	}
	for k := range cdf {
		cdf[k] /= sum
	}
	cdf[n-1] = 1
	return &Zipf{cdf: cdf, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}, nil
}

// Next draws one key index.
func (z *Zipf) Next() int {
	u := z.rnd.Float64()
	// The first k with cdf[k] > u: P(k) = cdf[k] - cdf[k-1].
	return min(sort.Search(len(z.cdf), func(k int) bool { return z.cdf[k] > u }), len(z.cdf)-1)
}

// Pair draws two different key indexes, each from the distribution (the
// second is drawn again while it equals the first).
func (z *Zipf) Pair() (int, int) {
	a := z.Next()
	for {
		if b := z.Next(); b != a {
			return a, b
		}
	}
}
