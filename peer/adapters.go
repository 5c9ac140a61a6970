package peer

import (
	"fmt"
	"sort"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/discovery"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/acl"
	"github.com/weft-ledger/weft/peer/deliver"
	"github.com/weft-ledger/weft/peer/endorser"
	"github.com/weft-ledger/weft/peer/gateway"
	"github.com/weft-ledger/weft/peer/lifecycle"
)

// The services of the peer each declare the few things they need of a
// channel; these adapters answer them from the node's joined channels.

const readersPolicy = acl.ChannelReaders

func (n *Node) ledger(id string) (*ledger.Ledger, error) {
	ch, err := n.channel(id)
	if err != nil {
		return nil, err
	}
	return ch.ledger, nil
}

// committedBlocks is a joined channel's fully committed view of its blocks.
func (n *Node) committedBlocks(id string) (*committedBlocks, error) {
	ch, err := n.channel(id)
	if err != nil {
		return nil, err
	}
	return ch.committed, nil
}

// channelConfig is the configuration in force on a joined channel, whose
// ACLs qscc and cscc check.
func (n *Node) channelConfig(id string) (acl.Config, error) {
	ch, err := n.channel(id)
	if err != nil {
		return nil, err
	}
	return ch.bundle.Load(), nil
}

// configBlock reads the channel's latest config block from its ledger
// (cscc GetConfigBlock).
func (c *channel) configBlock() (*cb.Block, error) { return lastConfigBlock(c.ledger.Blocks()) }

type lifecycleChannels struct{ n *Node }

func (a lifecycleChannels) ChannelConfig(id string) (lifecycle.ChannelConfig, error) {
	ch, err := a.n.channel(id)
	if err != nil {
		return nil, err
	}
	return lifecycle.BundleChannel{Bundle: ch.bundle.Load()}, nil
}

func (a lifecycleChannels) JoinedChannelIDs() []string { return a.n.channelIDs() }

func (a lifecycleChannels) CommittedState(id string) (lifecycle.CommittedDB, error) {
	l, err := a.n.ledger(id)
	if err != nil {
		return nil, err
	}
	return l.State(), nil
}

type endorserChannels struct{ n *Node }

func (a endorserChannels) Channel(id string) (*endorser.Channel, error) {
	ch, err := a.n.channel(id)
	if err != nil {
		return nil, err
	}
	return &endorser.Channel{Config: ch.bundle.Load(), Ledger: endorser.NewLedger(ch.ledger), Definitions: ch.definitions}, nil
}

type deliverChannels struct{ n *Node }

func (a deliverChannels) Channel(id string) (*deliver.Channel, error) {
	ch, err := a.n.channel(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", deliver.ErrChannelNotFound, err)
	}
	// The event ACLs (event/Block, event/FilteredBlock) of the config in
	// force, and its sequence: an open stream is judged again when it changes.
	bundle := ch.bundle.Load()
	return &deliver.Channel{Blocks: ch.committed, ACL: deliver.BundleACL(bundle), Sequence: bundle.Sequence(), PrivateData: deliverPrivate{ch}}, nil
}

// deliverPrivate is what DeliverWithPrivateData sends of a channel's
// private data: what the ledger holds, to the organisations Fabric's rule
// lets read it (every organisation for a collection without
// memberOnlyRead, else its members).
type deliverPrivate struct{ c *channel }

func (d deliverPrivate) BlockPrivateData(n uint64) (map[uint64]*rwset.TxPvtReadWriteSet, error) {
	return d.c.ledger.PrivateData(n)
}

func (d deliverPrivate) MayRead(_ uint64, ns, coll, mspID string) (bool, error) {
	c, err := d.c.collection(ns, coll)
	if err != nil {
		return false, err
	}
	return !c.MemberOnlyRead || c.IsMember(mspID), nil
}

type gatewayChannels struct{ n *Node }

func (a gatewayChannels) Channel(id string) (*gateway.Channel, error) {
	ch, err := a.n.channel(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", gateway.ErrChannelNotFound, err)
	}
	bundle := ch.bundle.Load()
	readers, err := bundle.Policy(readersPolicy)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", id, err)
	}
	gc := &gateway.Channel{Ledger: ch.committed, Readers: readers, ACL: gateway.BundleACL(bundle), Config: bundle.Config()}
	if app := bundle.Application(); app != nil {
		ids := make([]string, 0, len(app.Orgs))
		for id := range app.Orgs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, mspID := range ids {
			org := gateway.Org{MSPID: mspID, Endpoints: app.Orgs[mspID].AnchorPeers}
			if m, ok := bundle.MSPs().MSP(mspID); ok {
				org.TLSRoots = m.TLSRootCAs()
			}
			gc.Orgs = append(gc.Orgs, org)
		}
	}
	for _, ep := range ch.ordererEndpoints() {
		gc.Orderers = append(gc.Orderers, gateway.Orderer{Address: ep.Address, TLSRoots: ep.TLSRoots})
	}
	// The gateway plans endorsements from service discovery over the peers
	// gossip knows of the channel, as the Discovery service answers them.
	if g := a.n.gossip; g != nil {
		gc.Peers = func() []discovery.Peer { return g.ChannelPeers(id) }
		dc := discoveryChannels{a.n}
		gc.Discovery = discovery.Channel{Bundle: bundle, Definition: func(name string) (*discovery.Definition, error) { return dc.Chaincode(id, name) }}
		gc.Self = a.n.signer.Serialized
	}
	return gc, nil
}

type gatewayChaincodes struct{ n *Node }

func (a gatewayChaincodes) EndorsementPolicy(channelID, name string) (*pb.ApplicationPolicy, error) {
	ch, err := a.n.channel(channelID)
	if err != nil {
		return nil, err
	}
	def, err := ch.definitions.Get(name, func(name string) (*lifecycle.Definition, error) {
		return a.n.lifecycle.ChaincodeDefinition(channelID, lifecycle.DBState{DB: ch.ledger.State()}, name)
	})
	if err != nil {
		return nil, err
	}
	pol := &pb.ApplicationPolicy{}
	if err := proto.Unmarshal(def.EndorsementPolicy, pol); err != nil {
		return nil, fmt.Errorf("chaincode %s on %s: decode endorsement policy: %w", name, channelID, err)
	}
	return pol, nil
}
