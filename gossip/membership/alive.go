package membership

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/message"
)

// newAlive signs a new own alive message (the next seq_num) with the
// internal endpoint in its secret envelope, and keeps it as the latest.
func (m *Membership) newAlive() (*gp.Envelope, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	m.seqNum++
	seq := m.seqNum
	m.mu.Unlock()
	alive := &gp.AliveMessage{
		Membership: &gp.Member{Endpoint: m.cfg.ExternalEndpoint, Metadata: []byte{}, PkiId: m.selfPKIID},
		Timestamp:  &gp.PeerTime{IncNum: m.incNum, SeqNum: seq},
	}
	if now.Before(m.publishCert) {
		alive.Identity = m.selfIdentity
	}
	env, err := sign(m.signer, &gp.GossipMessage{Tag: gp.GossipMessage_EMPTY, Content: &gp.GossipMessage_AliveMsg{AliveMsg: alive}})
	if err != nil {
		return nil, err
	}
	if err := signSecret(m.signer, env, m.cfg.Endpoint); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.seqNum == seq { // a later one may have been made meanwhile
		m.selfAlive = env
	}
	m.mu.Unlock()
	return env, nil
}

// aliveSends makes a new own alive message for PropagatePeerNum peers,
// when any peer is alive (Fabric sends none to an empty membership).
func (m *Membership) aliveSends() []send {
	m.mu.Lock()
	anyAlive := false
	for _, r := range m.members {
		anyAlive = anyAlive || r.alive
	}
	m.mu.Unlock()
	if !anyAlive {
		return nil
	}
	env, err := m.newAlive()
	if err != nil {
		m.log.Error("cannot make own alive message", "error", err)
		return nil
	}
	return m.routeAlive(env, m.selfPKIID, m.selfMSPID, m.cfg.ExternalEndpoint, nil)
}

// routeAlive picks the peers an alive message of origin goes to, as
// Fabric's gossipBatch and sendAndFilterSecrets do: a message of this
// organisation without an external endpoint stays in the organisation; one
// of another organisation goes only to peers of this organisation or of
// its own, and only to peers with an external endpoint; peers of other
// organisations never get the secret envelope.
func (m *Membership) routeAlive(env *gp.Envelope, origin identity.PKIID, originOrg, originEndpoint string, exclude identity.PKIID) []send {
	m.mu.Lock()
	defer m.mu.Unlock()
	eligible := func(r *record) bool {
		if bytes.Equal(r.member.PKIID, origin) || bytes.Equal(r.member.PKIID, exclude) {
			return false
		}
		switch {
		case originOrg == m.selfMSPID && originEndpoint == "":
			return r.member.MSPID == m.selfMSPID
		case originOrg != m.selfMSPID:
			return r.member.MSPID == m.selfMSPID || r.member.MSPID == originOrg
		}
		return true
	}
	var sends []send
	for _, p := range m.randomAliveLocked(m.cfg.PropagatePeerNum, eligible) {
		if originOrg != m.selfMSPID && p.Endpoint == "" {
			continue
		}
		out := env
		if p.MSPID != m.selfMSPID {
			out = withoutSecret(env)
		}
		sends = append(sends, send{out, comm.RemotePeer{Endpoint: p.PreferredEndpoint(), PKIID: p.PKIID}})
	}
	return sends
}

// randomAliveLocked picks up to n alive members that pass keep (nil: all).
func (m *Membership) randomAliveLocked(n int, keep func(*record) bool) []Member {
	var pool []Member
	for _, r := range m.members {
		if r.alive && (keep == nil || keep(r)) {
			pool = append(pool, r.member)
		}
	}
	rand.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	if len(pool) > n {
		pool = pool[:n]
	}
	return pool
}

// pullPeers are the alive members, for the identity pull.
func (m *Membership) pullPeers() []comm.RemotePeer {
	var out []comm.RemotePeer
	for _, p := range m.Alive() {
		out = append(out, comm.RemotePeer{Endpoint: p.PreferredEndpoint(), PKIID: p.PKIID})
	}
	return out
}

// onAlive handles an alive message gossiped to this peer: a new one is
// learnt and forwarded.
func (m *Membership) onAlive(msg *comm.ReceivedMessage) {
	learnt, am := m.acceptAlive(msg.Envelope, msg.Message, true, msg.Conn)
	if !learnt {
		return
	}
	origin := identity.PKIID(am.Membership.PkiId)
	m.sendAll(m.routeAlive(msg.Envelope, origin, m.orgOf(origin), am.Membership.Endpoint, msg.Conn.PKIID))
}

// errNotNewer marks an alive message no newer than the one held.
var errNotNewer = errors.New("not newer than the alive message held")

// acceptAlive checks an alive message and learns it when it is newer than
// what is held; it reports whether it was learnt. asAlive false learns an
// unknown peer as dead (the dead list of a membership response).
func (m *Membership) acceptAlive(env *gp.Envelope, g *gp.GossipMessage, asAlive bool, from comm.ConnInfo) (bool, *gp.AliveMessage) {
	am := g.GetAliveMsg()
	err := m.checkAlive(env, am)
	if err == nil {
		err = m.learn(env, am, asAlive)
	}
	switch {
	case err == nil:
		return true, am
	case errors.Is(err, errNotNewer), errors.Is(err, errSelf):
	case errors.Is(err, errUnknownIdentity):
		m.log.Debug("alive message dropped until the identity of its peer is known", "member_pki_id", identity.PKIID(am.GetMembership().GetPkiId()).String(), "from_pki_id", from.PKIID.String())
	default:
		m.log.Warn("alive message refused", "member_pki_id", identity.PKIID(am.GetMembership().GetPkiId()).String(), "from_pki_id", from.PKIID.String(), "from_endpoint", from.Endpoint, "error", err)
	}
	return false, am
}

var (
	errUnknownIdentity = errors.New("identity of the PKI-ID is not known")
	errSelf            = errors.New("alive message of this peer itself")
)

// checkAlive verifies an alive message unless it is not newer than the
// one held (checked first: it is cheap, and replays are common).
func (m *Membership) checkAlive(env *gp.Envelope, am *gp.AliveMessage) error {
	if am == nil || am.Membership == nil || len(am.Membership.PkiId) == 0 || am.Timestamp == nil {
		return errors.New("alive message without membership, PKI-ID or timestamp")
	}
	pkiID := identity.PKIID(am.Membership.PkiId)
	if bytes.Equal(pkiID, m.selfPKIID) {
		m.checkSelfConfig(env, am)
		return errSelf
	}
	m.mu.Lock()
	r, known := m.members[string(pkiID)]
	stale := known && !newer(r.ts, am.Timestamp)
	m.mu.Unlock()
	if stale {
		return errNotNewer
	}
	if env == nil || len(env.Signature) == 0 {
		return fmt.Errorf("alive message of PKI-ID %s is not signed", pkiID)
	}
	if len(am.Identity) > 0 {
		if err := m.ids.Put(pkiID, am.Identity); err != nil {
			return fmt.Errorf("alive message of PKI-ID %s carries an identity the identity store refuses: %w", pkiID, err)
		}
	}
	serialized, _, known := m.ids.Get(pkiID)
	if !known {
		return errUnknownIdentity
	}
	if err := m.ids.Verify(pkiID, env.Signature, env.Payload); err != nil {
		return fmt.Errorf("alive message claiming PKI-ID %s (MSP %s) is not signed by that identity: %w", pkiID, mspOf(serialized), err)
	}
	if s := env.SecretEnvelope; s != nil {
		if len(s.Signature) == 0 {
			return fmt.Errorf("secret envelope of the alive message of PKI-ID %s is not signed", pkiID)
		}
		if err := m.ids.Verify(pkiID, s.Signature, s.Payload); err != nil {
			return fmt.Errorf("secret envelope of the alive message of PKI-ID %s (MSP %s) is not signed by that identity: %w", pkiID, mspOf(serialized), err)
		}
	}
	if org := mspOf(serialized); org != m.selfMSPID && am.Membership.Endpoint == "" {
		// A peer of another organisation without an external endpoint
		// cannot be reached from here; Fabric peers never send one.
		return fmt.Errorf("alive message of PKI-ID %s of MSP %s has no external endpoint", pkiID, org)
	}
	return nil
}

// checkSelfConfig logs an alive message carrying this peer's PKI-ID with
// other endpoints: two peers share one identity.
func (m *Membership) checkSelfConfig(env *gp.Envelope, am *gp.AliveMessage) {
	internal := message.InternalEndpoint(env)
	if am.Membership.Endpoint != m.cfg.ExternalEndpoint || (internal != "" && internal != m.cfg.Endpoint) {
		m.log.Error("another peer uses this peer's identity: got an alive message with this PKI-ID and other endpoints",
			"their_endpoint", am.Membership.Endpoint, "their_internal_endpoint", internal)
	}
}

// newer reports whether b is a later PeerTime than a.
func newer(a, b *gp.PeerTime) bool {
	if b.IncNum != a.IncNum {
		return b.IncNum > a.IncNum
	}
	return b.SeqNum > a.SeqNum
}

// learn records a checked alive message.
func (m *Membership) learn(env *gp.Envelope, am *gp.AliveMessage, asAlive bool) error {
	pkiID := identity.PKIID(am.Membership.PkiId)
	serialized, _, _ := m.ids.Get(pkiID)
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r, known := m.members[string(pkiID)]
	switch {
	case known && !newer(r.ts, am.Timestamp):
		return errNotNewer // a newer one won the race
	case !known && !asAlive:
		r = &record{}
		m.members[string(pkiID)] = r
	case !known:
		r = &record{alive: true}
		m.members[string(pkiID)] = r
	case !asAlive:
		return errNotNewer // the dead list never overrides what is known
	default:
		if !r.alive {
			m.log.Info("peer is alive again", "member_pki_id", pkiID.String(), "member_endpoint", am.Membership.Endpoint)
		}
		r.alive = true
	}
	internal := r.member.InternalEndpoint
	if s := message.InternalEndpoint(env); s != "" {
		internal = s
	}
	r.member = Member{
		PKIID:            pkiID,
		Endpoint:         am.Membership.Endpoint,
		InternalEndpoint: internal,
		MSPID:            mspOf(serialized),
		Identity:         serialized,
		Metadata:         am.Membership.Metadata,
		Envelope:         env,
	}
	r.ts = am.Timestamp
	r.lastSeen = now
	return nil
}

// expireLocked marks peers silent for AliveExpirationTimeout dead and
// forgets dead peers silent for AliveExpirationTimeout ×
// MsgExpirationFactor, except bootstrap and anchor peers. It returns the
// peers whose connections to close.
func (m *Membership) expireLocked(now time.Time) []identity.PKIID {
	forgetAfter := m.cfg.AliveExpirationTimeout * time.Duration(m.cfg.MsgExpirationFactor)
	var closes []identity.PKIID
	for key, r := range m.members {
		silent := now.Sub(r.lastSeen)
		switch {
		case r.alive && silent > m.cfg.AliveExpirationTimeout:
			r.alive = false
			closes = append(closes, r.member.PKIID)
			m.log.Warn("peer presumed dead", "member_pki_id", r.member.PKIID.String(), "member_endpoint", r.member.PreferredEndpoint(), "silent_for", silent.String())
		case !r.alive && silent > forgetAfter && !m.pinnedLocked(r.member):
			delete(m.members, key)
			m.log.Info("dead peer forgotten", "member_pki_id", r.member.PKIID.String(), "member_endpoint", r.member.PreferredEndpoint())
		}
	}
	return closes
}

// pinnedLocked reports whether a member is a bootstrap or anchor peer,
// which Fabric never forgets.
func (m *Membership) pinnedLocked(p Member) bool {
	for _, ep := range []string{p.Endpoint, p.InternalEndpoint} {
		if ep != "" && (m.bootstrap[ep] || m.anchors[ep]) {
			return true
		}
	}
	return false
}
