package bench

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/validator"
	"github.com/weft-ledger/weft/protos"
)

const (
	blockSize = 500 // transactions per block, the sample orderer's MaxMessageCount
	// buildChunk bounds the blocks built ahead (about 1.5 MB each).
	buildChunk = 8
	// verifiesPerTx: the creator's signature on the envelope and the two
	// endorsements. The orderer's block signature (one per block) is left out.
	verifiesPerTx = 3
)

// cpuClock adds up the process CPU time (user + system, all threads) spent
// while the benchmark timer runs, so CPU per transaction can be reported next
// to wall-clock rates.
type cpuClock struct {
	total time.Duration
	start time.Duration
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (c *cpuClock) resume() { c.start = processCPU() }
func (c *cpuClock) pause()  { c.total += processCPU() - c.start }

// pause stops the benchmark timer and the CPU clock; resume restarts both,
// after collecting the garbage of whatever ran in between so that it is not
// charged to the measured code.
func pause(b *testing.B, c *cpuClock) {
	b.StopTimer()
	c.pause()
}

func resume(b *testing.B, c *cpuClock) {
	runtime.GC()
	c.resume()
	b.StartTimer()
}

// blockFeed hands out freshly built blocks, building them buildChunk at a
// time with the timer stopped.
type blockFeed struct {
	n        *network
	perBlock int // transactions per block
	pending  []*cb.Block
	prepare  func(*cb.Block) error // run on each block while the timer is stopped; may be nil
}

func (f *blockFeed) next(b *testing.B, c *cpuClock, remaining int) *cb.Block {
	if len(f.pending) == 0 {
		pause(b, c)
		// About the same number of transactions per build whatever the
		// block size, so that small blocks are not charged more pauses.
		chunk := max(1, buildChunk*blockSize/f.perBlock)
		blocks, err := f.n.buildBlocks(min(chunk, remaining), f.perBlock)
		if err != nil {
			b.Fatal(err)
		}
		for _, blk := range blocks {
			if f.prepare != nil {
				if err := f.prepare(blk); err != nil {
					b.Fatal(err)
				}
			}
		}
		f.pending = blocks
		resume(b, c)
	}
	blk := f.pending[0]
	f.pending = f.pending[1:]
	return blk
}

// setUp builds the network before the clock starts.
func setUp(b *testing.B) (*network, *verifyProbe) {
	b.Helper()
	n := newNetwork(b)
	return n, &verifyProbe{s: newSigned(b)}
}

// verifyProbe measures the ECDSA verify cost just before and just after the
// measured loop, so the bound reflects the machine's state while the
// benchmark ran.
type verifyProbe struct {
	s       *signed
	samples []verifyCost
}

func (p *verifyProbe) measure(b *testing.B) {
	b.Helper()
	v, err := measureVerify(p.s)
	if err != nil {
		b.Fatal(err)
	}
	p.samples = append(p.samples, v)
}

func (p *verifyProbe) mean() verifyCost {
	var sum verifyCost
	for _, v := range p.samples {
		sum.wall += v.wall
		sum.cpu += v.cpu
	}
	k := time.Duration(len(p.samples))
	return verifyCost{wall: sum.wall / k, cpu: sum.cpu / k}
}

// report adds the rates of b's measured time, one block of perBlock
// transactions per iteration:
//
//	tx/s, tx/s/core            VALID transactions handled per wall second, and per GOMAXPROCS
//	verify_bound_tx/s          GOMAXPROCS / (3 × one verify, wall clock)
//	fraction_of_bound          tx/s ÷ verify_bound_tx/s
//	cpu_us/tx                  process CPU (user+system) per transaction while the timer ran
//	cpu_fraction_of_bound      3 × one verify (CPU) ÷ cpu_us/tx: the share of CPU spent on the
//	                           three signature checks; steadier than the wall figures on a busy machine
//	cores_used                 process CPU ÷ wall time while the timer ran
//	ecdsa_verify_ns            one verify, wall clock (cpu: ecdsa_verify_cpu_ns)
//
// With a zero verify (a benchmark that checks no signature) only the rates,
// CPU and cores are reported.
func report(b *testing.B, c *cpuClock, verify verifyCost, perBlock int) {
	b.Helper()
	elapsed := b.Elapsed()
	if elapsed <= 0 || b.N == 0 {
		return
	}
	txs := float64(b.N * perBlock)
	procs := float64(runtime.GOMAXPROCS(0))
	tps := txs / elapsed.Seconds()
	cpuPerTx := c.total.Seconds() / txs
	b.ReportMetric(tps, "tx/s")
	b.ReportMetric(tps/procs, "tx/s/core")
	b.ReportMetric(cpuPerTx*1e6, "cpu_us/tx")
	b.ReportMetric(c.total.Seconds()/elapsed.Seconds(), "cores_used")
	if verify.wall <= 0 || verify.cpu <= 0 || cpuPerTx <= 0 {
		return
	}
	bound := procs / (verifiesPerTx * verify.wall.Seconds())
	b.ReportMetric(bound, "verify_bound_tx/s")
	b.ReportMetric(tps/bound, "fraction_of_bound")
	b.ReportMetric(verifiesPerTx*verify.cpu.Seconds()/cpuPerTx, "cpu_fraction_of_bound")
	b.ReportMetric(float64(verify.wall.Nanoseconds()), "ecdsa_verify_ns")
	b.ReportMetric(float64(verify.cpu.Nanoseconds()), "ecdsa_verify_cpu_ns")
}

func requireAllValid(b *testing.B, blk *cb.Block, vs []validator.Verdict) {
	for i, vd := range vs {
		if vd.Code != pb.TxValidationCode_VALID {
			b.Fatalf("block %d tx %d (%s): %s: %s", blk.Header.Number, i, vd.TxID, vd.Code, vd.Reason)
		}
	}
}

// BenchmarkCommitBlock500 is the committing peer's whole path for one block:
// orderer signature and hash chain, per-transaction validation (creator and
// endorsement signatures, endorsement policy from the committed definition,
// TxID), then the ledger's MVCC, block append and state update.
func BenchmarkCommitBlock500(b *testing.B) {
	n, verify := setUp(b)
	commitBlocks(b, n, verify, blockSize)
}

// BenchmarkCommitBlock10 is BenchmarkCommitBlock500 with blocks of 10
// transactions (Fabric's test-network BatchSize): against it, cpu_us/tx shows
// what the per-block work costs.
func BenchmarkCommitBlock10(b *testing.B) {
	n, verify := setUp(b)
	commitBlocks(b, n, verify, 10)
}

// commitBlocks is BenchmarkCommitBlock500's loop, on any network, with
// blocks of perBlock transactions.
func commitBlocks(b *testing.B, n *network, verify *verifyProbe, perBlock int) {
	feed := &blockFeed{n: n, perBlock: perBlock}
	c := &cpuClock{}
	b.ReportAllocs()
	verify.measure(b)
	runtime.GC()
	b.ResetTimer()
	c.resume()
	for i := range b.N {
		blk := feed.next(b, c, b.N-i)
		vs, err := n.validate(blk)
		if err != nil {
			b.Fatal(err)
		}
		requireAllValid(b, blk, vs)
		if err := n.commit(blk, nil); err != nil {
			b.Fatal(err)
		}
		if err := allValid(blk); err != nil {
			b.Fatal(err)
		}
	}
	pause(b, c)
	verify.measure(b)
	report(b, c, verify.mean(), perBlock)
}

// BenchmarkValidateOnly is VerifyBlock and Validate of the same next block,
// which is never committed (so its TxIDs stay new and every run does the
// same work).
func BenchmarkValidateOnly(b *testing.B) {
	n, verify := setUp(b)
	blocks, err := n.buildBlocks(1, blockSize)
	if err != nil {
		b.Fatal(err)
	}
	blk := blocks[0]
	c := &cpuClock{}
	b.ReportAllocs()
	verify.measure(b)
	runtime.GC()
	b.ResetTimer()
	c.resume()
	for range b.N {
		vs, err := n.validate(blk)
		if err != nil {
			b.Fatal(err)
		}
		requireAllValid(b, blk, vs)
	}
	pause(b, c)
	verify.measure(b)
	report(b, c, verify.mean(), blockSize)
}

// BenchmarkLedgerCommitOnly is ledger.Commit alone (MVCC, append, state
// update) of blocks whose flags the validator computed beforehand.
func BenchmarkLedgerCommitOnly(b *testing.B) {
	ledgerCommitBlocks(b, newNetwork(b), blockSize)
}

// BenchmarkLedgerCommitOnly10 is BenchmarkLedgerCommitOnly with blocks of
// 10 transactions.
func BenchmarkLedgerCommitOnly10(b *testing.B) {
	ledgerCommitBlocks(b, newNetwork(b), 10)
}

// ledgerCommitBlocks is BenchmarkLedgerCommitOnly's loop, on any network,
// with blocks of perBlock transactions.
func ledgerCommitBlocks(b *testing.B, n *network, perBlock int) {
	feed := &blockFeed{n: n, perBlock: perBlock, prepare: func(blk *cb.Block) error {
		// The blocks ahead of the ledger are not chained to it yet, so only
		// the per-transaction verdicts are computed here; they do not depend
		// on the earlier blocks, whose keys are all distinct.
		vs, err := n.validator.Validate(blk, n.bundle, n.ledger.State(), n.ledger.Blocks().TxExists)
		if err != nil {
			return err
		}
		flags := make([]byte, len(vs))
		for i, vd := range vs {
			if vd.Code != pb.TxValidationCode_VALID {
				return fmt.Errorf("block %d tx %d: %s: %s", blk.Header.Number, i, vd.Code, vd.Reason)
			}
			flags[i] = byte(vd.Code)
		}
		protos.SetTxFilter(blk, flags)
		return nil
	}}
	c := &cpuClock{}
	b.ReportAllocs()
	runtime.GC()
	b.ResetTimer()
	c.resume()
	for i := range b.N {
		blk := feed.next(b, c, b.N-i)
		if err := n.commit(blk, nil); err != nil {
			b.Fatal(err)
		}
		if err := allValid(blk); err != nil {
			b.Fatal(err)
		}
	}
	pause(b, c)
	report(b, c, verifyCost{}, perBlock) // no signature is checked here
}

// TestCommitPathFixture checks the material the benchmarks measure: a block
// of 10 CreateAsset transactions passes VerifyBlock, comes out VALID and
// lands in the world state; and the same path does reject a transaction
// endorsed by one organisation only and a block not signed by the orderer,
// so VALID means something.
func TestCommitPathFixture(t *testing.T) {
	n := newNetwork(t)
	height := n.ledger.Blocks().Height() // genesis, approvals, definition
	if height != 3 {
		t.Fatalf("height after deploy = %d, want 3", height)
	}
	blocks, err := n.buildBlocks(1, 10)
	if err != nil {
		t.Fatal(err)
	}
	blk := blocks[0]
	if err := n.commitAllValid(blk, nil); err != nil {
		t.Fatal(err)
	}
	if got := n.ledger.Blocks().Height(); got != height+1 {
		t.Fatalf("height after commit = %d, want %d", got, height+1)
	}
	for i, raw := range blk.Data.Data {
		env, err := protos.UnmarshalEnvelope(raw)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := n.ledger.Blocks().TxExists(env.ChannelHeader.TxId); err != nil || !ok {
			t.Errorf("tx %d (%s) not indexed after commit: %v %v", i, env.ChannelHeader.TxId, ok, err)
		}
		etx, err := protos.ParseEndorserTx(env)
		if err != nil {
			t.Fatal(err)
		}
		if len(etx.Endorsements()) != 2 {
			t.Errorf("tx %d carries %d endorsements, want 2", i, len(etx.Endorsements()))
		}
	}
	for i := range 10 {
		key := fmt.Sprintf("asset%08d", i)
		vv, err := n.ledger.State().Get(chaincode, key)
		if err != nil {
			t.Fatal(err)
		}
		if vv == nil || !strings.Contains(string(vv.Value), `"ID":"`+key+`"`) {
			t.Fatalf("state of %s after commit: %+v", key, vv)
		}
		if vv.Version.BlockNum != blk.Header.Number || vv.Version.TxNum != uint64(i) {
			t.Errorf("version of %s = %d:%d, want %d:%d", key, vv.Version.BlockNum, vv.Version.TxNum, blk.Header.Number, i)
		}
	}

	// One endorsement where the definition's policy (MAJORITY Endorsement of
	// two organisations) needs both.
	lone, err := n.buildBlocksEndorsedBy(1, 1, []*msp.SigningIdentity{n.m.peers[org1]})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := n.validate(lone[0])
	if err != nil {
		t.Fatal(err)
	}
	if vs[0].Code != pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE {
		t.Fatalf("transaction endorsed by Org1 only: %s (%s), want ENDORSEMENT_POLICY_FAILURE", vs[0].Code, vs[0].Reason)
	}
	if err := n.commit(lone[0], nil); err != nil {
		t.Fatal(err)
	}

	// A block signed by a peer instead of the orderer.
	forged, err := n.buildBlocks(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	resigned, err := n.resign(forged[0], n.m.stranger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.validate(resigned); !errors.Is(err, validator.ErrBlockVerification) {
		t.Fatalf("block signed by peer0.org1: err = %v, want ErrBlockVerification", err)
	}
}

// resign returns a copy of b's content in a block of the same number signed
// by signer.
func (n *network) resign(b *cb.Block, signer *msp.SigningIdentity) (*cb.Block, error) {
	n.mu.Lock()
	n.next, n.prevHash = b.Header.Number, b.Header.PreviousHash
	n.mu.Unlock()
	envs := make([]*cb.Envelope, len(b.Data.Data))
	for i, raw := range b.Data.Data {
		env, err := protos.UnmarshalEnvelope(raw)
		if err != nil {
			return nil, err
		}
		envs[i] = env.Envelope
	}
	return n.sealWith(envs, signer)
}
