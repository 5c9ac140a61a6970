package peer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	gchannel "github.com/weft-ledger/weft/gossip/channel"
	"github.com/weft-ledger/weft/internal/rpcrecover"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/deliver"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/peer/validator"
	"github.com/weft-ledger/weft/protos"
)

// channel is one joined channel: its ledger, its current configuration and
// the loop that pulls and commits its blocks.
type channel struct {
	node   *Node
	id     string
	ledger *ledger.Ledger
	bundle atomic.Pointer[channelconfig.Bundle] // replaced when a config block commits
	// validator is used only by the commit loop of this channel.
	validator *validator.Validator
	// committed is what Deliver and the gateway read: blocks whose state is applied.
	committed *committedBlocks
	// definitions caches committed chaincode definitions; commit invalidates
	// it when a block writes `_lifecycle`.
	definitions *lifecycle.DefinitionCache
	// endpoints caches ordererEndpoints for the bundle it was built from.
	endpoints atomic.Pointer[endpointList]

	// stuck says why the block the channel waits for could not be checked
	// (a panic), or why an appended block's state write keeps failing; nil
	// once a block commits. halted is set when the commit
	// path panicked and commits stopped until a restart. /healthz reports
	// both.
	stuck  atomic.Pointer[string]
	halted atomic.Pointer[rpcrecover.PanicError]
	// stopPull ends the run loop's pulling; set by run before it pulls, and
	// called (from the same goroutine) by halt.
	stopPull context.CancelFunc
	// gossip is the channel's gossip, set once it joined the peer's gossip
	// service (nil before, and when that failed).
	gossip atomic.Pointer[gchannel.Channel]
	// gossipSince is when the channel joined gossip (nil before).
	gossipSince atomic.Pointer[time.Time]
	// commitMu serialises the commit path: blocks come from the orderer
	// puller and from gossip (pushed, pulled or by state transfer).
	commitMu sync.Mutex
	// appended is a block the ledger appended but whose state write failed,
	// not yet published; only the commit path (under commitMu) reads and
	// writes it.
	appended *appendedBlock
	// pipe checks the next block while this one is applied (pipeline.go).
	pipe pipeline
}

// openChannel reopens a joined channel's ledger and its latest configuration.
func openChannel(n *Node, id string) (*channel, error) {
	l, err := n.openLedger(id, filepath.Join(n.ledgersDir(), id))
	if err != nil {
		return nil, err
	}
	n.metrics.observeLedger(id, l)
	bundle, err := latestBundle(l)
	if err != nil {
		l.Close()
		return nil, err
	}
	ch := newChannel(n, id, l)
	ch.bundle.Store(bundle)
	return ch, nil
}

func newChannel(n *Node, id string, l *ledger.Ledger) *channel {
	return &channel{node: n, id: id, ledger: l, committed: newCommittedBlocks(l.Blocks()),
		validator:   validator.New(validator.Config{Logger: n.log, Own: n.own, BeforeTx: n.hooks.beforeTx}),
		definitions: lifecycle.NewDefinitionCache()}
}

// joinChannel creates the ledger of a new channel from its genesis block.
func (n *Node) joinChannel(raw []byte) (string, error) {
	block, err := protos.UnmarshalBlock(raw)
	if err != nil {
		return "", fmt.Errorf("genesis block: %w", err)
	}
	if block.Header.Number != 0 {
		return "", fmt.Errorf("block %d is not a genesis block (number must be 0)", block.Header.Number)
	}
	bundle, err := channelconfig.BundleFromBlock(block)
	if err != nil {
		return "", fmt.Errorf("genesis block: %w", err)
	}
	id := bundle.ChannelID()
	if id == "" || filepath.Base(id) != id || id == "." || id == ".." {
		return "", fmt.Errorf("genesis block names an invalid channel %q", id)
	}
	if bundle.Application() == nil {
		return "", fmt.Errorf("channel %s has no Application group: a peer cannot join it", id)
	}
	n.mu.Lock()
	runCtx := n.runCtx
	_, joined := n.channels[id]
	n.mu.Unlock()
	if joined {
		return "", fmt.Errorf("peer %s has already joined channel %s", n.cfg.ID, id)
	}
	if runCtx == nil {
		return "", errors.New("peer is not running")
	}
	dir := filepath.Join(n.ledgersDir(), id)
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("a ledger for channel %s already exists in %s", id, dir)
	}
	l, err := n.openLedger(id, dir)
	if err != nil {
		return "", err
	}
	n.metrics.observeLedger(id, l)
	protos.SetTxFilter(block, make([]byte, len(block.Data.Data)))
	if err := l.Commit(block, nil); err != nil {
		l.Close()
		os.RemoveAll(dir)
		return "", fmt.Errorf("commit genesis block of %s: %w", id, err)
	}
	n.metrics.transactionsCommitted(id, block, nil)
	ch := newChannel(n, id, l)
	ch.bundle.Store(bundle)
	n.addChannel(runCtx, ch)
	n.notifier.BlockCommitted(id, block)
	return id, nil
}

// latestBundle parses the channel configuration in force at the ledger's tip.
func latestBundle(l *ledger.Ledger) (*channelconfig.Bundle, error) {
	cfgBlock, err := lastConfigBlock(l.Blocks())
	if err != nil {
		return nil, err
	}
	return channelconfig.BundleFromBlock(cfgBlock)
}

// lastConfigBlock reads the config block in force at the store's tip.
func lastConfigBlock(blocks *ledger.BlockStore) (*cb.Block, error) {
	h := blocks.Height()
	if h == 0 {
		return nil, errors.New("ledger is empty: the channel was never joined")
	}
	tip, err := blocks.Block(h - 1)
	if err != nil {
		return nil, err
	}
	idx, err := lastConfigIndex(tip)
	if err != nil {
		return nil, err
	}
	b, err := blocks.Block(idx)
	if err != nil {
		return nil, fmt.Errorf("read config block %d: %w", idx, err)
	}
	return b, nil
}

// lastConfigIndex reads the number of the last config block from a block's
// SIGNATURES metadata (OrdererBlockMetadata), falling back to the LAST_CONFIG
// slot; a block without either (a bare genesis block) is its own config.
func lastConfigIndex(b *cb.Block) (uint64, error) {
	md := b.GetMetadata().GetMetadata()
	if int(cb.BlockMetadataIndex_SIGNATURES) < len(md) && len(md[cb.BlockMetadataIndex_SIGNATURES]) > 0 {
		m := &cb.Metadata{}
		if err := proto.Unmarshal(md[cb.BlockMetadataIndex_SIGNATURES], m); err == nil && len(m.Value) > 0 {
			obm := &cb.OrdererBlockMetadata{}
			if err := proto.Unmarshal(m.Value, obm); err == nil && obm.LastConfig != nil {
				return obm.LastConfig.Index, nil
			}
		}
	}
	if int(cb.BlockMetadataIndex_LAST_CONFIG) < len(md) && len(md[cb.BlockMetadataIndex_LAST_CONFIG]) > 0 {
		m := &cb.Metadata{}
		if err := proto.Unmarshal(md[cb.BlockMetadataIndex_LAST_CONFIG], m); err == nil {
			lc := &cb.LastConfig{}
			if err := proto.Unmarshal(m.Value, lc); err == nil {
				return lc.Index, nil
			}
		}
	}
	if b.Header.Number == 0 {
		return 0, nil
	}
	return 0, fmt.Errorf("block %d carries no last-config index", b.Header.Number)
}

// ordererEndpoints lists the channel's orderers with their organisations' TLS
// root CAs, by Fabric's rule: every orderer organisation's Endpoints or, when
// none lists any, the channel-wide OrdererAddresses. The list is worked out
// again only when a committed config block replaced the bundle; the puller
// calls this on every check of the orderer it uses.
func (c *channel) ordererEndpoints() []deliver.Endpoint {
	bundle := c.bundle.Load()
	if cached := c.endpoints.Load(); cached != nil && cached.bundle == bundle {
		return cached.eps
	}
	eps := deliver.OrdererEndpoints(bundle)
	prev := c.endpoints.Swap(&endpointList{bundle: bundle, eps: eps})
	if prev == nil || !sameAddresses(prev.eps, eps) {
		c.node.log.Info("orderer endpoints", "channel", c.id, "sequence", bundle.Sequence(), "orderers", addresses(eps))
	}
	return eps
}

// endpointList is the orderer endpoints worked out from one config bundle.
type endpointList struct {
	bundle *channelconfig.Bundle
	eps    []deliver.Endpoint
}

func addresses(eps []deliver.Endpoint) []string {
	out := make([]string, len(eps))
	for i, ep := range eps {
		out[i] = ep.Address
	}
	return out
}

func sameAddresses(a, b []deliver.Endpoint) bool {
	return slices.Equal(addresses(a), addresses(b))
}

// run pulls and commits blocks until ctx ends, or until the commit path
// panics (halt): then the channel stops committing and /healthz says why,
// rather than the process ending or the loop stopping silently.
func (c *channel) run(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			c.halt(&rpcrecover.PanicError{What: "pulling blocks", Value: r, Stack: debug.Stack()})
		}
	}()
	c.syncIndexes() // definitions committed before the channel opened (indexes.go)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	c.stopPull = stop
	p, err := deliver.NewPuller(deliver.PullerConfig{
		ChannelID:  c.id,
		Endpoints:  c.ordererEndpoints,
		Signer:     c.node.signer,
		ClientCert: c.node.tlsCert,
		Logger:     c.node.log,

		AddressOverrides: c.node.overrides,
		ConnectTimeout:   c.node.cfg.DeliveryClient.ConnTimeout,
		MinBackoff:       c.node.cfg.DeliveryClient.ReconnectMin,
		MaxBackoff:       c.node.cfg.DeliveryClient.ReconnectMax,
		BehindTimeout:    c.node.cfg.DeliveryClient.BehindTimeout,
		Ahead:            c.aheadReceived,
	})
	if err != nil {
		c.node.log.Error("cannot pull blocks", "channel", c.id, "err", err)
		return
	}
	c.pullWhileLeader(ctx, func(ctx context.Context) {
		err := p.Pull(ctx, c.ledger.Blocks().Height(), func(b *cb.Block) error {
			err := c.commit(b)
			switch {
			case errors.Is(err, ErrAlreadyCommitted):
				return nil // gossip brought it first
			case err == nil:
				c.gossipBlock(b)
			}
			return err
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			c.node.log.Error("block pulling stopped", "channel", c.id, "err", err)
		}
	})
}

// halt records that the commit path panicked, logs it with its stack and
// stops the channel's pulling: a half-done commit must not be followed by
// the next block. It returns the error the puller sees.
func (c *channel) halt(pe *rpcrecover.PanicError) error {
	c.halted.CompareAndSwap(nil, pe)
	c.node.log.Error("channel commits stopped: the commit path panicked; restart the peer to recover the ledger",
		"channel", c.id, "in", pe.What, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
	if c.stopPull != nil {
		c.stopPull()
	}
	return fmt.Errorf("channel %s: %w", c.id, pe)
}

// fault says why the channel is not committing because of a panic: commits
// stopped (halted) or the next block could not be checked (stuck); "" when
// neither.
func (c *channel) fault() string {
	if pe := c.halted.Load(); pe != nil {
		return fmt.Sprintf("channel %s: commits stopped: %s panicked (%v); restart the peer, which recovers the ledger from its block store",
			c.id, pe.What, pe.Value)
	}
	if s := c.stuck.Load(); s != nil {
		return *s
	}
	return ""
}
