package peer

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/rpcrecover"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/validator"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// hooks are seams through which tests inject faults; all nil in production.
type hooks struct {
	// beforeTx is the validators' validator.Config.BeforeTx.
	beforeTx func(block uint64, txIndex int)
	// beforeCommit runs as a block pulled from the orderer enters commit.
	beforeCommit func(channel string, block uint64)
	// wrapState is the ledgers' ledger.Options.WrapState (state faults).
	wrapState func(statedb.DB) statedb.DB
}

// ledgerOptions are the options the node opens channel ledgers with.
func (n *Node) ledgerOptions() ledger.Options {
	return ledger.Options{WrapState: n.hooks.wrapState, Collections: n.collectionRules}
}

// appendedBlock is a block the ledger appended whose commit did not finish
// (its state write failed): it is the channel's block now, and is published
// once its state is applied.
type appendedBlock struct {
	block     *cb.Block
	verdicts  []validator.Verdict
	lifecycle bool // it writes _lifecycle
}

// ErrAlreadyCommitted is returned for a block this peer committed already
// (the same block, received again from another source).
var ErrAlreadyCommitted = errors.New("block already committed")

// commit is the commit path of one block pulled from the orderer or received
// by gossip: verify it
// came from the ordering service and extends our chain, validate every
// transaction, commit it to the ledger (which adds MVCC verdicts), adopt a new
// channel configuration if it carries one, and tell the waiting clients.
// An error makes the puller drop the block and ask another orderer for it.
//
// A panic past the checks (storing the block, applying its state, adopting
// its configuration) may have left the commit half done: it is logged with
// its stack, the channel's commits stop (halt) and /healthz fails naming the
// channel, the block and the panic, until a restart recovers the ledger.
func (c *channel) commit(block *cb.Block) (err error) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			n := block.GetHeader().GetNumber()
			err = c.halt(&rpcrecover.PanicError{What: fmt.Sprintf("committing block %d", n), Value: r, Stack: debug.Stack()})
		}
	}()
	if h := c.node.hooks.beforeCommit; h != nil {
		h(c.id, block.GetHeader().GetNumber())
	}
	// A block whose state write failed is finished first: no later block is
	// checked against a state that lacks it.
	if err := c.finishAppended(); err != nil {
		return err
	}
	info := c.ledger.Blocks().Info()
	if n := block.GetHeader().GetNumber(); n < info.Height && n < c.committed.Height() {
		// A block committed already: the puller asks again for a block
		// whose commit returned an error and finishAppended committed
		// since, or gossip and the orderer both delivered it. Nothing to
		// do if it is the block this peer holds.
		held, err := c.ledger.Blocks().Block(n)
		if err != nil {
			return fmt.Errorf("channel %s: read block %d to compare with the one received: %w", c.id, n, err)
		}
		if !bytes.Equal(protos.BlockHeaderHash(block.GetHeader()), protos.BlockHeaderHash(held.GetHeader())) {
			return fmt.Errorf("channel %s: received a block %d that differs from the block %d this peer committed", c.id, n, n)
		}
		return ErrAlreadyCommitted
	}
	if block.GetHeader().GetNumber() != info.Height {
		return fmt.Errorf("channel %s: expected block %d, orderer sent block %d", c.id, info.Height, block.GetHeader().GetNumber())
	}
	bundle := c.bundle.Load()
	verdicts, early := c.takeEarly(block, info.CurrentBlockHash, bundle)
	if !early {
		var err error
		if verdicts, err = c.check(block, info.CurrentBlockHash, bundle); err != nil {
			return err
		}
	}
	flags := make([]byte, len(verdicts))
	txIDs := make([]string, len(verdicts))
	for i, v := range verdicts {
		flags[i] = byte(v.Code)
		txIDs[i] = v.TxID
		if v.Code != pb.TxValidationCode_VALID {
			c.node.log.Info("invalid transaction", "channel", c.id, "block", block.Header.Number, "tx", i,
				"tx_id", v.TxID, "code", v.Code.String(), "reason", v.Reason)
		}
	}
	protos.SetTxFilter(block, flags)
	// The validator decoded every valid transaction's read/write set:
	// the ledger uses those rather than decoding the block again.
	sets := make([]*ledger.TxRWSet, len(verdicts))
	for i, v := range verdicts {
		sets[i] = v.RWSet()
	}
	c.ledger.UseDecoded(block, flags, sets)
	// A block writing `_lifecycle` may change chaincode definitions: drop the
	// cached ones before its state is applied (endorsements meanwhile read
	// state) and again after (dropping what was read during the commit).
	lifecycleWrites := writesLifecycle(verdicts)
	if lifecycleWrites {
		c.definitions.Invalidate()
	}
	private := c.completePrivate(block, c.node.transient.Take(c.id, block.Header.Number, txIDs))
	// The next block is checked while this one is applied, unless this one
	// changes what that check needs: the channel configuration or the
	// chaincode definitions.
	config := len(verdicts) == 1 && verdicts[0].Type == cb.HeaderType_CONFIG
	c.applyingBlock(block.Header.Number, bundle, txIDs, !config && !lifecycleWrites)
	err = c.ledger.Commit(block, private)
	c.appliedBlock()
	if lifecycleWrites {
		c.definitions.Invalidate()
	}
	if err != nil {
		if c.ledger.Blocks().Height() <= block.Header.Number {
			return fmt.Errorf("channel %s: commit block %d: %w", c.id, block.Header.Number, err)
		}
		// Appended, but not applied to the state (or not indexed): the block
		// is part of this channel's chain now. It is neither skipped nor
		// served before its state is applied: finishAppended retries, now
		// and each time the puller offers a block, until it is.
		c.node.log.Error("block appended but its commit did not finish; retrying before the next block", "channel", c.id, "block", block.Header.Number, "err", err)
		c.appended = &appendedBlock{block: block, verdicts: verdicts, lifecycle: lifecycleWrites}
		return c.finishAppended()
	}
	if lifecycleWrites {
		c.syncIndexes() // a definition or approval may now run an installed package (indexes.go)
		c.advertiseChaincodes()
	}
	c.publish(block, verdicts)
	return nil
}

// finishAppended applies the state of a block left appended by a failed
// state write (ledger.Recover) and, once it is, publishes the block. While
// the state write keeps failing it returns the error, so the puller backs off
// and offers the block again, and /healthz reports the channel stuck.
func (c *channel) finishAppended() error {
	a := c.appended
	if a == nil {
		return nil
	}
	n := a.block.Header.Number
	err := c.ledger.Recover()
	if c.ledger.StateHeight() <= n {
		err = fmt.Errorf("channel %s: block %d is appended but its writes could not be applied to the state; retrying before the next block: %w", c.id, n, err)
		msg := err.Error()
		c.stuck.Store(&msg)
		return err
	}
	if err != nil {
		c.node.log.Warn("block committed; the history index is behind it and is caught up with the next block", "channel", c.id, "block", n, "err", err)
	}
	c.appended = nil
	if a.lifecycle {
		c.definitions.Invalidate()
		c.syncIndexes()
		c.advertiseChaincodes()
	}
	c.node.log.Info("block committed after its state write was retried", "channel", c.id, "block", n)
	c.publish(a.block, a.verdicts)
	return nil
}

// publish makes a block whose state is applied visible: a config block
// becomes the channel's configuration first, so whoever sees the block
// committed (Deliver, the gateway, waiting clients) is judged by the ACLs it
// carries.
func (c *channel) publish(block *cb.Block, verdicts []validator.Verdict) {
	if isConfigBlock(block) {
		nb, err := channelconfig.BundleFromBlock(block)
		if err != nil {
			// The orderer validated this configuration; failing to parse it is a
			// bug or corruption, and continuing with the old one would diverge.
			c.node.log.Error("cannot parse committed config block", "channel", c.id, "block", block.Header.Number, "err", err)
		} else {
			c.bundle.Store(nb)
			c.node.log.Info("channel configuration updated", "channel", c.id, "sequence", nb.Sequence())
		}
	}
	c.committed.publish(block)
	if gch := c.gossip.Load(); gch != nil {
		gch.UpdateHeight(block.Header.Number + 1)
	}
	c.node.metrics.transactionsCommitted(c.id, block, verdicts)
	c.node.notifier.BlockCommitted(c.id, block)
	c.stuck.Store(nil)
}

// check verifies a block and returns the verdict on each of its transactions.
// It only reads, so a panic here (a bug met by a malformed block, outside the
// validator's per-transaction containment) is turned into an error: the
// puller drops the block and asks another orderer, and the peer keeps
// running. Until a block commits again, /healthz reports the channel stuck.
func (c *channel) check(block *cb.Block, prevHash []byte, bundle *channelconfig.Bundle) (verdicts []validator.Verdict, err error) {
	defer func() {
		if r := recover(); r != nil {
			n := block.GetHeader().GetNumber()
			c.node.log.Error("recovered from a panic while checking a block; asking the orderers for it again", "channel", c.id,
				"block", n, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("channel %s: block %d could not be checked: internal error (panic: %v)", c.id, n, r)
			msg := err.Error()
			c.stuck.Store(&msg)
			verdicts = nil
		}
	}()
	if err := validator.VerifyBlock(block, prevHash, bundle); err != nil {
		return nil, err
	}
	protos.EnsureMetadata(block)
	verdicts, err = c.validator.Validate(block, bundle, c.ledger.State(), c.ledger.Blocks().TxExists)
	if err != nil {
		return nil, fmt.Errorf("channel %s: validate block %d: %w", c.id, block.Header.Number, err)
	}
	return verdicts, nil
}

// isConfigBlock reports whether b holds a single valid CONFIG transaction.
// Only the channel header is read: configtxgen's genesis envelope carries a
// signature header without a creator, which protos.UnmarshalEnvelope refuses.
func isConfigBlock(b *cb.Block) bool {
	if len(b.GetData().GetData()) != 1 || protos.TxFilter(b)[0] != byte(pb.TxValidationCode_VALID) {
		return false
	}
	chdr, err := protos.EnvelopeChannelHeader(b.Data.Data[0])
	return err == nil && cb.HeaderType(chdr.Type) == cb.HeaderType_CONFIG
}
