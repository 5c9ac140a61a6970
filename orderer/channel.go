package orderer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/orderer/broadcast"
	"github.com/weft-ledger/weft/orderer/cluster"
	"github.com/weft-ledger/weft/orderer/deliver"
	"github.com/weft-ledger/weft/orderer/raftchain"
	"github.com/weft-ledger/weft/protos"
)

// channel is one served channel: its store, its config and its chain.
type channel struct {
	name   string
	bundle atomic.Pointer[channelconfig.Bundle] // swapped after each config block
	store  *ledger.BlockStore
	recent *recentBlocks
	// chain is nil for an inactive channel: this orderer is not (or no
	// longer) one of its consenters, so it only keeps the blocks it has.
	chain  *raftchain.Chain
	nodeID uint64
	// members are the consenters of the last config block, with their ids.
	members atomic.Pointer[[]cluster.Member]
	// inactive is closed for a channel without a chain (Errored for Deliver).
	inactive chan struct{}
	// watchDone is closed when the goroutine watching the chain has ended.
	watchDone chan struct{}
}

// recentBlocks keeps the last blocks the chain wrote, so that Deliver streams
// (one per peer, all following the top of the chain) send them without each
// reading and decoding them from the block files. Blocks in it are never
// modified again.
type recentBlocks struct {
	mu     sync.RWMutex
	blocks [16]*cb.Block
}

func (r *recentBlocks) put(b *cb.Block) {
	r.mu.Lock()
	r.blocks[b.GetHeader().GetNumber()%uint64(len(r.blocks))] = b
	r.mu.Unlock()
}

// drop forgets b if it is still the block kept for its number.
func (r *recentBlocks) drop(b *cb.Block) {
	r.mu.Lock()
	i := b.GetHeader().GetNumber() % uint64(len(r.blocks))
	if r.blocks[i] == b {
		r.blocks[i] = nil
	}
	r.mu.Unlock()
}

func (r *recentBlocks) get(n uint64) *cb.Block {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if b := r.blocks[n%uint64(len(r.blocks))]; b != nil && b.GetHeader().GetNumber() == n {
		return b
	}
	return nil
}

// recordingStore is the block store the chain writes through: each block it
// appends is remembered in recent.
type recordingStore struct {
	*ledger.BlockStore
	recent *recentBlocks
}

// Append keeps b in recent before the store appends it: the append wakes
// the Deliver streams waiting for the next block, and a stream that looked
// in recent before b was there would read and decode it from the block file
// (which, measured with blocks of 10 transactions, was most of the
// orderer's Deliver CPU). No stream asks for b before the append raised the
// height past it; if the append fails, b is dropped again.
func (s recordingStore) Append(b *cb.Block) error {
	s.recent.put(b)
	if err := s.BlockStore.Append(b); err != nil {
		s.recent.drop(b)
		return err
	}
	return nil
}

func (c *channel) close() {
	if c.chain != nil {
		c.chain.Halt()
		<-c.watchDone
	}
	c.store.Close()
}

// done is closed when the channel does not order (any more).
func (c *channel) done() <-chan struct{} {
	if c.chain == nil {
		return c.inactive
	}
	return c.chain.Done()
}

func (c *channel) submit(ctx context.Context, env []byte) (<-chan error, error) {
	if c.chain == nil {
		return nil, c.inactiveErr()
	}
	wait, err := c.chain.Submit(ctx, env)
	if err != nil {
		return nil, c.chainErr(err)
	}
	return wait, nil
}

func (c *channel) inactiveErr() error {
	return fmt.Errorf("%w: channel %s is inactive on this orderer: it is not one of the channel's consenters; broadcast to a consenter", broadcast.ErrUnavailable, c.name)
}

// submitFramed is submit for an envelope after raftchain.EntryPrefix free
// bytes (raftchain.Chain.SubmitFramed).
func (c *channel) submitFramed(ctx context.Context, framed []byte) (<-chan error, error) {
	if c.chain == nil {
		return nil, c.inactiveErr()
	}
	wait, err := c.chain.SubmitFramed(ctx, framed)
	if err != nil {
		return nil, c.chainErr(err)
	}
	return wait, nil
}

// await waits for the chain's answer on wait (from submit), in the
// broadcast stream's own goroutine rather than one per envelope: the answer
// mapped to broadcast's sentinels, ErrHalted when the chain stops without
// answering, or ctx's error.
func (c *channel) await(ctx context.Context, wait <-chan error) error {
	select {
	case err := <-wait:
		return c.chainErr(err)
	case <-c.chain.Done():
		// The chain may have answered just before it stopped.
		select {
		case err := <-wait:
			return c.chainErr(err)
		default:
		}
		err := raftchain.ErrHalted
		if cause := c.chain.Err(); cause != nil {
			err = fmt.Errorf("%w: %w", raftchain.ErrHalted, cause)
		}
		return c.chainErr(err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// chainErr maps raftchain's sentinels to the ones broadcast branches on.
func (c *channel) chainErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raftchain.ErrMessageTooLarge):
		return fmt.Errorf("%w: %v", broadcast.ErrTooLarge, err)
	case errors.Is(err, raftchain.ErrStaleConfig):
		return fmt.Errorf("%w: %v; fetch the channel's latest config block and compute the update again", broadcast.ErrRefused, err)
	case errors.Is(err, raftchain.ErrEvicted):
		return fmt.Errorf("%w: channel %s is inactive on this orderer: %v; broadcast to one of the channel's consenters", broadcast.ErrUnavailable, c.name, err)
	case errors.Is(err, raftchain.ErrNoLeader):
		return fmt.Errorf("%w: %v", broadcast.ErrUnavailable, err)
	case errors.Is(err, raftchain.ErrNotLeader), errors.Is(err, raftchain.ErrSubmitTimeout):
		return fmt.Errorf("%w: %v%s; retry, or broadcast to another orderer", broadcast.ErrUnavailable, err, c.leaderHint())
	case errors.Is(err, raftchain.ErrHalted):
		return fmt.Errorf("%w: %v", broadcast.ErrUnavailable, err)
	}
	return err
}

// leaderHint names the Raft leader the chain knows of, for error messages.
func (c *channel) leaderHint() string {
	if c.chain == nil {
		return ""
	}
	id := c.chain.Leader()
	if id == 0 {
		return " (no Raft leader known now)"
	}
	if ms := c.members.Load(); ms != nil {
		for _, m := range *ms {
			if m.ID == id {
				return fmt.Sprintf(" (Raft leader: consenter %d at %s)", id, m.Endpoint)
			}
		}
	}
	return fmt.Sprintf(" (Raft leader: consenter %d)", id)
}

// broadcastChannel and deliverChannel adapt a channel to the small interfaces
// each handler declares.
type broadcastChannel struct {
	*channel
	signer protos.Signer // the orderer's identity, which signs CONFIG envelopes
}

// ProcessConfigUpdate validates a CONFIG_UPDATE against the channel's current
// config and returns the CONFIG envelope to order, signed by the orderer.
// When the update changes the consenters, the chain must accept the change
// (one consenter at a time, quorum kept), else it is refused naming them.
func (b broadcastChannel) ProcessConfigUpdate(env *cb.Envelope) (*cb.Envelope, error) {
	if b.chain == nil {
		return nil, fmt.Errorf("channel %s is inactive on this orderer (not a consenter); send the config update to a consenter", b.name)
	}
	cur := b.bundle.Load()
	ce, err := cur.ProposeConfigUpdate(env)
	if err != nil {
		return nil, err
	}
	nb, err := channelconfig.NewBundle(b.name, ce.Config)
	if err != nil {
		return nil, fmt.Errorf("channel %s: the updated config does not parse: %w", b.name, err)
	}
	if added, removed := channelconfig.ConsenterChanges(cur.Orderer().Consenters, nb.Orderer().Consenters); len(added)+len(removed) > 0 {
		if err := b.chain.ValidateConsenters(nb.Orderer().Consenters); err != nil {
			return nil, fmt.Errorf("consenter change (adding [%s], removing [%s]): %w", consenterNames(added), consenterNames(removed), err)
		}
	}
	return channelconfig.ConfigTxEnvelope(b.name, ce, b.signer)
}

func (b broadcastChannel) Policy(path string) (broadcast.Policy, error) {
	return b.bundle.Load().Policy(path)
}
func (b broadcastChannel) AbsoluteMaxBytes() uint32 {
	return b.bundle.Load().Orderer().AbsoluteMaxBytes
}
func (b broadcastChannel) Submit(ctx context.Context, env []byte) (<-chan error, error) {
	return b.submit(ctx, env)
}

// FramePrefix and SubmitFramed make broadcastChannel a broadcast.Framer:
// admission encodes each envelope with room for its Raft entry prefix.
func (b broadcastChannel) FramePrefix() int { return raftchain.EntryPrefix }
func (b broadcastChannel) SubmitFramed(ctx context.Context, framed []byte) (<-chan error, error) {
	return b.submitFramed(ctx, framed)
}
func (b broadcastChannel) Await(ctx context.Context, wait <-chan error) error {
	return b.await(ctx, wait)
}

type deliverChannel struct{ *channel }

func (d deliverChannel) Policy(path string) (deliver.Policy, error) {
	return d.bundle.Load().Policy(path)
}
func (d deliverChannel) Height() uint64 { return d.store.Height() }

// Sequence is the sequence of the config in force: Deliver streams judge
// their requesters again when it grows.
func (d deliverChannel) Sequence() uint64 { return d.bundle.Load().Sequence() }
func (d deliverChannel) Block(n uint64) (*cb.Block, error) {
	if b := d.recent.get(n); b != nil {
		return b, nil
	}
	return d.store.Block(n)
}
func (d deliverChannel) WaitHeight(ctx context.Context, h uint64) error {
	return d.store.WaitHeight(ctx, h)
}
func (d deliverChannel) Errored() <-chan struct{} { return d.done() }

type broadcastChannels struct{ r *Registrar }

func (b broadcastChannels) Channel(name string) (broadcast.Channel, bool) {
	c, ok := b.r.channel(name)
	if !ok {
		return nil, false
	}
	return broadcastChannel{c, b.r.signer}, true
}

type deliverChannels struct{ r *Registrar }

func (d deliverChannels) Channel(name string) (deliver.Channel, bool) {
	c, ok := d.r.channel(name)
	if !ok {
		return nil, false
	}
	return deliverChannel{c}, true
}
