package raftchain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/orderer/blockcutter"
	"github.com/weft-ledger/weft/protos"
)

const testChannel = "testchannel"

// consenter i of the test clusters.
func consenter(i uint64) *etcdraft.Consenter {
	return &etcdraft.Consenter{
		Host: fmt.Sprintf("orderer%d.example.com", i), Port: 7050,
		ClientTlsCert: fmt.Appendf(nil, "client cert %d", i),
		ServerTlsCert: fmt.Appendf(nil, "server cert %d", i),
	}
}

func consenters(ids ...uint64) []*etcdraft.Consenter {
	var out []*etcdraft.Consenter
	for _, id := range ids {
		out = append(out, consenter(id))
	}
	return out
}

// configEnvelope is a CONFIG envelope whose config holds only what the chain
// reads: its sequence and Channel/Orderer/ConsensusType with the etcdraft
// consenters.
func configEnvelope(seq uint64, set []*etcdraft.Consenter) []byte {
	ct := &ab.ConsensusType{Type: "etcdraft", Metadata: protos.Marshal(&etcdraft.ConfigMetadata{Consenters: set})}
	cfg := &cb.Config{Sequence: seq, ChannelGroup: &cb.ConfigGroup{Groups: map[string]*cb.ConfigGroup{
		"Orderer": {Values: map[string]*cb.ConfigValue{"ConsensusType": {Value: protos.Marshal(ct)}}},
	}}}
	chdr := &cb.ChannelHeader{Type: int32(cb.HeaderType_CONFIG), ChannelId: testChannel}
	payload := &cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(chdr)},
		Data:   protos.Marshal(&cb.ConfigEnvelope{Config: cfg}),
	}
	return protos.Marshal(&cb.Envelope{Payload: protos.Marshal(payload)})
}

// tnode is one orderer of a test cluster: its store and WAL outlive restarts.
type tnode struct {
	id     uint64
	store  *memStore
	walDir string
	cfg    Config
	inbox  chan *raftpb.Message
	chain  atomic.Pointer[Chain]
	puller *storePuller
}

// cluster runs chains over an in-memory transport that can cut links.
type cluster struct {
	t       *testing.T
	genesis *cb.Block
	signer  keySigner
	mu      sync.Mutex
	nodes   map[uint64]*tnode
	cut     map[[2]uint64]bool // directed links that drop everything
	drop    int                // percentage of messages dropped at random
	seq     uint64             // config sequence of the last ordered config
	quit    chan struct{}
	wg      sync.WaitGroup
	// appsBeforeWAL counts appends a node sent before its own log held
	// their entries (the leader's send before its fsync).
	appsBeforeWAL atomic.Int64
}

func newCluster(t *testing.T, n int, tweak func(*Config)) *cluster {
	var ids []uint64
	for i := 1; i <= n; i++ {
		ids = append(ids, uint64(i))
	}
	cl := &cluster{
		t:       t,
		genesis: protos.NewBlock(0, nil, [][]byte{configEnvelope(0, consenters(ids...))}),
		signer:  newSigner(t),
		nodes:   map[uint64]*tnode{},
		cut:     map[[2]uint64]bool{},
		quit:    make(chan struct{}),
	}
	t.Cleanup(func() {
		for _, nd := range cl.all() {
			if c := nd.chain.Load(); c != nil {
				c.Halt()
			}
		}
		close(cl.quit)
		cl.wg.Wait()
	})
	for _, id := range ids {
		cl.add(id, ids, tweak)
	}
	return cl
}

// add creates node id (not started) with a store holding the genesis block;
// voters is the voter set its empty WAL starts from.
func (cl *cluster) add(id uint64, voters []uint64, tweak func(*Config)) *tnode {
	nd := &tnode{
		id:     id,
		store:  &memStore{blocks: []*cb.Block{cl.genesis}, grew: make(chan struct{}, 100000)},
		walDir: cl.t.TempDir(),
		inbox:  make(chan *raftpb.Message, 4096),
	}
	nd.puller = &storePuller{cl: cl, self: id}
	nd.cfg = Config{
		ChannelID: testChannel, NodeID: id, Voters: voters, NextConsenterID: uint64(len(voters)) + 1,
		Batch:        blockcutter.Config{MaxMessageCount: 10, AbsoluteMaxBytes: 1 << 20, PreferredMaxBytes: 1 << 19, BatchTimeout: 20 * time.Millisecond},
		WALDir:       nd.walDir,
		TickInterval: 10 * time.Millisecond, ElectionTick: 10, HeartbeatTick: 1,
		Signer:    cl.signer,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Puller:    nd.puller,
		Reachable: func() []uint64 { return cl.reachable(id) },
	}
	if tweak != nil {
		tweak(&nd.cfg)
	}
	cl.mu.Lock()
	cl.nodes[id] = nd
	cl.mu.Unlock()
	cl.wg.Add(1)
	go cl.deliver(nd)
	return nd
}

func (cl *cluster) node(id uint64) *tnode {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.nodes[id]
}

func (cl *cluster) all() []*tnode {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	var out []*tnode
	for id := uint64(1); id <= 10; id++ {
		if nd, ok := cl.nodes[id]; ok {
			out = append(out, nd)
		}
	}
	return out
}

func (cl *cluster) deliver(nd *tnode) {
	defer cl.wg.Done()
	for {
		select {
		case <-cl.quit:
			return
		case m := <-nd.inbox:
			c := nd.chain.Load()
			if c == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			c.Step(ctx, m)
			cancel()
		}
	}
}

// transport of one node: copies each message as the wire would and drops it
// when the link is cut or the receiver's queue is full.
type memTransport struct {
	cl   *cluster
	from uint64
}

func (tr memTransport) Send(_ string, msgs []*raftpb.Message) {
	for _, m := range msgs {
		if n := len(m.GetEntries()); n > 0 && m.GetType() == raftpb.MessageType_MsgApp {
			// Send runs in the sender's loop, which owns its storage.
			if c := tr.cl.node(tr.from).chain.Load(); c != nil {
				if last, _ := c.storage.LastIndex(); last < m.GetEntries()[n-1].GetIndex() {
					tr.cl.appsBeforeWAL.Add(1)
				}
			}
		}
		to := m.GetTo()
		tr.cl.mu.Lock()
		nd, blocked := tr.cl.nodes[to], tr.cl.cut[[2]uint64{tr.from, to}]
		blocked = blocked || (tr.cl.drop > 0 && rand.IntN(100) < tr.cl.drop)
		tr.cl.mu.Unlock()
		if nd == nil || blocked {
			continue
		}
		raw, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		cp := &raftpb.Message{}
		if err := proto.Unmarshal(raw, cp); err != nil {
			panic(err)
		}
		select {
		case nd.inbox <- cp:
		default:
		}
	}
}

func (cl *cluster) reachable(from uint64) []uint64 {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	var out []uint64
	for id, nd := range cl.nodes {
		if id != from && !cl.cut[[2]uint64{from, id}] && nd.chain.Load() != nil {
			out = append(out, id)
		}
	}
	return out
}

// isolate cuts every link between the nodes of group a and the others.
func (cl *cluster) isolate(a ...uint64) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for id := range cl.nodes {
		if slices.Contains(a, id) {
			continue
		}
		for _, x := range a {
			cl.cut[[2]uint64{x, id}] = true
			cl.cut[[2]uint64{id, x}] = true
		}
	}
}

func (cl *cluster) heal() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	clear(cl.cut)
}

func (cl *cluster) start(id uint64) *Chain {
	cl.t.Helper()
	nd := cl.node(id)
	c, err := New(nd.cfg, nd.store, memTransport{cl: cl, from: id})
	if err != nil {
		cl.t.Fatalf("node %d: %v", id, err)
	}
	c.Start()
	nd.chain.Store(c)
	return c
}

func (cl *cluster) startAll() {
	for _, nd := range cl.all() {
		cl.start(nd.id)
	}
}

func (cl *cluster) halt(id uint64) {
	nd := cl.node(id)
	if c := nd.chain.Swap(nil); c != nil {
		c.Halt()
	}
}

func (cl *cluster) chain(id uint64) *Chain { return cl.node(id).chain.Load() }

// leader waits until the running nodes among ids agree on one leader.
func (cl *cluster) leader(ids ...uint64) uint64 {
	cl.t.Helper()
	var lead uint64
	eventually.True(cl.t, 15*time.Second, "a leader", func() bool {
		lead = 0
		for _, id := range ids {
			c := cl.chain(id)
			if c == nil {
				continue
			}
			l := c.Leader()
			if l == 0 || (lead != 0 && l != lead) {
				return false
			}
			lead = l
		}
		return lead != 0 && slices.Contains(ids, lead) && cl.chain(lead) != nil && cl.chain(lead).Status().Role == "StateLeader"
	})
	return lead
}

// orderAt orders env at node id, retrying on refusals until it is acked.
func (cl *cluster) orderAt(id uint64, env string) {
	cl.t.Helper()
	eventually.NoError(cl.t, 15*time.Second, fmt.Sprintf("order %s at node %d", env, id), func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := cl.chain(id).Order(ctx, []byte(env))
		if err != nil && !retryable(err) {
			cl.t.Fatalf("order %s at node %d: %v", env, id, err)
		}
		return err
	})
}

func retryable(err error) bool {
	return errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader) || errors.Is(err, ErrSubmitTimeout)
}

// envelopes lists the non-config envelopes of a store, in order.
func envelopes(s *memStore) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, b := range s.blocks[1:] {
		if isConfigBlock(b) {
			continue
		}
		for _, d := range b.Data.Data {
			out = append(out, string(d))
		}
	}
	return out
}

// waitEnvelopes waits until every node in ids holds every envelope of want.
func (cl *cluster) waitEnvelopes(want []string, ids ...uint64) {
	cl.t.Helper()
	for _, id := range ids {
		s := cl.node(id).store
		eventually.True(cl.t, 15*time.Second, fmt.Sprintf("node %d to hold %d envelopes", id, len(want)), func() bool {
			have := map[string]bool{}
			for _, e := range envelopes(s) {
				have[e] = true
			}
			for _, w := range want {
				if !have[w] {
					return false
				}
			}
			return true
		})
	}
}

// sameBlocks requires the stores of ids to hold the same blocks (header and
// data; each orderer signs its own copy) up to the same height, and no
// envelope twice.
func (cl *cluster) sameBlocks(ids ...uint64) {
	cl.t.Helper()
	ref := cl.node(ids[0]).store
	eventually.True(cl.t, 15*time.Second, "equal heights", func() bool {
		for _, id := range ids[1:] {
			if cl.node(id).store.Height() != ref.Height() {
				return false
			}
		}
		return true
	})
	for _, id := range ids[1:] {
		s := cl.node(id).store
		for n := uint64(0); n < ref.Height(); n++ {
			a, _ := ref.Block(n)
			b, _ := s.Block(n)
			if !proto.Equal(a.Header, b.Header) || !proto.Equal(a.Data, b.Data) {
				cl.t.Fatalf("block %d differs between node %d and node %d", n, ids[0], id)
			}
		}
	}
	seen := map[string]bool{}
	for _, e := range envelopes(ref) {
		if seen[e] {
			cl.t.Fatalf("envelope %s ordered twice", e)
		}
		seen[e] = true
	}
}

// storePuller is the fake Puller: it reads the highest store of the other nodes.
type storePuller struct {
	cl     *cluster
	self   uint64
	pulled atomic.Int64
}

func (p *storePuller) source() *memStore {
	var best *memStore
	for _, nd := range p.cl.all() {
		if nd.id != p.self && (best == nil || nd.store.Height() > best.Height()) {
			best = nd.store
		}
	}
	return best
}

func (p *storePuller) Height(context.Context) (uint64, error) { return p.source().Height(), nil }

func (p *storePuller) Pull(ctx context.Context, from, to uint64, each func(*cb.Block) error) error {
	src := p.source()
	for n := from; n <= to; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := src.Block(n)
		if err != nil {
			return err
		}
		if err := each(proto.Clone(b).(*cb.Block)); err != nil {
			return err
		}
		p.pulled.Add(1)
	}
	return nil
}

// orderMany orders n envelopes named prefix-i, spread over the nodes in ids,
// concurrently, and returns the acknowledged ones.
func (cl *cluster) orderMany(prefix string, n int, ids ...uint64) []string {
	cl.t.Helper()
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := fmt.Sprintf("%s-%d", prefix, i)
			c := cl.chain(ids[i%len(ids)])
			if c == nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := c.Order(ctx, []byte(env))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				// Said, so that a test expecting every ack shows why not.
				cl.t.Logf("order %s at node %d: %v", env, ids[i%len(ids)], err)
				return
			}
			acked = append(acked, env)
		}()
	}
	wg.Wait()
	return acked
}

func TestClusterOrdersFromEveryNode(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.startAll()
	lead := cl.leader(1, 2, 3)
	var follower uint64 = 1
	if lead == 1 {
		follower = 2
	}
	// A follower's envelope goes through Raft to the leader; the follower
	// acknowledges it once committed.
	cl.orderAt(follower, "from-follower")
	acked := cl.orderMany("e", 60, 1, 2, 3)
	if len(acked) != 60 {
		t.Fatalf("%d of 60 envelopes acknowledged with a stable leader", len(acked))
	}
	cl.waitEnvelopes(append(acked, "from-follower"), 1, 2, 3)
	cl.sameBlocks(1, 2, 3)
	// The leader sends its appends before its own WAL write, not after.
	if cl.appsBeforeWAL.Load() == 0 {
		t.Fatal("no append was sent before the leader's own WAL write")
	}
	for _, id := range []uint64{1, 2, 3} {
		st := cl.chain(id).Status()
		if st.Leader != lead || !slices.Equal(st.Voters, []uint64{1, 2, 3}) || st.Term == 0 {
			t.Fatalf("node %d status %+v", id, st)
		}
	}
	verifyClusterMetadata(t, cl.node(1).store, []uint64{1, 2, 3}, 4)
}

// verifyClusterMetadata checks the etcdraft metadata of every block above genesis.
func verifyClusterMetadata(t *testing.T, s *memStore, ids []uint64, next uint64) {
	t.Helper()
	var last uint64
	for n := uint64(1); n < s.Height(); n++ {
		b, _ := s.Block(n)
		_, rmd, err := BlockMetadata(b)
		if err != nil || rmd == nil {
			t.Fatalf("block %d: %v", n, err)
		}
		if !slices.Equal(rmd.ConsenterIds, ids) || rmd.NextConsenterId != next || rmd.RaftIndex <= last {
			t.Fatalf("block %d: metadata %v", n, rmd)
		}
		last = rmd.RaftIndex
	}
}

func TestClusterLeaderFailoverLosesNothing(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.startAll()
	lead := cl.leader(1, 2, 3)
	var others []uint64
	for _, id := range []uint64{1, 2, 3} {
		if id != lead {
			others = append(others, id)
		}
	}
	changesBefore := cl.chain(others[0]).LeaderChanges()

	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := uint64(w%3 + 1)
				c := cl.chain(id)
				if c == nil {
					continue
				}
				env := fmt.Sprintf("w%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				err := c.Order(ctx, []byte(env))
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, env)
					mu.Unlock()
				} else {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	eventually.True(t, 15*time.Second, "some envelopes ordered", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) > 30 })
	cl.halt(lead)
	newLead := cl.leader(others...)
	if newLead == lead {
		t.Fatalf("halted node %d still leads", lead)
	}
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	eventually.True(t, 15*time.Second, "envelopes ordered under the new leader", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) > n+30 })
	close(stop)
	wg.Wait()

	cl.waitEnvelopes(acked, others...)
	cl.sameBlocks(others...)
	if cl.chain(others[0]).LeaderChanges() <= changesBefore {
		t.Fatalf("leader change not counted")
	}
	// The old leader comes back and catches up block for block.
	cl.start(lead)
	cl.sameBlocks(others[0], others[1], lead)
	cl.waitEnvelopes(acked, lead)
}

func TestClusterMinorityRefusesPromptlyAndCatchesUp(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.startAll()
	lead := cl.leader(1, 2, 3)
	cl.orderAt(lead, "before")

	// Cut off the leader: it steps down (CheckQuorum) and refuses; the other
	// two elect a new leader and go on.
	cl.isolate(lead)
	start := time.Now()
	var refused error
	eventually.True(t, 15*time.Second, "the cut-off leader to refuse", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		refused = cl.chain(lead).Order(ctx, []byte("minority"))
		return refused != nil
	})
	if !retryable(refused) {
		t.Fatalf("minority answered %v", refused)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("minority took %s to refuse", d)
	}
	var rest []uint64
	for _, id := range []uint64{1, 2, 3} {
		if id != lead {
			rest = append(rest, id)
		}
	}
	newLead := cl.leader(rest...)
	acked := cl.orderMany("majority", 20, rest...)
	if len(acked) != 20 {
		t.Fatalf("majority acknowledged %d of 20", len(acked))
	}
	// Every later submission at the minority node is refused within a bound.
	for range 3 {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := cl.chain(lead).Order(ctx, []byte("minority-again"))
		cancel()
		if !retryable(err) || time.Since(t0) > time.Second {
			t.Fatalf("minority: %v after %s", err, time.Since(t0))
		}
	}
	cl.heal()
	cl.waitEnvelopes(acked, lead)
	cl.orderAt(lead, "after-heal") // forwarded to the new leader
	cl.waitEnvelopes([]string{"after-heal"}, 1, 2, 3)
	cl.sameBlocks(newLead, 1, 2, 3)
	for _, e := range envelopes(cl.node(newLead).store) {
		if e == "minority" || e == "minority-again" {
			t.Fatalf("refused envelope %s was ordered", e)
		}
	}
}

func TestClusterQuorumLostThenRestored(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.startAll()
	lead := cl.leader(1, 2, 3)
	cl.orderAt(lead, "a")
	var down []uint64
	var up uint64
	for _, id := range []uint64{1, 2, 3} {
		if id != lead && up == 0 {
			up = id
		} else {
			down = append(down, id)
		}
	}
	for _, id := range down {
		cl.halt(id)
	}
	// The survivor refuses within a bound (no leader, or the proposal times out).
	eventually.True(t, 15*time.Second, "no leader at the survivor", func() bool { return cl.chain(up).Leader() == 0 })
	t0 := time.Now()
	err := cl.chain(up).Order(context.Background(), []byte("lost"))
	if !errors.Is(err, ErrNoLeader) || time.Since(t0) > time.Second {
		t.Fatalf("without quorum: %v after %s", err, time.Since(t0))
	}
	for _, id := range down {
		cl.start(id)
	}
	cl.leader(1, 2, 3)
	cl.orderAt(up, "b")
	cl.waitEnvelopes([]string{"a", "b"}, 1, 2, 3)
	cl.sameBlocks(1, 2, 3)
}

func TestClusterRestartAllFromWAL(t *testing.T) {
	cl := newCluster(t, 3, func(c *Config) { c.Batch.MaxMessageCount = 4 })
	cl.startAll()
	cl.leader(1, 2, 3)
	acked := cl.orderMany("one", 22, 1, 2, 3)
	if len(acked) != 22 {
		t.Fatalf("acked %d of 22", len(acked))
	}
	for _, id := range []uint64{1, 2, 3} {
		cl.halt(id)
	}
	cl.startAll()
	cl.leader(1, 2, 3)
	acked = append(acked, cl.orderMany("two", 9, 1, 2, 3)...)
	if len(acked) != 31 {
		t.Fatalf("acked %d of 31", len(acked))
	}
	cl.waitEnvelopes(acked, 1, 2, 3)
	cl.sameBlocks(1, 2, 3)
	verifyClusterMetadata(t, cl.node(2).store, []uint64{1, 2, 3}, 4)
}

func TestClusterFollowerCatchesUpFromSnapshot(t *testing.T) {
	cl := newCluster(t, 3, func(c *Config) {
		c.SnapshotIntervalBlocks = 2
		c.Batch.MaxMessageCount = 2
	})
	cl.startAll()
	lead := cl.leader(1, 2, 3)
	behind := uint64(1)
	if lead == 1 {
		behind = 2
	}
	cl.orderAt(lead, "x")
	cl.halt(behind)
	var live []uint64
	for _, id := range []uint64{1, 2, 3} {
		if id != behind {
			live = append(live, id)
		}
	}
	acked := cl.orderMany("while-down", 30, live...)
	cl.waitEnvelopes(acked, live...)
	if idx := cl.snapIndexOf(lead); idx < 10 {
		t.Fatalf("leader's snapshot at index %d; the test needs a compacted log", idx)
	}
	cl.orderMany("pending", 1, lead) // a committed envelope still waiting for its block
	cl.start(behind)
	acked = append(acked, cl.orderMany("after", 6, 1, 2, 3)...)
	cl.waitEnvelopes(acked, 1, 2, 3)
	cl.sameBlocks(1, 2, 3)
	if cl.node(behind).puller.pulled.Load() == 0 {
		t.Fatalf("node %d caught up without pulling blocks: no snapshot was sent", behind)
	}
	if idx := cl.snapIndexOf(behind); idx < 10 {
		t.Fatalf("node %d did not install the snapshot (index %d)", behind, idx)
	}
}

// leaveBehind halts a follower of a 3-node cluster and orders n envelopes on
// the other two, so that it misses them; it returns the halted node.
func (cl *cluster) leaveBehind(n int) uint64 {
	cl.t.Helper()
	lead := cl.leader(1, 2, 3)
	behind := uint64(1)
	if lead == 1 {
		behind = 2
	}
	cl.halt(behind)
	var live []uint64
	for _, id := range []uint64{1, 2, 3} {
		if id != behind {
			live = append(live, id)
		}
	}
	cl.waitEnvelopes(cl.orderMany("a", n, live...), live...)
	return behind
}

func (cl *cluster) snapIndexOf(id uint64) uint64 {
	var idx uint64
	if err := cl.chain(id).inLoop(func() { idx = cl.chain(id).snaps.index }); err != nil {
		cl.t.Fatal(err)
	}
	return idx
}

// A follower without a Puller that receives a snapshot beyond its blocks stops
// with an error that says so.
func TestSnapshotWithoutPullerFails(t *testing.T) {
	cl := newCluster(t, 3, func(c *Config) {
		c.SnapshotIntervalBlocks = 1
		c.Batch.MaxMessageCount = 1
	})
	cl.startAll()
	behind := cl.leaveBehind(5)
	cl.node(behind).cfg.Puller = nil
	c := cl.start(behind)
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("chain kept running after a snapshot it cannot install")
	}
	if err := c.Err(); err == nil || !bytes.Contains([]byte(err.Error()), []byte("no puller")) {
		t.Fatalf("error %v", err)
	}
}

// orderConfig orders a config envelope for set and waits for its block at ids.
func (cl *cluster) orderConfig(at uint64, set []*etcdraft.Consenter, ids ...uint64) uint64 {
	cl.t.Helper()
	cl.seq++
	env := configEnvelope(cl.seq, set)
	attempt := 0
	eventually.NoError(cl.t, 15*time.Second, fmt.Sprintf("order config at %d", at), func(ctx context.Context) error {
		attempt++
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := cl.chain(at).Order(ctx, env)
		if err == nil || (attempt > 1 && errors.Is(err, ErrStaleConfig)) {
			return nil // stale on a retry: an earlier attempt was ordered
		}
		if !retryable(err) {
			cl.t.Fatalf("order config at %d: %v", at, err)
		}
		return err
	})
	var num uint64
	for _, id := range ids {
		s := cl.node(id).store
		eventually.True(cl.t, 15*time.Second, fmt.Sprintf("the config block at node %d", id), func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, b := range s.blocks[1:] {
				if len(b.Data.Data) == 1 && bytes.Equal(b.Data.Data[0], env) {
					num = b.Header.Number
					return true
				}
			}
			return false
		})
	}
	return num
}

func configMetadata(t *testing.T, s *memStore, n uint64) *etcdraft.BlockMetadata {
	t.Helper()
	b, err := s.Block(n)
	if err != nil {
		t.Fatal(err)
	}
	obm, rmd, err := BlockMetadata(b)
	if err != nil || rmd == nil {
		t.Fatalf("block %d: %v", n, err)
	}
	if obm.LastConfig.GetIndex() != n {
		t.Fatalf("config block %d: LastConfig %d", n, obm.LastConfig.GetIndex())
	}
	return rmd
}

func TestClusterAddAndRemoveConsenters(t *testing.T) {
	var written sync.Map // node id → last block number written
	track := func(c *Config) {
		id := c.NodeID
		c.OnBlockWritten = func(b *cb.Block) {
			if prev, ok := written.Load(id); ok && prev.(uint64)+1 != b.Header.Number {
				t.Errorf("node %d: OnBlockWritten for block %d after %d", id, b.Header.Number, prev)
			}
			written.Store(id, b.Header.Number)
		}
	}
	cl := newCluster(t, 3, track)
	cl.startAll()
	lead := cl.leader(1, 2, 3)
	cl.orderMany("pre", 5, 1, 2, 3)

	// Add consenter 4: the config envelope is cut alone, every node gives the
	// new consenter id 4, and the leader adds it to the Raft voters.
	if err := cl.chain(lead).ValidateConsenters(consenters(1, 2, 3, 4)); err != nil {
		t.Fatalf("adding one consenter refused: %v", err)
	}
	num := cl.orderConfig(lead, consenters(1, 2, 3, 4), 1, 2, 3)
	for _, id := range []uint64{1, 2, 3} {
		md := configMetadata(t, cl.node(id).store, num)
		if !slices.Equal(md.ConsenterIds, []uint64{1, 2, 3, 4}) || md.NextConsenterId != 5 {
			t.Fatalf("node %d: config block metadata %v", id, md)
		}
	}
	eventually.True(t, 15*time.Second, "voter 4", func() bool { return slices.Equal(cl.chain(lead).Status().Voters, []uint64{1, 2, 3, 4}) })
	cl.add(4, []uint64{1, 2, 3}, track)
	cl.start(4)
	cl.leader(1, 2, 3, 4)
	acked := cl.orderMany("four", 20, 1, 2, 3, 4)
	if len(acked) != 20 {
		t.Fatalf("acked %d of 20 with four consenters", len(acked))
	}
	cl.waitEnvelopes(acked, 1, 2, 3, 4)
	cl.sameBlocks(1, 2, 3, 4)
	if st := cl.chain(4).Status(); !slices.Equal(st.Consenters, []uint64{1, 2, 3, 4}) || st.Leader == 0 {
		t.Fatalf("node 4 status %+v", st)
	}

	// Remove a follower: it is evicted; the others go on.
	var victim uint64
	for _, id := range []uint64{1, 2, 3} {
		if id != lead {
			victim = id
			break
		}
	}
	var keep []uint64
	for _, id := range []uint64{1, 2, 3, 4} {
		if id != victim {
			keep = append(keep, id)
		}
	}
	num = cl.orderConfig(lead, consenters(keep...), keep...)
	if md := configMetadata(t, cl.node(keep[0]).store, num); !slices.Equal(md.ConsenterIds, keep) || md.NextConsenterId != 5 {
		t.Fatalf("after removal: metadata %v", md)
	}
	waitEvicted(t, cl.chain(victim))
	eventually.True(t, 15*time.Second, "3 voters", func() bool { return slices.Equal(cl.chain(lead).Status().Voters, keep) })
	acked = cl.orderMany("three", 10, keep...)
	if len(acked) != 10 {
		t.Fatalf("acked %d of 10 after removal", len(acked))
	}
	cl.waitEnvelopes(acked, keep...)
	cl.sameBlocks(keep...)

	// Remove the leader itself: it hands over and is evicted.
	var rest []uint64
	for _, id := range keep {
		if id != lead {
			rest = append(rest, id)
		}
	}
	cl.orderConfig(lead, consenters(rest...), rest...)
	waitEvicted(t, cl.chain(lead))
	newLead := cl.leader(rest...)
	cl.orderAt(newLead, "last")
	cl.waitEnvelopes([]string{"last"}, rest...)
	cl.sameBlocks(rest...)
	if st := cl.chain(newLead).Status(); !slices.Equal(st.Voters, rest) {
		t.Fatalf("voters %v, want %v", st.Voters, rest)
	}
	for _, id := range rest {
		if v, _ := written.Load(id); v.(uint64) != cl.node(id).store.Height()-1 {
			t.Fatalf("node %d: OnBlockWritten saw block %v, store height %d", id, v, cl.node(id).store.Height())
		}
	}
}

func waitEvicted(t *testing.T, c *Chain) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("removed consenter still running")
	}
	if !c.Evicted() || !errors.Is(c.Err(), ErrEvicted) {
		t.Fatalf("stopped with %v, want ErrEvicted", c.Err())
	}
	if err := c.Order(context.Background(), []byte("x")); !errors.Is(err, ErrEvicted) {
		t.Fatalf("order on an evicted chain: %v", err)
	}
	if st := c.Status(); st.Role != "Evicted" {
		t.Fatalf("status %+v", st)
	}
}

func TestClusterNodeRemovedWhileDownIsEvicted(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.startAll()
	lead := cl.leader(1, 2, 3)
	victim := uint64(1)
	if lead == 1 {
		victim = 3
	}
	cl.orderAt(lead, "a")
	cl.halt(victim)
	var keep []uint64
	for _, id := range []uint64{1, 2, 3} {
		if id != victim {
			keep = append(keep, id)
		}
	}
	cl.orderConfig(lead, consenters(keep...), keep...)
	eventually.True(t, 15*time.Second, "2 voters", func() bool { return slices.Equal(cl.chain(lead).Status().Voters, keep) })
	cl.orderAt(lead, "b")
	// Back up, nobody talks to it: it pulls the blocks it missed, sees it was
	// removed and stops.
	c := cl.start(victim)
	waitEvicted(t, c)
	if cl.node(victim).store.Height() < cl.node(lead).store.Height()-1 {
		t.Fatalf("evicted node did not pull the config block")
	}
	// Started again, it sees from its own blocks that it was removed.
	c = cl.start(victim)
	waitEvicted(t, c)
}

func TestValidateConsentersRefusals(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.startAll()
	lead := cl.leader(1, 2, 3)
	c := cl.chain(lead)
	if err := c.ValidateConsenters(consenters(1, 2, 3)); err != nil {
		t.Fatalf("no change refused: %v", err)
	}
	err := c.ValidateConsenters(consenters(1, 2, 3, 4, 5))
	if !errors.Is(err, ErrConsenterChange) || !bytes.Contains([]byte(err.Error()), []byte("orderer5.example.com:7050")) {
		t.Fatalf("two additions: %v", err)
	}
	err = c.ValidateConsenters(consenters(1, 4))
	if !errors.Is(err, ErrConsenterChange) {
		t.Fatalf("one removal and one addition: %v", err)
	}
	// Rotating a consenter's certificates on the same host:port is allowed.
	rot := consenters(1, 2, 3)
	rot[0].ClientTlsCert, rot[0].ServerTlsCert = []byte("new client"), []byte("new server")
	if err := c.ValidateConsenters(rot); err != nil {
		t.Fatalf("certificate rotation refused: %v", err)
	}

	// One follower down: removing the other live one would leave one
	// reachable of two, below quorum; adding a fifth node likewise.
	var f []uint64
	for _, id := range []uint64{1, 2, 3} {
		if id != lead {
			f = append(f, id)
		}
	}
	cl.halt(f[0])
	cl.isolate(f[0])
	eventually.True(t, 15*time.Second, "the leader to notice", func() bool {
		var keep []uint64
		for _, id := range []uint64{1, 2, 3} {
			if id != f[1] {
				keep = append(keep, id)
			}
		}
		err = c.ValidateConsenters(consenters(keep...))
		return err != nil
	})
	down := fmt.Sprintf("orderer%d.example.com:7050", f[0])
	if !errors.Is(err, ErrConsenterChange) || !bytes.Contains([]byte(err.Error()), []byte(down)) || !bytes.Contains([]byte(err.Error()), []byte("quorum")) {
		t.Fatalf("removal below quorum: %v", err)
	}
	if err := c.ValidateConsenters(consenters(1, 2, 3, 4)); !errors.Is(err, ErrConsenterChange) {
		t.Fatalf("addition with one of three down: %v", err)
	}
	// Removing the node that is down keeps a quorum (2 of 2).
	var keep []uint64
	for _, id := range []uint64{1, 2, 3} {
		if id != f[0] {
			keep = append(keep, id)
		}
	}
	if err := c.ValidateConsenters(consenters(keep...)); err != nil {
		t.Fatalf("removing the unreachable node refused: %v", err)
	}
	// A follower judges by Config.Reachable.
	if err := cl.chain(f[1]).ValidateConsenters(consenters(lead)); !errors.Is(err, ErrConsenterChange) {
		t.Fatalf("follower: %v", err)
	}
	if err := cl.chain(f[1]).ValidateConsenters(consenters(1, 2, 3, 4)); !errors.Is(err, ErrConsenterChange) {
		t.Fatalf("follower, addition with one of three down: %v", err)
	}
}

// A config envelope is cut into a block of its own.
func TestConfigEnvelopeGetsItsOwnBlock(t *testing.T) {
	signer := newSigner(t)
	store := newMemStore(t)
	cfg := testConfig(t, t.TempDir(), signer)
	cfg.Batch.MaxMessageCount = 10
	c := startChain(t, cfg, store)
	eventually.True(t, 5*time.Second, "leadership", func() bool { return c.Leader() == 1 })
	c.Tick(epoch)
	cfgEnv := configEnvelope(1, consenters(1))
	for _, e := range [][]byte{[]byte("a"), []byte("b"), cfgEnv} {
		if err := c.Order(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	store.waitHeight(t, 3)
	b1, _ := store.Block(1)
	b2, _ := store.Block(2)
	if len(b1.Data.Data) != 2 || len(b2.Data.Data) != 1 || !bytes.Equal(b2.Data.Data[0], cfgEnv) {
		t.Fatalf("blocks %d and %d envelopes", len(b1.Data.Data), len(b2.Data.Data))
	}
	obm, rmd, _ := BlockMetadata(b2)
	if obm.LastConfig.GetIndex() != 2 || !slices.Equal(rmd.ConsenterIds, []uint64{1}) {
		t.Fatalf("config block metadata %v %v", obm, rmd)
	}
}

// With a fifth of all messages lost, what is acknowledged is ordered exactly
// once, what is not is answered (never left hanging), and once the network
// is clean again all nodes hold the same blocks.
func TestClusterLossyNetwork(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.startAll()
	cl.leader(1, 2, 3)
	cl.mu.Lock()
	cl.drop = 20
	cl.mu.Unlock()
	acked := cl.orderMany("lossy", 60, 1, 2, 3)
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged on a lossy network")
	}
	cl.mu.Lock()
	cl.drop = 0
	cl.mu.Unlock()
	cl.leader(1, 2, 3)
	cl.orderAt(1, "clean")
	cl.waitEnvelopes(append(acked, "clean"), 1, 2, 3)
	cl.sameBlocks(1, 2, 3)
	t.Logf("%d of 60 acknowledged with 20%% message loss", len(acked))
}

// A follower cut off from a leader it still knows forwards the envelope into
// the void: it is answered — ErrNoLeader once it gives up on that leader, or
// ErrSubmitTimeout, whichever comes first — not left hanging.
func TestClusterLostForwardTimesOut(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.startAll()
	lead := cl.leader(1, 2, 3)
	f := uint64(1)
	if lead == 1 {
		f = 2
	}
	cl.orderAt(f, "ok")
	cl.isolate(f)
	t0 := time.Now()
	err := cl.chain(f).Order(context.Background(), []byte("lost"))
	if !errors.Is(err, ErrSubmitTimeout) && !errors.Is(err, ErrNoLeader) {
		t.Fatalf("lost forward answered %v, want ErrNoLeader or ErrSubmitTimeout", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("answered after %s, SubmitTimeout is %s", d, cl.node(f).cfg.TickInterval*30)
	}
	cl.heal()
	cl.orderAt(f, "after")
	cl.waitEnvelopes([]string{"ok", "after"}, 1, 2, 3)
	cl.sameBlocks(1, 2, 3)
	for _, e := range envelopes(cl.node(lead).store) {
		if e == "lost" {
			t.Fatal("the envelope that timed out was ordered")
		}
	}
}

// tamperPuller hands out blocks whose previous hash was altered.
type tamperPuller struct{ *storePuller }

func (p tamperPuller) Pull(ctx context.Context, from, to uint64, each func(*cb.Block) error) error {
	return p.storePuller.Pull(ctx, from, to, func(b *cb.Block) error {
		b.Header.PreviousHash = []byte("forged")
		return each(b)
	})
}

// Blocks pulled to install a snapshot must chain onto this node's last block.
func TestSnapshotCatchUpRejectsBrokenChain(t *testing.T) {
	cl := newCluster(t, 3, func(c *Config) {
		c.SnapshotIntervalBlocks = 1
		c.Batch.MaxMessageCount = 1
	})
	cl.startAll()
	behind := cl.leaveBehind(5)
	nd := cl.node(behind)
	nd.cfg.Puller = tamperPuller{nd.puller}
	c := cl.start(behind)
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("chain kept running after pulling blocks that do not chain")
	}
	if err := c.Err(); err == nil || !bytes.Contains([]byte(err.Error()), []byte("does not chain")) {
		t.Fatalf("error %v", err)
	}
	if h := nd.store.Height(); h != 1 {
		t.Fatalf("forged blocks were written (height %d)", h)
	}
}

// Two config updates computed on the same config race at two orderers: the
// one the log holds first is ordered, the other is refused with
// ErrStaleConfig on every node alike, and the chains stay identical.
func TestClusterStaleConfigRefusedEverywhere(t *testing.T) {
	cl := newCluster(t, 3, nil)
	cl.startAll()
	lead := cl.leader(1, 2, 3)
	follower := uint64(1)
	if lead == 1 {
		follower = 2
	}
	first := configEnvelope(1, consenters(1, 2, 3))
	second := configEnvelope(1, consenters(1, 2, 3)) // same sequence, other orderer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.chain(lead).Order(ctx, first); err != nil {
		t.Fatalf("first config update: %v", err)
	}
	err := cl.chain(follower).Order(ctx, second)
	if !errors.Is(err, ErrStaleConfig) {
		t.Fatalf("second config update with the same sequence: %v, want ErrStaleConfig", err)
	}
	// The next sequence is accepted again.
	if err := cl.chain(follower).Order(ctx, configEnvelope(2, consenters(1, 2, 3))); err != nil {
		t.Fatalf("config update at the next sequence: %v", err)
	}
	cl.orderAt(lead, "after")
	cl.waitEnvelopes([]string{"after"}, 1, 2, 3)
	cl.sameBlocks(1, 2, 3)
	configs := 0
	s := cl.node(1).store
	s.mu.Lock()
	for _, b := range s.blocks[1:] {
		if len(b.Data.Data) == 1 && isConfigEnvelope(b.Data.Data[0]) {
			configs++
		}
	}
	s.mu.Unlock()
	if configs != 2 {
		t.Fatalf("%d config blocks, want 2 (sequences 1 and 2; the stale one dropped)", configs)
	}
	// Replaying the log after a restart drops the stale update again: the
	// chains resume and stay identical.
	for _, id := range []uint64{1, 2, 3} {
		cl.halt(id)
	}
	cl.startAll()
	cl.leader(1, 2, 3)
	cl.orderAt(follower, "after-restart")
	cl.waitEnvelopes([]string{"after", "after-restart"}, 1, 2, 3)
	cl.sameBlocks(1, 2, 3)
}

// A config block that changes Orderer/BatchSize and BatchTimeout changes how
// the running chain cuts blocks and which envelopes it accepts.
func TestConfigBlockChangesBatchSettings(t *testing.T) {
	signer := newSigner(t)
	store := newMemStore(t)
	cfg := testConfig(t, t.TempDir(), signer)
	cfg.Batch.MaxMessageCount = 10
	c := startChain(t, cfg, store)
	eventually.True(t, 5*time.Second, "leadership", func() bool { return c.Leader() == 1 })
	c.Tick(epoch)

	env := &cb.Envelope{}
	if err := proto.Unmarshal(configEnvelope(1, consenters(1)), env); err != nil {
		t.Fatal(err)
	}
	pl := &cb.Payload{}
	ce := &cb.ConfigEnvelope{}
	if err := proto.Unmarshal(env.Payload, pl); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(pl.Data, ce); err != nil {
		t.Fatal(err)
	}
	og := ce.Config.ChannelGroup.Groups["Orderer"]
	og.Values["BatchSize"] = &cb.ConfigValue{Value: protos.Marshal(&ab.BatchSize{MaxMessageCount: 2, AbsoluteMaxBytes: 100, PreferredMaxBytes: 100})}
	og.Values["BatchTimeout"] = &cb.ConfigValue{Value: protos.Marshal(&ab.BatchTimeout{Timeout: "1s"})}
	pl.Data = protos.Marshal(ce)
	env.Payload = protos.Marshal(pl)
	if err := c.Order(context.Background(), protos.Marshal(env)); err != nil {
		t.Fatal(err)
	}
	store.waitHeight(t, 2)
	for _, e := range []string{"a", "b", "c", "d"} {
		if err := c.Order(context.Background(), []byte(e)); err != nil {
			t.Fatal(err)
		}
	}
	store.waitHeight(t, 4)
	for n := uint64(2); n < 4; n++ {
		b, _ := store.Block(n)
		if len(b.Data.Data) != 2 {
			t.Fatalf("block %d holds %d envelopes, want 2 (new MaxMessageCount)", n, len(b.Data.Data))
		}
	}
	if err := c.Order(context.Background(), bytes.Repeat([]byte("x"), 200)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("200-byte envelope after AbsoluteMaxBytes became 100: %v", err)
	}
}

// SnapshotIntervalBytes (the channel's Options.SnapshotIntervalSize) takes a
// snapshot once that many envelope bytes were written, and not before.
func TestSnapshotEveryIntervalBytes(t *testing.T) {
	cl := newCluster(t, 1, func(c *Config) {
		c.SnapshotIntervalBytes = 100
		c.Batch.MaxMessageCount = 1
	})
	cl.startAll()
	cl.leader(1)
	start := cl.snapIndexOf(1)
	for i := range 9 { // 9 × 10 bytes: below the interval
		cl.orderAt(1, fmt.Sprintf("envelope-%d", i))
	}
	cl.node(1).store.waitHeight(t, 10)
	if got := cl.snapIndexOf(1); got != start {
		t.Fatalf("snapshot taken at %d after 90 bytes, interval is 100", got)
	}
	cl.orderAt(1, "envelope-9")
	cl.orderAt(1, "envelope-X")
	eventually.True(t, 5*time.Second, "a snapshot after 100 bytes", func() bool { return cl.snapIndexOf(1) > start })
}
