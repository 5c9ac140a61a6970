package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/protos"
)

// Config describes one load run.
type Config struct {
	Signer    protos.Signer
	Endorsers []client.Endpoint // one peer per organisation the policy needs
	Orderer   client.Endpoint
	Channel   string
	Chaincode string
	Txs       int // transactions to send (bounded)
	// Concurrency bounds the transactions in flight: a transaction is in
	// flight from the moment its proposal is sent until its commit is seen
	// (or it fails). Without Rate the run is a closed loop that keeps
	// Concurrency transactions in flight. With Rate it is only a safety cap
	// (0: ten seconds of the offered load, DefaultCap).
	Concurrency int
	// Rate, when positive, makes the run an open loop: proposal i starts at
	// i/Rate seconds after the first, whether or not earlier transactions
	// have committed (unless the in-flight cap is reached, which Result
	// reports).
	Rate    float64
	Timeout time.Duration // the whole run stops after this
	// Args returns the arguments of transaction i; the default is
	// CreateAsset with a key unique to this run. It is called once per
	// transaction, in order, before the clock starts.
	Args func(i int) [][]byte
}

// DefaultCap is the in-flight cap of an open-loop run at rate transactions
// per second when Config.Concurrency is 0: ten seconds of offered load.
func DefaultCap(rate float64) int {
	return max(1, int(math.Ceil(10*rate)))
}

// limit is the most transactions a run keeps in flight.
func (c Config) limit() int {
	if c.Rate > 0 && c.Concurrency <= 0 {
		return DefaultCap(c.Rate)
	}
	return c.Concurrency
}

// Result is what a run measured.
type Result struct {
	// Submitted transactions were accepted by the orderer; Failed ones were
	// refused by an endorser or the orderer, or could not be sent.
	Submitted, Failed int
	// Valid and Invalid transactions were seen committed; ByCode counts
	// them by validation code (VALID included).
	Valid, Invalid int
	ByCode         map[pb.TxValidationCode]int
	// Blocks is the number of committed blocks that held at least one of
	// the run's transactions.
	Blocks  int
	Elapsed time.Duration // first proposal sent → last commit seen
	// Latencies are proposal sent → commit seen, of every transaction seen
	// committed (valid or not: the client learns its outcome then).
	Latencies []time.Duration
	// Limit is the in-flight bound the run used, MaxInFlight the most
	// transactions it had in flight at once.
	Limit, MaxInFlight int
	// CapWaits counts the proposals of an open-loop run that had to wait
	// for a free in-flight slot, i.e. started later than the rate asked.
	CapWaits int
	Errors   []string // first few errors, if any
}

// TPS is committed valid transactions per second.
func (r *Result) TPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Valid) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile latency (0 < p <= 100).
func (r *Result) Percentile(p float64) time.Duration {
	return Percentile(r.Latencies, p)
}

// Percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method: the smallest value at least p% of ds are at or below.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	idx := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(idx, len(s)-1))]
}

// TxsPerBlock is the mean number of the run's transactions per committed
// block that held any.
func (r *Result) TxsPerBlock() float64 {
	if r.Blocks == 0 {
		return 0
	}
	return float64(r.Valid+r.Invalid) / float64(r.Blocks)
}

// network is what a run talks to: Fabric's gRPC services in Run, fakes in
// the tests.
type network interface {
	// Endorse collects one endorsement per endorsing organisation.
	Endorse(ctx context.Context, sp *pb.SignedProposal) ([]*pb.ProposalResponse, error)
	// Broadcast opens one Broadcast stream.
	Broadcast(ctx context.Context) (broadcastStream, error)
	// Commits opens the stream of committed blocks from the newest on.
	Commits(ctx context.Context) (func() (*pb.FilteredBlock, error), error)
}

// broadcastStream is the client side of AtomicBroadcast/Broadcast.
type broadcastStream interface {
	Send(*cb.Envelope) error
	Recv() (*ab.BroadcastResponse, error)
	CloseSend() error
}

// maxStreams bounds the Broadcast streams of a run. Each carries one
// envelope at a time (send, then wait for the orderer's answer), so this is
// also the most envelopes the run has at the orderer at once.
const maxStreams = 128

type txState struct {
	sp *pb.SignedProposal
	// prop is sp decoded, kept from when it was made, as a client SDK keeps
	// the proposal it built to assemble the transaction.
	prop  *protos.Proposal
	id    string
	start time.Time // when the proposal was sent; set before any goroutine sees the tx
	done  atomic.Bool
}

// Run executes the load against the network cfg names and returns its
// measurements.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	n, err := dialNetwork(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer n.close()
	return run(ctx, cfg, n)
}

func run(ctx context.Context, cfg Config, nw network) (*Result, error) {
	if cfg.Txs <= 0 || (cfg.Rate <= 0 && cfg.Concurrency <= 0) {
		return nil, errors.New("loadgen: Txs must be positive, and Concurrency too unless Rate is given")
	}
	// The load generator needs a fraction of one core even at saturation
	// (its signatures are made before the clock starts), but with a P per
	// core the Go runtime wakes a second thread for nearly every goroutine
	// it readies, and at low load every transaction's few messages each pay
	// for that. One P runs the same work with fewer thread wake-ups, which
	// leaves more of the machine to the nodes being measured. A GOMAXPROCS
	// set in the environment is the user's choice and is kept.
	if os.Getenv("GOMAXPROCS") == "" {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.Args == nil {
		run := time.Now().UnixNano()
		cfg.Args = func(i int) [][]byte {
			return [][]byte{[]byte("CreateAsset"), fmt.Appendf(nil, "bench-%d-%d", run, i), []byte("blue"), []byte("5"), []byte("bench"), []byte("100")}
		}
	}
	limit := cfg.limit()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	// Prepare: sign every proposal before the clock starts.
	txs := make([]*txState, cfg.Txs)
	byID := make(map[string]*txState, cfg.Txs)
	for i := range txs {
		sp, id, err := protos.NewProposal(cfg.Signer, cfg.Channel, cfg.Chaincode, cfg.Args(i), nil)
		if err != nil {
			return nil, err
		}
		prop, err := protos.ParseProposal(sp)
		if err != nil {
			return nil, err
		}
		txs[i] = &txState{sp: sp, prop: prop, id: id}
		byID[id] = txs[i]
	}

	r := &runner{cfg: cfg, nw: nw, res: &Result{ByCode: map[pb.TxValidationCode]int{}, Limit: limit},
		slots: make(chan struct{}, limit), allSeen: make(chan struct{})}

	// Watch commits before the first proposal goes out, so none is missed.
	recv, err := nw.Commits(ctx)
	if err != nil {
		return nil, fmt.Errorf("open the commit stream: %w", err)
	}
	streams := make(chan broadcastStream, min(limit, maxStreams))
	for range cap(streams) {
		s, err := nw.Broadcast(ctx)
		if err != nil {
			return nil, fmt.Errorf("open a Broadcast stream to the orderer: %w", err)
		}
		streams <- s
	}
	defer func() {
		for range cap(streams) {
			if s := <-streams; s != nil {
				s.CloseSend()
			}
		}
	}()
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		r.watch(recv, byID)
	}()

	var senders sync.WaitGroup
	begin := time.Now()
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
feed:
	for i, t := range txs {
		if interval > 0 {
			// Open loop: transaction i is due at begin + i×interval. A
			// late start (a slow scheduler) is made up at once, so the
			// offered rate holds on average.
			if wait := time.Until(begin.Add(time.Duration(i) * interval)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					break feed
				}
			}
		}
		select {
		case r.slots <- struct{}{}:
		default:
			if interval > 0 {
				r.mu.Lock()
				r.res.CapWaits++
				r.mu.Unlock()
			}
			select {
			case r.slots <- struct{}{}:
			case <-ctx.Done():
				break feed
			}
		}
		r.mu.Lock()
		r.inFlight++
		r.res.MaxInFlight = max(r.res.MaxInFlight, r.inFlight)
		r.mu.Unlock()
		t.start = time.Now()
		senders.Add(1)
		go func() {
			defer senders.Done()
			if err := r.send(ctx, t, streams); err != nil {
				r.note(err)
				r.finish(t, func(res *Result) { res.Failed++ })
				return
			}
			r.mu.Lock()
			r.res.Submitted++
			r.mu.Unlock()
		}()
	}
	select {
	case <-r.allSeen:
	case <-ctx.Done():
		r.note(fmt.Errorf("run stopped after %s with %d of %d transactions seen committed or failed", cfg.Timeout, r.seen.Load(), cfg.Txs))
	}
	cancel()
	senders.Wait()
	watch.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.lastCommit.IsZero() {
		r.res.Elapsed = r.lastCommit.Sub(begin)
	}
	return r.res, nil
}

// runner is the shared state of one run.
type runner struct {
	cfg     Config
	nw      network
	slots   chan struct{} // one token per transaction in flight
	seen    atomic.Int64  // transactions finished: committed or failed
	allSeen chan struct{} // closed when every transaction finished

	mu         sync.Mutex // guards the fields below
	res        *Result
	inFlight   int
	lastCommit time.Time
}

func (r *runner) note(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.res.Errors) < 5 {
		r.res.Errors = append(r.res.Errors, err.Error())
	}
}

// finish ends t's time in flight once (its commit seen, or its failure),
// recording what count says under the lock.
func (r *runner) finish(t *txState, count func(*Result)) {
	if !t.done.CompareAndSwap(false, true) {
		return
	}
	r.mu.Lock()
	count(r.res)
	r.inFlight--
	r.mu.Unlock()
	<-r.slots
	if r.seen.Add(1) == int64(r.cfg.Txs) {
		close(r.allSeen)
	}
}

// watch reads committed blocks and finishes the run's transactions in them.
func (r *runner) watch(recv func() (*pb.FilteredBlock, error), byID map[string]*txState) {
	for {
		fb, err := recv()
		if err != nil {
			return
		}
		now := time.Now()
		ours := false
		for _, ftx := range fb.FilteredTransactions {
			t, ok := byID[ftx.Txid]
			if !ok {
				continue
			}
			code := ftx.TxValidationCode
			r.finish(t, func(res *Result) {
				ours = true
				res.ByCode[code]++
				if code == pb.TxValidationCode_VALID {
					res.Valid++
				} else {
					res.Invalid++
				}
				res.Latencies = append(res.Latencies, now.Sub(t.start))
				r.lastCommit = now
			})
		}
		if ours {
			r.mu.Lock()
			r.res.Blocks++
			r.mu.Unlock()
		}
	}
}

// send endorses t, assembles and signs its transaction and hands it to the
// orderer on a free Broadcast stream.
func (r *runner) send(ctx context.Context, t *txState, streams chan broadcastStream) error {
	responses, err := r.nw.Endorse(ctx, t.sp)
	if err != nil {
		return fmt.Errorf("transaction %s: %w", t.id, err)
	}
	payload, err := protos.NewTransaction(t.prop, responses)
	if err != nil {
		// Under contention two peers may read different versions of a key
		// and answer differently; a client cannot submit that.
		return fmt.Errorf("transaction %s: cannot assemble the endorsements (on hot keys the peers may have read different versions): %w", t.id, err)
	}
	env, err := protos.SignEnvelope(payload, r.cfg.Signer)
	if err != nil {
		return err
	}
	var s broadcastStream
	select {
	case s = <-streams:
	case <-ctx.Done():
		return ctx.Err()
	}
	err = broadcastOne(s, env)
	if err != nil && ctx.Err() == nil {
		// The stream is broken: replace it for the transactions after this one.
		s.CloseSend()
		if fresh, ferr := r.nw.Broadcast(ctx); ferr == nil {
			s = fresh
		}
	}
	streams <- s
	if err != nil {
		return fmt.Errorf("transaction %s: orderer: %w", t.id, err)
	}
	return nil
}

func broadcastOne(s broadcastStream, env *cb.Envelope) error {
	if err := s.Send(env); err != nil {
		return err
	}
	resp, err := s.Recv()
	if err != nil {
		return err
	}
	if resp.Status != cb.Status_SUCCESS {
		return fmt.Errorf("%s %s", resp.Status, resp.Info)
	}
	return nil
}
