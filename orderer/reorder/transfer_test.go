package reorder

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/internal/loadgen"
)

// The hot-key transfer workload (basic's TransferValue: read and write both
// accounts) seen as a graph: accounts are vertices, each transfer whose reads
// are current is an edge. Within a block a transfer is valid iff its reads
// are current and no earlier valid transfer wrote either account, so the
// valid transfers of any order form a matching, and those of the arrival
// order are the matching built greedily in that order: a maximal one. A
// maximum matching has at most twice the edges of a maximal one (each of its
// edges shares an account with an edge of the maximal one, and an edge has
// two accounts), so no order of a block can keep more than twice the valid
// transfers of the arrival order. The tests below check that bound, and the
// model it rests on, against the real validator.

// pairTx is one transfer between accounts a and b; stale when the reads of
// either account are older than the committed state.
type pairTx struct {
	a, b  int
	stale bool
}

// transferSpec is the tx spec of a transfer between accounts a and b of
// namespace ns, reading each at the current version 1.0 or, when stale, at
// 0.0.
func transferSpec(ns string, p pairTx, staleKey map[int]bool) string {
	v := func(k int) string {
		if staleKey[k] {
			return "@0.0"
		}
		return "@1.0"
	}
	ka, kb := loadgen.AccountKey("acct", p.a), loadgen.AccountKey("acct", p.b)
	return fmt.Sprintf("r:%[1]s:%[2]s%[3]s r:%[1]s:%[4]s%[5]s w:%[1]s:%[2]s w:%[1]s:%[4]s", ns, ka, v(p.a), kb, v(p.b))
}

// greedyValid returns, for the transfers taken in the order given, which
// ones Fabric's rules keep valid: those not stale whose accounts no earlier
// valid transfer wrote.
func greedyValid(ps []pairTx, order []int) []bool {
	written := map[int]bool{}
	valid := make([]bool, len(ps))
	for _, i := range order {
		p := ps[i]
		if p.stale || written[p.a] || written[p.b] {
			continue
		}
		valid[i] = true
		written[p.a], written[p.b] = true, true
	}
	return valid
}

// TestTransferGainIsAtMostTwofold draws random batches of hot-key transfers
// (Zipf 1.0 over 1,000 accounts, 50 to 500 transfers), half of them with
// reads already stale against the committed state, and commits each as it
// came and as Order arranges it to two real ledgers holding the same state.
// It checks the matching model against the validator's verdicts, that Order
// never loses, and that neither Order nor the best possible order (a
// maximum matching of the non-stale transfers) keeps more than twice the
// valid transfers of the arrival order.
func TestTransferGainIsAtMostTwofold(t *testing.T) {
	const batches = 60
	z, err := loadgen.NewZipf(1000, 1.0, 15)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(15, 3))
	draw := func(n int) []pairTx {
		ps := make([]pairTx, n)
		for i := range ps {
			ps[i].a, ps[i].b = z.Pair()
		}
		return ps
	}

	type batch struct {
		ns       string
		ps       []pairTx
		staleKey map[int]bool
		lag      int
	}
	bs := make([]batch, batches)
	var setup []string
	for i := range bs {
		b := &bs[i]
		b.ns = fmt.Sprintf("t%d", i)
		b.lag = i % 2
		n := 50 + rng.IntN(451)
		b.ps = draw(n)
		b.staleKey = map[int]bool{}
		if b.lag == 1 {
			// As in benchZipf with lag 1: the batch was endorsed before the
			// block ahead of it committed, so every account that block
			// wrote (the valid transfers of another batch, arrival order)
			// is read at the version before it.
			prev := draw(n)
			valid := greedyValid(prev, identity(n))
			for j, p := range prev {
				if valid[j] {
					b.staleKey[p.a], b.staleKey[p.b] = true, true
				}
			}
		}
		keys := map[int]bool{}
		for j := range b.ps {
			p := &b.ps[j]
			p.stale = b.staleKey[p.a] || b.staleKey[p.b]
			keys[p.a], keys[p.b] = true, true
		}
		for k := range keys {
			setup = append(setup, fmt.Sprintf("w:%s:%s", b.ns, loadgen.AccountKey("acct", k)))
		}
	}
	given, reordered := newOracle(t, strings.Join(setup, " ")), newOracle(t, strings.Join(setup, " "))

	type sums struct{ blocks, txs, arrival, order, best int }
	var total [2]sums
	worst := 0.0 // the largest optimum / arrival of a block
	for i, b := range bs {
		envs := make([][]byte, len(b.ps))
		for j, p := range b.ps {
			envs[j] = tx(t, j, transferSpec(b.ns, p, b.staleKey))
		}
		perm := Permutation(envs)
		if perm == nil {
			perm = identity(len(envs))
		}
		out := make([][]byte, len(envs))
		for j, p := range perm {
			out[j] = envs[p]
		}
		checkPermutation(t, envs, out)

		arrivalCodes := given.commit(t, envs)
		orderCodes := reordered.commit(t, out)
		arrival, order := countValid(arrivalCodes), countValid(orderCodes)

		// The validator's verdicts are exactly the greedy matching, in
		// either order.
		checkMatching(t, fmt.Sprintf("batch %d arrival", i), b.ps, arrivalCodes, identity(len(envs)))
		checkMatching(t, fmt.Sprintf("batch %d Order", i), b.ps, orderCodes, perm)

		var edges [][2]int
		for _, p := range b.ps {
			if !p.stale {
				edges = append(edges, [2]int{p.a, p.b})
			}
		}
		best := maxMatching(edges)

		if order < arrival {
			t.Errorf("batch %d (%d transfers, lag %d): %d valid with Order, %d in arrival order", i, len(envs), b.lag, order, arrival)
		}
		if order > best {
			t.Errorf("batch %d: %d valid with Order, more than a maximum matching (%d): the matching model is wrong", i, order, best)
		}
		if best > 2*arrival {
			t.Errorf("batch %d: a maximum matching of %d transfers, more than twice the %d valid in arrival order", i, best, arrival)
		}
		if arrival > 0 {
			worst = max(worst, float64(best)/float64(arrival))
		}
		s := &total[b.lag]
		s.blocks++
		s.txs += len(envs)
		s.arrival += arrival
		s.order += order
		s.best += best
	}
	for lag, s := range total {
		t.Logf("lag %d: %d blocks, %.1f transfers each; valid per block: arrival %.1f, Order %.1f (%.3fx), optimum %.1f (%.3fx)",
			lag, s.blocks, float64(s.txs)/float64(s.blocks),
			float64(s.arrival)/float64(s.blocks),
			float64(s.order)/float64(s.blocks), float64(s.order)/float64(s.arrival),
			float64(s.best)/float64(s.blocks), float64(s.best)/float64(s.arrival))
	}
	t.Logf("largest optimum / arrival of one block: %.3f", worst)
}

// checkMatching checks codes, the verdicts of the block ps in the order
// perm, against the greedy matching in that order, and that the valid
// transfers share no account.
func checkMatching(t *testing.T, what string, ps []pairTx, codes []pb.TxValidationCode, perm []int) {
	t.Helper()
	want := greedyValid(ps, perm)
	used := map[int]int{}
	for pos, c := range codes {
		i := perm[pos]
		valid := c == pb.TxValidationCode_VALID
		if valid != want[i] {
			t.Errorf("%s: transfer %d (%d-%d, stale %v) is %v, the matching model says valid=%v", what, i, ps[i].a, ps[i].b, ps[i].stale, c, want[i])
		}
		if !valid {
			continue
		}
		for _, k := range []int{ps[i].a, ps[i].b} {
			if j, ok := used[k]; ok {
				t.Errorf("%s: valid transfers %d and %d both write account %d", what, j, i, k)
			}
			used[k] = i
		}
	}
}

// TestTransferChainDoublesAtBest is the case where arrival order keeps half
// of what the best order keeps: B-C arrives first and blocks both A-B and
// C-D, while A-B and C-D together are valid.
func TestTransferChainDoublesAtBest(t *testing.T) {
	envs := txs(t,
		"r:b@1.0 r:c@1.0 w:b w:c",
		"r:a@1.0 r:b@1.0 w:a w:b",
		"r:c@1.0 r:d@1.0 w:c w:d",
	)
	if best := maxMatching([][2]int{{1, 2}, {0, 1}, {2, 3}}); best != 2 {
		t.Fatalf("maximum matching of the path A-B-C-D: got %d, want 2", best)
	}
	given, reordered := newOracle(t, setupKeys), newOracle(t, setupKeys)
	if got := verdicts(given.commit(t, envs), nil); got != "Vxx" {
		t.Fatalf("arrival order: got %s, want Vxx", got)
	}
	// Order admits the transfers with the fewest rivals first: A-B and C-D
	// each share one account with one other transfer, B-C shares both, so
	// it finds the optimum here.
	perm := Permutation(envs)
	if perm == nil {
		t.Fatal("Order kept the arrival order")
	}
	out := make([][]byte, len(envs))
	for i, p := range perm {
		out[i] = envs[p]
	}
	if got := verdicts(reordered.commit(t, out), perm); got != "xVV" {
		t.Errorf("Order: got %s, want xVV (2 valid, twice the arrival order)", got)
	}
}

// TestMaxMatchingAgreesWithSearch checks maxMatching against an exhaustive
// search on small random graphs, odd cycles included.
func TestMaxMatchingAgreesWithSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for c := range 400 {
		n := 2 + rng.IntN(9)
		m := rng.IntN(14)
		edges := make([][2]int, 0, m)
		for range m {
			a, b := rng.IntN(n), rng.IntN(n)
			if a != b {
				edges = append(edges, [2]int{a, b})
			}
		}
		if got, want := maxMatching(edges), searchMatching(edges, 0, map[int]bool{}); got != want {
			t.Fatalf("case %d, edges %v: maxMatching %d, exhaustive search %d", c, edges, got, want)
		}
	}
	// Two triangles joined by an edge, and a pentagon: blossoms.
	if got := maxMatching([][2]int{{0, 1}, {1, 2}, {2, 0}, {2, 3}, {3, 4}, {4, 5}, {5, 3}}); got != 3 {
		t.Errorf("two triangles joined: got %d, want 3", got)
	}
	if got := maxMatching([][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 0}, {4, 5}}); got != 3 {
		t.Errorf("pentagon with a tail: got %d, want 3", got)
	}
}

// searchMatching is the largest matching of edges[i:] that avoids the
// vertices in used, by trying each edge in and out.
func searchMatching(edges [][2]int, i int, used map[int]bool) int {
	if i == len(edges) {
		return 0
	}
	best := searchMatching(edges, i+1, used)
	a, b := edges[i][0], edges[i][1]
	if !used[a] && !used[b] {
		used[a], used[b] = true, true
		best = max(best, 1+searchMatching(edges, i+1, used))
		used[a], used[b] = false, false
	}
	return best
}

// maxMatching returns the number of edges of a maximum matching of the
// undirected graph with the given edges (vertices are any ints; loops and
// repeated edges are allowed and change nothing), by Edmonds' blossom
// algorithm: grow alternating trees from each unmatched vertex, shrink odd
// cycles into one vertex, and flip the path to any unmatched vertex found.
func maxMatching(edges [][2]int) int {
	id := map[int]int{}
	vertex := func(k int) int {
		v, ok := id[k]
		if !ok {
			v = len(id)
			id[k] = v
		}
		return v
	}
	var pairs [][2]int
	for _, e := range edges {
		if e[0] != e[1] {
			pairs = append(pairs, [2]int{vertex(e[0]), vertex(e[1])})
		}
	}
	n := len(id)
	adj := make([][]int, n)
	for _, e := range pairs {
		adj[e[0]] = append(adj[e[0]], e[1])
		adj[e[1]] = append(adj[e[1]], e[0])
	}
	mate := make([]int, n)
	for i := range mate {
		mate[i] = -1
	}
	size := 0
	// A greedy start leaves fewer augmenting paths to search for.
	for _, e := range pairs {
		if mate[e[0]] < 0 && mate[e[1]] < 0 {
			mate[e[0]], mate[e[1]] = e[1], e[0]
			size++
		}
	}

	parent := make([]int, n)  // the tree edge into an outer vertex's mate, by vertex
	base := make([]int, n)    // the blossom each vertex is shrunk into
	inTree := make([]bool, n) // outer vertices, queued for scanning
	inBlossom := make([]bool, n)
	seen := make([]bool, n)

	// commonBase is the base of the blossom where the tree paths from a and
	// b to the root first meet.
	commonBase := func(a, b int) int {
		clear(seen)
		for {
			a = base[a]
			seen[a] = true
			if mate[a] < 0 {
				break
			}
			a = parent[mate[a]]
		}
		for {
			b = base[b]
			if seen[b] {
				return b
			}
			b = parent[mate[b]]
		}
	}
	// markBlossom walks from v down to the blossom base b, marking the
	// blossoms passed and pointing parents across the new odd cycle.
	markBlossom := func(v, b, child int) {
		for base[v] != b {
			inBlossom[base[v]], inBlossom[base[mate[v]]] = true, true
			parent[v] = child
			child = mate[v]
			v = parent[mate[v]]
		}
	}
	// augmentingPath returns an unmatched vertex reached from root by an
	// alternating path (recorded in parent), or -1.
	augmentingPath := func(root int) int {
		for i := range n {
			parent[i], base[i], inTree[i] = -1, i, false
		}
		inTree[root] = true
		queue := []int{root}
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			for _, to := range adj[v] {
				if base[v] == base[to] || mate[v] == to {
					continue
				}
				if to == root || (mate[to] >= 0 && parent[mate[to]] >= 0) {
					// to is outer too: an odd cycle, shrink it.
					b := commonBase(v, to)
					clear(inBlossom)
					markBlossom(v, b, to)
					markBlossom(to, b, v)
					for i := range n {
						if inBlossom[base[i]] {
							base[i] = b
							if !inTree[i] {
								inTree[i] = true
								queue = append(queue, i)
							}
						}
					}
				} else if parent[to] < 0 {
					parent[to] = v
					if mate[to] < 0 {
						return to
					}
					inTree[mate[to]] = true
					queue = append(queue, mate[to])
				}
			}
		}
		return -1
	}
	for root := range n {
		if mate[root] >= 0 {
			continue
		}
		v := augmentingPath(root)
		if v < 0 {
			continue
		}
		size++
		for v >= 0 {
			p := parent[v]
			next := mate[p]
			mate[v], mate[p] = p, v
			v = next
		}
	}
	return size
}

func identity(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
