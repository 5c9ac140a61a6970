package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/protos"
)

// Config describes one load run.
type Config struct {
	Signer      protos.Signer
	Endorsers   []client.Endpoint // one peer per organisation the policy needs
	Orderer     client.Endpoint
	Channel     string
	Chaincode   string
	Txs         int           // transactions to commit (bounded)
	Concurrency int           // transactions in flight at most
	Rate        float64       // offered transactions per second; 0 = as fast as possible
	Timeout     time.Duration // the whole run stops after this
	// Args returns the arguments of transaction i; the default is
	// CreateAsset with a key unique to this run.
	Args func(i int) [][]byte
}

// Result is what a run measured.
type Result struct {
	Submitted, Valid, Invalid int
	Elapsed                   time.Duration // first proposal sent → last commit seen
	Latencies                 []time.Duration
	Errors                    []string // first few errors, if any
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
	if len(r.Latencies) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), r.Latencies...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	idx := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(idx, len(s)-1))]
}

type txState struct {
	sp    *pb.SignedProposal
	id    string
	start atomic.Int64 // unix nanoseconds when the proposal was handed to a worker
	done  atomic.Bool
}

// Run executes the load and returns its measurements.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Txs <= 0 || cfg.Concurrency <= 0 {
		return nil, errors.New("loadgen: Txs and Concurrency must be positive")
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
		txs[i] = &txState{sp: sp, id: id}
		byID[id] = txs[i]
	}

	var conns []*grpc.ClientConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func(e client.Endpoint) (*grpc.ClientConn, error) {
		c, err := client.Dial(e)
		if err == nil {
			conns = append(conns, c)
		}
		return c, err
	}
	var endorsers []pb.EndorserClient
	var firstPeer *grpc.ClientConn
	for _, e := range cfg.Endorsers {
		c, err := dial(e)
		if err != nil {
			return nil, err
		}
		if firstPeer == nil {
			firstPeer = c
		}
		endorsers = append(endorsers, pb.NewEndorserClient(c))
	}
	ordererConn, err := dial(cfg.Orderer)
	if err != nil {
		return nil, err
	}

	// Watch commits on the first peer from the newest block on.
	res := &Result{}
	var mu sync.Mutex // guards res
	note := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if len(res.Errors) < 5 {
			res.Errors = append(res.Errors, err.Error())
		}
	}
	stream, err := pb.NewDeliverClient(firstPeer).DeliverFiltered(ctx)
	if err != nil {
		return nil, fmt.Errorf("open DeliverFiltered: %w", err)
	}
	seek, err := client.SeekEnvelope(cfg.Signer, cfg.Channel, client.SeekNewest(), math.MaxUint64)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(seek); err != nil {
		return nil, err
	}
	var seen atomic.Int64
	allSeen := make(chan struct{})
	var lastCommit time.Time
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			fb := resp.GetFilteredBlock()
			if fb == nil {
				continue
			}
			now := time.Now()
			for _, ftx := range fb.FilteredTransactions {
				t, ok := byID[ftx.Txid]
				if !ok || !t.done.CompareAndSwap(false, true) {
					continue
				}
				mu.Lock()
				if ftx.TxValidationCode == pb.TxValidationCode_VALID {
					res.Valid++
					res.Latencies = append(res.Latencies, now.Sub(time.Unix(0, t.start.Load())))
				} else {
					res.Invalid++
				}
				lastCommit = now
				mu.Unlock()
				if seen.Add(1) == int64(cfg.Txs) {
					close(allSeen)
					return
				}
			}
		}
	}()

	// Drive: bounded workers, each with its own broadcast stream.
	next := make(chan *txState)
	var wg sync.WaitGroup
	var submitted atomic.Int64
	begin := time.Now()
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bc, err := ab.NewAtomicBroadcastClient(ordererConn).Broadcast(ctx)
			if err != nil {
				note(err)
				return
			}
			defer bc.CloseSend()
			for t := range next {
				if err := submit(ctx, cfg.Signer, t, endorsers, bc); err != nil {
					note(err)
					if t.done.CompareAndSwap(false, true) && seen.Add(1) == int64(cfg.Txs) {
						close(allSeen)
					}
					continue
				}
				submitted.Add(1)
			}
		}()
	}
	var tick <-chan time.Time
	if cfg.Rate > 0 {
		tk := time.NewTicker(time.Duration(float64(time.Second) / cfg.Rate))
		defer tk.Stop()
		tick = tk.C
	}
feed:
	for _, t := range txs {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case next <- t:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case <-allSeen:
	case <-ctx.Done():
		note(fmt.Errorf("run stopped after %s with %d of %d transactions seen committed", cfg.Timeout, seen.Load(), cfg.Txs))
	}
	mu.Lock()
	defer mu.Unlock()
	res.Submitted = int(submitted.Load())
	res.Elapsed = lastCommit.Sub(begin)
	return res, nil
}

func submit(ctx context.Context, signer protos.Signer, t *txState, endorsers []pb.EndorserClient, bc ab.AtomicBroadcast_BroadcastClient) error {
	// The latency clock starts when the proposal is sent, not while the
	// transaction waits for a free worker.
	t.start.Store(time.Now().UnixNano())
	responses := make([]*pb.ProposalResponse, len(endorsers))
	errs := make([]error, len(endorsers))
	var wg sync.WaitGroup
	for i, e := range endorsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.ProcessProposal(ctx, t.sp)
			if err == nil && r.GetResponse().GetStatus() >= 400 {
				err = fmt.Errorf("endorsement refused: %d %s", r.GetResponse().GetStatus(), r.GetResponse().GetMessage())
			}
			responses[i], errs[i] = r, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	prop, err := protos.ParseProposal(t.sp)
	if err != nil {
		return err
	}
	payload, err := protos.NewTransaction(prop, responses)
	if err != nil {
		return err
	}
	env, err := protos.SignEnvelope(payload, signer)
	if err != nil {
		return err
	}
	if err := bc.Send(env); err != nil {
		return err
	}
	resp, err := bc.Recv()
	if err != nil {
		return err
	}
	if resp.Status != cb.Status_SUCCESS {
		return fmt.Errorf("orderer: %s %s", resp.Status, resp.Info)
	}
	return nil
}
