package channel

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/message"
)

// stateEntry is the newest StateInfo of one peer.
type stateEntry struct {
	env   *gp.Envelope
	info  *gp.StateInfo
	mspID string
}

// newer reports whether a is a later PeerTime than b, as Fabric orders
// them: a higher inc_num (a restart) wins, then a higher seq_num.
func newer(a, b *gp.PeerTime) bool {
	if b == nil {
		return true
	}
	if a.GetIncNum() != b.GetIncNum() {
		return a.GetIncNum() > b.GetIncNum()
	}
	return a.GetSeqNum() > b.GetSeqNum()
}

// UpdateHeight sets the ledger height this peer advertises; it is
// published at the next publishStateInfoInterval.
func (c *Channel) UpdateHeight(h uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h != c.height {
		c.height = h
		c.selfChanged = true
		c.unpublished = true
	}
}

// UpdateChaincodes sets the chaincodes this peer advertises and publishes
// them at once, as Fabric does.
func (c *Channel) UpdateChaincodes(ccs []*gp.Chaincode) {
	c.mu.Lock()
	c.chaincodes = cloneChaincodes(ccs)
	c.selfChanged = true
	c.unpublished = true
	c.mu.Unlock()
	c.publishStateInfo(true)
}

func cloneChaincodes(ccs []*gp.Chaincode) []*gp.Chaincode {
	out := make([]*gp.Chaincode, len(ccs))
	for i, cc := range ccs {
		out[i] = proto.Clone(cc).(*gp.Chaincode)
	}
	return out
}

// publishLoop publishes our state info when it changed.
func (c *Channel) publishLoop(ctx context.Context) {
	c.every(ctx, c.cfg.PublishStateInfoInterval, func() { c.publishStateInfo(false) })
}

// requestLoop asks a few peers for the state info they hold, forgets that
// of peers gone, and reaches anchor peers added by a configuration update.
func (c *Channel) requestLoop(ctx context.Context) {
	c.every(ctx, c.cfg.RequestStateInfoInterval, func() {
		c.connectAnchors()
		c.sweepStates()
		c.requestStateInfo()
	})
}

// selfStateInfo signs a new StateInfo of ours when it changed since the
// last one and returns the latest.
func (c *Channel) selfStateInfo() (*gp.Envelope, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.selfChanged && c.selfInfo != nil {
		return c.selfInfo, nil
	}
	// seq_num is the wall time in nanoseconds, as in Fabric, but never
	// repeats, so that receivers take every new message as newer.
	c.stateSeq = max(c.stateSeq+1, uint64(c.clock.Now().UnixNano()))
	msg := &gp.GossipMessage{
		Tag: gp.GossipMessage_CHAN_OR_ORG,
		Content: &gp.GossipMessage_StateInfo{StateInfo: &gp.StateInfo{
			Timestamp:   &gp.PeerTime{IncNum: c.incNum, SeqNum: c.stateSeq},
			PkiId:       c.cfg.Self.PKIID,
			Channel_MAC: c.mac,
			Properties: &gp.Properties{
				LedgerHeight: c.height,
				Chaincodes:   c.chaincodes,
			},
		}},
	}
	env, err := c.sign(msg)
	if err != nil {
		return nil, err
	}
	c.selfInfo = env
	c.selfChanged = false
	return env, nil
}

// publishStateInfo sends our state info to a few peers when it changed (or
// when force is set).
func (c *Channel) publishStateInfo(force bool) {
	c.mu.Lock()
	pending := c.unpublished
	c.mu.Unlock()
	if !pending && !force {
		return
	}
	targets := c.stateInfoTargets(c.cfg.Self.Endpoint != "", nil)
	if len(targets) == 0 {
		return // nobody to tell yet: it stays pending
	}
	env, err := c.selfStateInfo()
	if err != nil {
		c.log.Error("cannot sign own state info", "error", err)
		return
	}
	c.mu.Lock()
	c.unpublished = false
	c.mu.Unlock()
	c.deps.Sender.Send(env, addresses(targets, c.cfg.PropagatePeerNum)...)
}

// stateInfoTargets are the peers a StateInfo goes to: every organisation of
// the channel when its creator has an external endpoint, only ours
// otherwise (Fabric's gossipBatch); never the peers in skip.
func (c *Channel) stateInfoTargets(external bool, skip []identity.PKIID) []Member {
	orgs := c.cfg.Orgs()
	return c.members(func(m Member) bool {
		for _, s := range skip {
			if bytes.Equal(s, m.PKIID) {
				return false
			}
		}
		if external {
			return slices.Contains(orgs, m.MSPID)
		}
		return m.MSPID == c.cfg.Self.MSPID
	})
}

// requestStateInfo asks a few peers of the channel's organisations for the
// state info they hold.
func (c *Channel) requestStateInfo() {
	orgs := c.cfg.Orgs()
	targets := c.members(func(m Member) bool { return slices.Contains(orgs, m.MSPID) })
	if len(targets) == 0 {
		return
	}
	env, err := message.NoopSign(&gp.GossipMessage{
		Tag: gp.GossipMessage_CHAN_OR_ORG,
		Content: &gp.GossipMessage_StateInfoPullReq{StateInfoPullReq: &gp.StateInfoPullRequest{
			Channel_MAC: c.mac,
		}},
	})
	if err != nil {
		c.log.Error("cannot build state info pull request", "error", err)
		return
	}
	c.deps.Sender.Send(env, addresses(targets, c.cfg.PullPeerNum)...)
}

// sweepStates forgets the state info of peers membership no longer lists.
func (c *Channel) sweepStates() {
	alive := map[string]bool{}
	for _, m := range c.deps.Members.Alive() {
		alive[string(m.PKIID)] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.states {
		if !alive[id] {
			delete(c.states, id)
		}
	}
}

// checkStateInfo verifies a StateInfo message of another peer: its MAC, that
// its creator's organisation is in the channel, and its signature against
// the channel's Readers policy. It returns the creator's MSP ID.
func (c *Channel) checkStateInfo(env *gp.Envelope, si *gp.StateInfo) (string, error) {
	if !bytes.Equal(si.Channel_MAC, MAC(si.PkiId, c.cfg.ChannelID)) {
		return "", fmt.Errorf("state info of peer %s has a channel MAC that is not of channel %s", identity.PKIID(si.PkiId), c.cfg.ChannelID)
	}
	if si.Timestamp == nil || si.Properties == nil {
		return "", fmt.Errorf("state info of peer %s has no timestamp or no properties", identity.PKIID(si.PkiId))
	}
	mspID, id := c.mspOf(si.PkiId)
	if id == nil {
		return "", fmt.Errorf("state info of peer %s: identity unknown", identity.PKIID(si.PkiId))
	}
	if !c.orgInChannel(mspID) {
		return "", fmt.Errorf("state info of peer %s: organisation %s is not in channel %s", identity.PKIID(si.PkiId), mspID, c.cfg.ChannelID)
	}
	if err := c.deps.Policy.Readers(id, env.Payload, env.Signature); err != nil {
		return "", fmt.Errorf("state info of peer %s (%s): %w", identity.PKIID(si.PkiId), mspID, err)
	}
	return mspID, nil
}

// addState keeps a checked StateInfo when it is newer than the one held.
func (c *Channel) addState(env *gp.Envelope, si *gp.StateInfo, mspID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.states[string(si.PkiId)]
	if ok && !newer(si.Timestamp, old.info.Timestamp) {
		return false
	}
	c.states[string(si.PkiId)] = stateEntry{env: env, info: si, mspID: mspID}
	return true
}

// knownState reports whether the state info of si's creator at si's time
// or later is already held, which spares verifying a repeat.
func (c *Channel) knownState(si *gp.StateInfo) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.states[string(si.PkiId)]
	return ok && !newer(si.Timestamp, old.info.Timestamp)
}

func (c *Channel) handleStateInfo(m *comm.ReceivedMessage, log *slog.Logger) {
	si := m.Message.GetStateInfo()
	if bytes.Equal(si.PkiId, c.cfg.Self.PKIID) || c.knownState(si) {
		return
	}
	mspID, err := c.checkStateInfo(m.Envelope, si)
	if err != nil {
		log.Warn("state info refused", "error", err)
		return
	}
	if !c.addState(m.Envelope, si, mspID) {
		return
	}
	// Forward a new one, as Fabric's channel does, to peers other than
	// the sender and the creator.
	creator, found := c.alive(si.PkiId)
	targets := c.stateInfoTargets(found && creator.Endpoint != "", []identity.PKIID{m.Conn.PKIID, si.PkiId})
	if len(targets) > 0 {
		c.deps.Sender.Send(m.Envelope, addresses(targets, c.cfg.PropagatePeerNum)...)
	}
}

// alive returns the alive member with pkiID.
func (c *Channel) alive(pkiID identity.PKIID) (Member, bool) {
	for _, m := range c.deps.Members.Alive() {
		if bytes.Equal(m.PKIID, pkiID) {
			return m, true
		}
	}
	return Member{}, false
}

func (c *Channel) handleStateInfoPullRequest(m *comm.ReceivedMessage, log *slog.Logger) {
	req := m.Message.GetStateInfoPullReq()
	if !bytes.Equal(req.Channel_MAC, MAC(m.Conn.PKIID, c.cfg.ChannelID)) {
		log.Warn("state info pull request with a channel MAC that is not the sender's for this channel dropped")
		return
	}
	env, err := message.NoopSign(c.snapshot(m.Conn.MSPID))
	if err != nil {
		log.Error("cannot build state info snapshot", "error", err)
		return
	}
	if err := m.Respond(env); err != nil {
		log.Debug("cannot send state info snapshot", "error", err)
	}
}

// snapshot is the state info we hold, as shown to a peer of requesterOrg:
// peers of our organisation without an external endpoint are shown only to
// our organisation (Fabric's createStateInfoSnapshot).
func (c *Channel) snapshot(requesterOrg string) *gp.GossipMessage {
	sameOrg := requesterOrg == c.cfg.Self.MSPID
	elements := []*gp.Envelope{}
	if self, err := c.selfStateInfo(); err == nil && (sameOrg || c.cfg.Self.Endpoint != "") {
		elements = append(elements, self)
	}
	external := map[string]bool{}
	for _, m := range c.deps.Members.Alive() {
		external[string(m.PKIID)] = m.Endpoint != ""
	}
	c.mu.Lock()
	for id, e := range c.states {
		if sameOrg || e.mspID != c.cfg.Self.MSPID || external[id] {
			elements = append(elements, e.env)
		}
	}
	c.mu.Unlock()
	return &gp.GossipMessage{
		Channel: []byte(c.cfg.ChannelID),
		Tag:     gp.GossipMessage_CHAN_OR_ORG,
		Content: &gp.GossipMessage_StateSnapshot{StateSnapshot: &gp.StateInfoSnapshot{Elements: elements}},
	}
}

func (c *Channel) handleStateSnapshot(m *comm.ReceivedMessage, log *slog.Logger) {
	for _, env := range m.Message.GetStateSnapshot().Elements {
		msg, err := message.Decode(env)
		if err != nil {
			log.Warn("state info snapshot with an invalid element dropped", "error", err)
			return
		}
		si := msg.GetStateInfo()
		if si == nil {
			log.Warn("state info snapshot with an element that is not state info dropped", "type", message.Kind(msg))
			return
		}
		if bytes.Equal(si.PkiId, c.cfg.Self.PKIID) || c.knownState(si) {
			continue
		}
		mspID, err := c.checkStateInfo(env, si)
		if err != nil {
			log.Warn("state info snapshot element refused", "error", err)
			return
		}
		// Only peers membership knows alive are kept: the snapshot must
		// not resurrect a peer that left.
		if _, ok := c.alive(si.PkiId); !ok {
			continue
		}
		c.addState(env, si, mspID)
	}
}

// Peers lists the alive peers of the channel's organisations whose state
// info we hold, with what they last published; it does not list this
// peer (see Self).
func (c *Channel) Peers() []PeerState {
	orgs := c.cfg.Orgs()
	alive := c.deps.Members.Alive()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []PeerState
	for _, m := range alive {
		e, ok := c.states[string(m.PKIID)]
		if !ok || !slices.Contains(orgs, e.mspID) || e.info.Properties.GetLeftChannel() {
			continue
		}
		out = append(out, PeerState{
			PKIID:            m.PKIID,
			Endpoint:         m.Endpoint,
			InternalEndpoint: m.InternalEndpoint,
			MSPID:            e.mspID,
			Identity:         m.Identity,
			Height:           e.info.Properties.GetLedgerHeight(),
			Chaincodes:       e.info.Properties.GetChaincodes(),
			StateInfo:        e.env,
		})
	}
	return out
}

// Self is this peer's own state in the channel, with its latest signed
// StateInfo.
func (c *Channel) Self() PeerState {
	env, err := c.selfStateInfo()
	if err != nil {
		c.log.Error("cannot sign own state info", "error", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return PeerState{
		PKIID:      c.cfg.Self.PKIID,
		Endpoint:   c.cfg.Self.Endpoint,
		MSPID:      c.cfg.Self.MSPID,
		Height:     c.height,
		Chaincodes: c.chaincodes,
		StateInfo:  env,
	}
}

// maxHeight is the highest ledger height the channel's peers advertise.
func maxHeight(peers []PeerState) uint64 {
	var h uint64
	for _, p := range peers {
		h = max(h, p.Height)
	}
	return h
}
