package peer

import (
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/validator"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// pipelineFixture is a channel over a ledger holding the Fabric fixture
// blocks 0..7, with blocks 8 (basicor.InitLedger) and 9 (500 CreateAsset on
// basic) to commit.
func pipelineFixture(t *testing.T) (*channel, *cb.Block, *cb.Block) {
	t.Helper()
	l, err := ledger.OpenWithOptions(t.TempDir(), ledger.Options{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for n := 0; n <= 7; n++ {
		if err := l.Commit(fixtureBlock(t, n), nil); err != nil {
			t.Fatalf("commit fixture block %d: %v", n, err)
		}
	}
	bundle, err := latestBundle(l)
	if err != nil {
		t.Fatal(err)
	}
	c := &channel{node: &Node{log: quietLog}, id: "mychannel", ledger: l,
		validator: validator.New(validator.Config{Logger: quietLog})}
	c.bundle.Store(bundle)
	t.Cleanup(c.pipe.wg.Wait) // before the ledger closes
	return c, fixtureBlock(t, 8), fixtureBlock(t, 9)
}

// commitChecked checks b and commits it as the commit path does, telling the
// pipeline while the ledger applies it.
func commitChecked(t *testing.T, c *channel, b *cb.Block, whileApplying func()) {
	t.Helper()
	bundle := c.bundle.Load()
	vs, err := c.check(b, c.ledger.Blocks().Info().CurrentBlockHash, bundle)
	if err != nil {
		t.Fatal(err)
	}
	flags, ids := make([]byte, len(vs)), make([]string, len(vs))
	for i, v := range vs {
		flags[i], ids[i] = byte(v.Code), v.TxID
	}
	protos.SetTxFilter(b, flags)
	c.applyingBlock(b.Header.Number, bundle, ids, true)
	if whileApplying != nil {
		whileApplying()
	}
	if err := c.ledger.Commit(b, nil); err != nil {
		t.Fatal(err)
	}
	c.appliedBlock()
}

// Block 9 arrives while block 8 is applied: it is checked early, the
// verdicts are taken for it, and they are those of a check after block 8
// (all 500 VALID, as Fabric found them); the early check read the key-level
// policy of every key block 9 writes, so a change to one would have been
// seen.
func TestEarlyCheckOfTheNextBlock(t *testing.T) {
	c, b8, b9 := pipelineFixture(t)
	commitChecked(t, c, b8, func() { c.aheadReceived(b9) })
	e := c.pipe.early
	if e == nil || e.block != b9 {
		t.Fatal("block 9 received while block 8 was applied: no early check started")
	}
	vs, ok := c.takeEarly(b9, c.ledger.Blocks().Info().CurrentBlockHash, c.bundle.Load())
	if !ok {
		t.Fatalf("early check of block 9 not taken (err %v)", e.err)
	}
	if len(vs) != 500 {
		t.Fatalf("%d verdicts, want 500", len(vs))
	}
	for i, v := range vs {
		if v.Code != pb.TxValidationCode_VALID {
			t.Fatalf("tx %d: %s (%s), want VALID", i, v.Code, v.Reason)
		}
	}
	metaReads := 0
	for _, r := range e.reads.reads {
		if r.metaOnly && r.ns == "basic" {
			metaReads++
		}
	}
	if metaReads < 500 {
		t.Fatalf("early check read the metadata of %d keys of basic, want one per CreateAsset (500)", metaReads)
	}
	if _, ok := c.takeEarly(b9, c.ledger.Blocks().Info().CurrentBlockHash, c.bundle.Load()); ok {
		t.Fatal("an early check was taken twice")
	}
}

// The early check is not used when it cannot be shown to hold: the block
// came in another message (gossip), the block before it did not end with
// Ledger.Commit's own state write, the configuration changed, or the
// block does not extend the chain.
func TestEarlyCheckRefused(t *testing.T) {
	t.Run("another copy of the block", func(t *testing.T) {
		c, b8, b9 := pipelineFixture(t)
		commitChecked(t, c, b8, func() { c.aheadReceived(b9) })
		if _, ok := c.takeEarly(fixtureBlock(t, 9), c.ledger.Blocks().Info().CurrentBlockHash, c.bundle.Load()); ok {
			t.Fatal("verdicts taken for a block that was not the one checked")
		}
	})
	t.Run("block before not committed by Commit", func(t *testing.T) {
		c, b8, b9 := pipelineFixture(t)
		commitChecked(t, c, b8, func() { c.aheadReceived(b9) })
		// The ledger has no writes to show for block 7, the block this
		// check now claims to have overlapped.
		c.pipe.early.after = 7
		if _, ok := c.takeEarly(b9, c.ledger.Blocks().Info().CurrentBlockHash, c.bundle.Load()); ok {
			t.Fatal("verdicts taken without the writes of the block before")
		}
	})
	t.Run("new configuration", func(t *testing.T) {
		c, b8, b9 := pipelineFixture(t)
		commitChecked(t, c, b8, func() { c.aheadReceived(b9) })
		nb, err := latestBundle(c.ledger)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.takeEarly(b9, c.ledger.Blocks().Info().CurrentBlockHash, nb); ok {
			t.Fatal("verdicts taken under another channel configuration")
		}
	})
	t.Run("not extending the chain", func(t *testing.T) {
		c, b8, b9 := pipelineFixture(t)
		commitChecked(t, c, b8, func() { c.aheadReceived(b9) })
		if _, ok := c.takeEarly(b9, []byte("another hash"), c.bundle.Load()); ok {
			t.Fatal("verdicts taken for a block that does not extend the chain")
		}
	})
	t.Run("not started for a block two ahead", func(t *testing.T) {
		c, _, b9 := pipelineFixture(t)
		c.applyingBlock(7, c.bundle.Load(), nil, true)
		c.aheadReceived(b9)
		if c.pipe.early != nil {
			t.Fatal("an early check of block 9 started while block 7 was applied")
		}
	})
}

// What the block before wrote decides: a key-level policy (metadata) read
// by the check and replaced, or a value the check used (a definition),
// sends the block to be checked again; a value written where only the
// metadata was read does not.
func TestReadLogChangedBy(t *testing.T) {
	v := statedb.Version{BlockNum: 8}
	reads := &readLog{reads: []stateRead{
		{ns: "basic", key: "asset1", value: []byte("old"), meta: []byte("policy"), metaOnly: true},
		{ns: "_lifecycle", key: "namespaces/fields/basic/Sequence", value: []byte{1}},
	}}
	for _, tc := range []struct {
		name    string
		writes  func(*statedb.Batch)
		changed bool
	}{
		{"other keys", func(b *statedb.Batch) { b.Put("basic", "asset2", []byte("x"), nil, v) }, false},
		{"value only, metadata kept", func(b *statedb.Batch) { b.Put("basic", "asset1", []byte("new"), []byte("policy"), v) }, false},
		{"metadata replaced", func(b *statedb.Batch) { b.Put("basic", "asset1", []byte("old"), []byte("other"), v) }, true},
		{"metadata-read key deleted", func(b *statedb.Batch) { b.Delete("basic", "asset1", v) }, true},
		{"value read, value changed", func(b *statedb.Batch) {
			b.Put("_lifecycle", "namespaces/fields/basic/Sequence", []byte{2}, nil, v)
		}, true},
		{"value read, same value rewritten", func(b *statedb.Batch) {
			b.Put("_lifecycle", "namespaces/fields/basic/Sequence", []byte{1}, nil, v)
		}, false},
	} {
		b := statedb.NewBatch()
		tc.writes(b)
		if got := reads.changedBy(b); got != tc.changed {
			t.Errorf("%s: changedBy = %v, want %v", tc.name, got, tc.changed)
		}
	}
}
