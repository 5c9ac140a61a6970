package peer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	gchannel "github.com/weft-ledger/weft/gossip/channel"
	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// This file is the peer's side of private data (docs/private-data.md): which
// collections this peer keeps (the ledger's Options.Collections), pushing a
// transaction's private data to other member peers at endorsement, taking
// what they push, answering their pulls, and fetching what a block needs at
// commit and what is still missing afterwards (reconciliation).

// implicitDissemination is how far implicit collections are pushed.
func (n *Node) implicitDissemination() lifecycle.ImplicitDissemination {
	p := n.cfg.Gossip.withDefaults().PvtData
	return lifecycle.ImplicitDissemination{RequiredPeerCount: p.ImplicitRequiredPeerCount, MaxPeerCount: p.ImplicitMaxPeerCount}
}

// collectionRules is the ledgers' Options.Collections: this peer keeps the
// private values of the collections its organisation is a member of. A
// collection no definition names (a chaincode defined without it, or a
// block of another network) is kept as hashes only.
func (n *Node) collectionRules(state statedb.DB, ns, coll string) (ledger.CollectionRules, error) {
	c, err := lifecycle.CollectionOf(lifecycle.DBState{DB: state}, ns, coll, n.implicitDissemination())
	if errors.Is(err, lifecycle.ErrNoCollection) {
		return ledger.CollectionRules{}, nil
	}
	if err != nil {
		return ledger.CollectionRules{}, err
	}
	return ledger.CollectionRules{Member: c.IsMember(n.cfg.LocalMSPID), BlockToLive: c.BlockToLive}, nil
}

// collection returns the rules of a collection as committed on the channel.
func (c *channel) collection(ns, coll string) (lifecycle.Collection, error) {
	return lifecycle.CollectionOf(lifecycle.DBState{DB: c.ledger.State()}, ns, coll, c.node.implicitDissemination())
}

// privateEndorsements is the endorser's TransientStore: the private write set
// of an endorsed transaction is kept in the transient store, then pushed to
// other peers of the collections' member organisations. The endorsement fails
// when a collection's requiredPeerCount cannot be met.
type privateEndorsements struct{ n *Node }

func (p privateEndorsements) Put(channelID, txID string, pvt *rwset.TxPvtReadWriteSet) error {
	ch, err := p.n.channel(channelID)
	if err != nil {
		return err
	}
	height := ch.ledger.Blocks().Height()
	if err := p.n.transient.PutAt(channelID, txID, height, pvt); err != nil {
		return err
	}
	return ch.distribute(txID, pvt, height)
}

// distribute pushes each collection of pvt to member peers, as Fabric's
// endorsing peer does: to at most maximumPeerCount of them, one of each
// member organisation first, and waits for requiredPeerCount
// acknowledgements (pushAckTimeout).
func (c *channel) distribute(txID string, pvt *rwset.TxPvtReadWriteSet, height uint64) error {
	cfg := c.node.cfg.Gossip.withDefaults().PvtData
	var peers []gchannel.PeerState
	if gch := c.gossip.Load(); gch != nil {
		peers = gch.Peers()
	}
	type push struct {
		coll    lifecycle.Collection
		payload *gp.PrivatePayload
		to      []comm.RemotePeer
	}
	var pushes []push
	for _, ns := range pvt.GetNsPvtRwset() {
		for _, cs := range ns.CollectionPvtRwset {
			coll, err := c.collection(ns.Namespace, cs.CollectionName)
			if err != nil {
				return fmt.Errorf("failed to distribute private collection, txID %s, channel %s: %w", txID, c.id, err)
			}
			to := disseminationTargets(coll, peers)
			if len(to) < coll.RequiredPeerCount {
				return fmt.Errorf("failed to distribute private collection, txID %s, channel %s: collection %s of chaincode %s has requiredPeerCount %d "+
					"but this peer knows only %d other peer(s) of its member organisations %s; start more member peers, check their gossip "+
					"(anchor peers, external endpoints), or lower requiredPeerCount", txID, c.id, coll.Name, coll.Namespace, coll.RequiredPeerCount, len(to), strings.Join(coll.MemberOrgs, ", "))
			}
			if len(to) == 0 {
				continue
			}
			configs, err := c.collectionConfigs(coll)
			if err != nil {
				return fmt.Errorf("failed to distribute private collection, txID %s, channel %s: %w", txID, c.id, err)
			}
			pushes = append(pushes, push{coll: coll, to: to, payload: &gp.PrivatePayload{
				CollectionName: cs.CollectionName, Namespace: ns.Namespace, TxId: txID,
				PrivateRwset: cs.Rwset, PrivateSimHeight: height, CollectionConfigs: configs,
			}})
		}
	}
	if len(pushes) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.PushAckTimeout)
	defer cancel()
	errs := make([]error, len(pushes))
	done := make(chan struct{})
	for i, p := range pushes {
		go func() {
			defer func() { done <- struct{}{} }()
			acked, err := c.node.gossip.PushPrivateData(ctx, c.id, p.payload, p.to, p.coll.RequiredPeerCount)
			switch {
			case acked < p.coll.RequiredPeerCount:
				errs[i] = fmt.Errorf("collection %s of chaincode %s: requiredPeerCount %d, maximumPeerCount %d: %d of %d peer(s) acknowledged within %s: %w",
					p.coll.Name, p.coll.Namespace, p.coll.RequiredPeerCount, p.coll.MaximumPeerCount, acked, len(p.to), cfg.PushAckTimeout, err)
			case err != nil:
				c.node.log.Debug("private data pushed to fewer peers than chosen", "channel", c.id, "tx_id", txID,
					"namespace", p.coll.Namespace, "collection", p.coll.Name, "acked", acked, "err", err)
			}
		}()
	}
	for range pushes {
		<-done
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("failed to distribute private collection, txID %s, channel %s: %w", txID, c.id, err)
	}
	return nil
}

// disseminationTargets picks the peers a collection's data is pushed to: at
// most MaximumPeerCount alive member peers, one of each member organisation
// before a second of any, in random order within an organisation.
func disseminationTargets(coll lifecycle.Collection, peers []gchannel.PeerState) []comm.RemotePeer {
	byOrg := map[string][]gchannel.PeerState{}
	var orgs []string
	for _, p := range peers {
		if !coll.IsMember(p.MSPID) || (p.Endpoint == "" && p.InternalEndpoint == "") {
			continue
		}
		if _, ok := byOrg[p.MSPID]; !ok {
			orgs = append(orgs, p.MSPID)
		}
		byOrg[p.MSPID] = append(byOrg[p.MSPID], p)
	}
	rand.Shuffle(len(orgs), func(i, j int) { orgs[i], orgs[j] = orgs[j], orgs[i] })
	for _, ps := range byOrg {
		rand.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	}
	var out []comm.RemotePeer
	for round := 0; len(out) < coll.MaximumPeerCount; round++ {
		added := false
		for _, org := range orgs {
			if ps := byOrg[org]; round < len(ps) && len(out) < coll.MaximumPeerCount {
				out = append(out, peerAddress(ps[round]))
				added = true
			}
		}
		if !added {
			break
		}
	}
	return out
}

// peerAddress is where to reach a channel peer: its internal endpoint when
// known (a peer of this organisation), else its external one.
func peerAddress(p gchannel.PeerState) comm.RemotePeer {
	ep := p.InternalEndpoint
	if ep == "" {
		ep = p.Endpoint
	}
	return comm.RemotePeer{Endpoint: ep, PKIID: p.PKIID}
}

// collectionConfigs is the collection configuration sent with pushed data, as
// Fabric sends it: the chaincode's collection package, or for an implicit
// collection one built from its rules.
func (c *channel) collectionConfigs(coll lifecycle.Collection) (*pb.CollectionConfigPackage, error) {
	if !coll.Implicit {
		def, err := lifecycle.ReadDefinition(lifecycle.DBState{DB: c.ledger.State()}, coll.Namespace)
		if err != nil {
			return nil, err
		}
		return def.Collections, nil
	}
	role := protos.Marshal(&mspproto.MSPRole{MspIdentifier: coll.MemberOrgs[0], Role: mspproto.MSPRole_MEMBER})
	policy := &cb.SignaturePolicyEnvelope{
		Rule: &cb.SignaturePolicy{Type: &cb.SignaturePolicy_NOutOf_{NOutOf: &cb.SignaturePolicy_NOutOf{
			N: 1, Rules: []*cb.SignaturePolicy{{Type: &cb.SignaturePolicy_SignedBy{SignedBy: 0}}},
		}}},
		Identities: []*mspproto.MSPPrincipal{{PrincipalClassification: mspproto.MSPPrincipal_ROLE, Principal: role}},
	}
	return &pb.CollectionConfigPackage{Config: []*pb.CollectionConfig{{Payload: &pb.CollectionConfig_StaticCollectionConfig{
		StaticCollectionConfig: &pb.StaticCollectionConfig{
			Name:              coll.Name,
			MemberOrgsPolicy:  &pb.CollectionPolicyConfig{Payload: &pb.CollectionPolicyConfig_SignaturePolicy{SignaturePolicy: policy}},
			RequiredPeerCount: int32(coll.RequiredPeerCount),
			MaximumPeerCount:  int32(coll.MaximumPeerCount),
			MemberOnlyRead:    true,
			MemberOnlyWrite:   true,
		},
	}}}}, nil
}

// privateGossip is a channel's privdata.Store: what other peers push to this
// one and ask of it.
type privateGossip struct{ c *channel }

// maxPushedSet bounds a pushed private write set (the gRPC message limit
// bounds it too; this keeps one message from filling the transient store).
const maxPushedSet = 64 << 20

// Received keeps a collection another peer pushed at endorsement, if this
// peer's organisation is a member of it. The collection is looked up in the
// committed definitions; a collection defined by a block this peer has not
// committed yet is checked against the configuration sent with the data
// (the ledger checks membership again at commit).
func (g privateGossip) Received(from comm.ConnInfo, p *gp.PrivatePayload) error {
	c := g.c
	if len(p.PrivateRwset) > maxPushedSet {
		return fmt.Errorf("private write set of transaction %s, collection %s of chaincode %s is %d bytes, over %d", p.TxId, p.CollectionName, p.Namespace, len(p.PrivateRwset), maxPushedSet)
	}
	coll, err := c.collection(p.Namespace, p.CollectionName)
	if errors.Is(err, lifecycle.ErrNoCollection) && p.CollectionConfigs != nil {
		coll, err = lifecycle.FindCollection(p.CollectionConfigs, p.Namespace, p.CollectionName)
	}
	if err != nil {
		return fmt.Errorf("peer %s (%s) cannot take private data of transaction %s: %w", c.node.cfg.ID, c.node.cfg.LocalMSPID, p.TxId, err)
	}
	if !coll.IsMember(c.node.cfg.LocalMSPID) {
		return fmt.Errorf("peer %s of %s is not in collection %s of chaincode %s (members %s); it keeps only hashes", c.node.cfg.ID, c.node.cfg.LocalMSPID, coll.Name, coll.Namespace, strings.Join(coll.MemberOrgs, ", "))
	}
	pvt := &rwset.TxPvtReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsPvtRwset: []*rwset.NsPvtReadWriteSet{{
		Namespace:          p.Namespace,
		CollectionPvtRwset: []*rwset.CollectionPvtReadWriteSet{{CollectionName: p.CollectionName, Rwset: p.PrivateRwset}},
	}}}
	if err := c.node.transient.PutAt(c.id, p.TxId, p.PrivateSimHeight, pvt); err != nil {
		return err
	}
	c.node.log.Debug("private data received", "channel", c.id, "tx_id", p.TxId, "namespace", p.Namespace, "collection", p.CollectionName, "from_pki_id", from.PKIID.String(), "from_msp", from.MSPID)
	return nil
}

// Serve answers another peer's pull with the data it asked for that its
// organisation may hold: from the ledger for committed blocks, from the
// transient store for transactions not committed here yet.
func (g privateGossip) Serve(from comm.ConnInfo, digests []*gp.PvtDataDigest) []*gp.PvtDataElement {
	c := g.c
	height := c.ledger.Blocks().Height()
	blocks := map[uint64]map[uint64]*rwset.TxPvtReadWriteSet{}
	allowed := map[string]bool{}
	var out []*gp.PvtDataElement
	for _, d := range digests {
		key := d.Namespace + "\x00" + d.Collection
		ok, seen := allowed[key]
		if !seen {
			coll, err := c.collection(d.Namespace, d.Collection)
			ok = err == nil && coll.IsMember(from.MSPID)
			allowed[key] = ok
			if !ok {
				c.node.log.Info("private data pull refused: the requester's organisation is not a member of the collection", "channel", c.id,
					"namespace", d.Namespace, "collection", d.Collection, "requester", from.Endpoint, "requester_msp", from.MSPID, "err", err)
			}
		}
		if !ok {
			continue
		}
		var sets []*rwset.TxPvtReadWriteSet
		if d.BlockSeq < height {
			bs, ok := blocks[d.BlockSeq]
			if !ok {
				var err error
				if bs, err = c.ledger.PrivateData(d.BlockSeq); err != nil {
					c.node.log.Warn("read private data to answer a pull", "channel", c.id, "block", d.BlockSeq, "err", err)
				}
				blocks[d.BlockSeq] = bs
			}
			if s := bs[d.SeqInBlock]; s != nil {
				sets = append(sets, s)
			}
		} else {
			entries, err := c.node.transient.Entries(c.id, d.TxId)
			if err != nil {
				c.node.log.Warn("read the transient store to answer a pull", "channel", c.id, "tx_id", d.TxId, "err", err)
			}
			sets = entries
		}
		var payload [][]byte
		for _, s := range sets {
			if raw := collectionSet(s, d.Namespace, d.Collection); raw != nil && !slices.ContainsFunc(payload, func(p []byte) bool { return string(p) == string(raw) }) {
				payload = append(payload, raw)
			}
		}
		if len(payload) > 0 {
			out = append(out, &gp.PvtDataElement{Digest: d, Payload: payload})
		}
	}
	return out
}

// collectionSet is the marshalled write set of one collection in s, nil
// when s has none.
func collectionSet(s *rwset.TxPvtReadWriteSet, ns, coll string) []byte {
	for _, n := range s.GetNsPvtRwset() {
		if n.Namespace != ns {
			continue
		}
		for _, cs := range n.CollectionPvtRwset {
			if cs.CollectionName == coll {
				return cs.Rwset
			}
		}
	}
	return nil
}

// pullFrom lists the alive peers of the channel that may hold a
// collection's data: peers of its member organisations, those whose ledger
// is at or above minHeight first (they committed the block).
func (c *channel) pullFrom(coll lifecycle.Collection, minHeight uint64, keep func(height uint64) bool) []comm.RemotePeer {
	gch := c.gossip.Load()
	if gch == nil {
		return nil
	}
	var ahead, behind []comm.RemotePeer
	for _, p := range gch.Peers() {
		if !coll.IsMember(p.MSPID) || (p.Endpoint == "" && p.InternalEndpoint == "") || !keep(p.Height) {
			continue
		}
		if p.Height >= minHeight {
			ahead = append(ahead, peerAddress(p))
		} else {
			behind = append(behind, peerAddress(p))
		}
	}
	rand.Shuffle(len(ahead), func(i, j int) { ahead[i], ahead[j] = ahead[j], ahead[i] })
	return append(ahead, behind...)
}

// fetch asks member peers for missing private data until every entry is
// answered or the wait ends, and returns the write sets received whose
// bytes hash to what the block holds, by entry.
func (c *channel) fetch(ctx context.Context, missing []ledger.MissingPrivateData, hashes map[ledger.MissingPrivateData][]byte, minHeight uint64) map[ledger.MissingPrivateData][]byte {
	got := map[ledger.MissingPrivateData][]byte{}
	margin := uint64(c.node.cfg.Gossip.withDefaults().PvtData.BtlPullMargin)
	// Entries are asked of the peers of their collection's members; group
	// them by collection.
	byColl := map[string][]ledger.MissingPrivateData{}
	var order []string
	for _, m := range missing {
		k := m.Namespace + "\x00" + m.Collection
		if _, ok := byColl[k]; !ok {
			order = append(order, k)
		}
		byColl[k] = append(byColl[k], m)
	}
	for _, k := range order {
		ms := byColl[k]
		coll, err := c.collection(ms[0].Namespace, ms[0].Collection)
		if err != nil {
			c.node.log.Warn("cannot pull private data of an unknown collection", "channel", c.id, "namespace", ms[0].Namespace, "collection", ms[0].Collection, "err", err)
			continue
		}
		// As Fabric: a peer whose ledger is within btlPullMargin blocks of
		// the data's expiry may have purged it already, and is not asked.
		expiry := uint64(math.MaxUint64)
		digests := make([]*gp.PvtDataDigest, len(ms))
		for i, m := range ms {
			if coll.BlockToLive > 0 {
				expiry = min(expiry, m.Block+coll.BlockToLive+1)
			}
			digests[i] = &gp.PvtDataDigest{TxId: m.TxID, Namespace: m.Namespace, Collection: m.Collection, BlockSeq: m.Block, SeqInBlock: m.Tx}
		}
		from := c.pullFrom(coll, minHeight, func(peerHeight uint64) bool { return peerHeight+margin < expiry })
		if len(from) == 0 {
			continue
		}
		elems, err := c.node.gossip.PullPrivateData(ctx, c.id, digests, from)
		if err != nil {
			c.node.log.Debug("private data pull ended", "channel", c.id, "namespace", coll.Namespace, "collection", coll.Name, "err", err)
		}
		for _, e := range elems {
			d := e.GetDigest()
			m := ledger.MissingPrivateData{Block: d.GetBlockSeq(), Tx: d.GetSeqInBlock(), TxID: d.GetTxId(), Namespace: d.GetNamespace(), Collection: d.GetCollection()}
			want, asked := hashes[m]
			if !asked {
				continue
			}
			for _, p := range e.Payload {
				if sum := sha256.Sum256(p); want == nil || string(sum[:]) == string(want) {
					got[m] = p
					break
				}
			}
		}
	}
	return got
}

// completePrivate fetches, before block commits, the private data of its
// valid transactions that this peer should keep and neither endorsed nor
// received: from member peers, retrying until pullRetryThreshold. What is
// still missing then is committed missing, and the ledger records it for
// reconciliation. Peers are asked only when gossip knows some member peer.
func (c *channel) completePrivate(block *cb.Block, private map[uint64]*rwset.TxPvtReadWriteSet) map[uint64]*rwset.TxPvtReadWriteSet {
	missing, err := c.ledger.MissingIn(block, private)
	if err != nil {
		c.node.log.Warn("cannot tell which private data block lacks; it commits with what it has", "channel", c.id, "block", block.Header.Number, "err", err)
		return private
	}
	if len(missing) == 0 {
		return private
	}
	cfg := c.node.cfg.Gossip.withDefaults().PvtData
	hashes := blockPvtHashes(block, missing)
	deadline := time.Now().Add(cfg.PullRetryThreshold)
	for attempt := 0; len(missing) > 0; attempt++ {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		got := c.fetch(ctx, missing, hashes, block.Header.Number)
		cancel()
		var still []ledger.MissingPrivateData
		for _, m := range missing {
			raw, ok := got[m]
			if !ok {
				still = append(still, m)
				continue
			}
			if private == nil {
				private = map[uint64]*rwset.TxPvtReadWriteSet{}
			}
			private[m.Tx] = addCollection(private[m.Tx], m.Namespace, m.Collection, raw)
		}
		if len(still) < len(missing) {
			c.node.log.Info("private data fetched from other peers at commit", "channel", c.id, "block", block.Header.Number, "collections", len(missing)-len(still))
		}
		missing = still
		if len(missing) == 0 || !time.Now().Before(deadline) || (!c.anyMemberPeer(missing) && !c.meetingPeers()) {
			break
		}
		time.Sleep(min(time.Second, time.Until(deadline)))
	}
	if len(missing) > 0 {
		c.node.log.Warn("block commits without some private data this peer should keep; reconciliation will fetch it", "channel", c.id,
			"block", block.Header.Number, "missing", describeMissing(missing))
	}
	return private
}

// meetingPeers reports whether this peer may still be meeting the others:
// its channel gossip started less than the election's startup grace period
// ago and it has peers to meet (bootstrap or anchor peers). A peer restarted
// behind commits its first blocks before membership formed; waiting then
// lets it pull their private data at commit rather than by reconciliation.
func (c *channel) meetingPeers() bool {
	start := c.gossipSince.Load()
	if start == nil || time.Since(*start) > c.node.cfg.Gossip.withDefaults().Election.StartupGracePeriod {
		return false
	}
	return len(c.node.cfg.Gossip.Bootstrap) > 0 || len(c.anchorPeers()) > 0
}

// anyMemberPeer reports whether gossip knows a peer that may hold one of
// the missing entries: without one, waiting is pointless.
func (c *channel) anyMemberPeer(missing []ledger.MissingPrivateData) bool {
	for _, m := range missing {
		coll, err := c.collection(m.Namespace, m.Collection)
		if err == nil && len(c.pullFrom(coll, 0, func(uint64) bool { return true })) > 0 {
			return true
		}
	}
	return false
}

func describeMissing(ms []ledger.MissingPrivateData) string {
	var parts []string
	for i, m := range ms {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(ms)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("tx %d (%s) %s/%s", m.Tx, m.TxID, m.Namespace, m.Collection))
	}
	return strings.Join(parts, ", ")
}

// addCollection adds one collection's write set to a transaction's set.
func addCollection(set *rwset.TxPvtReadWriteSet, ns, coll string, raw []byte) *rwset.TxPvtReadWriteSet {
	if set == nil {
		set = &rwset.TxPvtReadWriteSet{DataModel: rwset.TxReadWriteSet_KV}
	}
	cs := &rwset.CollectionPvtReadWriteSet{CollectionName: coll, Rwset: raw}
	for _, n := range set.NsPvtRwset {
		if n.Namespace == ns {
			n.CollectionPvtRwset = slices.DeleteFunc(n.CollectionPvtRwset, func(c *rwset.CollectionPvtReadWriteSet) bool { return c.CollectionName == coll })
			n.CollectionPvtRwset = append(n.CollectionPvtRwset, cs)
			return set
		}
	}
	set.NsPvtRwset = append(set.NsPvtRwset, &rwset.NsPvtReadWriteSet{Namespace: ns, CollectionPvtRwset: []*rwset.CollectionPvtReadWriteSet{cs}})
	return set
}

// blockPvtHashes reads from block the pvt_rwset_hash of each missing entry
// (nil when it cannot be read: then any answer is taken, and the ledger
// checks it).
func blockPvtHashes(block *cb.Block, missing []ledger.MissingPrivateData) map[ledger.MissingPrivateData][]byte {
	out := map[ledger.MissingPrivateData][]byte{}
	decoded := map[uint64]*rwset.TxReadWriteSet{}
	for _, m := range missing {
		rws, ok := decoded[m.Tx]
		if !ok {
			rws = txRWSet(block, m.Tx)
			decoded[m.Tx] = rws
		}
		out[m] = pvtHashOf(rws, m.Namespace, m.Collection)
	}
	return out
}

// txRWSet decodes the read/write set of transaction tx of block, nil when it
// has none.
func txRWSet(block *cb.Block, tx uint64) *rwset.TxReadWriteSet {
	data := block.GetData().GetData()
	if tx >= uint64(len(data)) {
		return nil
	}
	env, err := protos.UnmarshalEnvelope(data[tx])
	if err != nil {
		return nil
	}
	etx, err := protos.ParseEndorserTx(env)
	if err != nil {
		return nil
	}
	return etx.ReadWriteSet
}

func pvtHashOf(rws *rwset.TxReadWriteSet, ns, coll string) []byte {
	for _, n := range rws.GetNsRwset() {
		if n.Namespace != ns {
			continue
		}
		for _, c := range n.CollectionHashedRwset {
			if c.CollectionName == coll {
				return c.PvtRwsetHash
			}
		}
	}
	return nil
}

// reconcile fetches, every reconcileSleepInterval, private data this peer
// committed without (peer.gossip.pvtData.reconcile*), newest blocks first,
// reconcileBatchSize entries a round, until ctx ends.
func (c *channel) reconcile(ctx context.Context) {
	cfg := c.node.cfg.Gossip.withDefaults().PvtData
	if cfg.ReconciliationDisabled {
		return
	}
	t := time.NewTicker(cfg.ReconcileSleepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for c.reconcileOnce(ctx, cfg.ReconcileBatchSize) > 0 && ctx.Err() == nil {
			// A full batch was reconciled: go on at once with the next.
		}
	}
}

// reconcilePullTimeout bounds the pulls of one reconciliation round (each
// peer asked has gossip's response timeout to answer).
const reconcilePullTimeout = 30 * time.Second

// reconcileOnce runs one reconciliation round and returns how many entries
// it filled.
func (c *channel) reconcileOnce(ctx context.Context, batch int) int {
	missing, err := c.ledger.MissingPrivateData(batch)
	if err != nil {
		c.node.log.Warn("list missing private data", "channel", c.id, "err", err)
		return 0
	}
	if len(missing) == 0 {
		return 0
	}
	hashes := map[ledger.MissingPrivateData][]byte{}
	blocks := map[uint64]*cb.Block{}
	for _, m := range missing {
		b, ok := blocks[m.Block]
		if !ok {
			b, err = c.ledger.Blocks().Block(m.Block)
			if err != nil {
				c.node.log.Warn("read a block to reconcile its private data", "channel", c.id, "block", m.Block, "err", err)
				continue
			}
			blocks[m.Block] = b
		}
		hashes[m] = pvtHashOf(txRWSet(b, m.Tx), m.Namespace, m.Collection)
	}
	pctx, cancel := context.WithTimeout(ctx, reconcilePullTimeout)
	got := c.fetch(pctx, missing, hashes, missing[0].Block+1)
	cancel()
	if len(got) == 0 {
		return 0
	}
	sets := make([]ledger.ReconciledPrivateData, 0, len(got))
	for m, raw := range got {
		sets = append(sets, ledger.ReconciledPrivateData{Block: m.Block, Tx: m.Tx, Namespace: m.Namespace, Collection: m.Collection, Rwset: raw})
	}
	stored, rejected, err := c.ledger.CommitPrivateData(sets)
	for _, r := range rejected {
		c.node.log.Warn("reconciled private data refused", "channel", c.id, "err", r)
	}
	if err != nil {
		c.node.log.Error("store reconciled private data", "channel", c.id, "err", err)
		return 0
	}
	if stored > 0 {
		c.node.log.Info("private data reconciled", "channel", c.id, "entries", stored)
	}
	return stored
}
