package membership

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
)

// identityStore is what the identity pull exchanges: signed PeerIdentity
// messages by PKI-ID, starting with this peer's own (Fabric's certStore).
// Identities learnt otherwise (handshakes, alive messages) are not in it:
// only their owner's signed message is passed on.
type identityStore struct {
	m *Membership

	mu    sync.Mutex
	items map[string]*gp.Envelope // by PKI-ID
}

func newIdentityStore(m *Membership) (*identityStore, error) {
	env, err := sign(m.signer, &gp.GossipMessage{
		Tag:     gp.GossipMessage_EMPTY,
		Content: &gp.GossipMessage_PeerIdentity{PeerIdentity: &gp.PeerIdentity{PkiId: m.selfPKIID, Cert: m.selfIdentity}},
	})
	if err != nil {
		return nil, fmt.Errorf("membership: own identity message: %w", err)
	}
	return &identityStore{m: m, items: map[string]*gp.Envelope{string(m.selfPKIID): env}}, nil
}

func (s *identityStore) Digests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, 0, len(s.items))
	for k := range s.items {
		out = append(out, []byte(k))
	}
	return out
}

func (s *identityStore) Get(digest []byte) *gp.Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items[string(digest)]
}

// Add checks a pulled identity as Fabric's certStore does (the PKI-ID is
// the certificate's, the identity store accepts it, the message is signed
// by it) and hands it to the identity store.
func (s *identityStore) Add(env *gp.Envelope, msg *gp.GossipMessage) error {
	pi := msg.GetPeerIdentity()
	if pi == nil {
		return errors.New("pulled item is not a PeerIdentity message")
	}
	claimed := identity.PKIID(pi.PkiId)
	computed, err := identity.PKIIDOf(pi.Cert)
	if err != nil {
		return fmt.Errorf("pulled identity claiming PKI-ID %s: %w", claimed, err)
	}
	if !bytes.Equal(computed, claimed) {
		return fmt.Errorf("pulled identity claims PKI-ID %s but its certificate (MSP %s) has PKI-ID %s", claimed, mspOf(pi.Cert), computed)
	}
	if len(env.Signature) == 0 {
		return fmt.Errorf("pulled identity of PKI-ID %s is not signed", claimed)
	}
	if err := s.m.ids.Put(claimed, pi.Cert); err != nil {
		return fmt.Errorf("pulled identity of PKI-ID %s (MSP %s) refused by the identity store: %w", claimed, mspOf(pi.Cert), err)
	}
	if err := s.m.ids.Verify(claimed, env.Signature, env.Payload); err != nil {
		return fmt.Errorf("pulled identity of PKI-ID %s (MSP %s) is not signed by itself: %w", claimed, mspOf(pi.Cert), err)
	}
	s.mu.Lock()
	s.items[string(claimed)] = env
	s.mu.Unlock()
	return nil
}

// identityFilter is Fabric's sameOrgOrOurOrgPullFilter: a peer of this
// organisation sees every identity; a peer of another one sees identities
// of this organisation and of its own, only of peers with an external
// endpoint.
func (m *Membership) identityFilter(from comm.ConnInfo) func([]byte) bool {
	fromOrg := from.MSPID
	if fromOrg == "" {
		fromOrg = m.orgOf(from.PKIID)
	}
	if fromOrg == "" {
		m.log.Warn("identity pull from a peer of unknown organisation: nothing offered", "from_pki_id", from.PKIID.String(), "from_endpoint", from.Endpoint)
		return func([]byte) bool { return false }
	}
	if fromOrg == m.selfMSPID {
		return func([]byte) bool { return true }
	}
	return func(digest []byte) bool {
		pkiID := identity.PKIID(digest)
		org := m.orgOf(pkiID)
		if org != m.selfMSPID && org != fromOrg {
			return false
		}
		p, known := m.Lookup(pkiID)
		return known && p.Endpoint != ""
	}
}
