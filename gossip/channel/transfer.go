package channel

import (
	"context"
	"log/slog"
	"math/rand/v2"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/message"
)

// transferLoop is state transfer (Fabric's anti-entropy): every
// checkInterval, when a peer of the channel advertises a height above ours,
// ask for the missing blocks in batches.
func (c *Channel) transferLoop(ctx context.Context) {
	c.every(ctx, c.cfg.StateCheckInterval, func() {
		ours := c.deps.Committer.Height()
		top := maxHeight(c.Peers())
		if ours == 0 || ours >= top {
			return
		}
		c.fetchBlocks(ctx, ours, top-1)
	})
}

// fetchBlocks asks peers for blocks start..end (inclusive), at most
// batchSize per request, each request to a random peer whose height covers
// it, retrying maxRetries times on silence.
func (c *Channel) fetchBlocks(ctx context.Context, start, end uint64) {
	batch := uint64(c.cfg.StateBatchSize)
	for next := start; next <= end; {
		last := min(end, next+batch-1)
		// Blocks past the buffer would be refused: let commits catch up.
		if !c.waitHeight(ctx, last+1-min(last+1, uint64(c.cfg.StateBlockBufferSize))) {
			return
		}
		got, ok := c.fetchBatch(ctx, next, last)
		if !ok {
			return
		}
		next = got + 1
	}
}

// fetchBatch asks for blocks first..last and returns the highest block
// number received.
func (c *Channel) fetchBatch(ctx context.Context, first, last uint64) (uint64, bool) {
	nonce := rand.Uint64() | 1 // never 0, which means "no request"
	req, err := message.NoopSign(&gp.GossipMessage{
		Nonce:   nonce,
		Channel: []byte(c.cfg.ChannelID),
		Tag:     gp.GossipMessage_CHAN_OR_ORG,
		Content: &gp.GossipMessage_StateRequest{StateRequest: &gp.RemoteStateRequest{StartSeqNum: first, EndSeqNum: last}},
	})
	if err != nil {
		c.log.Error("cannot build state request", "error", err)
		return 0, false
	}
	c.mu.Lock()
	c.transferNonce = nonce
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.transferNonce = 0
		c.mu.Unlock()
	}()
	for try := 0; try <= c.cfg.StateMaxRetries; try++ {
		var from []PeerState
		for _, p := range c.Peers() {
			if p.Height > last {
				from = append(from, p)
			}
		}
		if len(from) == 0 {
			c.log.Info("state transfer: no peer has the missing blocks", "first", first, "last", last)
			return 0, false
		}
		p := from[rand.IntN(len(from))]
		ep := p.InternalEndpoint
		if ep == "" {
			ep = p.Endpoint
		}
		c.log.Debug("state transfer: requesting blocks", "first", first, "last", last, "peer", p.PKIID.String(), "endpoint", ep)
		c.deps.Sender.Send(req, comm.RemotePeer{Endpoint: ep, PKIID: p.PKIID})
		timeout := c.clock.After(c.cfg.StateResponseTimeout)
	wait:
		for {
			select {
			case <-ctx.Done():
				return 0, false
			case <-timeout:
				break wait
			case resp := <-c.responses:
				if top, ok := c.takeResponse(resp, first, last, p); ok {
					return top, true
				}
			}
		}
	}
	c.log.Warn("state transfer: no answer", "first", first, "last", last, "attempts", c.cfg.StateMaxRetries+1)
	return 0, false
}

// takeResponse buffers the blocks of a response that fall in first..last
// and returns the highest one buffered.
func (c *Channel) takeResponse(resp *gp.RemoteStateResponse, first, last uint64, from PeerState) (uint64, bool) {
	log := c.log.With("peer", from.PKIID.String())
	var top uint64
	found := false
	for _, p := range resp.Payloads {
		if p.GetSeqNum() < first || p.GetSeqNum() > last {
			continue
		}
		block, err := blockOf(p)
		if err != nil {
			log.Warn("state transfer: block refused", "error", err)
			continue
		}
		c.enqueue(pending{block: block, from: from.PKIID, source: fromTransfer}, log)
		top, found = max(top, p.SeqNum), true
	}
	return top, found
}

// waitHeight waits until the ledger reaches h, for at most
// responseTimeout without progress.
func (c *Channel) waitHeight(ctx context.Context, h uint64) bool {
	for {
		c.mu.Lock()
		changed := c.heightChanged
		c.mu.Unlock()
		if c.deps.Committer.Height() >= h {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		case <-c.clock.After(c.cfg.StateResponseTimeout):
			return c.deps.Committer.Height() >= h
		}
	}
}

// handleStateRequest answers a RemoteStateRequest from a member of the
// channel with the blocks we have in its range.
func (c *Channel) handleStateRequest(m *comm.ReceivedMessage, log *slog.Logger) {
	if err := c.deps.Policy.Readers(m.Conn.Identity, m.Conn.SignedData, m.Conn.Signature); err != nil {
		log.Warn("state request refused: the peer is not a member of the channel", "error", err)
		return
	}
	req := m.Message.GetStateRequest()
	start, end := req.StartSeqNum, req.EndSeqNum
	// Fabric refuses a range whose end is more than batchSize past its
	// start; its requests span batchSize+1 blocks (both ends included).
	// The answer holds at most batchSize blocks: a Fabric requester asks
	// again from the block after the last it got.
	batch := uint64(c.cfg.StateBatchSize)
	if start > end || end-start > batch {
		log.Warn("state request refused: bad range", "start", start, "end", end, "batch_size", batch)
		return
	}
	resp := &gp.RemoteStateResponse{}
	if h := c.deps.Committer.Height(); h > 0 {
		for n := start; n <= min(end, start+batch-1, h-1); n++ {
			block, err := c.deps.Committer.Block(n)
			if err != nil {
				log.Error("state request: cannot read block", "block", n, "error", err)
				continue
			}
			data, err := proto.Marshal(block)
			if err != nil {
				log.Error("state request: cannot marshal block", "block", n, "error", err)
				continue
			}
			resp.Payloads = append(resp.Payloads, &gp.Payload{SeqNum: n, Data: data})
		}
	}
	env, err := message.NoopSign(&gp.GossipMessage{
		Nonce:   m.Message.Nonce,
		Channel: []byte(c.cfg.ChannelID),
		Tag:     gp.GossipMessage_CHAN_OR_ORG,
		Content: &gp.GossipMessage_StateResponse{StateResponse: resp},
	})
	if err != nil {
		log.Error("cannot build state response", "error", err)
		return
	}
	if err := m.Respond(env); err != nil {
		log.Debug("cannot send state response", "error", err)
	}
}

// handleStateResponse hands a response to the state transfer waiting for
// it; responses nobody waits for are dropped.
func (c *Channel) handleStateResponse(m *comm.ReceivedMessage, log *slog.Logger) {
	if err := c.deps.Policy.Readers(m.Conn.Identity, m.Conn.SignedData, m.Conn.Signature); err != nil {
		log.Warn("state response refused: the peer is not a member of the channel", "error", err)
		return
	}
	c.mu.Lock()
	waiting := c.transferNonce != 0 && c.transferNonce == m.Message.Nonce
	c.mu.Unlock()
	if !waiting {
		log.Debug("state response nobody waits for dropped", "nonce", m.Message.Nonce)
		return
	}
	select {
	case c.responses <- m.Message.GetStateResponse():
	default:
	}
}
