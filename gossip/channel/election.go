package channel

import (
	"bytes"
	"context"
	"log/slog"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
)

// leaderMsg is a checked LeadershipMessage of a peer of our organisation.
type leaderMsg struct {
	from        identity.PKIID
	declaration bool
}

// election is Fabric's leader election among the peers of one organisation
// in one channel (gossip/election of Fabric v2.5):
//
//   - after startup, wait until the membership view stops growing (sampled
//     every membershipSampleInterval, at most startupGracePeriod);
//   - with no leader known, propose ourselves and listen for
//     leaderElectionDuration; the peer with the lowest PKI-ID among the
//     proposers becomes leader, unless a declaration arrived meanwhile;
//   - the leader declares itself every leaderAliveThreshold/2 and steps down
//     when it hears the declaration of a peer with a lower PKI-ID;
//   - a follower forgets the leader and campaigns again when no declaration
//     came within leaderAliveThreshold.
//
// Only messages from peers of our organisation that are alive and have
// state info in the channel count. All state below is owned by run's
// goroutine; messages reach it through inbox.
type election struct {
	c     *Channel
	inbox chan leaderMsg

	proposals   map[string]bool
	leaderKnown bool
	seq         uint64
}

func newElection(c *Channel) *election {
	return &election{c: c, inbox: make(chan leaderMsg, 64), proposals: map[string]bool{}}
}

func (e *election) run(ctx context.Context) {
	defer e.c.setLeader(false)
	e.stabilize(ctx)
	for ctx.Err() == nil {
		if !e.leaderKnown {
			e.campaign(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		if e.c.IsLeader() {
			e.send(true)
			e.wait(ctx, e.c.cfg.LeaderAliveThreshold/2, true)
			continue
		}
		clear(e.proposals)
		e.leaderKnown = false
		e.wait(ctx, e.c.cfg.LeaderAliveThreshold, false)
	}
}

// stabilize waits for the membership view to stop changing, so that a
// peer that starts does not elect itself before it has seen the others.
func (e *election) stabilize(ctx context.Context) {
	deadline := e.c.clock.Now().Add(e.c.cfg.StartupGracePeriod)
	size := len(e.peers())
	for ctx.Err() == nil {
		e.wait(ctx, e.c.cfg.MembershipSampleInterval, false)
		n := len(e.peers())
		if n == size || !e.c.clock.Now().Before(deadline) || e.leaderKnown {
			return
		}
		size = n
	}
}

func (e *election) campaign(ctx context.Context) {
	e.send(false)
	e.wait(ctx, e.c.cfg.LeaderElectionDuration, true)
	if e.leaderKnown || ctx.Err() != nil {
		return
	}
	self := e.c.cfg.Self.PKIID
	for id := range e.proposals {
		if bytes.Compare([]byte(id), self) < 0 {
			return
		}
	}
	e.c.setLeader(true)
	e.leaderKnown = true
}

// wait lets d pass on the channel's clock while taking leadership
// messages; a declaration ends an interruptible wait early.
func (e *election) wait(ctx context.Context, d time.Duration, interruptible bool) {
	timer := e.c.clock.After(d)
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer:
			return
		case m := <-e.inbox:
			e.take(m)
			if interruptible && m.declaration {
				return
			}
		}
	}
}

func (e *election) take(m leaderMsg) {
	alive := false
	for _, p := range e.peers() {
		if bytes.Equal(p.PKIID, m.from) {
			alive = true
			break
		}
	}
	if !alive {
		return
	}
	if !m.declaration {
		e.proposals[string(m.from)] = true
		return
	}
	e.leaderKnown = true
	if bytes.Compare(m.from, e.c.cfg.Self.PKIID) < 0 && e.c.IsLeader() {
		e.c.setLeader(false)
	}
}

func (e *election) peers() []Member { return e.c.blockPeers(nil) }

// send gossips a proposal or declaration to every peer of our organisation
// in the channel (Fabric sends leadership messages to all of them).
func (e *election) send(declaration bool) {
	e.seq++
	env, err := e.c.sign(&gp.GossipMessage{
		Channel: []byte(e.c.cfg.ChannelID),
		Tag:     gp.GossipMessage_CHAN_AND_ORG,
		Content: &gp.GossipMessage_LeadershipMsg{LeadershipMsg: &gp.LeadershipMessage{
			PkiId:         e.c.cfg.Self.PKIID,
			IsDeclaration: declaration,
			Timestamp:     &gp.PeerTime{IncNum: e.c.incNum, SeqNum: e.seq},
		}},
	})
	if err != nil {
		e.c.log.Error("cannot sign leadership message", "error", err)
		return
	}
	if targets := e.peers(); len(targets) > 0 {
		e.c.deps.Sender.Send(env, addresses(targets, -1)...)
	}
}

func (c *Channel) handleLeadership(m *comm.ReceivedMessage, log *slog.Logger) {
	if c.election == nil {
		return // a static leader takes no part
	}
	lm := m.Message.GetLeadershipMsg()
	if m.Conn.MSPID != c.cfg.Self.MSPID {
		log.Warn("leadership message from another organisation dropped")
		return
	}
	if len(lm.PkiId) == 0 || lm.Timestamp == nil {
		log.Warn("leadership message without PKI-ID or timestamp dropped")
		return
	}
	if bytes.Equal(lm.PkiId, c.cfg.Self.PKIID) {
		return
	}
	mspID, id := c.mspOf(lm.PkiId)
	if mspID != c.cfg.Self.MSPID {
		log.Warn("leadership message created by a peer of another or an unknown organisation dropped",
			"creator", identity.PKIID(lm.PkiId).String(), "creator_msp_id", mspID)
		return
	}
	key := string(lm.PkiId)
	c.mu.Lock()
	fresh := newer(lm.Timestamp, c.leaders[key])
	c.mu.Unlock()
	if !fresh {
		return
	}
	if err := c.deps.Policy.Readers(id, m.Envelope.Payload, m.Envelope.Signature); err != nil {
		log.Warn("leadership message refused", "creator", identity.PKIID(lm.PkiId).String(), "error", err)
		return
	}
	c.mu.Lock()
	fresh = newer(lm.Timestamp, c.leaders[key])
	if fresh {
		c.leaders[key] = lm.Timestamp
	}
	c.mu.Unlock()
	if !fresh {
		return
	}
	select {
	case c.election.inbox <- leaderMsg{from: lm.PkiId, declaration: lm.IsDeclaration}:
	default:
		log.Debug("leadership message dropped: election busy")
	}
}
