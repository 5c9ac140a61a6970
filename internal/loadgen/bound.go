package loadgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"syscall"
	"time"
	"unsafe"
)

// Topology is the shape of a network, for counting the signature work its
// nodes do per transaction: an endorsement policy that needs every
// organisation (the devnet's MAJORITY of two is both), one endorsing peer
// per organisation, PeersPerOrg committing peers per organisation (the
// endorsing one among them) and Orderers ordering nodes.
type Topology struct {
	Orgs, PeersPerOrg, Orderers int
}

// ProtocolPerTx returns the ECDSA operations per transaction as issue 15
// counts them for its signature bound, the work Fabric's protocol asks of
// the nodes: the orderer that receives the envelope verifies the creator's
// signature; each endorsing peer verifies the proposal and signs its
// endorsement; each committing peer verifies the creator's signature and
// every endorsement. For two organisations with one peer each that is 9
// verifications and 2 signatures, the figure the bound (≈ 0.57 ms,
// ≈ 3,500 tx/s on two cores) was taken from.
func (t Topology) ProtocolPerTx() (verifies, signs int) {
	endorsers := t.Orgs
	committers := t.Orgs * t.PeersPerOrg
	return 1 + endorsers + committers*(1+endorsers), endorsers
}

// PerTx returns the ECDSA operations the nodes do for each transaction, as
// Weft does them: as ProtocolPerTx, except that each committing peer that
// endorsed the transaction skips verifying its own endorsement, which it
// remembers having made (peer/validator/own.go). Raft forwards an envelope
// to the leader without a second check, and the peer/Propose ACL reuses the
// endorser's check of the proposal.
//
// The client's two signatures (proposal and envelope) are the load
// generator's work, not the nodes': the proposals are signed before the
// clock starts and the envelope signature is in the load generator's CPU.
func (t Topology) PerTx() (verifies, signs int) {
	v, s := t.ProtocolPerTx()
	return v - t.Orgs, s
}

// PerBlock returns the ECDSA operations the nodes do for each block: every
// orderer signs the copy of the block it writes, and every peer verifies
// the orderer's signature of the block it commits. Gossip's periodic
// membership and state messages are signed too, but by time, not per block
// or transaction, and are left out.
func (t Topology) PerBlock() (verifies, signs int) {
	return t.Orgs * t.PeersPerOrg, t.Orderers
}

// Work is the signature work per transaction, as Weft does it, with
// txsPerBlock transactions per block (0: leave the per-block work out).
func (t Topology) Work(txsPerBlock float64) (verifies, signs float64) {
	v, s := t.PerTx()
	return t.withBlocks(v, s, txsPerBlock)
}

// ProtocolWork is Work as issue 15 counts it (ProtocolPerTx).
func (t Topology) ProtocolWork(txsPerBlock float64) (verifies, signs float64) {
	v, s := t.ProtocolPerTx()
	return t.withBlocks(v, s, txsPerBlock)
}

func (t Topology) withBlocks(v, s int, txsPerBlock float64) (verifies, signs float64) {
	verifies, signs = float64(v), float64(s)
	if txsPerBlock > 0 {
		bv, bs := t.PerBlock()
		verifies += float64(bv) / txsPerBlock
		signs += float64(bs) / txsPerBlock
	}
	return verifies, signs
}

// ECDSACost is the CPU time of one ECDSA P-256 operation as the nodes do it
// (SHA-256 of a few hundred bytes, then ecdsa.Verify or ecdsa.Sign).
type ECDSACost struct {
	Verify, Sign time.Duration
	N            int // operations of each kind timed
}

// Faster keeps the cheaper figure of each operation from c and o: the
// machine's speed drifts (a shared host), and the faster measurement gives
// the higher, stricter bound.
func (c ECDSACost) Faster(o ECDSACost) ECDSACost {
	out := c
	if o.Verify > 0 && (out.Verify <= 0 || o.Verify < out.Verify) {
		out.Verify = o.Verify
	}
	if o.Sign > 0 && (out.Sign <= 0 || o.Sign < out.Sign) {
		out.Sign = o.Sign
	}
	return out
}

// PerTx is the CPU time of verifies verifications and signs signatures.
func (c ECDSACost) PerTx(verifies, signs float64) time.Duration {
	return time.Duration(verifies*float64(c.Verify) + signs*float64(c.Sign))
}

// Bound is the most transactions per second cores can carry when each
// costs cpu of signature work and nothing else.
func Bound(cores int, cpu time.Duration) float64 {
	if cpu <= 0 {
		return 0
	}
	return float64(cores) / cpu.Seconds()
}

// MeasureECDSA times n verifications and n signatures with one fresh key on
// a thread of its own, in three rounds, and returns the median round's CPU
// time per operation. Thread CPU time, not wall time, so that other
// processes taking the core away do not inflate the figure; it is the
// cost the nodes pay per operation on this machine at this moment.
func MeasureECDSA(n int) (ECDSACost, error) {
	const rounds = 3
	per := max(n/rounds, 1)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return ECDSACost{}, err
	}
	msg := make([]byte, 300) // about an envelope payload or a proposal response
	if _, err := rand.Read(msg); err != nil {
		return ECDSACost{}, err
	}
	sign := func() ([]byte, error) {
		d := sha256.Sum256(msg)
		return ecdsa.SignASN1(rand.Reader, key, d[:])
	}
	sig, err := sign()
	if err != nil {
		return ECDSACost{}, err
	}
	verify := func() error {
		d := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(&key.PublicKey, d[:], sig) {
			return errors.New("loadgen: a fresh ECDSA signature does not verify")
		}
		return nil
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	time1 := func(op func() error) (time.Duration, error) {
		var costs []time.Duration
		for range per / 10 { // warm up
			if err := op(); err != nil {
				return 0, err
			}
		}
		for range rounds {
			start, err := threadCPU()
			if err != nil {
				return 0, err
			}
			for range per {
				if err := op(); err != nil {
					return 0, err
				}
			}
			end, err := threadCPU()
			if err != nil {
				return 0, err
			}
			costs = append(costs, (end-start)/time.Duration(per))
		}
		slices.Sort(costs)
		return costs[len(costs)/2], nil
	}
	v, err := time1(verify)
	if err != nil {
		return ECDSACost{}, err
	}
	s, err := time1(func() error { _, err := sign(); return err })
	if err != nil {
		return ECDSACost{}, err
	}
	return ECDSACost{Verify: v, Sign: s, N: per * rounds}, nil
}

// threadCPU is the calling thread's CPU time, to the nanosecond
// (getrusage's per-thread figure moves in scheduler ticks).
func threadCPU() (time.Duration, error) {
	const clockThreadCPUTimeID = 3 // CLOCK_THREAD_CPUTIME_ID
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, fmt.Errorf("clock_gettime(CLOCK_THREAD_CPUTIME_ID): %w", errno)
	}
	return time.Duration(ts.Nano()), nil
}
