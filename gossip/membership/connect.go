package membership

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
)

// pendingConnect is a bootstrap or anchor peer being joined: handshake,
// then a membership request sent until a response with its nonce arrives,
// at most MaxConnectionAttempts times (Fabric's Connect and
// sendUntilAcked).
type pendingConnect struct {
	endpoint string
	anchor   bool
	attempts int
	busy     bool      // a handshake is in flight
	next     time.Time // when to handshake, or (pkiID set) to send the request
	pkiID    identity.PKIID
	sameOrg  bool
	nonce    uint64
	ackBy    time.Time // zero: the request is not out
}

func (c *pendingConnect) due() time.Time {
	if !c.ackBy.IsZero() {
		return c.ackBy
	}
	return c.next
}

// Connect joins the network through a peer at endpoint: it handshakes,
// then sends membership requests until one is answered, retrying every
// ReconnectInterval. A peer that is not an anchor must be of this peer's
// organisation (a bootstrap peer). An anchor peer of another organisation
// is joined only when this peer has an external endpoint, and is sent no
// internal endpoint. Bootstrap and anchor peers are never forgotten.
//
// Fabric also refuses an anchor listed for this peer's organisation whose
// handshake shows another one; Connect is not told the organisation the
// channel config lists, so it treats such a peer as an anchor of the
// organisation its handshake shows.
func (m *Membership) Connect(endpoint string, isAnchor bool) {
	if endpoint == "" || m.isSelf(endpoint) {
		return
	}
	now := m.cfg.Now()
	m.mu.Lock()
	if isAnchor {
		m.anchors[endpoint] = true
	}
	if _, pending := m.connects[endpoint]; !pending {
		m.connects[endpoint] = &pendingConnect{endpoint: endpoint, anchor: isAnchor, next: now}
	}
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// joinRequest is a membership request of a connect, made after the lock
// is released; its nonce identifies the response.
type joinRequest struct {
	pkiID    identity.PKIID
	endpoint string
	nonce    uint64
	sameOrg  bool
}

func (c *pendingConnect) request() joinRequest {
	return joinRequest{c.pkiID, c.endpoint, c.nonce, c.sameOrg}
}

func (m *Membership) joinSends(reqs []joinRequest) []send {
	var sends []send
	for _, r := range reqs {
		sends = append(sends, m.membershipRequest(r.pkiID, r.endpoint, r.nonce, r.sameOrg)...)
	}
	return sends
}

// dueConnectsLocked returns the connects whose handshake is due (marked
// busy) and the membership requests due.
func (m *Membership) dueConnectsLocked(now time.Time) ([]*pendingConnect, []joinRequest) {
	var handshakes []*pendingConnect
	var resend []joinRequest
	for ep, c := range m.connects {
		switch {
		case c.busy:
		case !c.ackBy.IsZero() && !now.Before(c.ackBy):
			// Not answered: send again after ReconnectInterval.
			c.ackBy = time.Time{}
			c.next = now.Add(m.cfg.ReconnectInterval)
		case c.ackBy.IsZero() && !now.Before(c.next):
			c.attempts++
			if c.attempts > m.cfg.MaxConnectionAttempts {
				m.log.Warn("gave up joining through peer", "remote_endpoint", ep, "attempts", m.cfg.MaxConnectionAttempts)
				delete(m.connects, ep)
				continue
			}
			if c.pkiID == nil {
				c.busy = true
				handshakes = append(handshakes, c)
			} else {
				c.ackBy = now.Add(membershipAckWait)
				resend = append(resend, c.request())
			}
		}
	}
	return handshakes, resend
}

// handshake runs the handshake of a connect and, when it shows an
// acceptable peer, sends the first membership request.
func (m *Membership) handshake(c *pendingConnect) {
	ctx, cancel := context.WithTimeout(m.ioCtx, m.cfg.DialTimeout)
	info, err := m.transport.Handshake(ctx, c.endpoint)
	cancel()
	if err == nil {
		err = m.checkJoinPeer(c, info)
	}
	now := m.cfg.Now()
	m.mu.Lock()
	c.busy = false
	if err != nil {
		c.next = now.Add(m.cfg.ReconnectInterval)
		m.mu.Unlock()
		m.log.Warn("cannot join through peer", "remote_endpoint", c.endpoint, "anchor", c.anchor, "attempt", c.attempts, "error", err)
		return
	}
	if m.connects[c.endpoint] != c {
		m.mu.Unlock()
		return
	}
	c.pkiID = info.PKIID
	c.sameOrg = info.MSPID == m.selfMSPID
	c.nonce = rand.Uint64() | 1
	c.ackBy = now.Add(membershipAckWait)
	req := c.request()
	m.mu.Unlock()
	m.sendAll(m.joinSends([]joinRequest{req}))
}

// checkJoinPeer applies Fabric's rules for bootstrap and anchor peers to
// the peer a handshake found.
func (m *Membership) checkJoinPeer(c *pendingConnect, info comm.ConnInfo) error {
	if len(info.PKIID) == 0 {
		return fmt.Errorf("handshake with %s gave no PKI-ID", c.endpoint)
	}
	if bytes.Equal(info.PKIID, m.selfPKIID) {
		return fmt.Errorf("%s is this peer itself", c.endpoint)
	}
	if len(info.Identity) > 0 {
		if err := m.ids.Put(info.PKIID, info.Identity); err != nil {
			return fmt.Errorf("identity of the peer at %s (PKI-ID %s, MSP %s) refused: %w", c.endpoint, info.PKIID, info.MSPID, err)
		}
	}
	sameOrg := info.MSPID == m.selfMSPID
	switch {
	case !c.anchor && !sameOrg:
		return fmt.Errorf("bootstrap peer %s is of MSP %s, not of this peer's MSP %s; peer.gossip.bootstrap lists peers of the own organisation only (other organisations are reached through anchor peers)",
			c.endpoint, info.MSPID, m.selfMSPID)
	case c.anchor && !sameOrg && m.cfg.ExternalEndpoint == "":
		return fmt.Errorf("anchor peer %s is of MSP %s and this peer has no peer.gossip.externalEndpoint, so it cannot take part across organisations", c.endpoint, info.MSPID)
	}
	return nil
}

// probeDead probes a dead member and, when it answers, sends it a
// membership request (Fabric's periodicalReconnectToDead).
func (m *Membership) probeDead(p Member) {
	ctx, cancel := context.WithTimeout(m.ioCtx, m.cfg.DialTimeout)
	err := m.transport.Probe(ctx, p.PreferredEndpoint())
	cancel()
	if err != nil {
		m.log.Debug("dead peer still does not answer", "member_pki_id", p.PKIID.String(), "member_endpoint", p.PreferredEndpoint(), "error", err)
		return
	}
	m.sendAll(m.membershipRequestTo(p.PKIID, p.PreferredEndpoint(), 0))
}

// membershipRequestTo is a membership request to a known member.
func (m *Membership) membershipRequestTo(pkiID identity.PKIID, endpoint string, nonce uint64) []send {
	return m.membershipRequest(pkiID, endpoint, nonce, m.orgOf(pkiID) == m.selfMSPID)
}

// membershipRequest carries a new own alive message as self information;
// its secret envelope (the internal endpoint) goes to the own organisation
// only. Fabric sends no known PKI-IDs (FAB-2570), and neither does this.
func (m *Membership) membershipRequest(pkiID identity.PKIID, endpoint string, nonce uint64, sameOrg bool) []send {
	self, err := m.newAlive()
	if err != nil {
		m.log.Error("cannot make own alive message", "error", err)
		return nil
	}
	if !sameOrg {
		self = withoutSecret(self)
	}
	env, err := noopSign(&gp.GossipMessage{
		Tag:     gp.GossipMessage_EMPTY,
		Nonce:   nonce,
		Content: &gp.GossipMessage_MemReq{MemReq: &gp.MembershipRequest{SelfInformation: self, Known: [][]byte{}}},
	})
	if err != nil {
		m.log.Error("cannot encode membership request", "error", err)
		return nil
	}
	return []send{{env, comm.RemotePeer{Endpoint: endpoint, PKIID: pkiID}}}
}

// onMembershipRequest learns the requester from its self information and
// answers with what it may see; a requester that may see nothing of this
// peer is disconnected, as in Fabric.
func (m *Membership) onMembershipRequest(msg *comm.ReceivedMessage) {
	req := msg.Message.GetMemReq()
	from := msg.Conn
	selfInfo, err := decode(req.SelfInformation)
	if err != nil || selfInfo.GetAliveMsg() == nil {
		m.log.Warn("membership request refused: its self information is not an alive message", "from_pki_id", from.PKIID.String(), "from_endpoint", from.Endpoint, "error", err)
		return
	}
	am := selfInfo.GetAliveMsg()
	if !bytes.Equal(am.GetMembership().GetPkiId(), from.PKIID) {
		m.log.Warn("membership request refused: its self information is of another PKI-ID than the connection's",
			"from_pki_id", from.PKIID.String(), "from_endpoint", from.Endpoint, "self_information_pki_id", identity.PKIID(am.GetMembership().GetPkiId()).String())
		return
	}
	if err := m.checkAlive(req.SelfInformation, am); err == nil {
		_ = m.learn(req.SelfInformation, am, true)
	} else if err != errNotNewer {
		m.log.Warn("membership request refused", "from_pki_id", from.PKIID.String(), "from_endpoint", from.Endpoint, "error", err)
		return
	}
	res, ok := m.membershipResponse(from.PKIID, am.Membership.Endpoint)
	if !ok {
		m.log.Warn("membership request from a peer that may not see this one; closing the connection",
			"from_pki_id", from.PKIID.String(), "from_endpoint", from.Endpoint, "from_msp_id", m.orgOf(from.PKIID))
		m.transport.CloseConn(from.PKIID)
		return
	}
	env, err := noopSign(&gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Nonce: msg.Message.Nonce, Content: &gp.GossipMessage_MemRes{MemRes: res}})
	if err != nil {
		m.log.Error("cannot encode membership response", "error", err)
		return
	}
	if msg.Respond != nil {
		if err := msg.Respond(env); err != nil {
			m.log.Debug("membership response not sent", "to_pki_id", from.PKIID.String(), "error", err)
		}
		return
	}
	m.transport.Send(env, comm.RemotePeer{Endpoint: from.Endpoint, PKIID: from.PKIID})
}

// disclosure is Fabric's disclosurePolicy for one remote peer: whether an
// alive message of a peer of org with external endpoint endpoint may be
// shown to it, and the envelope to show.
type disclosure struct {
	selfOrg, remoteOrg, remoteEndpoint string
}

func (d disclosure) shows(org, endpoint string) bool {
	if d.remoteOrg == "" || org == "" {
		return false
	}
	if org != d.remoteOrg && org != d.selfOrg {
		return false
	}
	return org == d.remoteOrg || (endpoint != "" && d.remoteEndpoint != "")
}

func (d disclosure) envelope(env *gp.Envelope) *gp.Envelope {
	if d.remoteOrg != d.selfOrg {
		return withoutSecret(env)
	}
	return env
}

// membershipResponse lists, for the requester, the alive and dead members
// it may see and this peer's latest alive message; false when it may not
// see this peer.
func (m *Membership) membershipResponse(to identity.PKIID, toEndpoint string) (*gp.MembershipResponse, bool) {
	d := disclosure{selfOrg: m.selfMSPID, remoteOrg: m.orgOf(to), remoteEndpoint: toEndpoint}
	if !d.shows(m.selfMSPID, m.cfg.ExternalEndpoint) {
		return nil, false
	}
	m.mu.Lock()
	self := m.selfAlive
	m.mu.Unlock()
	if self == nil {
		var err error
		if self, err = m.newAlive(); err != nil {
			m.log.Error("cannot make own alive message", "error", err)
			return nil, false
		}
	}
	res := &gp.MembershipResponse{}
	m.mu.Lock()
	for _, r := range m.members {
		if bytes.Equal(r.member.PKIID, to) || !d.shows(r.member.MSPID, r.member.Endpoint) {
			continue
		}
		if r.alive {
			res.Alive = append(res.Alive, d.envelope(r.member.Envelope))
		} else {
			res.Dead = append(res.Dead, d.envelope(r.member.Envelope))
		}
	}
	m.mu.Unlock()
	res.Alive = append(res.Alive, d.envelope(self))
	return res, true
}

// onMembershipResponse acknowledges a connect by its nonce and learns the
// alive members listed, and the dead ones not known yet.
func (m *Membership) onMembershipResponse(msg *comm.ReceivedMessage) {
	res := msg.Message.GetMemRes()
	if nonce := msg.Message.Nonce; nonce != 0 {
		m.mu.Lock()
		for ep, c := range m.connects {
			if c.nonce == nonce && bytes.Equal(c.pkiID, msg.Conn.PKIID) {
				delete(m.connects, ep)
				m.log.Info("joined through peer", "remote_endpoint", ep, "remote_pki_id", c.pkiID.String(), "anchor", c.anchor)
			}
		}
		m.mu.Unlock()
	}
	for i, list := range [][]*gp.Envelope{res.Alive, res.Dead} {
		for _, env := range list {
			g, err := decode(env)
			if err != nil || g.GetAliveMsg() == nil {
				m.log.Warn("membership response holds something other than an alive message; rest ignored", "from_pki_id", msg.Conn.PKIID.String(), "from_endpoint", msg.Conn.Endpoint, "error", err)
				return
			}
			m.acceptAlive(env, g, i == 0, msg.Conn)
		}
	}
}
