package gateway

import (
	"bytes"
	"crypto/x509"
	"sort"

	discpb "github.com/hyperledger/fabric-protos-go-apiv2/discovery"
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/discovery"
)

// target is one peer the gateway may ask to endorse or evaluate.
type target struct {
	key        string // the serialized identity: one target per peer
	local      bool   // this peer: asked in process
	mspID      string
	address    string // where to reach it; the gateway's Endpoint when local
	height     uint64 // ledger height of the channel
	chaincodes map[string]bool
	roots      *x509.CertPool
}

func (t *target) String() string { return t.address + " (" + t.mspID + ")" }

// systemChaincodes every peer runs, whether or not its state info lists them.
var systemChaincodes = map[string]bool{"_lifecycle": true, "qscc": true, "cscc": true}

func (t *target) has(chaincode string) bool {
	return t.chaincodes[chaincode] || systemChaincodes[chaincode]
}

// peerView is what the gateway knows of a channel's peers for one request.
type peerView struct {
	ch      *Channel
	peers   []discovery.Peer   // as gossip reported them, for discovery
	targets map[string]*target // by key
	local   *Server
}

// endorsers computes discovery's endorsement descriptor for interest.
func (v *peerView) endorsers(interest *pb.ChaincodeInterest) (*discpb.EndorsementDescriptor, error) {
	return discovery.Endorsers(v.ch.Discovery, interest, v.peers)
}

// view decodes the channel's peers, or returns nil when discovery knows no
// peer other than this one (no gossip, or none heard yet): the gateway then
// plans from the anchor peers.
func (s *Server) view(ch *Channel) *peerView {
	if ch.Peers == nil || ch.Discovery.Bundle == nil {
		return nil
	}
	v := &peerView{ch: ch, peers: ch.Peers(), targets: map[string]*target{}, local: s}
	remote := false
	for _, p := range v.peers {
		t := s.decodePeer(ch, p.MSPID, p.Identity, p.Alive, p.StateInfo)
		if t == nil {
			continue
		}
		if !t.local {
			remote = true
		}
		v.targets[t.key] = t
	}
	if !remote {
		return nil
	}
	return v
}

// decodePeer reads a peer's organisation, endpoint, ledger height and
// chaincodes from its gossip messages; nil when it cannot be reached (a
// remote peer without an endpoint).
func (s *Server) decodePeer(ch *Channel, mspID string, identity []byte, alive, stateInfo *gp.Envelope) *target {
	t := &target{key: string(identity), mspID: mspID, chaincodes: map[string]bool{}}
	if t.mspID == "" {
		sid := &mspproto.SerializedIdentity{}
		if proto.Unmarshal(identity, sid) == nil {
			t.mspID = sid.Mspid
		}
	}
	if m := gossipMessage(alive); m != nil {
		t.address = m.GetAliveMsg().GetMembership().GetEndpoint()
	}
	// Peers of this organisation may be reached on their internal endpoint,
	// which gossip keeps in the alive message's secret part.
	if sec := alive.GetSecretEnvelope(); sec != nil {
		secret := &gp.Secret{}
		if proto.Unmarshal(sec.Payload, secret) == nil && secret.GetInternalEndpoint() != "" {
			t.address = secret.GetInternalEndpoint()
		}
	}
	if m := gossipMessage(stateInfo); m != nil {
		props := m.GetStateInfo().GetProperties()
		t.height = props.GetLedgerHeight()
		for _, cc := range props.GetChaincodes() {
			t.chaincodes[cc.GetName()] = true
		}
	}
	if len(ch.Self) > 0 && bytes.Equal(identity, ch.Self) {
		t.local = true
		t.mspID = s.cfg.MSPID
		t.address = s.cfg.Endpoint
		if ch.Ledger != nil {
			// fresher than the state info gossip last published
			t.height = ch.Ledger.Height()
		}
		return t
	}
	if t.address == "" {
		return nil
	}
	for _, o := range ch.Orgs {
		if o.MSPID == t.mspID {
			t.roots = o.TLSRoots
		}
	}
	return t
}

func gossipMessage(env *gp.Envelope) *gp.GossipMessage {
	if env == nil {
		return nil
	}
	m := &gp.GossipMessage{}
	if proto.Unmarshal(env.Payload, m) != nil {
		return nil
	}
	return m
}

// byHeight orders peers by decreasing ledger height, this peer first among
// equals, as Fabric's gateway prefers them; then by address, for a stable
// order.
func byHeight(ts []*target) {
	sort.SliceStable(ts, func(i, j int) bool {
		a, b := ts[i], ts[j]
		if a.height != b.height {
			return a.height > b.height
		}
		if a.local != b.local {
			return a.local
		}
		return a.address < b.address
	})
}

// byOrg returns, per organisation, the peers whose state info lists the
// chaincode (by name, as Fabric's gateway checks), best first (byHeight).
func (v *peerView) byOrg(chaincode string) map[string][]*target {
	out := map[string][]*target{}
	for _, t := range v.targets {
		if t.has(chaincode) {
			out[t.mspID] = append(out[t.mspID], t)
		}
	}
	for _, ts := range out {
		byHeight(ts)
	}
	return out
}

// planFromDescriptor turns a discovery endorsement descriptor into a plan:
// the endorsers of each group best first (byHeight), the layouts that the
// reachable endorsers can complete, those including the group of preferred
// (the peer that already endorsed) first, then the smallest. Fabric
// shuffles layouts of equal preference; Weft keeps discovery's order so a
// request's endorsers can be predicted.
func (v *peerView) planFromDescriptor(desc *discpb.EndorsementDescriptor, preferred *target) (*plan, []string) {
	groups := map[string][]*target{}
	var unreachable []string
	for _, name := range sortedMapKeys(desc.GetEndorsersByGroups()) {
		for _, p := range desc.EndorsersByGroups[name].GetPeers() {
			t, ok := v.targets[string(p.GetIdentity())]
			if !ok {
				t = v.local.decodePeer(v.ch, "", p.GetIdentity(), p.GetMembershipInfo(), p.GetStateInfo())
			}
			if t == nil {
				unreachable = append(unreachable, string(p.GetIdentity()))
				continue
			}
			groups[name] = append(groups[name], t)
		}
		byHeight(groups[name])
	}
	var layouts []map[string]int
	for _, l := range desc.GetLayouts() {
		q := map[string]int{}
		for g, n := range l.GetQuantitiesByGroup() {
			q[g] = int(n)
		}
		layouts = append(layouts, q)
	}
	p := newPlan(layouts, groups)
	if preferred != nil {
		p.prefer(preferred)
	}
	return p, unreachable
}
