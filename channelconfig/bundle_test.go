package channelconfig

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestBundleFromFixtureBlocks(t *testing.T) {
	for _, name := range []string{"mychannel-genesis.block", "blocks/block_000000.pb"} {
		t.Run(name, func(t *testing.T) {
			b, err := BundleFromBlock(readBlock(t, filepath.Join(fixtureDir, name)))
			if err != nil {
				t.Fatal(err)
			}
			if b.ChannelID() != "mychannel" || b.Sequence() != 0 {
				t.Errorf("channel %q sequence %d", b.ChannelID(), b.Sequence())
			}
			if got := b.MSPs().IDs(); !reflect.DeepEqual(got, []string{"Org1MSP", "Org2MSP", "OrdererMSP"}) &&
				!reflect.DeepEqual(got, []string{"OrdererMSP", "Org1MSP", "Org2MSP"}) {
				t.Errorf("MSP IDs = %v", got)
			}
			if got := b.Capabilities(); !reflect.DeepEqual(got, []string{"V2_0"}) {
				t.Errorf("channel capabilities = %v", got)
			}
			o := b.Orderer()
			if o == nil {
				t.Fatal("no orderer config")
			}
			if o.MaxMessageCount != 500 || o.AbsoluteMaxBytes != 99<<20 || o.PreferredMaxBytes != 2<<20 || o.BatchTimeout != time.Second {
				t.Errorf("batch = %d %d %d %v", o.MaxMessageCount, o.AbsoluteMaxBytes, o.PreferredMaxBytes, o.BatchTimeout)
			}
			if o.ConsensusType != "etcdraft" || len(o.Consenters) != 1 {
				t.Fatalf("consensus %q with %d consenters", o.ConsensusType, len(o.Consenters))
			}
			if c := o.Consenters[0]; c.Host != "127.0.0.1" || c.Port != 7050 || !strings.Contains(string(c.ServerTlsCert), "BEGIN CERTIFICATE") {
				t.Errorf("consenter = %s:%d", c.Host, c.Port)
			}
			if r := o.RaftOptions; r.GetTickInterval() != "500ms" || r.GetElectionTick() != 10 || r.GetHeartbeatTick() != 1 ||
				r.GetMaxInflightBlocks() != 5 || r.GetSnapshotIntervalSize() != 16<<20 {
				t.Errorf("raft options = %v", r)
			}
			if !reflect.DeepEqual(o.Endpoints, []string{"127.0.0.1:7050"}) {
				t.Errorf("orderer endpoints = %v", o.Endpoints)
			}
			if org := o.Orgs["OrdererMSP"]; org == nil || org.Name != "OrdererOrg" || !reflect.DeepEqual(org.OrdererEndpoints, []string{"127.0.0.1:7050"}) {
				t.Errorf("orderer org = %+v", org)
			}
			a := b.Application()
			if a == nil {
				t.Fatal("no application config")
			}
			if !reflect.DeepEqual(a.Capabilities, []string{"V2_5"}) || len(a.Orgs) != 2 {
				t.Errorf("application = %+v", a)
			}
			if org := a.Orgs["Org2MSP"]; org == nil || org.Name != "Org2MSP" || len(org.AnchorPeers) != 0 {
				t.Errorf("Org2 = %+v", org)
			}
			for _, p := range []string{
				"/Channel/Readers", "/Channel/Writers", "/Channel/Admins",
				"/Channel/Orderer/BlockValidation", "/Channel/Orderer/OrdererOrg/Writers",
				"/Channel/Application/Writers", "/Channel/Application/Endorsement",
				"/Channel/Application/LifecycleEndorsement", "/Channel/Application/Org1MSP/Endorsement",
				"Application/Readers",
			} {
				if _, err := b.Policy(p); err != nil {
					t.Errorf("Policy(%s): %v", p, err)
				}
			}
			if _, err := b.Policy("/Channel/Application/Nope"); !errors.Is(err, ErrPolicyNotFound) {
				t.Errorf("missing policy error = %v", err)
			}
		})
	}
}

func TestBundleFromBlockRejectsNonConfigBlocks(t *testing.T) {
	_, err := BundleFromBlock(readBlock(t, filepath.Join(fixtureDir, "blocks/block_000009.pb")))
	if err == nil || !strings.Contains(err.Error(), "want CONFIG") {
		t.Fatalf("error = %v", err)
	}
}

func TestBundleIsACopy(t *testing.T) {
	cfg, ch, err := ConfigFromBlock(readBlock(t, filepath.Join(fixtureDir, "mychannel-genesis.block")))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBundle(ch, cfg)
	if err != nil {
		t.Fatal(err)
	}
	delete(cfg.ChannelGroup.Groups, OrdererGroupKey)
	if _, ok := b.Config().ChannelGroup.Groups[OrdererGroupKey]; !ok {
		t.Fatal("changing the caller's config changed the bundle")
	}
}
