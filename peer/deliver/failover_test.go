package deliver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	od "github.com/weft-ledger/weft/orderer/deliver" // test only: the real orderer end of the stream
	"github.com/weft-ledger/weft/protos"
)

// These tests run the puller against orderer/deliver's real Deliver handler,
// each orderer serving its own real block store over TLS on 127.0.0.1.

// testOrderer is one orderer: a block store that outlives its gRPC server, so
// the orderer can be killed and restarted on the same address.
type testOrderer struct {
	name    string
	store   *ledger.BlockStore
	readers od.Policy
	addr    string

	events *notifier // told of every change below

	mu        sync.Mutex
	srv       *grpc.Server
	following int      // open streams that wait for new blocks (the puller's, not height checks)
	starts    []uint64 // first block asked by each such stream
}

// notifier wakes waiters when the orderers' observed state changes.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}

func (o *testOrderer) Channel(name string) (od.Channel, bool) {
	if name != testChannel {
		return nil, false
	}
	return storeChannel{o.store, o.readers}, true
}

type storeChannel struct {
	*ledger.BlockStore
	readers od.Policy
}

func (c storeChannel) Policy(string) (od.Policy, error) { return c.readers, nil }
func (c storeChannel) Errored() <-chan struct{}         { return nil }

// observedStream tells its orderer when the puller's block stream opens and ends.
type observedStream struct {
	grpc.BidiStreamingServer[cb.Envelope, ab.DeliverResponse]
	o         *testOrderer
	following bool
}

func (s *observedStream) Recv() (*cb.Envelope, error) {
	env, err := s.BidiStreamingServer.Recv()
	if err != nil || s.following {
		return env, err
	}
	seek := &ab.SeekInfo{}
	if penv, perr := protos.ParseEnvelope(env); perr == nil && proto.Unmarshal(penv.Payload.Data, seek) == nil &&
		seek.Behavior == ab.SeekInfo_BLOCK_UNTIL_READY {
		s.following = true
		s.o.update(func() {
			s.o.following++
			s.o.starts = append(s.o.starts, seek.GetStart().GetSpecified().GetNumber())
		})
	}
	return env, err
}

type orderService struct {
	ab.UnimplementedAtomicBroadcastServer
	o *testOrderer
	h *od.Handler
}

func (s orderService) Deliver(stream grpc.BidiStreamingServer[cb.Envelope, ab.DeliverResponse]) error {
	obs := &observedStream{BidiStreamingServer: stream, o: s.o}
	defer func() {
		if obs.following {
			s.o.update(func() { s.o.following-- })
		}
	}()
	return s.h.Handle(obs)
}

// update changes the orderer's observed state and wakes waiters.
func (o *testOrderer) update(f func()) {
	o.mu.Lock()
	f()
	o.mu.Unlock()
	o.events.notify()
}

func (o *testOrderer) isFollowed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.following > 0
}

func (o *testOrderer) seenStarts() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]uint64(nil), o.starts...)
}

// start serves the orderer on o.addr (a new port the first time).
func (o *testOrderer) start(t *testing.T, d *devnet) {
	t.Helper()
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("orderer %s: listen on %s: %v", o.name, addr, err)
	}
	o.addr = lis.Addr().String()
	cert := d.TLSCert(t, "orderer.example.com")
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	ab.RegisterAtomicBroadcastServer(srv, orderService{o: o, h: od.NewHandler(o, slog.New(slog.DiscardHandler))})
	go func() { _ = srv.Serve(lis) }()
	o.mu.Lock()
	o.srv = srv
	o.mu.Unlock()
}

// kill stops the server at once, breaking every open stream.
func (o *testOrderer) kill() {
	o.mu.Lock()
	srv := o.srv
	o.srv = nil
	o.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

func (o *testOrderer) add(t *testing.T, blocks ...*cb.Block) {
	t.Helper()
	for _, b := range blocks {
		if err := o.store.Append(b); err != nil {
			t.Fatalf("orderer %s: %v", o.name, err)
		}
	}
}

type failoverFixture struct {
	d        *devnet
	peer     protos.Signer
	blocks   []*cb.Block
	orderers []*testOrderer
	logs     *recordedLogs
	events   *notifier
	got      chan uint64 // numbers of accepted blocks
}

// newFailoverFixture starts n orderers, each holding blocks[:height] of a
// chain of nBlocks blocks.
func newFailoverFixture(t *testing.T, n, nBlocks, height int) *failoverFixture {
	d := getDevnet(t)
	f := &failoverFixture{d: d, peer: d.Signer(t, "peer0.org1.example.com"), logs: newRecordedLogs(), got: make(chan uint64, 1000),
		events: &notifier{ch: make(chan struct{})}}
	f.blocks = testChain(t, d, f.peer, nBlocks)
	readers, err := d.bundle.Policy("/Channel/Readers")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		bs, err := ledger.OpenBlockStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		o := &testOrderer{name: string(rune('A' + i)), store: bs, readers: readers, events: f.events}
		t.Cleanup(func() { o.kill(); bs.Close() })
		o.add(t, f.blocks[:height]...)
		o.start(t, d)
		f.orderers = append(f.orderers, o)
	}
	return f
}

// endpoints lists the orderers with OrdererMSP's TLS roots.
func (f *failoverFixture) endpoints(t *testing.T, orderers ...*testOrderer) []Endpoint {
	var eps []Endpoint
	for _, o := range orderers {
		eps = append(eps, Endpoint{Address: o.addr, TLSRoots: f.d.tlsRoots(t, "OrdererMSP")})
	}
	return eps
}

// run starts a puller from block from; accept records each block after
// checking it extends the previous one. It stops when the test ends.
func (f *failoverFixture) run(t *testing.T, cfg PullerConfig, from uint64, accept func(*cb.Block)) {
	t.Helper()
	clientCert := f.d.TLSCert(t, "peer0.org1.example.com")
	cfg.ChannelID, cfg.Signer, cfg.ClientCert = testChannel, f.peer, &clientCert
	cfg.Logger = slog.New(f.logs)
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 40*time.Millisecond
	}
	p, err := NewPuller(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var prev []byte
	if from > 0 {
		prev = protos.BlockHeaderHash(f.blocks[from-1].Header)
	}
	go func() {
		done <- p.Pull(ctx, from, func(b *cb.Block) error {
			if prev != nil && string(b.Header.PreviousHash) != string(prev) {
				return fmt.Errorf("block %d does not extend the previous block", b.Header.Number)
			}
			if accept != nil {
				accept(b)
			}
			prev = protos.BlockHeaderHash(b.Header)
			f.got <- b.Header.Number
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Pull returned %v, want context.Canceled", err)
		}
	})
}

// expect waits for exactly blocks from..to, in order, within the timeout.
func (f *failoverFixture) expect(t *testing.T, from, to uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for want := from; want <= to; want++ {
		select {
		case n := <-f.got:
			if n != want {
				t.Fatalf("accepted block %d, want block %d (no gap, no duplicate)", n, want)
			}
		case <-deadline:
			t.Fatalf("block %d not accepted within %s; logs:\n%s", want, timeout, f.logs)
		}
	}
}

// inUse returns the one orderer the puller follows, waiting for it.
func (f *failoverFixture) inUse(t *testing.T) (used *testOrderer, others []*testOrderer) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		used, others = nil, nil
		wake := f.events.changed()
		for _, o := range f.orderers {
			if o.isFollowed() {
				used = o
			} else {
				others = append(others, o)
			}
		}
		if used != nil && len(others) == len(f.orderers)-1 {
			return used, others
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatal("the puller does not follow exactly one orderer")
		}
	}
}

func TestPullerFailsOverWhenItsOrdererDies(t *testing.T) {
	f := newFailoverFixture(t, 3, 9, 5)
	eps := f.endpoints(t, f.orderers...)
	f.run(t, PullerConfig{Endpoints: func() []Endpoint { return eps }, BehindTimeout: -1}, 1, nil)
	f.expect(t, 1, 4, 10*time.Second)
	dead, alive := f.inUse(t)
	dead.kill()
	for _, o := range alive {
		o.add(t, f.blocks[5:9]...)
	}
	f.expect(t, 5, 8, 10*time.Second)
	next, _ := f.inUse(t)
	if next == dead {
		t.Fatalf("the puller still follows the killed orderer %s", dead.name)
	}
	if starts := next.seenStarts(); starts[len(starts)-1] != 5 {
		t.Errorf("orderer %s was asked to start at %v, want 5 (the first block not accepted)", next.name, starts)
	}
	if !f.logs.has("block pull interrupted, switching orderer", "orderer", dead.addr) {
		t.Errorf("no log names the dead orderer %s:\n%s", dead.addr, f.logs)
	}
}

func TestPullerLeavesAnOrdererThatFallsBehind(t *testing.T) {
	const behind = 400 * time.Millisecond
	f := newFailoverFixture(t, 2, 7, 3)
	eps := f.endpoints(t, f.orderers...)
	f.run(t, PullerConfig{Endpoints: func() []Endpoint { return eps }, BehindTimeout: behind}, 1, nil)
	f.expect(t, 1, 2, 10*time.Second)
	stalled, ahead := f.inUse(t)
	grown := time.Now()
	ahead[0].add(t, f.blocks[3:7]...)
	f.expect(t, 3, 6, 10*time.Second)
	took := time.Since(grown)
	// Detection needs one idle check, then BehindTimeout of checks: between
	// BehindTimeout and BehindTimeout plus two check intervals (+ slack for -race).
	if took < behind || took > behind+2*behind/4+2*time.Second {
		t.Errorf("switched after %s, want between %s and about %s", took, behind, behind+2*behind/4)
	}
	if now, _ := f.inUse(t); now != ahead[0] {
		t.Errorf("the puller follows %s, want %s (the orderer ahead)", now.name, ahead[0].name)
	}
	if !f.logs.has("switching orderer", "orderer", stalled.addr) || !f.logs.has("switching orderer", "to_orderer", ahead[0].addr) {
		t.Errorf("no log names the switch from %s to %s:\n%s", stalled.addr, ahead[0].addr, f.logs)
	}
}

// A commit that takes longer than BehindTimeout is not the orderer falling
// behind: the puller must not leave an orderer while its own callback runs.
func TestPullerStaysWhileACommitIsSlow(t *testing.T) {
	const behind = 100 * time.Millisecond
	f := newFailoverFixture(t, 2, 6, 4)
	eps := f.endpoints(t, f.orderers...)
	slow := func(b *cb.Block) {
		if b.Header.Number == 1 {
			time.Sleep(5 * behind) // a slow commit is the behaviour under test
		}
	}
	f.run(t, PullerConfig{Endpoints: func() []Endpoint { return eps }, BehindTimeout: behind}, 1, slow)
	f.expect(t, 1, 3, 10*time.Second)
	// New blocks reach the puller only through its open stream (or a new one).
	for _, o := range f.orderers {
		o.add(t, f.blocks[4:6]...)
	}
	f.expect(t, 4, 5, 10*time.Second)
	var starts []uint64
	for _, o := range f.orderers {
		starts = append(starts, o.seenStarts()...)
	}
	if len(starts) != 1 {
		t.Errorf("the puller opened block streams starting at %v, want a single stream:\n%s", starts, f.logs)
	}
}

func TestPullerFollowsEndpointsFromConfigBlock(t *testing.T) {
	f := newFailoverFixture(t, 2, 3, 3)
	a, b := f.orderers[0], f.orderers[1]
	// Block 3 moves the channel from orderer A to orderer B.
	cfgBlock := nextBlock(f.blocks[2], configEnvelope(t, f.d, []string{b.addr}))
	f.blocks = append(f.blocks, cfgBlock)
	for range 2 {
		e, _ := endorserTx(t, f.peer, testChannel, "basic", "", nil)
		f.blocks = append(f.blocks, nextBlock(f.blocks[len(f.blocks)-1], e))
	}
	start, err := channelconfig.NewBundle(testChannel, withOrdererEndpoints(t, f.d, []string{a.addr}))
	if err != nil {
		t.Fatal(err)
	}
	var bundle atomic.Pointer[channelconfig.Bundle]
	bundle.Store(start)
	accept := func(blk *cb.Block) {
		if nb, err := channelconfig.BundleFromBlock(blk); err == nil {
			bundle.Store(nb) // as the peer does when it commits a config block
		}
	}
	// No behind check: only the config change may move the puller.
	f.run(t, PullerConfig{Endpoints: func() []Endpoint { return OrdererEndpoints(bundle.Load()) }, BehindTimeout: -1}, 1, accept)
	f.expect(t, 1, 2, 10*time.Second)
	if used, _ := f.inUse(t); used != a {
		t.Fatalf("the puller follows %s, want A (the only endpoint of the config)", used.name)
	}
	a.add(t, cfgBlock)
	b.add(t, f.blocks[3:6]...)
	f.expect(t, 3, 5, 10*time.Second)
	if used, _ := f.inUse(t); used != b {
		t.Fatalf("the puller follows %s, want B (the endpoint of the new config)", used.name)
	}
	if got := b.seenStarts(); len(got) != 1 || got[0] != 4 {
		t.Errorf("orderer B was asked to start at %v, want [4]", got)
	}
	if !f.logs.has("switching orderer", "orderer", a.addr) {
		t.Errorf("no log says why the puller left %s:\n%s", a.addr, f.logs)
	}
}

func TestPullerRetriesWhileAllOrderersAreDown(t *testing.T) {
	f := newFailoverFixture(t, 2, 5, 3)
	eps := f.endpoints(t, f.orderers...)
	f.run(t, PullerConfig{Endpoints: func() []Endpoint { return eps }, MinBackoff: 5 * time.Millisecond, MaxBackoff: 80 * time.Millisecond}, 1, nil)
	f.expect(t, 1, 2, 10*time.Second)
	// Kill the idle orderer first, so the puller's only failures from here on
	// are its stream breaking, then connections refused.
	used, idle := f.inUse(t)
	mark := f.logs.mark()
	idle[0].kill()
	used.kill()
	// Wait for enough failed attempts to see the backoff grow to its cap.
	waits := f.logs.waitRetries(t, mark, 6)
	for i, w := range waits {
		want := min(5*time.Millisecond<<i, 80*time.Millisecond)
		if w != want {
			t.Fatalf("retry waits %v, want each double the previous from 5ms (reset by the stream that delivered), capped at 80ms", waits)
		}
	}
	back := f.orderers[1]
	back.add(t, f.blocks[3:5]...)
	back.start(t, f.d)
	f.expect(t, 3, 4, 10*time.Second)
	for _, addr := range []string{f.orderers[0].addr, f.orderers[1].addr} {
		if !f.logs.has("block pull interrupted, switching orderer", "orderer", addr) {
			t.Errorf("no retry log names orderer %s:\n%s", addr, f.logs)
		}
	}
}

func TestPullerAppliesAddressOverrides(t *testing.T) {
	f := newFailoverFixture(t, 1, 3, 3)
	real := f.endpoints(t, f.orderers[0])[0]
	cfgEps := []Endpoint{{Address: "orderer.unreachable.invalid:7050"}}
	f.run(t, PullerConfig{
		Endpoints:        func() []Endpoint { return cfgEps },
		AddressOverrides: map[string]Endpoint{"orderer.unreachable.invalid:7050": real},
	}, 1, nil)
	f.expect(t, 1, 2, 10*time.Second)
}

// configEnvelope is a CONFIG envelope of the devnet channel whose orderer
// organisation lists only addrs.
func configEnvelope(t *testing.T, d *devnet, addrs []string) *cb.Envelope {
	t.Helper()
	chdr := protos.NewChannelHeader(cb.HeaderType_CONFIG, testChannel, "")
	payload := &cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(chdr)},
		Data:   protos.Marshal(&cb.ConfigEnvelope{Config: withOrdererEndpoints(t, d, addrs)}),
	}
	return &cb.Envelope{Payload: protos.Marshal(payload)}
}

// withOrdererEndpoints is the devnet channel config with OrdererMSP's
// endpoints set to addrs.
func withOrdererEndpoints(t *testing.T, d *devnet, addrs []string) *cb.Config {
	t.Helper()
	cfg := proto.Clone(d.bundle.Config()).(*cb.Config)
	org := d.bundle.Orderer().Orgs["OrdererMSP"]
	if org == nil {
		t.Fatal("devnet config has no OrdererMSP organisation")
	}
	g := cfg.ChannelGroup.Groups[channelconfig.OrdererGroupKey].Groups[org.Name]
	g.Values[channelconfig.EndpointsKey] = &cb.ConfigValue{Value: protos.Marshal(&cb.OrdererAddresses{Addresses: addrs}), ModPolicy: "Admins"}
	return cfg
}

// recordedLogs is an slog.Handler that keeps every record for assertions.
type recordedLogs struct {
	attrs []slog.Attr
	sink  *logSink
}

type logSink struct {
	mu      sync.Mutex
	lines   []map[string]string
	changed chan struct{}
}

func newRecordedLogs() *recordedLogs {
	return &recordedLogs{sink: &logSink{changed: make(chan struct{})}}
}

func (l *recordedLogs) Enabled(context.Context, slog.Level) bool { return true }

func (l *recordedLogs) Handle(_ context.Context, r slog.Record) error {
	line := map[string]string{"msg": r.Message, "level": r.Level.String()}
	for _, a := range l.attrs {
		line[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		line[a.Key] = a.Value.String()
		return true
	})
	s := l.sink
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, line)
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func (l *recordedLogs) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordedLogs{attrs: append(append([]slog.Attr{}, l.attrs...), as...), sink: l.sink}
}

func (l *recordedLogs) WithGroup(string) slog.Handler { return l }

func (l *recordedLogs) String() string {
	l.sink.mu.Lock()
	defer l.sink.mu.Unlock()
	var b strings.Builder
	for _, line := range l.sink.lines {
		fmt.Fprintln(&b, line)
	}
	return b.String()
}

// has reports whether a record with message msg has key=value.
func (l *recordedLogs) has(msg, key, value string) bool {
	l.sink.mu.Lock()
	defer l.sink.mu.Unlock()
	for _, line := range l.sink.lines {
		if line["msg"] == msg && line[key] == value {
			return true
		}
	}
	return false
}

// mark returns the position of the next record.
func (l *recordedLogs) mark() int {
	l.sink.mu.Lock()
	defer l.sink.mu.Unlock()
	return len(l.sink.lines)
}

// waitRetries waits for n retry records logged from position from on and
// returns their waits.
func (l *recordedLogs) waitRetries(t *testing.T, from, n int) []time.Duration {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.sink.mu.Lock()
		var waits []time.Duration
		for _, line := range l.sink.lines[from:] {
			if line["msg"] == "block pull interrupted, switching orderer" {
				d, err := time.ParseDuration(line["retry_in"])
				if err != nil {
					t.Errorf("retry_in %q: %v", line["retry_in"], err)
				}
				waits = append(waits, d)
			}
		}
		ch := l.sink.changed
		l.sink.mu.Unlock()
		if len(waits) >= n {
			return waits[:n]
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("only %d retries within 10s:\n%s", len(waits), l)
		}
	}
}
