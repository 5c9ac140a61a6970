package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"
)

// messageSize is about the size of what a peer verifies per signature: a
// proposal response payload with the endorser's identity, or an envelope
// payload, is a few hundred bytes to a few kilobytes; only the SHA-256 part
// of the cost grows with it.
const messageSize = 300

// signed is one P-256 key, a message and its signature, used with the same
// crypto/ecdsa calls as msp.SigningIdentity.Sign and msp.Identity.Verify
// (ecdsa.Sign / ecdsa.Verify over SHA-256 with (r, s)).
type signed struct {
	key  *ecdsa.PrivateKey
	msg  []byte
	r, s *big.Int
}

func newSigned(tb testing.TB) *signed {
	tb.Helper()
	s, err := newSignedErr()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func (s *signed) verify() bool {
	digest := sha256.Sum256(s.msg)
	return ecdsa.Verify(&s.key.PublicKey, digest[:], s.r, s.s)
}

func BenchmarkECDSAVerify(b *testing.B) {
	s := newSigned(b)
	b.ReportAllocs()
	for b.Loop() {
		if !s.verify() {
			b.Fatal("signature does not verify")
		}
	}
}

func BenchmarkECDSASign(b *testing.B) {
	s := newSigned(b)
	b.ReportAllocs()
	for b.Loop() {
		digest := sha256.Sum256(s.msg)
		if _, _, err := ecdsa.Sign(rand.Reader, s.key, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// verifyRounds × verifiesPerRound verifications on one goroutine give the
// per-verify cost the commit benchmarks compare against: the median round,
// in wall-clock time and in process CPU time. The CPU figure is what to trust
// on a loaded machine, where other processes take cores away from both the
// verify loop and the benchmark.
const (
	verifyRounds     = 3
	verifiesPerRound = 500
)

// verifyCost is the cost of one ECDSA P-256 verify as msp.Identity.Verify
// does it (SHA-256 of a messageSize-byte message, then ecdsa.Verify).
type verifyCost struct {
	wall, cpu time.Duration
}

func measureVerify(s *signed) (verifyCost, error) {
	for range verifiesPerRound / 10 { // warm up
		s.verify()
	}
	walls := make([]time.Duration, verifyRounds)
	cpus := make([]time.Duration, verifyRounds)
	for i := range walls {
		start, startCPU := time.Now(), processCPU()
		for range verifiesPerRound {
			if !s.verify() {
				return verifyCost{}, errBadSignature
			}
		}
		cpus[i] = (processCPU() - startCPU) / verifiesPerRound
		walls[i] = time.Since(start) / verifiesPerRound
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	return verifyCost{wall: walls[len(walls)/2], cpu: cpus[len(cpus)/2]}, nil
}

var errBadSignature = errors.New("bench: a freshly made ECDSA signature does not verify")

func newSignedErr() (*signed, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	msg := make([]byte, messageSize)
	if _, err := rand.Read(msg); err != nil {
		return nil, err
	}
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return nil, err
	}
	return &signed{key: key, msg: msg, r: r, s: s}, nil
}
