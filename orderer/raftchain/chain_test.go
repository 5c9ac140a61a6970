package raftchain

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/orderer/blockcutter"
	"github.com/weft-ledger/weft/orderer/wal"
	"github.com/weft-ledger/weft/protos"
)

// memStore is a hand-written BlockStore that enforces the hash chain.
type memStore struct {
	mu     sync.Mutex
	blocks []*cb.Block
	grew   chan struct{}
}

func newMemStore(t testing.TB) *memStore {
	g := protos.NewBlock(0, nil, [][]byte{[]byte("genesis config")})
	return &memStore{blocks: []*cb.Block{g}, grew: make(chan struct{}, 1000)}
}

func (s *memStore) Height() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint64(len(s.blocks))
}

func (s *memStore) Block(n uint64) (*cb.Block, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n >= uint64(len(s.blocks)) {
		return nil, fmt.Errorf("no block %d", n)
	}
	return s.blocks[n], nil
}

func (s *memStore) Append(b *cb.Block) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.blocks[len(s.blocks)-1]
	if b.Header.Number != uint64(len(s.blocks)) {
		return fmt.Errorf("block %d appended at height %d", b.Header.Number, len(s.blocks))
	}
	if !bytes.Equal(b.Header.PreviousHash, protos.BlockHeaderHash(last.Header)) {
		return fmt.Errorf("block %d does not chain", b.Header.Number)
	}
	s.blocks = append(s.blocks, b)
	s.grew <- struct{}{}
	return nil
}

func (s *memStore) truncate(h int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks = s.blocks[:h]
}

func (s *memStore) waitHeight(t *testing.T, h uint64) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for s.Height() < h {
		select {
		case <-s.grew:
		case <-deadline:
			t.Fatalf("store height %d, want %d", s.Height(), h)
		}
	}
}

// envs lists the envelopes of blocks from..height-1, block by block.
func (s *memStore) contents(from int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := ""
	for _, b := range s.blocks[from:] {
		out += "["
		for i, d := range b.Data.Data {
			if i > 0 {
				out += " "
			}
			out += string(d)
		}
		out += "]"
	}
	return out
}

type keySigner struct{ key *ecdsa.PrivateKey }

func (k keySigner) Sign(msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	return ecdsa.SignASN1(rand.Reader, k.key, h[:])
}
func (k keySigner) Serialize() ([]byte, error) { return []byte("test orderer"), nil }

func newSigner(t testing.TB) keySigner {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keySigner{k}
}

var epoch = time.Unix(1_700_000_000, 0)

// testConfig holds batches until full or timed out (HoldBatches), so that
// the tests built on it know which envelopes share a block; the cut when
// idle has tests of its own.
func testConfig(t *testing.T, dir string, signer keySigner) Config {
	return Config{
		ChannelID: "testchannel", NodeID: 1, Voters: []uint64{1}, NextConsenterID: 2,
		Batch:  blockcutter.Config{MaxMessageCount: 2, AbsoluteMaxBytes: 1000, PreferredMaxBytes: 500, BatchTimeout: 2 * time.Second},
		WALDir: dir, Signer: signer, HoldBatches: true,
	}
}

func startChain(t *testing.T, cfg Config, store BlockStore) *Chain {
	t.Helper()
	c, err := New(cfg, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(c.Halt)
	return c
}

func order(t *testing.T, c *Chain, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Order(ctx, []byte(m))
		cancel()
		if err != nil {
			t.Fatalf("order %s: %v", m, err)
		}
	}
}

// verify checks hash chain, data hash and signature metadata of every block above genesis.
func verify(t *testing.T, s *memStore, signer keySigner) {
	t.Helper()
	var lastRaft uint64
	for n := uint64(1); n < s.Height(); n++ {
		b, _ := s.Block(n)
		prev, _ := s.Block(n - 1)
		if !bytes.Equal(b.Header.PreviousHash, protos.BlockHeaderHash(prev.Header)) {
			t.Fatalf("block %d: previous hash mismatch", n)
		}
		if !bytes.Equal(b.Header.DataHash, protos.BlockDataHash(b.Data)) {
			t.Fatalf("block %d: data hash mismatch", n)
		}
		md := &cb.Metadata{}
		if err := proto.Unmarshal(b.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES], md); err != nil || len(md.Signatures) != 1 {
			t.Fatalf("block %d: signatures metadata %v", n, err)
		}
		msg := append(append(append([]byte{}, md.Value...), md.Signatures[0].SignatureHeader...), protos.BlockHeaderBytes(b.Header)...)
		h := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(&signer.key.PublicKey, h[:], md.Signatures[0].Signature) {
			t.Fatalf("block %d: orderer signature does not verify", n)
		}
		obm, rmd, err := BlockMetadata(b)
		if err != nil {
			t.Fatal(err)
		}
		if obm.LastConfig.GetIndex() != 0 || rmd == nil || len(rmd.ConsenterIds) != 1 || rmd.ConsenterIds[0] != 1 || rmd.NextConsenterId != 2 {
			t.Fatalf("block %d: metadata %v / %v", n, obm, rmd)
		}
		if rmd.RaftIndex <= lastRaft {
			t.Fatalf("block %d: raft index %d not above %d", n, rmd.RaftIndex, lastRaft)
		}
		lastRaft = rmd.RaftIndex
		if len(b.Metadata.Metadata[cb.BlockMetadataIndex_LAST_CONFIG]) != 0 {
			t.Fatalf("block %d: LAST_CONFIG slot is written; Fabric 2.5 leaves it empty", n)
		}
	}
}

func TestProposalsBecomeBlocksInOrder(t *testing.T) {
	signer := newSigner(t)
	store := newMemStore(t)
	c := startChain(t, testConfig(t, t.TempDir(), signer), store)
	eventually.True(t, 5*time.Second, "leadership", func() bool { return c.Leader() == 1 })
	c.Tick(epoch) // the chain's clock is whatever its ticks say
	order(t, c, "a", "b", "c", "d", "e")
	store.waitHeight(t, 3)
	if got := store.contents(1); got != "[a b][c d]" {
		t.Fatalf("blocks = %s", got)
	}
	// e waits for the batch timeout, measured from the chain's ticks
	c.Tick(epoch.Add(time.Second))
	if store.Height() != 3 {
		t.Fatalf("block cut before BatchTimeout")
	}
	c.Tick(epoch.Add(2 * time.Second))
	store.waitHeight(t, 4)
	if got := store.contents(3); got != "[e]" {
		t.Fatalf("timeout block = %s", got)
	}
	verify(t, store, signer)
}

func TestOrderRefusesOversizeAndHalted(t *testing.T) {
	signer := newSigner(t)
	store := newMemStore(t)
	c := startChain(t, testConfig(t, t.TempDir(), signer), store)
	if err := c.Order(context.Background(), make([]byte, 1001)); !errorsIs(err, ErrMessageTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
	c.Halt()
	if err := c.Order(context.Background(), []byte("x")); !errorsIs(err, ErrHalted) {
		t.Fatalf("after halt: %v", err)
	}
}

func TestRestartFromWALContinuesChain(t *testing.T) {
	signer := newSigner(t)
	store := newMemStore(t)
	dir := t.TempDir()
	cfg := testConfig(t, dir, signer)
	cfg.Batch.MaxMessageCount = 3
	c := startChain(t, cfg, store)
	order(t, c, "a", "b", "c", "d", "e") // [a b c] cut, d e acknowledged but pending
	store.waitHeight(t, 2)
	c.Halt()

	c2 := startChain(t, cfg, store)
	order(t, c2, "f")
	store.waitHeight(t, 3)
	if got := store.contents(1); got != "[a b c][d e f]" {
		t.Fatalf("after restart: %s", got)
	}
	// the store lost its last block (crash between WAL and store): replay rewrites it
	c2.Halt()
	store.truncate(2)
	c3 := startChain(t, cfg, store)
	store.waitHeight(t, 3)
	order(t, c3, "g", "h", "i")
	store.waitHeight(t, 4)
	if got := store.contents(1); got != "[a b c][d e f][g h i]" {
		t.Fatalf("after store rollback: %s", got)
	}
	verify(t, store, signer)
}

func TestTornWALTailOnRestart(t *testing.T) {
	signer := newSigner(t)
	store := newMemStore(t)
	dir := t.TempDir()
	cfg := testConfig(t, dir, signer)
	c := startChain(t, cfg, store)
	order(t, c, "a", "b")
	store.waitHeight(t, 2)
	c.Halt()
	segs, err := wal.Segments(dir)
	if err != nil || len(segs) == 0 {
		t.Fatalf("WAL segments: %v %v", segs, err)
	}
	f, err := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0x20, 0, 0, 0, 1, 2, 3, 4, 1, 9}) // a record header promising more than is there
	f.Close()

	c2 := startChain(t, cfg, store)
	order(t, c2, "c", "d")
	store.waitHeight(t, 3)
	if got := store.contents(1); got != "[a b][c d]" {
		t.Fatalf("blocks = %s", got)
	}
	verify(t, store, signer)
}

func TestSnapshotKeepsPendingEnvelopes(t *testing.T) {
	signer := newSigner(t)
	store := newMemStore(t)
	cfg := testConfig(t, t.TempDir(), signer)
	cfg.SnapshotIntervalBlocks = 1
	c := startChain(t, cfg, store)
	order(t, c, "a", "b")
	store.waitHeight(t, 2)
	order(t, c, "c")
	c.Halt()

	c2 := startChain(t, cfg, store)
	if c2.snaps.index <= 1 {
		t.Fatalf("no snapshot was taken (snap index %d)", c2.snaps.index)
	}
	order(t, c2, "d")
	store.waitHeight(t, 3)
	if got := store.contents(1); got != "[a b][c d]" {
		t.Fatalf("blocks = %s", got)
	}
}

func errorsIs(err, target error) bool {
	for err != nil {
		if err == target {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// A chain with its own (slow) ticker cuts a lone envelope BatchTimeout after
// it arrived, not at the next Raft tick.
func TestBatchTimeoutDoesNotWaitForTick(t *testing.T) {
	signer := newSigner(t)
	store := newMemStore(t)
	cfg := testConfig(t, t.TempDir(), signer)
	cfg.TickInterval = time.Hour
	cfg.Batch.BatchTimeout = 20 * time.Millisecond
	c := startChain(t, cfg, store)
	eventually.True(t, 5*time.Second, "leadership", func() bool { return c.Leader() == 1 })
	start := time.Now()
	order(t, c, "a")
	store.waitHeight(t, 2)
	if waited := time.Since(start); waited < cfg.Batch.BatchTimeout {
		t.Fatalf("block cut after %s, before BatchTimeout %s", waited, cfg.Batch.BatchTimeout)
	}
	order(t, c, "b")
	store.waitHeight(t, 3)
	if got := store.contents(1); got != "[a][b]" {
		t.Fatalf("blocks = %s", got)
	}
	verify(t, store, signer)
}

// A block entry carries its header only; the data are rebuilt from the
// envelopes it covers and checked against the data hash. Entries with the
// whole block (written by earlier versions) still decode.
func TestBlockEntryReferencesEnvelopes(t *testing.T) {
	covered := []pendingEnv{{index: 5, env: []byte("a")}, {index: 6, env: []byte("b")}}
	want := protos.NewBlock(7, []byte("prev"), [][]byte{[]byte("a"), []byte("b")})

	ref := encodeBlockRef(6, want.Header)
	if len(ref) > 100 {
		t.Fatalf("block reference entry of %d bytes carries more than the header", len(ref))
	}
	kind, n, body, err := decodeEntry(ref)
	if err != nil || kind != kindBlockRef || n != 6 {
		t.Fatalf("decode: %d %d %v", kind, n, err)
	}
	got, err := blockOfEntry(kind, body, covered)
	if err != nil || !proto.Equal(got, want) {
		t.Fatalf("rebuilt block %v, %v", got, err)
	}
	if _, err := blockOfEntry(kind, body, covered[:1]); err == nil || !strings.Contains(err.Error(), "data hash") {
		t.Fatalf("mismatched envelopes: %v", err)
	}

	kind, _, body, err = decodeEntry(encodeBlock(6, want))
	if err != nil || kind != kindBlock {
		t.Fatalf("decode old entry: %d %v", kind, err)
	}
	if got, err := blockOfEntry(kind, body, nil); err != nil || !proto.Equal(got, want) {
		t.Fatalf("old block entry %v, %v", got, err)
	}
}

// gatedStore holds every Append until the test lets it through, or fails it.
type gatedStore struct {
	*memStore
	gate chan error
}

func (g gatedStore) Append(b *cb.Block) error {
	if err := <-g.gate; err != nil {
		return err
	}
	return g.memStore.Append(b)
}

// Writing a block (sign, store append and its fsyncs) runs beside the loop:
// envelopes are acknowledged while the store is busy, and blocks land in order.
func TestSlowBlockStoreDoesNotStallOrdering(t *testing.T) {
	signer := newSigner(t)
	store := gatedStore{newMemStore(t), make(chan error)}
	c := startChain(t, testConfig(t, t.TempDir(), signer), store)
	order(t, c, "a", "b") // cut [a b]; its Append waits at the gate
	order(t, c, "c", "d", "e", "f")
	if h := store.Height(); h != 1 {
		t.Fatalf("height %d while the first Append is held", h)
	}
	for range 3 {
		store.gate <- nil
	}
	store.waitHeight(t, 4)
	if got := store.contents(1); got != "[a b][c d][e f]" {
		t.Fatalf("blocks = %s", got)
	}
	verify(t, store.memStore, signer)

	// A failed Append halts the chain with the store's error.
	order(t, c, "g", "h")
	store.gate <- errors.New("disk full")
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("chain still running after a failed block append")
	}
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("chain error %v", err)
	}
}

// By default (no HoldBatches) a lone envelope is cut as soon as nothing is
// on its way, not BatchTimeout later; envelopes that arrive while a block
// is being written wait for it and then go together.
func TestCutWhenIdle(t *testing.T) {
	signer := newSigner(t)
	store := gatedStore{newMemStore(t), make(chan error)}
	cfg := testConfig(t, t.TempDir(), signer)
	cfg.HoldBatches = false
	cfg.TickInterval = time.Hour // its own clock, and no tick during the test
	cfg.Batch.BatchTimeout = time.Hour
	cfg.Batch.MaxMessageCount = 10
	c := startChain(t, cfg, store)
	eventually.True(t, 5*time.Second, "leadership", func() bool { return c.Leader() == 1 })
	order(t, c, "a")           // cut at once; its Append waits at the gate
	order(t, c, "b", "c", "d") // committed while block 1 is being written
	store.gate <- nil          // block 1 written: the pipeline is idle
	store.gate <- nil          // block 2
	store.waitHeight(t, 3)
	if got := store.contents(1); got != "[a][b c d]" {
		t.Fatalf("blocks = %s", got)
	}
	verify(t, store.memStore, signer)
}

// TestSubmitFramedOrdersLikeSubmit: envelopes submitted framed, mixed with
// plain ones, are ordered and stored the same, in submission order; the
// size limit applies to the envelope after the prefix.
func TestSubmitFramedOrdersLikeSubmit(t *testing.T) {
	signer := newSigner(t)
	store := newMemStore(t)
	c := startChain(t, testConfig(t, t.TempDir(), signer), store)
	eventually.True(t, 5*time.Second, "leadership", func() bool { return c.Leader() == 1 })
	c.Tick(epoch)
	framed := func(s string) []byte { return append(make([]byte, EntryPrefix), s...) }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var waits []<-chan error
	for i, m := range []string{"a", "b", "c", "d"} {
		var w <-chan error
		var err error
		if i%2 == 1 {
			w, err = c.SubmitFramed(ctx, framed(m))
		} else {
			w, err = c.Submit(ctx, []byte(m))
		}
		if err != nil {
			t.Fatalf("submit %s: %v", m, err)
		}
		waits = append(waits, w)
	}
	for i, w := range waits {
		select {
		case err := <-w:
			if err != nil {
				t.Fatalf("envelope %d: %v", i, err)
			}
		case <-ctx.Done():
			t.Fatalf("envelope %d: %v", i, ctx.Err())
		}
	}
	store.waitHeight(t, 3)
	if got := store.contents(1); got != "[a b][c d]" {
		t.Fatalf("blocks = %s", got)
	}
	verify(t, store, signer)
	if _, err := c.SubmitFramed(ctx, append(make([]byte, EntryPrefix), make([]byte, 1001)...)); !errorsIs(err, ErrMessageTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
	if _, err := c.SubmitFramed(ctx, make([]byte, EntryPrefix-1)); err == nil || !strings.Contains(err.Error(), "no room for the 9-byte entry prefix") {
		t.Fatalf("short framed envelope: %v", err)
	}
}
