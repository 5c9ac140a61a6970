package channel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/message"
)

// blockStore keeps the newest committed blocks for block pull to offer
// (Fabric's maxBlockCountToStore). A block that came by gossip is kept as
// the envelope it came in; one this peer pulled from the orderers is kept as
// the block, and its envelope is built when a peer first asks for it, so a
// peer with nobody to gossip to never encodes its blocks a second time. The
// Channel's mutex guards it.
type blockStore struct {
	limit  int
	blocks map[uint64]*storedBlock
}

// storedBlock is a block's DataMessage envelope, or the block to build it
// from.
type storedBlock struct {
	env   *gp.Envelope
	block *cb.Block
}

func newBlockStore(limit int) *blockStore {
	return &blockStore{limit: max(limit, 1), blocks: map[uint64]*storedBlock{}}
}

func (s *blockStore) add(n uint64, b *storedBlock) {
	s.blocks[n] = b
	for len(s.blocks) > s.limit {
		delete(s.blocks, slices.Min(slices.Collect(maps.Keys(s.blocks))))
	}
}

// envelope returns block n's envelope, building it on first use; nil when
// the store does not hold n or it cannot be encoded.
func (s *blockStore) envelope(channelID string, n uint64) (*gp.Envelope, error) {
	b := s.blocks[n]
	if b == nil {
		return nil, nil
	}
	if b.env == nil {
		env, err := dataMessage(channelID, b.block)
		if err != nil {
			return nil, err
		}
		b.env, b.block = env, nil
	}
	return b.env, nil
}

// dataMessage builds the DataMessage envelope of a block: unsigned, tag
// CHAN_AND_ORG, as Fabric's deliver client gossips blocks (the orderer's
// signature in the block is the proof).
func dataMessage(channelID string, block *cb.Block) (*gp.Envelope, error) {
	data, err := proto.Marshal(block)
	if err != nil {
		return nil, fmt.Errorf("marshal block %d: %w", block.GetHeader().GetNumber(), err)
	}
	return message.NoopSign(&gp.GossipMessage{
		Channel: []byte(channelID),
		Tag:     gp.GossipMessage_CHAN_AND_ORG,
		Content: &gp.GossipMessage_DataMsg{DataMsg: &gp.DataMessage{
			Payload: &gp.Payload{SeqNum: block.GetHeader().GetNumber(), Data: data},
		}},
	})
}

// blockOf decodes the block of a DataMessage payload and checks that its
// number is the payload's.
func blockOf(p *gp.Payload) (*cb.Block, error) {
	if p == nil {
		return nil, errors.New("data message without payload")
	}
	block := &cb.Block{}
	if err := proto.Unmarshal(p.Data, block); err != nil {
		return nil, fmt.Errorf("payload %d is not a block: %w", p.SeqNum, err)
	}
	if block.Header == nil || block.Data == nil {
		return nil, fmt.Errorf("block %d has no header or no data", p.SeqNum)
	}
	if block.Header.Number != p.SeqNum {
		return nil, fmt.Errorf("payload sequence %d carries block %d", p.SeqNum, block.Header.Number)
	}
	return block, nil
}

// Gossip pushes a block this peer pulled from the orderer (as leader) to
// propagatePeerNum peers of its organisation in the channel, and offers it
// to block pull. It does not commit the block: the peer does, before; the
// block must not change afterwards, since block pull may encode it later.
func (c *Channel) Gossip(block *cb.Block) {
	n := block.GetHeader().GetNumber()
	targets := c.blockPeers(nil)
	if len(targets) == 0 {
		c.mu.Lock()
		c.store.add(n, &storedBlock{block: block})
		c.mu.Unlock()
		return
	}
	env, err := dataMessage(c.cfg.ChannelID, block)
	if err != nil {
		c.log.Error("cannot gossip block", "error", err)
		return
	}
	c.mu.Lock()
	c.store.add(n, &storedBlock{env: env})
	c.mu.Unlock()
	c.deps.Sender.Send(env, addresses(targets, c.cfg.PropagatePeerNum)...)
}

// push sends a block to propagatePeerNum peers of our organisation that
// are in the channel (have published state info), other than skip. Blocks
// never leave the organisation, as in Fabric.
func (c *Channel) push(env *gp.Envelope, skip identity.PKIID) {
	targets := c.blockPeers(skip)
	if len(targets) > 0 {
		c.deps.Sender.Send(env, addresses(targets, c.cfg.PropagatePeerNum)...)
	}
}

// blockPeers are the alive peers that may get our blocks by push or pull:
// our organisation's peers whose state info we hold.
func (c *Channel) blockPeers(skip identity.PKIID) []Member {
	if !c.orgInChannel(c.cfg.Self.MSPID) {
		return nil
	}
	c.mu.Lock()
	known := map[string]bool{}
	for id := range c.states {
		known[id] = true
	}
	c.mu.Unlock()
	return c.members(func(m Member) bool {
		return m.MSPID == c.cfg.Self.MSPID && known[string(m.PKIID)] && !bytes.Equal(m.PKIID, skip)
	})
}

func (c *Channel) pullPeers() []comm.RemotePeer { return addresses(c.blockPeers(nil), -1) }

// wantBlock is block pull's ingress filter: blocks below our height are not
// worth requesting.
func (c *Channel) wantBlock(digest []byte) bool {
	n, err := strconv.ParseUint(string(digest), 10, 64)
	return err == nil && n >= c.deps.Committer.Height()
}

func (c *Channel) handleDataMessage(m *comm.ReceivedMessage, log *slog.Logger) {
	block, err := blockOf(m.Message.GetDataMsg().Payload)
	if err != nil {
		log.Warn("pushed block refused", "error", err)
		return
	}
	c.enqueue(pending{block: block, env: m.Envelope, from: m.Conn.PKIID, source: fromPush}, log)
}

// handlePull passes block pull messages on to the pull exchange; only
// peers of our organisation with state info in the channel take part, as
// in Fabric.
func (c *Channel) handlePull(m *comm.ReceivedMessage, log *slog.Logger) {
	if m.Conn.MSPID != c.cfg.Self.MSPID {
		log.Warn("block pull message from another organisation dropped")
		return
	}
	c.mu.Lock()
	_, known := c.states[string(m.Conn.PKIID)]
	c.mu.Unlock()
	if !known {
		log.Debug("block pull message from a peer without state info in the channel dropped")
		return
	}
	c.puller.Handle(m)
}

// enqueue puts a received block in the ordered buffer for the commit loop.
func (c *Channel) enqueue(p pending, log *slog.Logger) bool {
	height := c.deps.Committer.Height()
	c.mu.Lock()
	err := c.buffer.add(p.block.Header.Number, height, p)
	c.mu.Unlock()
	if err != nil {
		if errors.Is(err, errBlockTooFar) {
			log.Info("received block not buffered", "source", p.source.String(), "error", err)
		} else {
			log.Debug("received block not buffered", "source", p.source.String(), "error", err)
		}
		return false
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// commitLoop hands buffered blocks to the committer in order. It is the
// only caller of Committer.Commit in this package.
func (c *Channel) commitLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		for ctx.Err() == nil && c.commitNext() {
		}
	}
}

// commitNext commits the buffered block at the ledger height, if any, and
// reports whether it found one.
func (c *Channel) commitNext() bool {
	height := c.deps.Committer.Height()
	c.mu.Lock()
	p, ok := c.buffer.next(height)
	c.mu.Unlock()
	if !ok {
		return false
	}
	n := p.block.Header.Number
	if err := c.deps.Committer.Commit(p.block); err != nil {
		// Dropped: another copy of the block (push, pull, state transfer)
		// may still come from an honest peer.
		c.log.Warn("block received by gossip refused by the ledger", "block", n,
			"source", p.source.String(), "peer", p.from.String(), "error", err)
		return true
	}
	kept := &storedBlock{env: p.env}
	if kept.env == nil {
		kept.block = p.block
	}
	c.mu.Lock()
	c.store.add(n, kept)
	if n+1 > c.height {
		c.height = n + 1
		c.selfChanged = true
		c.unpublished = true
	}
	close(c.heightChanged)
	c.heightChanged = make(chan struct{})
	c.mu.Unlock()
	c.log.Debug("committed block received by gossip", "block", n, "source", p.source.String(), "peer", p.from.String())
	if p.source == fromPush && p.env != nil {
		c.push(p.env, p.from)
	}
	return true
}

// pullStore is the Channel as block pull's store (gossip/pull.Store):
// committed blocks out, received blocks into the ordered buffer.
type pullStore Channel

func (s *pullStore) Digests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, 0, len(s.store.blocks))
	for n := range s.store.blocks {
		out = append(out, []byte(strconv.FormatUint(n, 10)))
	}
	return out
}

func (s *pullStore) Get(digest []byte) *gp.Envelope {
	n, err := strconv.ParseUint(string(digest), 10, 64)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	env, err := s.store.envelope(s.cfg.ChannelID, n)
	if err != nil {
		s.log.Error("cannot offer committed block to block pull", "block", n, "error", err)
	}
	return env
}

func (s *pullStore) Add(env *gp.Envelope, msg *gp.GossipMessage) error {
	c := (*Channel)(s)
	if string(msg.Channel) != c.cfg.ChannelID {
		return fmt.Errorf("pulled item is of channel %q, not %s", msg.Channel, c.cfg.ChannelID)
	}
	if msg.GetDataMsg() == nil {
		return fmt.Errorf("pulled item of channel %s is not a block but %s", c.cfg.ChannelID, message.Kind(msg))
	}
	block, err := blockOf(msg.GetDataMsg().Payload)
	if err != nil {
		return fmt.Errorf("pulled block of channel %s: %w", c.cfg.ChannelID, err)
	}
	c.enqueue(pending{block: block, env: env, source: fromPull}, c.log)
	return nil
}
