package peer

import (
	"strings"
	"testing"
	"time"
)

// TestGossipConfigFabricKeys sets peer.gossip keys the way Fabric's
// test-network does, through CORE_* variables: bootstrap as one string of
// endpoints, the leader switches, state transfer and discovery settings.
func TestGossipConfigFabricKeys(t *testing.T) {
	dir := configDir(t)
	t.Setenv("CORE_PEER_GOSSIP_BOOTSTRAP", "peer1.org1.example.com:8051 peer2.org1.example.com:9051")
	t.Setenv("CORE_PEER_GOSSIP_EXTERNALENDPOINT", "peer0.org1.example.com:7051")
	t.Setenv("CORE_PEER_GOSSIP_USELEADERELECTION", "true")
	t.Setenv("CORE_PEER_GOSSIP_ORGLEADER", "false")
	t.Setenv("CORE_PEER_GOSSIP_STATE_ENABLED", "false")
	t.Setenv("CORE_PEER_GOSSIP_PULLINTERVAL", "1s")
	t.Setenv("CORE_PEER_DELIVERYCLIENT_BLOCKGOSSIPENABLED", "false")
	t.Setenv("CORE_PEER_DISCOVERY_ORGMEMBERSALLOWEDACCESS", "true")
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Gossip
	if len(g.Bootstrap) != 2 || g.Bootstrap[0] != "peer1.org1.example.com:8051" || g.Bootstrap[1] != "peer2.org1.example.com:9051" {
		t.Errorf("Bootstrap = %q", g.Bootstrap)
	}
	if g.ExternalEndpoint != "peer0.org1.example.com:7051" || g.Leader != LeaderElected || !g.State.Disabled || g.PullInterval != time.Second || !g.BlockGossipDisabled {
		t.Errorf("gossip config = %+v", g)
	}
	if !cfg.Discovery.OrgMembersAllowedAccess || cfg.Discovery.Disabled {
		t.Errorf("discovery config = %+v", cfg.Discovery)
	}

	t.Setenv("CORE_PEER_GOSSIP_USELEADERELECTION", "false")
	if cfg, err = LoadConfig(dir); err != nil || cfg.Gossip.Leader != LeaderNever {
		t.Errorf("orgLeader false without election: Leader = %v, %v; want never", cfg.Gossip.Leader, err)
	}
}

// TestGossipConfigRefusals names the key of every bad value.
func TestGossipConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		env, val, want string
	}{
		{"CORE_PEER_GOSSIP_ORGLEADER", "true", "peer.gossip.useLeaderElection (CORE_PEER_GOSSIP_USELEADERELECTION) and peer.gossip.orgLeader (CORE_PEER_GOSSIP_ORGLEADER) are both true"},
		{"CORE_PEER_GOSSIP_SKIPBLOCKVERIFICATION", "true", "peer.gossip.skipBlockVerification (CORE_PEER_GOSSIP_SKIPBLOCKVERIFICATION) = true"},
		{"CORE_PEER_GOSSIP_SKIPHANDSHAKE", "true", "peer.gossip.skipHandshake (CORE_PEER_GOSSIP_SKIPHANDSHAKE) = true"},
		{"CORE_PEER_GOSSIP_BOOTSTRAP", "peer1.org1.example.com", `peer.gossip.bootstrap (CORE_PEER_GOSSIP_BOOTSTRAP) holds "peer1.org1.example.com", which is not host:port`},
		{"CORE_PEER_GOSSIP_ALIVETIMEINTERVAL", "5", `peer.gossip.aliveTimeInterval (CORE_PEER_GOSSIP_ALIVETIMEINTERVAL) = "5" is not a duration`},
		{"CORE_PEER_GOSSIP_PROPAGATEPEERNUM", "-1", "peer.gossip.propagatePeerNum (CORE_PEER_GOSSIP_PROPAGATEPEERNUM) = -1"},
		{"CORE_PEER_GOSSIP_STATE_ENABLED", "yes please", `peer.gossip.state.enabled (CORE_PEER_GOSSIP_STATE_ENABLED) = "yes please" is not true or false`},
		{"CORE_PEER_DISCOVERY_AUTHCACHEPURGERETENTIONRATIO", "1.5", "peer.discovery.authCachePurgeRetentionRatio (CORE_PEER_DISCOVERY_AUTHCACHEPURGERETENTIONRATIO) = 1.5"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			dir := configDir(t)
			if tc.env == "CORE_PEER_GOSSIP_ORGLEADER" {
				t.Setenv("CORE_PEER_GOSSIP_USELEADERELECTION", "true")
			}
			t.Setenv(tc.env, tc.val)
			_, err := LoadConfig(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestGossipConfigZeroIsFabricDefault: a Config built in code gossips with
// Fabric's defaults.
func TestGossipConfigZeroIsFabricDefault(t *testing.T) {
	g := GossipConfig{}.withDefaults()
	if g.Leader != LeaderStatic || g.State.Disabled || g.BlockGossipDisabled || g.AliveExpirationTimeout != 25*time.Second ||
		g.StateInfoRetentionInterval != 25*time.Second || g.PullPeerNum != 3 || g.Election.LeaderAliveThreshold != 10*time.Second {
		t.Fatalf("defaults = %+v", g)
	}
	if d := (DiscoveryConfig{}).withDefaults(); d.Disabled || d.AuthCacheDisabled || d.AuthCacheMaxSize != 1000 || d.AuthCachePurgeRetentionRatio != 0.75 {
		t.Fatalf("discovery defaults = %+v", d)
	}
}

// TestGossipPvtDataKeys reads peer.gossip.pvtData with Fabric's names, and
// a zero configuration is Fabric's defaults.
func TestGossipPvtDataKeys(t *testing.T) {
	dir := configDir(t)
	t.Setenv("CORE_PEER_GOSSIP_PVTDATA_PULLRETRYTHRESHOLD", "5s")
	t.Setenv("CORE_PEER_GOSSIP_PVTDATA_RECONCILESLEEPINTERVAL", "2s")
	t.Setenv("CORE_PEER_GOSSIP_PVTDATA_RECONCILEBATCHSIZE", "7")
	t.Setenv("CORE_PEER_GOSSIP_PVTDATA_RECONCILIATIONENABLED", "false")
	t.Setenv("CORE_PEER_GOSSIP_PVTDATA_IMPLICITCOLLECTIONDISSEMINATIONPOLICY_MAXPEERCOUNT", "0")
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Gossip.withDefaults().PvtData
	if p.PullRetryThreshold != 5*time.Second || p.ReconcileSleepInterval != 2*time.Second || p.ReconcileBatchSize != 7 ||
		!p.ReconciliationDisabled || p.ImplicitMaxPeerCount != 0 || p.PushAckTimeout != 3*time.Second || p.BtlPullMargin != 10 {
		t.Fatalf("pvtData = %+v", p)
	}
	d := GossipConfig{}.withDefaults().PvtData
	if d.PullRetryThreshold != time.Minute || d.ReconcileSleepInterval != time.Minute || d.ReconcileBatchSize != 10 ||
		d.ReconciliationDisabled || d.ImplicitRequiredPeerCount != 0 || d.ImplicitMaxPeerCount != 1 {
		t.Fatalf("pvtData defaults = %+v", d)
	}
	t.Setenv("CORE_PEER_GOSSIP_PVTDATA_PULLRETRYTHRESHOLD", "-1s")
	if _, err := LoadConfig(dir); err == nil || !strings.Contains(err.Error(), "peer.gossip.pvtData.pullRetryThreshold") {
		t.Fatalf("negative pullRetryThreshold: %v", err)
	}
}
