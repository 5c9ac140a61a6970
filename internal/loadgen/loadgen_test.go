package loadgen

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/protos"
)

type fakeSigner struct{}

func (fakeSigner) Sign([]byte) ([]byte, error) { return []byte("sig"), nil }
func (fakeSigner) Serialize() ([]byte, error)  { return []byte("creator"), nil }

// fakeNet endorses at once, has the orderer accept at once, and commits
// only what its committer goroutine cuts into blocks. It keeps its own count
// of transactions in flight (proposals received minus transactions committed
// or refused) to check the runner against.
type fakeNet struct {
	changed chan struct{} // a token whenever acked or failed grew
	blocks  chan *pb.FilteredBlock

	mu          sync.Mutex
	codes       map[string]pb.TxValidationCode // by txid, decided at endorsement
	acked       []string                       // accepted by the orderer, not yet committed
	endorsed    int
	committed   int
	failed      int
	maxInFlight int
	maxProcs    int // the most GOMAXPROCS seen during endorsements
}

func newFakeNet() *fakeNet {
	return &fakeNet{changed: make(chan struct{}, 1), blocks: make(chan *pb.FilteredBlock), codes: map[string]pb.TxValidationCode{}}
}

func (f *fakeNet) poke() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// Endorse refuses a proposal whose second argument is "fail"; one whose
// second argument is "conflict" will commit as MVCC_READ_CONFLICT.
func (f *fakeNet) Endorse(_ context.Context, sp *pb.SignedProposal) ([]*pb.ProposalResponse, error) {
	p, err := protos.ParseProposal(sp)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endorsed++
	f.maxProcs = max(f.maxProcs, runtime.GOMAXPROCS(0))
	f.maxInFlight = max(f.maxInFlight, f.endorsed-f.committed-f.failed)
	switch string(p.Args()[1]) {
	case "fail":
		f.failed++
		f.poke()
		return nil, errors.New("endorsement refused: 500 chaincode says no")
	case "conflict":
		f.codes[p.ChannelHeader.TxId] = pb.TxValidationCode_MVCC_READ_CONFLICT
	default:
		f.codes[p.ChannelHeader.TxId] = pb.TxValidationCode_VALID
	}
	ok := &pb.ProposalResponse{Response: &pb.Response{Status: 200}, Payload: []byte("result"), Endorsement: &pb.Endorsement{}}
	return []*pb.ProposalResponse{ok, ok}, nil
}

func (f *fakeNet) Broadcast(context.Context) (broadcastStream, error) {
	return &fakeStream{f: f}, nil
}

func (f *fakeNet) Commits(ctx context.Context) (func() (*pb.FilteredBlock, error), error) {
	return func() (*pb.FilteredBlock, error) {
		select {
		case b := <-f.blocks:
			return b, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}, nil
}

// commitWhen cuts a block of every accepted transaction whenever at least
// batch(remaining) of them are waiting, remaining being the transactions of
// the run neither committed nor refused; it returns when none remain.
func (f *fakeNet) commitWhen(ctx context.Context, txs int, batch func(remaining int) int) {
	for {
		f.mu.Lock()
		remaining := txs - f.committed - f.failed
		var b *pb.FilteredBlock
		if remaining > 0 && len(f.acked) >= batch(remaining) {
			b = &pb.FilteredBlock{}
			for _, id := range f.acked {
				b.FilteredTransactions = append(b.FilteredTransactions, &pb.FilteredTransaction{Txid: id, TxValidationCode: f.codes[id]})
			}
			f.committed += len(f.acked)
			f.acked = nil
		}
		f.mu.Unlock()
		if remaining == 0 {
			return
		}
		if b != nil {
			select {
			case f.blocks <- b:
			case <-ctx.Done():
				return
			}
			continue
		}
		select {
		case <-f.changed:
		case <-ctx.Done():
			return
		}
	}
}

type fakeStream struct {
	f    *fakeNet
	sent bool
}

func (s *fakeStream) Send(env *cb.Envelope) error {
	parsed, err := protos.ParseEnvelope(env)
	if err != nil {
		return err
	}
	s.f.mu.Lock()
	s.f.acked = append(s.f.acked, parsed.ChannelHeader.TxId)
	s.f.mu.Unlock()
	s.f.poke()
	s.sent = true
	return nil
}

func (s *fakeStream) Recv() (*ab.BroadcastResponse, error) {
	if !s.sent {
		return nil, errors.New("fake stream: Recv before Send")
	}
	s.sent = false
	return &ab.BroadcastResponse{Status: cb.Status_SUCCESS}, nil
}

func (s *fakeStream) CloseSend() error { return nil }

// runFake runs cfg against f while f's committer runs with batch.
func runFake(t *testing.T, cfg Config, f *fakeNet, batch func(remaining int) int) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	committer := make(chan struct{})
	go func() {
		defer close(committer)
		f.commitWhen(ctx, cfg.Txs, batch)
	}()
	cfg.Signer, cfg.Channel, cfg.Chaincode = fakeSigner{}, "mychannel", "basic"
	res, err := run(ctx, cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-committer
	return res
}

// A closed loop keeps exactly Concurrency transactions in flight, where in
// flight lasts until the commit is seen: the orderer's acceptance does not
// free a slot. The fake commits only once Concurrency transactions are
// waiting, so a runner that freed slots on acceptance would exceed the bound.
func TestClosedLoopCountsInFlightUntilCommit(t *testing.T) {
	const conc, txs = 4, 30
	f := newFakeNet()
	res := runFake(t, Config{Txs: txs, Concurrency: conc}, f, func(remaining int) int { return min(conc, remaining) })
	if f.maxInFlight != conc || res.MaxInFlight != conc {
		t.Fatalf("most in flight: network saw %d, runner counted %d; want exactly %d", f.maxInFlight, res.MaxInFlight, conc)
	}
	if res.Valid != txs || res.Submitted != txs || res.Invalid != 0 || res.Failed != 0 {
		t.Fatalf("result %+v; want %d valid and submitted", res, txs)
	}
	if len(res.Latencies) != txs || res.Blocks != (txs+conc-1)/conc || res.Limit != conc {
		t.Fatalf("%d latencies, %d blocks, limit %d; want %d, %d, %d", len(res.Latencies), res.Blocks, res.Limit, txs, (txs+conc-1)/conc, conc)
	}
	if res.Elapsed <= 0 || res.TPS() <= 0 {
		t.Fatalf("elapsed %s, %f tx/s", res.Elapsed, res.TPS())
	}
}

// Refused and invalidated transactions leave flight too, are counted by
// what happened to them, and the run still ends.
func TestOutcomesByCode(t *testing.T) {
	const conc, txs = 3, 20
	f := newFakeNet()
	args := func(i int) [][]byte {
		kind := "ok"
		switch i % 5 {
		case 1:
			kind = "conflict"
		case 3:
			kind = "fail"
		}
		return [][]byte{[]byte("Fn"), []byte(kind), fmt.Appendf(nil, "%d", i)}
	}
	// Commit whatever has been accepted once the run has nothing else in
	// flight to wait for.
	batch := func(remaining int) int { return 1 }
	res := runFake(t, Config{Txs: txs, Concurrency: conc, Args: args}, f, batch)
	if res.Failed != 4 || res.Submitted != 16 || res.Valid != 12 || res.Invalid != 4 {
		t.Fatalf("failed %d submitted %d valid %d invalid %d; want 4, 16, 12, 4", res.Failed, res.Submitted, res.Valid, res.Invalid)
	}
	if res.ByCode[pb.TxValidationCode_MVCC_READ_CONFLICT] != 4 || res.ByCode[pb.TxValidationCode_VALID] != 12 || len(res.ByCode) != 2 {
		t.Fatalf("by code %v; want 12 VALID and 4 MVCC_READ_CONFLICT", res.ByCode)
	}
	if len(res.Latencies) != 16 {
		t.Fatalf("%d latencies, want one per committed transaction (16)", len(res.Latencies))
	}
	if len(res.Errors) == 0 {
		t.Fatal("no error recorded for the refused endorsements")
	}
	if f.maxInFlight > conc {
		t.Fatalf("network saw %d in flight, above the bound %d", f.maxInFlight, conc)
	}
}

// An open loop sends at the offered rate without waiting for commits: the
// fake commits nothing until every transaction has been accepted.
func TestOpenLoopDoesNotWaitForCommits(t *testing.T) {
	const txs = 40
	f := newFakeNet()
	res := runFake(t, Config{Txs: txs, Rate: 2000}, f, func(remaining int) int { return remaining })
	if res.Valid != txs || res.MaxInFlight != txs || res.CapWaits != 0 || res.Limit != DefaultCap(2000) {
		t.Fatalf("valid %d, most in flight %d, cap waits %d, limit %d; want %d, %d, 0, %d", res.Valid, res.MaxInFlight, res.CapWaits, res.Limit, txs, txs, DefaultCap(2000))
	}
	if res.Blocks != 1 {
		t.Fatalf("%d blocks, want 1", res.Blocks)
	}
}

// With the in-flight cap reached, an open loop waits and says how often.
func TestOpenLoopCapIsReported(t *testing.T) {
	const conc, txs = 5, 30
	f := newFakeNet()
	res := runFake(t, Config{Txs: txs, Rate: 5000, Concurrency: conc}, f, func(remaining int) int { return min(conc, remaining) })
	if res.Valid != txs || f.maxInFlight != conc || res.MaxInFlight != conc {
		t.Fatalf("valid %d, most in flight %d (network) %d (runner); want %d, %d", res.Valid, f.maxInFlight, res.MaxInFlight, txs, conc)
	}
	if res.CapWaits == 0 {
		t.Fatal("no cap waits reported although the cap held the offered load back")
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {90, 90 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("p%g = %s, want %s", c.p, got, c.want)
		}
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("Percentile sorted its input in place")
	}
	if got := Percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one value = %s", got)
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %s", got)
	}
}

// The load runs on one P (fewer thread wake-ups per message), and the
// caller's GOMAXPROCS is back once Run returns; a GOMAXPROCS the user set in
// the environment is left alone.
func TestRunUsesOneP(t *testing.T) {
	prev := runtime.GOMAXPROCS(3)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	t.Setenv("GOMAXPROCS", "")
	f := newFakeNet()
	runFake(t, Config{Txs: 10, Concurrency: 2}, f, func(remaining int) int { return min(2, remaining) })
	if f.maxProcs != 1 || runtime.GOMAXPROCS(0) != 3 {
		t.Fatalf("GOMAXPROCS %d during the run and %d after; want 1, then 3 again", f.maxProcs, runtime.GOMAXPROCS(0))
	}
	t.Setenv("GOMAXPROCS", "3")
	f = newFakeNet()
	runFake(t, Config{Txs: 10, Concurrency: 2}, f, func(remaining int) int { return min(2, remaining) })
	if f.maxProcs != 3 {
		t.Fatalf("GOMAXPROCS %d during a run with GOMAXPROCS=3 in the environment, want 3", f.maxProcs)
	}
}
