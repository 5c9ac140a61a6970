package peer

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/viper"
)

// GossipConfig is peer.gossip with Fabric v2.5's keys, and
// peer.deliveryclient.blockGossipEnabled. A zero number or duration means
// Fabric's default (withDefaults), and the zero GossipConfig is Fabric's
// default configuration, so a Config built in code gossips as a peer started
// from Fabric's core.yaml would. Weft differs in two ways, both documented in
// docs/gossip.md: state transfer (peer.gossip.state.enabled) is on unless
// turned off, so a peer cut off from the orderers catches up from its
// neighbours, and blocks received by gossip are always verified
// (peer.gossip.skipBlockVerification true is refused).
type GossipConfig struct {
	// Bootstrap are peers of this organisation contacted at start
	// (peer.gossip.bootstrap: a list, or endpoints separated by spaces).
	Bootstrap []string
	// Endpoint is how peers of this organisation reach this peer
	// (peer.gossip.endpoint; empty: peer.address).
	Endpoint string
	// ExternalEndpoint is how peers of other organisations reach it
	// (peer.gossip.externalEndpoint); empty keeps the peer unknown outside
	// its organisation, as in Fabric.
	ExternalEndpoint string
	// Leader says who pulls blocks from the orderers, from
	// peer.gossip.useLeaderElection and peer.gossip.orgLeader.
	Leader LeaderMode
	// BlockGossipDisabled is peer.deliveryclient.blockGossipEnabled false: a
	// peer pulling from the orderers does not push the blocks to its
	// organisation.
	BlockGossipDisabled bool

	MembershipTrackerInterval  time.Duration
	MaxBlockCountToStore       int
	MaxPropagationBurstLatency time.Duration
	MaxPropagationBurstSize    int
	PropagateIterations        int
	PropagatePeerNum           int
	PullInterval               time.Duration
	PullPeerNum                int
	RequestStateInfoInterval   time.Duration
	PublishStateInfoInterval   time.Duration
	StateInfoRetentionInterval time.Duration // 0: Fabric's default (aliveExpirationTimeout)
	PublishCertPeriod          time.Duration
	DialTimeout                time.Duration
	ConnTimeout                time.Duration
	RecvBuffSize               int
	SendBuffSize               int
	DigestWaitTime             time.Duration
	RequestWaitTime            time.Duration
	ResponseWaitTime           time.Duration
	AliveTimeInterval          time.Duration
	AliveExpirationTimeout     time.Duration
	ReconnectInterval          time.Duration
	MaxConnectionAttempts      int
	MsgExpirationFactor        int

	Election GossipElectionConfig
	State    GossipStateConfig

	// TransientstoreMaxBlockRetention is
	// peer.gossip.pvtData.transientstoreMaxBlockRetention: private write
	// sets endorsed this many blocks ago and never committed are purged
	// from the transient store.
	TransientstoreMaxBlockRetention int

	PvtData GossipPvtDataConfig
}

// GossipPvtDataConfig is the rest of peer.gossip.pvtData: how private data
// is pushed at endorsement and fetched at commit and afterwards
// (docs/private-data.md). Zero values mean Fabric's defaults.
type GossipPvtDataConfig struct {
	// PullRetryThreshold bounds how long a commit waits for missing
	// private data from other peers before it commits without it.
	PullRetryThreshold time.Duration
	// PushAckTimeout bounds the wait for acknowledgements of private data
	// pushed at endorsement.
	PushAckTimeout time.Duration
	// BtlPullMargin: data whose blockToLive ends within this many blocks
	// is not pulled.
	BtlPullMargin int
	// ReconcileBatchSize is the number of missing entries one
	// reconciliation round asks for; ReconcileSleepInterval the pause
	// between rounds; ReconciliationDisabled is reconciliationEnabled false.
	ReconcileBatchSize     int
	ReconcileSleepInterval time.Duration
	ReconciliationDisabled bool
	// ImplicitRequiredPeerCount and ImplicitMaxPeerCount are
	// implicitCollectionDisseminationPolicy: how far an organisation's
	// implicit collection is pushed (Fabric: 0 and 1). Negative
	// ImplicitMaxPeerCount is refused; use ImplicitMaxPeerCountSet to tell
	// an explicit 0 from the default.
	ImplicitRequiredPeerCount int
	ImplicitMaxPeerCount      int
	ImplicitMaxPeerCountSet   bool
}

// GossipElectionConfig is peer.gossip.election.
type GossipElectionConfig struct {
	StartupGracePeriod       time.Duration
	MembershipSampleInterval time.Duration
	LeaderAliveThreshold     time.Duration
	LeaderElectionDuration   time.Duration
}

// GossipStateConfig is peer.gossip.state: state transfer, by which a peer
// that is behind asks its neighbours for the blocks it misses.
type GossipStateConfig struct {
	Disabled        bool // peer.gossip.state.enabled false
	CheckInterval   time.Duration
	ResponseTimeout time.Duration
	BatchSize       int
	BlockBufferSize int
	MaxRetries      int
}

// LeaderMode says which peers pull blocks from the orderers.
type LeaderMode int

const (
	// LeaderStatic: this peer always pulls (orgLeader true, Fabric v2.5's
	// default).
	LeaderStatic LeaderMode = iota
	// LeaderElected: the peers of an organisation elect one per channel
	// (useLeaderElection true).
	LeaderElected
	// LeaderNever: this peer only receives blocks from its organisation's
	// peers (both false).
	LeaderNever
)

func (m LeaderMode) String() string {
	switch m {
	case LeaderElected:
		return "elected"
	case LeaderNever:
		return "never"
	}
	return "static"
}

// DiscoveryConfig is peer.discovery: the Discovery service. A zero number
// means Fabric's default.
type DiscoveryConfig struct {
	Disabled                     bool // peer.discovery.enabled false
	AuthCacheDisabled            bool // peer.discovery.authCacheEnabled false
	AuthCacheMaxSize             int
	AuthCachePurgeRetentionRatio float64
	// OrgMembersAllowedAccess lets clients of the peer's own organisation,
	// not only its admins, ask for the local peers.
	OrgMembersAllowedAccess bool
}

func loadGossip(v *viper.Viper) (GossipConfig, []string) {
	k := &keys{v: v}
	g := func(key string) string { return "peer.gossip." + key }
	c := GossipConfig{
		Bootstrap:           k.endpoints(g("bootstrap")),
		Endpoint:            k.str(g("endpoint"), ""),
		ExternalEndpoint:    k.str(g("externalEndpoint"), ""),
		BlockGossipDisabled: !k.flag("peer.deliveryclient.blockGossipEnabled", true),

		MembershipTrackerInterval:  k.dur(g("membershipTrackerInterval"), 0),
		MaxBlockCountToStore:       k.num(g("maxBlockCountToStore"), 0),
		MaxPropagationBurstLatency: k.dur(g("maxPropagationBurstLatency"), 0),
		MaxPropagationBurstSize:    k.num(g("maxPropagationBurstSize"), 0),
		PropagateIterations:        k.num(g("propagateIterations"), 0),
		PropagatePeerNum:           k.num(g("propagatePeerNum"), 0),
		PullInterval:               k.dur(g("pullInterval"), 0),
		PullPeerNum:                k.num(g("pullPeerNum"), 0),
		RequestStateInfoInterval:   k.dur(g("requestStateInfoInterval"), 0),
		PublishStateInfoInterval:   k.dur(g("publishStateInfoInterval"), 0),
		StateInfoRetentionInterval: k.dur(g("stateInfoRetentionInterval"), 0),
		PublishCertPeriod:          k.dur(g("publishCertPeriod"), 0),
		DialTimeout:                k.dur(g("dialTimeout"), 0),
		ConnTimeout:                k.dur(g("connTimeout"), 0),
		RecvBuffSize:               k.num(g("recvBuffSize"), 0),
		SendBuffSize:               k.num(g("sendBuffSize"), 0),
		DigestWaitTime:             k.dur(g("digestWaitTime"), 0),
		RequestWaitTime:            k.dur(g("requestWaitTime"), 0),
		ResponseWaitTime:           k.dur(g("responseWaitTime"), 0),
		AliveTimeInterval:          k.dur(g("aliveTimeInterval"), 0),
		AliveExpirationTimeout:     k.dur(g("aliveExpirationTimeout"), 0),
		ReconnectInterval:          k.dur(g("reconnectInterval"), 0),
		MaxConnectionAttempts:      k.num(g("maxConnectionAttempts"), 0),
		MsgExpirationFactor:        k.num(g("msgExpirationFactor"), 0),
		Election: GossipElectionConfig{
			StartupGracePeriod:       k.dur(g("election.startupGracePeriod"), 0),
			MembershipSampleInterval: k.dur(g("election.membershipSampleInterval"), 0),
			LeaderAliveThreshold:     k.dur(g("election.leaderAliveThreshold"), 0),
			LeaderElectionDuration:   k.dur(g("election.leaderElectionDuration"), 0),
		},
		TransientstoreMaxBlockRetention: k.num(g("pvtData.transientstoreMaxBlockRetention"), 0),
		PvtData: GossipPvtDataConfig{
			PullRetryThreshold:        k.dur(g("pvtData.pullRetryThreshold"), 0),
			PushAckTimeout:            k.dur(g("pvtData.pushAckTimeout"), 0),
			BtlPullMargin:             k.num(g("pvtData.btlPullMargin"), 0),
			ReconcileBatchSize:        k.num(g("pvtData.reconcileBatchSize"), 0),
			ReconcileSleepInterval:    k.dur(g("pvtData.reconcileSleepInterval"), 0),
			ReconciliationDisabled:    !k.flag(g("pvtData.reconciliationEnabled"), true),
			ImplicitRequiredPeerCount: k.num(g("pvtData.implicitCollectionDisseminationPolicy.requiredPeerCount"), 0),
			ImplicitMaxPeerCount:      k.num(g("pvtData.implicitCollectionDisseminationPolicy.maxPeerCount"), 0),
			ImplicitMaxPeerCountSet:   v.IsSet(g("pvtData.implicitCollectionDisseminationPolicy.maxPeerCount")),
		},
		State: GossipStateConfig{
			Disabled:        !k.flag(g("state.enabled"), true),
			CheckInterval:   k.dur(g("state.checkInterval"), 0),
			ResponseTimeout: k.dur(g("state.responseTimeout"), 0),
			BatchSize:       k.num(g("state.batchSize"), 0),
			BlockBufferSize: k.num(g("state.blockBufferSize"), 0),
			MaxRetries:      k.num(g("state.maxRetries"), 0),
		},
	}
	switch election, static := k.flag(g("useLeaderElection"), false), k.flag(g("orgLeader"), true); {
	case election && static:
		k.bad = append(k.bad, fmt.Sprintf("%s and %s are both true: choose one way to pick who pulls blocks from the orderers (Fabric refuses this too)", keyEnv(g("useLeaderElection")), keyEnv(g("orgLeader"))))
	case election:
		c.Leader = LeaderElected
	case !static:
		c.Leader = LeaderNever
	}
	if k.flag(g("skipBlockVerification"), false) {
		k.bad = append(k.bad, keyEnv(g("skipBlockVerification"))+" = true: Weft verifies every block received by gossip as one from the orderer; remove the key or set it to false")
	}
	if k.flag(g("skipHandshake"), false) {
		k.bad = append(k.bad, keyEnv(g("skipHandshake"))+" = true: Weft always authenticates gossip connections with Fabric's signed handshake bound to the TLS certificate (Fabric v2.5 has no way to skip it either); remove the key or set it to false")
	}
	return c, k.bad
}

func loadDiscovery(v *viper.Viper) (DiscoveryConfig, []string) {
	k := &keys{v: v}
	d := func(key string) string { return "peer.discovery." + key }
	return DiscoveryConfig{
		Disabled:                     !k.flag(d("enabled"), true),
		AuthCacheDisabled:            !k.flag(d("authCacheEnabled"), true),
		AuthCacheMaxSize:             k.num(d("authCacheMaxSize"), 0),
		AuthCachePurgeRetentionRatio: k.ratio(d("authCachePurgeRetentionRatio"), 0),
		OrgMembersAllowedAccess:      k.flag(d("orgMembersAllowedAccess"), false),
	}, k.bad
}

// validate checks peer.gossip; each problem names its key.
func (c GossipConfig) validate() []string {
	var errs []string
	g := func(key string) string { return keyEnv("peer.gossip." + key) }
	for _, e := range c.Bootstrap {
		if _, _, err := net.SplitHostPort(e); err != nil {
			errs = append(errs, fmt.Sprintf("%s holds %q, which is not host:port", g("bootstrap"), e))
		}
	}
	for _, a := range []struct{ key, val string }{{"endpoint", c.Endpoint}, {"externalEndpoint", c.ExternalEndpoint}} {
		if a.val == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.val); err != nil {
			errs = append(errs, fmt.Sprintf("%s = %q is not host:port", g(a.key), a.val))
		}
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"membershipTrackerInterval", c.MembershipTrackerInterval}, {"pullInterval", c.PullInterval},
		{"requestStateInfoInterval", c.RequestStateInfoInterval}, {"publishStateInfoInterval", c.PublishStateInfoInterval},
		{"publishCertPeriod", c.PublishCertPeriod}, {"dialTimeout", c.DialTimeout}, {"connTimeout", c.ConnTimeout},
		{"digestWaitTime", c.DigestWaitTime}, {"requestWaitTime", c.RequestWaitTime}, {"responseWaitTime", c.ResponseWaitTime},
		{"aliveTimeInterval", c.AliveTimeInterval}, {"aliveExpirationTimeout", c.AliveExpirationTimeout},
		{"reconnectInterval", c.ReconnectInterval},
		{"election.startupGracePeriod", c.Election.StartupGracePeriod},
		{"election.membershipSampleInterval", c.Election.MembershipSampleInterval},
		{"election.leaderAliveThreshold", c.Election.LeaderAliveThreshold},
		{"election.leaderElectionDuration", c.Election.LeaderElectionDuration},
		{"state.checkInterval", c.State.CheckInterval}, {"state.responseTimeout", c.State.ResponseTimeout},
		{"pvtData.pullRetryThreshold", c.PvtData.PullRetryThreshold}, {"pvtData.pushAckTimeout", c.PvtData.PushAckTimeout},
		{"pvtData.reconcileSleepInterval", c.PvtData.ReconcileSleepInterval},
	} {
		if d.val < 0 {
			errs = append(errs, fmt.Sprintf("%s = %v: use a positive duration, or leave it out for Fabric's default", g(d.key), d.val))
		}
	}
	if c.StateInfoRetentionInterval < 0 || c.MaxPropagationBurstLatency < 0 {
		errs = append(errs, fmt.Sprintf("%s and %s must not be negative", g("stateInfoRetentionInterval"), g("maxPropagationBurstLatency")))
	}
	for _, n := range []struct {
		key string
		val int
	}{
		{"maxBlockCountToStore", c.MaxBlockCountToStore}, {"maxPropagationBurstSize", c.MaxPropagationBurstSize},
		{"propagateIterations", c.PropagateIterations}, {"propagatePeerNum", c.PropagatePeerNum},
		{"pullPeerNum", c.PullPeerNum}, {"recvBuffSize", c.RecvBuffSize}, {"sendBuffSize", c.SendBuffSize},
		{"maxConnectionAttempts", c.MaxConnectionAttempts}, {"msgExpirationFactor", c.MsgExpirationFactor},
		{"state.batchSize", c.State.BatchSize}, {"state.blockBufferSize", c.State.BlockBufferSize},
		{"state.maxRetries", c.State.MaxRetries},
		{"pvtData.transientstoreMaxBlockRetention", c.TransientstoreMaxBlockRetention},
		{"pvtData.btlPullMargin", c.PvtData.BtlPullMargin}, {"pvtData.reconcileBatchSize", c.PvtData.ReconcileBatchSize},
		{"pvtData.implicitCollectionDisseminationPolicy.requiredPeerCount", c.PvtData.ImplicitRequiredPeerCount},
		{"pvtData.implicitCollectionDisseminationPolicy.maxPeerCount", c.PvtData.ImplicitMaxPeerCount},
	} {
		if n.val < 0 {
			errs = append(errs, fmt.Sprintf("%s = %d: use a positive number, or leave it out for Fabric's default", g(n.key), n.val))
		}
	}
	return errs
}

// validate checks peer.discovery; each problem names its key.
func (c DiscoveryConfig) validate() []string {
	var errs []string
	if c.AuthCacheMaxSize < 0 {
		errs = append(errs, fmt.Sprintf("%s = %d: use 0 or a positive number of entries", keyEnv("peer.discovery.authCacheMaxSize"), c.AuthCacheMaxSize))
	}
	if r := c.AuthCachePurgeRetentionRatio; r < 0 || r > 1 {
		errs = append(errs, fmt.Sprintf("%s = %v: use a fraction between 0 and 1, such as 0.75", keyEnv("peer.discovery.authCachePurgeRetentionRatio"), r))
	}
	return errs
}

// withDefaults fills every zero number and duration with Fabric's default.
func (c GossipConfig) withDefaults() GossipConfig {
	dur := func(p *time.Duration, def time.Duration) {
		if *p == 0 {
			*p = def
		}
	}
	num := func(p *int, def int) {
		if *p == 0 {
			*p = def
		}
	}
	dur(&c.MembershipTrackerInterval, 5*time.Second)
	num(&c.MaxBlockCountToStore, 10)
	dur(&c.MaxPropagationBurstLatency, 10*time.Millisecond)
	num(&c.MaxPropagationBurstSize, 10)
	num(&c.PropagateIterations, 1)
	num(&c.PropagatePeerNum, 3)
	dur(&c.PullInterval, 4*time.Second)
	num(&c.PullPeerNum, 3)
	dur(&c.RequestStateInfoInterval, 4*time.Second)
	dur(&c.PublishStateInfoInterval, 4*time.Second)
	dur(&c.PublishCertPeriod, 10*time.Second)
	dur(&c.DialTimeout, 3*time.Second)
	dur(&c.ConnTimeout, 2*time.Second)
	num(&c.RecvBuffSize, 20)
	num(&c.SendBuffSize, 200)
	dur(&c.DigestWaitTime, time.Second)
	dur(&c.RequestWaitTime, 1500*time.Millisecond)
	dur(&c.ResponseWaitTime, 2*time.Second)
	dur(&c.AliveTimeInterval, 5*time.Second)
	dur(&c.AliveExpirationTimeout, 25*time.Second)
	dur(&c.ReconnectInterval, 25*time.Second)
	num(&c.MaxConnectionAttempts, 120)
	num(&c.MsgExpirationFactor, 20)
	dur(&c.StateInfoRetentionInterval, c.AliveExpirationTimeout)
	dur(&c.Election.StartupGracePeriod, 15*time.Second)
	dur(&c.Election.MembershipSampleInterval, time.Second)
	dur(&c.Election.LeaderAliveThreshold, 10*time.Second)
	dur(&c.Election.LeaderElectionDuration, 5*time.Second)
	dur(&c.State.CheckInterval, 10*time.Second)
	dur(&c.State.ResponseTimeout, 3*time.Second)
	num(&c.State.BatchSize, 10)
	num(&c.State.BlockBufferSize, 20)
	num(&c.State.MaxRetries, 3)
	num(&c.TransientstoreMaxBlockRetention, transientBlockRetention)
	dur(&c.PvtData.PullRetryThreshold, 60*time.Second)
	dur(&c.PvtData.PushAckTimeout, 3*time.Second)
	num(&c.PvtData.BtlPullMargin, 10)
	num(&c.PvtData.ReconcileBatchSize, 10)
	dur(&c.PvtData.ReconcileSleepInterval, time.Minute)
	if !c.PvtData.ImplicitMaxPeerCountSet {
		num(&c.PvtData.ImplicitMaxPeerCount, 1)
	}
	return c
}

// withDefaults fills zero numbers with Fabric's defaults.
func (c DiscoveryConfig) withDefaults() DiscoveryConfig {
	if c.AuthCacheMaxSize == 0 {
		c.AuthCacheMaxSize = 1000
	}
	if c.AuthCachePurgeRetentionRatio == 0 {
		c.AuthCachePurgeRetentionRatio = 0.75
	}
	return c
}
