package reorder

import (
	"container/heap"
	"slices"
	"sort"
	"strings"
)

// Order returns envs in an order that keeps as many transactions valid under
// Fabric's MVCC checks as this package can find, or envs itself when no
// order it finds does better than the one given. envs is not modified; every
// envelope appears exactly once in the result.
//
// The envelopes come from clients; should a bug meet bytes it cannot
// handle, Order keeps the block as it came rather than stop the orderer.
func Order(envs [][]byte) (out [][]byte) {
	defer func() {
		if recover() != nil {
			out = envs
		}
	}()
	perm := Permutation(envs)
	if perm == nil {
		return envs
	}
	out = make([][]byte, len(envs))
	for i, p := range perm {
		out[i] = envs[p]
	}
	return out
}

// Permutation is Order's decision: the index in envs of the envelope to put
// at each position of the block, or nil to keep envs as they are.
func Permutation(envs [][]byte) []int {
	txs := make([]*txn, len(envs))
	seen := make(map[string]bool, len(envs))
	for i, env := range envs {
		s, ok := decode(env)
		if !ok {
			continue // a barrier: it keeps its place
		}
		t := &txn{pos: i, set: s}
		// A repeated TxID is DUPLICATE_TXID at every peer, whatever its
		// place, as long as the first one stays ahead of it.
		if s.txID != "" {
			t.doomed = seen[s.txID]
			seen[s.txID] = true
		}
		txs[i] = t
	}
	perm := make([]int, 0, len(envs))
	changed := false
	start := 0
	for i := 0; i <= len(envs); i++ {
		if i < len(envs) && txs[i] != nil {
			continue
		}
		if i > start {
			run := orderRun(txs[start:i])
			for j, p := range run {
				changed = changed || p != start+j
			}
			perm = append(perm, run...)
		}
		if i < len(envs) {
			perm = append(perm, i)
		}
		start = i + 1
	}
	if !changed {
		return nil
	}
	return perm
}

// txn is one endorser transaction of the block being ordered.
type txn struct {
	pos    int // its index in the batch
	set    rwSet
	doomed bool     // invalid whatever the order: a stale read or a repeated TxID
	acc    []access // the keys it touches, by key id
}

// access is what a transaction does to one key. A range query counts as a
// read of every key in its range that a transaction of the run writes.
type access struct {
	key               int32
	read, write, meta bool
}

func (a access) rmw() bool { return a.read && a.write }

// run is a sequence of endorser transactions between two barriers, with its
// keys interned.
type run struct {
	txs   []*txn
	nkeys int
}

// orderRun returns the positions of txs (consecutive endorser transactions)
// in their new order.
func orderRun(txs []*txn) []int {
	original := make([]int, len(txs))
	for i, t := range txs {
		original[i] = t.pos
	}
	if len(txs) < 2 {
		return original
	}
	r := newRun(txs)
	kept := r.chooseExclusive()
	order := r.orderAcyclic(kept)
	if r.valid(order) <= r.valid(r.txs) {
		return original
	}
	out := make([]int, len(order))
	for i, t := range order {
		out[i] = t.pos
	}
	return out
}

// newRun interns the keys of txs, marks the transactions that read a
// version older than another transaction of the run read (the older one is
// no longer committed, so it fails at every peer), and records each
// transaction's accesses.
func newRun(txs []*txn) *run {
	ids := map[keyRef]int32{}
	id := func(k keyRef) int32 {
		if i, ok := ids[k]; ok {
			return i
		}
		i := int32(len(ids))
		ids[k] = i
		return i
	}
	newest := map[int32]version{}
	eachRead := func(t *txn, fn func(read)) {
		for _, rd := range t.set.reads {
			fn(rd)
		}
		for _, q := range t.set.ranges {
			for _, rd := range q.reads {
				fn(rd)
			}
		}
	}
	for _, t := range txs {
		eachRead(t, func(rd read) {
			k := id(rd.key)
			if v, ok := newest[k]; rd.present && (!ok || v.less(rd.v)) {
				newest[k] = rd.v
			}
		})
	}
	for _, t := range txs {
		eachRead(t, func(rd read) {
			if rd.present && rd.v.less(newest[ids[rd.key]]) {
				t.doomed = true
			}
		})
	}

	// Public keys written in the run, by namespace and sorted, for range reads.
	type written struct {
		key string
		id  int32
	}
	byNS := map[string][]written{}
	hasRanges := false
	for _, t := range txs {
		hasRanges = hasRanges || len(t.set.ranges) > 0
	}
	if hasRanges {
		have := map[int32]bool{}
		for _, t := range txs {
			for _, w := range t.set.writes {
				if k := id(w); w.coll == "" && !have[k] {
					have[k] = true
					byNS[w.ns] = append(byNS[w.ns], written{w.key, k})
				}
			}
		}
		for _, ws := range byNS {
			slices.SortFunc(ws, func(a, b written) int { return strings.Compare(a.key, b.key) })
		}
	}

	for _, t := range txs {
		flags := map[int32]*access{}
		var order []int32
		touch := func(k int32) *access {
			a, ok := flags[k]
			if !ok {
				a = &access{key: k}
				flags[k] = a
				order = append(order, k)
			}
			return a
		}
		for _, rd := range t.set.reads {
			touch(id(rd.key)).read = true
		}
		for _, q := range t.set.ranges {
			ws := byNS[q.ns]
			i := sort.Search(len(ws), func(i int) bool { return ws[i].key >= q.start })
			for ; i < len(ws) && q.covers(ws[i].key); i++ {
				touch(ws[i].id).read = true
			}
		}
		for _, w := range t.set.writes {
			touch(id(w)).write = true
		}
		for _, m := range t.set.metas {
			touch(id(m)).meta = true
		}
		slices.Sort(order)
		t.acc = make([]access, len(order))
		for i, k := range order {
			t.acc[i] = *flags[k]
		}
	}
	return &run{txs: txs, nkeys: len(ids)}
}

// valid counts the transactions of order that pass Fabric's checks within
// the block, taking every read not known to be stale as current: a read of a
// key an earlier valid transaction wrote fails (MVCC_READ_CONFLICT, or
// PHANTOM_READ_CONFLICT for a range), and so does a write of a key whose
// metadata (its key-level endorsement policy) an earlier valid transaction
// changed.
func (r *run) valid(order []*txn) int {
	written := make([]bool, r.nkeys)
	metaChanged := make([]bool, r.nkeys)
	n := 0
next:
	for _, t := range order {
		if t.doomed {
			continue
		}
		for _, a := range t.acc {
			if (a.read && written[a.key]) || ((a.write || a.meta) && metaChanged[a.key]) {
				continue next
			}
		}
		n++
		for _, a := range t.acc {
			if a.write || a.meta {
				written[a.key] = true
			}
			if a.meta {
				metaChanged[a.key] = true
			}
		}
	}
	return n
}

// chooseExclusive picks the transactions to order among those not doomed:
// of the transactions that read and write the same key (or change its
// metadata) at most one can be valid in a block, whatever the order. It
// admits transactions greedily, fewest such conflicts first (ties: earlier
// first), and returns them in batch order.
func (r *run) chooseExclusive() []*txn {
	excl := make([]int32, r.nkeys)  // live transactions that read and write the key or change its metadata
	touch := make([]int32, r.nkeys) // live transactions that touch the key
	metas := make([]int32, r.nkeys) // live transactions that change its metadata
	var live []*txn
	for _, t := range r.txs {
		if t.doomed {
			continue
		}
		live = append(live, t)
		for _, a := range t.acc {
			touch[a.key]++
			if a.meta {
				metas[a.key]++
			}
			if a.meta || a.rmw() {
				excl[a.key]++
			}
		}
	}
	score := make(map[*txn]int32, len(live))
	for _, t := range live {
		var s int32
		for _, a := range t.acc {
			switch {
			case a.meta:
				s += touch[a.key] - 1
			case a.rmw():
				s += excl[a.key] - 1
			default:
				s += metas[a.key]
			}
		}
		score[t] = s
	}
	byScore := slices.Clone(live)
	slices.SortStableFunc(byScore, func(a, b *txn) int { return int(score[a] - score[b]) })

	rmwTaken := make([]bool, r.nkeys)
	metaTaken := make([]bool, r.nkeys)
	touched := make([]bool, r.nkeys)
	admitted := make(map[*txn]bool, len(live))
next:
	for _, t := range byScore {
		for _, a := range t.acc {
			if metaTaken[a.key] || (a.meta && touched[a.key]) || (a.rmw() && rmwTaken[a.key]) {
				continue next
			}
		}
		admitted[t] = true
		for _, a := range t.acc {
			touched[a.key] = true
			rmwTaken[a.key] = rmwTaken[a.key] || a.rmw()
			metaTaken[a.key] = metaTaken[a.key] || a.meta
		}
	}
	var out []*txn
	for _, t := range r.txs {
		if admitted[t] {
			out = append(out, t)
		}
	}
	return out
}

// orderAcyclic orders kept so that every reader of a key comes before every
// writer of it, leaving out (to the end) the fewest transactions it can to
// break the cycles that remain, then appends every other transaction of the
// run in batch order.
//
// The graph has a node per transaction and, for each key with both readers
// and writers, two nodes: "read" (after every pure reader and before the
// transaction that reads and writes it, if any) and "written" (after that
// transaction and before every pure writer), with read → written. This
// keeps the edges linear in the accesses rather than quadratic in the
// transactions. chooseExclusive left at most one transaction that reads and
// writes a key, and a metadata change alone on its key, so every path
// between two transactions in this graph is a real constraint.
func (r *run) orderAcyclic(kept []*txn) []*txn {
	type side struct{ readers, writers, rmw []int32 }
	perKey := map[int32]*side{}
	var keys []int32
	for i, t := range kept {
		for _, a := range t.acc {
			if a.meta {
				continue
			}
			s, ok := perKey[a.key]
			if !ok {
				s = &side{}
				perKey[a.key] = s
				keys = append(keys, a.key)
			}
			switch {
			case a.rmw():
				s.rmw = append(s.rmw, int32(i))
			case a.read:
				s.readers = append(s.readers, int32(i))
			default:
				s.writers = append(s.writers, int32(i))
			}
		}
	}
	slices.Sort(keys)
	adj := make([][]int32, len(kept))
	for _, k := range keys {
		s := perKey[k]
		if len(s.readers)+len(s.rmw) == 0 || len(s.writers)+len(s.rmw) == 0 || len(s.readers)+len(s.writers)+len(s.rmw) < 2 {
			continue
		}
		rd, wr := int32(len(adj)), int32(len(adj)+1)
		adj = append(adj, []int32{wr}, nil)
		for _, t := range s.readers {
			adj[t] = append(adj[t], rd)
		}
		for _, t := range s.rmw {
			adj[rd] = append(adj[rd], t)
			adj[t] = append(adj[t], wr)
		}
		adj[wr] = append(adj[wr], s.writers...)
	}

	removed := make([]bool, len(adj))
	for breakCycles(adj, removed, len(kept), func(i int32) int { return kept[i].pos }) {
	}

	var out []*txn
	for _, i := range topoOrder(adj, removed, len(kept), func(i int32) int { return kept[i].pos }) {
		out = append(out, kept[i])
	}
	inOrder := make(map[*txn]bool, len(out))
	for _, t := range out {
		inOrder[t] = true
	}
	for _, t := range r.txs {
		if !inOrder[t] {
			out = append(out, t)
		}
	}
	return out
}

// breakCycles removes one transaction node (ids below ntx) from each
// strongly connected component of more than one node: the one with the most
// edges inside its component, the later in the batch on a tie. It reports
// whether it removed any.
func breakCycles(adj [][]int32, removed []bool, ntx int, pos func(int32) int) bool {
	comp := components(adj, removed)
	size := map[int32]int{}
	for _, c := range comp {
		if c >= 0 {
			size[c]++
		}
	}
	deg := make([]int, ntx)
	for v := range adj {
		if removed[v] {
			continue
		}
		for _, w := range adj[v] {
			if removed[w] || comp[v] != comp[w] {
				continue
			}
			if v < ntx {
				deg[v]++
			}
			if int(w) < ntx {
				deg[w]++
			}
		}
	}
	victim := map[int32]int32{} // component → chosen transaction node
	for v := int32(0); v < int32(ntx); v++ {
		c := comp[v]
		if removed[v] || size[c] < 2 {
			continue
		}
		u, ok := victim[c]
		if !ok || deg[v] > deg[u] || (deg[v] == deg[u] && pos(v) > pos(u)) {
			victim[c] = v
		}
	}
	for _, v := range victim {
		removed[v] = true
	}
	return len(victim) > 0
}

// components labels the strongly connected components of the graph without
// its removed nodes (Tarjan's algorithm, iterative); removed nodes get -1.
func components(adj [][]int32, removed []bool) []int32 {
	n := len(adj)
	index := make([]int32, n)
	low := make([]int32, n)
	comp := make([]int32, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i], comp[i] = -1, -1
	}
	var stack []int32
	type frame struct {
		v    int32
		next int
	}
	var calls []frame
	var counter, ncomp int32
	for root := int32(0); root < int32(n); root++ {
		if removed[root] || index[root] >= 0 {
			continue
		}
		calls = append(calls, frame{v: root})
		index[root], low[root] = counter, counter
		counter++
		stack = append(stack, root)
		onStack[root] = true
		for len(calls) > 0 {
			f := &calls[len(calls)-1]
			v := f.v
			if f.next < len(adj[v]) {
				w := adj[v][f.next]
				f.next++
				switch {
				case removed[w]:
				case index[w] < 0:
					index[w], low[w] = counter, counter
					counter++
					stack = append(stack, w)
					onStack[w] = true
					calls = append(calls, frame{v: w})
				case onStack[w]:
					low[v] = min(low[v], index[w])
				}
				continue
			}
			calls = calls[:len(calls)-1]
			if len(calls) > 0 {
				p := calls[len(calls)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] == index[v] {
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = ncomp
					if w == v {
						break
					}
				}
				ncomp++
			}
		}
	}
	return comp
}

// topoOrder returns the transaction nodes (ids below ntx) of the acyclic
// graph left by removed in an order that respects its edges, taking the
// earliest in the batch whenever several are free to go, so transactions
// without constraints keep their relative order.
func topoOrder(adj [][]int32, removed []bool, ntx int, pos func(int32) int) []int32 {
	indeg := make([]int, len(adj))
	for v := range adj {
		if removed[v] {
			continue
		}
		for _, w := range adj[v] {
			if !removed[w] {
				indeg[w]++
			}
		}
	}
	q := &ready{ntx: ntx, pos: pos}
	for v := range adj {
		if !removed[v] && indeg[v] == 0 {
			heap.Push(q, int32(v))
		}
	}
	var out []int32
	for q.Len() > 0 {
		v := heap.Pop(q).(int32)
		if int(v) < ntx {
			out = append(out, v)
		}
		for _, w := range adj[v] {
			if removed[w] {
				continue
			}
			if indeg[w]--; indeg[w] == 0 {
				heap.Push(q, w)
			}
		}
	}
	return out
}

// ready is topoOrder's queue: key nodes first (they only pass constraints
// on), then transactions by batch position.
type ready struct {
	nodes []int32
	ntx   int
	pos   func(int32) int
}

func (q *ready) prio(v int32) int {
	if int(v) >= q.ntx {
		return -1
	}
	return q.pos(v)
}

func (q *ready) Len() int { return len(q.nodes) }
func (q *ready) Less(i, j int) bool {
	a, b := q.prio(q.nodes[i]), q.prio(q.nodes[j])
	if a != b {
		return a < b
	}
	return q.nodes[i] < q.nodes[j]
}
func (q *ready) Swap(i, j int) { q.nodes[i], q.nodes[j] = q.nodes[j], q.nodes[i] }
func (q *ready) Push(x any)    { q.nodes = append(q.nodes, x.(int32)) }
func (q *ready) Pop() any {
	v := q.nodes[len(q.nodes)-1]
	q.nodes = q.nodes[:len(q.nodes)-1]
	return v
}
