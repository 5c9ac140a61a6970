package privdata

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/message"
)

// Push sends p to the peers `to` and waits for minAck acknowledgements
// (or ctx; with minAck 0, for every peer's answer or ctx); it returns how
// many acknowledged and, when fewer than minAck did, an error naming the
// peers that failed and why.
func (c *Channel) Push(ctx context.Context, p *gp.PrivatePayload, to []comm.RemotePeer, minAck int) (int, error) {
	if p == nil {
		return 0, fmt.Errorf("push private data on channel %s: no payload", c.cfg.ChannelID)
	}
	what := fmt.Sprintf("private data of transaction %s, collection %s of chaincode %s on channel %s", p.TxId, p.CollectionName, p.Namespace, c.cfg.ChannelID)
	nonce := rand.Uint64()
	msg := &gp.GossipMessage{
		Channel: []byte(c.cfg.ChannelID),
		Tag:     gp.GossipMessage_CHAN_ONLY,
		Nonce:   nonce,
		Content: &gp.GossipMessage_PrivateData{PrivateData: &gp.PrivateDataMessage{Payload: p}},
	}
	// What a receiver would drop unanswered is refused here, with the reason.
	if err := message.CheckFields(msg); err != nil {
		return 0, fmt.Errorf("push %s: %w", what, err)
	}
	if len(to) == 0 {
		if minAck > 0 {
			return 0, fmt.Errorf("push %s: no peers to send to, %d acknowledgement(s) required", what, minAck)
		}
		return 0, nil
	}
	// Unsigned, as Fabric sends it: the handshake vouches for the sender.
	env, err := message.NoopSign(msg)
	if err != nil {
		return 0, fmt.Errorf("push %s: %w", what, err)
	}
	results := c.deps.Sender.SendWithAck(ctx, env, nonce, minAck, to...)
	acked := 0
	var failed []string
	for _, r := range results {
		if r.Err == nil {
			acked++
			continue
		}
		failed = append(failed, fmt.Sprintf("%s: %v", peerName(r.Peer), r.Err))
	}
	if len(failed) > 0 {
		c.log.Debug("private data push not acknowledged by every peer", "tx_id", p.TxId, "namespace", p.Namespace,
			"collection", p.CollectionName, "acked", acked, "failed", strings.Join(failed, "; "))
	}
	if acked < minAck {
		return acked, fmt.Errorf("push %s: %d of %d peer(s) acknowledged, %d required: %s", what, acked, len(to), minAck, strings.Join(failed, "; "))
	}
	return acked, nil
}

// Pull asks the peers `from`, one after the other in the order given, for
// the digests still unanswered, and returns the elements received until
// every digest is answered, the peers are exhausted or ctx ends. Each peer
// has ResponseTimeout to answer; an element with no payload does not
// answer its digest, and elements for digests not asked are dropped. The
// error, when some digests stay unanswered, says what each peer did.
func (c *Channel) Pull(ctx context.Context, digests []*gp.PvtDataDigest, from []comm.RemotePeer) ([]*gp.PvtDataElement, error) {
	var missing []*gp.PvtDataDigest
	seen := map[digestKey]bool{}
	for _, d := range digests {
		if d == nil {
			continue
		}
		k := keyOf(d)
		if !seen[k] {
			seen[k] = true
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	asked := len(missing)
	var out []*gp.PvtDataElement
	var report []string
	for _, p := range from {
		if len(missing) == 0 || ctx.Err() != nil {
			break
		}
		before := len(missing)
		var got []*gp.PvtDataElement
		var err error
		got, missing, err = c.pullFrom(ctx, p, missing)
		out = append(out, got...)
		switch {
		case err != nil:
			report = append(report, fmt.Sprintf("%s: %v", peerName(p), err))
		case len(missing) > 0:
			report = append(report, fmt.Sprintf("%s served %d of %d", peerName(p), before-len(missing), before))
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	err := fmt.Errorf("pull private data on channel %s: %d of %d digest(s) unanswered (first: %s) after asking %d peer(s)",
		c.cfg.ChannelID, len(missing), asked, digestName(missing[0]), len(from))
	if len(report) > 0 {
		err = fmt.Errorf("%w: %s", err, strings.Join(report, "; "))
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", err, ctx.Err())
	}
	return out, err
}

// pullFrom asks p for missing, MaxDigests at a time, and returns what it
// served and what is still missing.
func (c *Channel) pullFrom(ctx context.Context, p comm.RemotePeer, missing []*gp.PvtDataDigest) ([]*gp.PvtDataElement, []*gp.PvtDataDigest, error) {
	var got []*gp.PvtDataElement
	var left []*gp.PvtDataDigest
	for start := 0; start < len(missing); start += c.cfg.MaxDigests {
		batch := missing[start:min(start+c.cfg.MaxDigests, len(missing))]
		answered, err := c.request(ctx, p, batch)
		if err != nil {
			return got, append(left, missing[start:]...), err
		}
		for _, d := range batch {
			if e, ok := answered[keyOf(d)]; ok {
				got = append(got, e)
			} else {
				left = append(left, d)
			}
		}
	}
	return got, left, nil
}

// request sends one PrivateReq for batch to p and waits for its answer:
// the elements that answer a digest of batch, by digest.
func (c *Channel) request(ctx context.Context, p comm.RemotePeer, batch []*gp.PvtDataDigest) (map[digestKey]*gp.PvtDataElement, error) {
	nonce, answers, err := c.await(p.PKIID)
	if err != nil {
		return nil, err
	}
	defer c.forget(nonce)
	env, err := message.NoopSign(&gp.GossipMessage{
		Channel: []byte(c.cfg.ChannelID),
		Tag:     gp.GossipMessage_CHAN_ONLY,
		Nonce:   nonce,
		Content: &gp.GossipMessage_PrivateReq{PrivateReq: &gp.RemotePvtDataRequest{Digests: batch}},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ResponseTimeout)
	defer cancel()
	info, err := c.deps.Sender.SendTo(ctx, env, p)
	if err != nil {
		return nil, err
	}
	c.expect(nonce, info.PKIID)
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("no answer within %s", c.cfg.ResponseTimeout)
			}
			return nil, ctx.Err()
		case r := <-answers:
			if string(r.from.PKIID) != string(info.PKIID) {
				c.log.Warn("private data response from a peer not asked dropped", "peer", r.from.PKIID.String(), "endpoint", r.from.Endpoint, "asked", info.PKIID.String())
				continue
			}
			want := map[digestKey]bool{}
			for _, d := range batch {
				want[keyOf(d)] = true
			}
			answered := map[digestKey]*gp.PvtDataElement{}
			for _, e := range r.elements {
				k := keyOf(e.Digest)
				if !want[k] {
					c.log.Debug("private data element not asked for dropped", "peer", info.PKIID.String(), "digest", digestName(e.Digest))
					continue
				}
				if len(e.Payload) > 0 && answered[k] == nil {
					answered[k] = e
				}
			}
			return answered, nil
		}
	}
}

// await registers a pull awaiting an answer from peer (nil: not known yet)
// under a fresh nonce.
func (c *Channel) await(peer identity.PKIID) (uint64, <-chan response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, nil, fmt.Errorf("gossip private data of channel %s is closed", c.cfg.ChannelID)
	}
	for {
		n := rand.Uint64()
		if _, taken := c.pending[n]; taken {
			continue
		}
		// Room for a stray answer besides the one awaited, until the
		// peer is known and strays are dropped on arrival.
		w := &awaiting{peer: peer, answers: make(chan response, 2)}
		c.pending[n] = w
		return n, w.answers, nil
	}
}

// expect records which peer must answer nonce, once the connection named it.
func (c *Channel) expect(nonce uint64, peer identity.PKIID) {
	c.mu.Lock()
	if w := c.pending[nonce]; w != nil && w.peer == nil {
		w.peer = peer
	}
	c.mu.Unlock()
}

func (c *Channel) forget(nonce uint64) {
	c.mu.Lock()
	delete(c.pending, nonce)
	c.mu.Unlock()
}

// digestKey identifies a private write set: Fabric's DigKey.
type digestKey struct {
	txID, namespace, collection string
	block, tx                   uint64
}

func keyOf(d *gp.PvtDataDigest) digestKey {
	return digestKey{d.GetTxId(), d.GetNamespace(), d.GetCollection(), d.GetBlockSeq(), d.GetSeqInBlock()}
}

func digestName(d *gp.PvtDataDigest) string {
	s := fmt.Sprintf("block %d transaction %d, collection %s of chaincode %s", d.GetBlockSeq(), d.GetSeqInBlock(), d.GetCollection(), d.GetNamespace())
	if d.GetTxId() != "" {
		s += " (" + d.GetTxId() + ")"
	}
	return s
}

func peerName(p comm.RemotePeer) string {
	if len(p.PKIID) == 0 {
		return "peer " + p.Endpoint
	}
	return fmt.Sprintf("peer %s (PKI-ID %s)", p.Endpoint, p.PKIID)
}
