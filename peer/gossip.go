package peer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/discovery"
	"github.com/weft-ledger/weft/gossip"
	gchannel "github.com/weft-ledger/weft/gossip/channel"
	"github.com/weft-ledger/weft/gossip/comm"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/gossip/membership"
	"github.com/weft-ledger/weft/peer/lifecycle"
)

// newGossip builds the peer's gossip service and its Discovery service from
// peer.gossip and peer.discovery (docs/gossip.md).
func (n *Node) newGossip() error {
	g := n.cfg.Gossip.withDefaults()
	endpoint := g.Endpoint
	if endpoint == "" {
		endpoint = n.cfg.Address
	}
	svc, err := gossip.New(gossip.Config{
		Signer:   n.signer,
		Verifier: identity.Managers(n.gossipManagers),
		TLSCert:  n.tlsCert,
		TLSRoots: n.gossipTLSRoots,
		Comm: comm.Config{
			DialTimeout:    g.DialTimeout,
			ConnTimeout:    g.ConnTimeout,
			SendBufferSize: g.SendBuffSize,
			RecvBufferSize: g.RecvBuffSize,
			MaxRecvMsgSize: maxMessageSize,
			MaxSendMsgSize: maxMessageSize,
		},
		Membership: membership.Config{
			Endpoint:                  endpoint,
			ExternalEndpoint:          g.ExternalEndpoint,
			Bootstrap:                 g.Bootstrap,
			AliveTimeInterval:         g.AliveTimeInterval,
			AliveExpirationTimeout:    g.AliveExpirationTimeout,
			ReconnectInterval:         g.ReconnectInterval,
			MsgExpirationFactor:       g.MsgExpirationFactor,
			MaxConnectionAttempts:     g.MaxConnectionAttempts,
			PropagatePeerNum:          g.PropagatePeerNum,
			PublishCertPeriod:         g.PublishCertPeriod,
			DialTimeout:               g.DialTimeout,
			PullInterval:              g.PullInterval,
			PullPeerNum:               g.PullPeerNum,
			DigestWaitTime:            g.DigestWaitTime,
			RequestWaitTime:           g.RequestWaitTime,
			ResponseWaitTime:          g.ResponseWaitTime,
			MembershipTrackerInterval: g.MembershipTrackerInterval,
		},
		Log: n.log,
	})
	if err != nil {
		return err
	}
	n.gossip = svc
	d := n.cfg.Discovery.withDefaults()
	if !d.Disabled {
		n.discovery = discovery.NewServer(discovery.Config{
			Channels:                     discoveryChannels{n},
			Membership:                   svc,
			LocalMSP:                     n.localMSP,
			OrgMembersAllowedAccess:      d.OrgMembersAllowedAccess,
			MutualTLS:                    n.cfg.TLS.Enabled && n.cfg.TLS.ClientAuthRequired,
			AuthCacheEnabled:             !d.AuthCacheDisabled,
			AuthCacheMaxSize:             d.AuthCacheMaxSize,
			AuthCachePurgeRetentionRatio: d.AuthCachePurgeRetentionRatio,
			Logger:                       n.log,
		})
	}
	return nil
}

// joinGossip starts gossip for a channel the peer opened.
func (n *Node) joinGossip(ch *channel) error {
	g := n.cfg.Gossip.withDefaults()
	gch, err := n.gossip.JoinChannel(gchannel.Config{
		ChannelID:                ch.id,
		Orgs:                     ch.orgs,
		AnchorPeers:              ch.anchorPeers,
		UseLeaderElection:        g.Leader == LeaderElected,
		OrgLeader:                g.Leader == LeaderStatic,
		PublishStateInfoInterval: g.PublishStateInfoInterval,
		RequestStateInfoInterval: g.RequestStateInfoInterval,
		PullInterval:             g.PullInterval,
		PullPeerNum:              g.PullPeerNum,
		PropagatePeerNum:         g.PropagatePeerNum,
		MaxBlockCountToStore:     g.MaxBlockCountToStore,
		StartupGracePeriod:       g.Election.StartupGracePeriod,
		MembershipSampleInterval: g.Election.MembershipSampleInterval,
		LeaderAliveThreshold:     g.Election.LeaderAliveThreshold,
		LeaderElectionDuration:   g.Election.LeaderElectionDuration,
		StateTransfer:            !g.State.Disabled,
		StateCheckInterval:       g.State.CheckInterval,
		StateResponseTimeout:     g.State.ResponseTimeout,
		StateBatchSize:           g.State.BatchSize,
		StateBlockBufferSize:     g.State.BlockBufferSize,
		StateMaxRetries:          g.State.MaxRetries,
	}, gossip.ChannelDeps{Committer: gossipLedger{ch}, Policy: gossipPolicy{ch}, Private: privateGossip{ch}})
	if err != nil {
		return fmt.Errorf("channel %s: start gossip: %w", ch.id, err)
	}
	now := time.Now()
	ch.gossipSince.Store(&now)
	ch.gossip.Store(gch)
	gch.UpdateHeight(ch.committed.Height())
	ch.advertiseChaincodes()
	return nil
}

// advertiseChaincodes publishes in the channel's state info the chaincodes
// this peer can run, as Fabric does: each defined chaincode its organisation
// approved with a package installed here, with the definition's sequence as
// version, and _lifecycle (sequence 1). Service discovery counts a peer as an
// endorser of exactly these.
func (c *channel) advertiseChaincodes() {
	gch := c.gossip.Load()
	if gch == nil {
		return
	}
	rs, err := c.node.lifecycle.RunnableChaincodes(c.ledger.State())
	if err != nil {
		c.node.log.Error("cannot list the chaincodes this peer runs for gossip state info", "channel", c.id, "err", err)
		return
	}
	ccs := []*gp.Chaincode{{Name: lifecycle.Namespace, Version: "1"}}
	for _, r := range rs {
		ccs = append(ccs, &gp.Chaincode{Name: r.Name, Version: strconv.FormatInt(r.Sequence, 10)})
	}
	gch.UpdateChaincodes(ccs)
}

// gossipBlock pushes a block this peer pulled from the orderers and
// committed to the peers of its organisation
// (peer.deliveryclient.blockGossipEnabled).
func (c *channel) gossipBlock(b *cb.Block) {
	if gch := c.gossip.Load(); gch != nil && !c.node.cfg.Gossip.BlockGossipDisabled {
		gch.Gossip(b)
	}
}

// pullWhileLeader pulls blocks from the orderers while this peer is its
// organisation's leader for the channel: always for a static leader
// (peer.gossip.orgLeader), never for a peer that is neither, and while
// elected with peer.gossip.useLeaderElection.
func (c *channel) pullWhileLeader(ctx context.Context, pull func(context.Context)) {
	switch c.node.cfg.Gossip.Leader {
	case LeaderStatic:
		pull(ctx)
		return
	case LeaderNever:
		c.node.log.Info("not pulling blocks from the orderers: peer.gossip.orgLeader and useLeaderElection are false; blocks come from the organisation's peers", "channel", c.id)
		<-ctx.Done()
		return
	}
	gch := c.gossip.Load()
	changes := make(chan bool, 16)
	gch.OnLeadership(func(leader bool) {
		select {
		case changes <- leader:
		default: // a later change follows; the current state is read below
		}
	})
	var stop context.CancelFunc
	done := make(chan struct{})
	close(done)
	for {
		select {
		case <-ctx.Done():
			if stop != nil {
				stop()
			}
			<-done
			return
		case <-changes:
		}
		leader := gch.IsLeader()
		switch {
		case leader && stop == nil:
			c.node.log.Info("elected leader: pulling blocks from the orderers", "channel", c.id)
			var pctx context.Context
			pctx, stop = context.WithCancel(ctx)
			done = make(chan struct{})
			go func() {
				defer close(done)
				pull(pctx)
			}()
		case !leader && stop != nil:
			c.node.log.Info("no longer leader: blocks come from the organisation's leader", "channel", c.id)
			stop()
			<-done
			stop = nil
		}
	}
}

// discoveryChannels answers service discovery from the joined channels.
type discoveryChannels struct{ n *Node }

func (a discoveryChannels) Bundle(id string) (*channelconfig.Bundle, bool) {
	ch, err := a.n.channel(id)
	if err != nil {
		return nil, false
	}
	return ch.bundle.Load(), true
}

// Chaincode is the committed definition of a chaincode; _lifecycle has
// Fabric's: the channel's LifecycleEndorsement policy at sequence 1.
func (a discoveryChannels) Chaincode(id, name string) (*discovery.Definition, error) {
	ch, err := a.n.channel(id)
	if err != nil {
		return nil, err
	}
	d, err := lifecycle.ReadDefinition(lifecycle.DBState{DB: ch.ledger.State()}, name)
	if errors.Is(err, lifecycle.ErrNotDefined) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	seq := d.Sequence
	if name == lifecycle.Namespace {
		seq = 1
	}
	return &discovery.Definition{Name: name, Sequence: seq, EndorsementPolicy: d.EndorsementPolicy, Collections: d.Collections}, nil
}
