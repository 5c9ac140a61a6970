package orderer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/orderer/broadcast"
	"github.com/weft-ledger/weft/orderer/deliver"
	"github.com/weft-ledger/weft/orderer/raftchain"
	"github.com/weft-ledger/weft/protos"
)

// channel is one served channel: its store, its config and its chain.
type channel struct {
	name   string
	bundle *channelconfig.Bundle
	store  *ledger.BlockStore
	chain  *raftchain.Chain
	nodeID uint64
	recent *recentBlocks
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

func (s recordingStore) Append(b *cb.Block) error {
	if err := s.BlockStore.Append(b); err != nil {
		return err
	}
	s.recent.put(b)
	return nil
}

func (c *channel) close() {
	c.chain.Halt()
	c.store.Close()
}

func (c *channel) submit(ctx context.Context, env []byte) (<-chan error, error) {
	wait, err := c.chain.Submit(ctx, env)
	if err != nil {
		return nil, chainErr(err)
	}
	out := make(chan error, 1)
	go func() {
		select {
		case err := <-wait:
			out <- chainErr(err)
		case <-c.chain.Done():
			out <- chainErr(raftchain.ErrHalted)
		}
	}()
	return out, nil
}

// chainErr maps raftchain's sentinels to the ones broadcast branches on.
func chainErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raftchain.ErrMessageTooLarge):
		return fmt.Errorf("%w: %v", broadcast.ErrTooLarge, err)
	case errors.Is(err, raftchain.ErrNotLeader), errors.Is(err, raftchain.ErrHalted):
		return fmt.Errorf("%w: %v", broadcast.ErrUnavailable, err)
	}
	return err
}

// broadcastChannel and deliverChannel adapt a channel to the small interfaces
// each handler declares.
type broadcastChannel struct {
	*channel
	signer protos.Signer // the orderer's identity, which signs CONFIG envelopes
}

// ProcessConfigUpdate validates a CONFIG_UPDATE against the channel's current
// config and returns the CONFIG envelope to order, signed by the orderer.
func (b broadcastChannel) ProcessConfigUpdate(env *cb.Envelope) (*cb.Envelope, error) {
	ce, err := b.bundle.ProposeConfigUpdate(env)
	if err != nil {
		return nil, err
	}
	return channelconfig.ConfigTxEnvelope(b.name, ce, b.signer)
}

func (b broadcastChannel) Policy(path string) (broadcast.Policy, error) { return b.bundle.Policy(path) }
func (b broadcastChannel) AbsoluteMaxBytes() uint32                     { return b.bundle.Orderer().AbsoluteMaxBytes }
func (b broadcastChannel) Submit(ctx context.Context, env []byte) (<-chan error, error) {
	return b.submit(ctx, env)
}

type deliverChannel struct{ *channel }

func (d deliverChannel) Policy(path string) (deliver.Policy, error) { return d.bundle.Policy(path) }
func (d deliverChannel) Height() uint64                             { return d.store.Height() }
func (d deliverChannel) Block(n uint64) (*cb.Block, error) {
	if b := d.recent.get(n); b != nil {
		return b, nil
	}
	return d.store.Block(n)
}
func (d deliverChannel) WaitHeight(ctx context.Context, h uint64) error {
	return d.store.WaitHeight(ctx, h)
}
func (d deliverChannel) Errored() <-chan struct{} { return d.chain.Done() }

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
