package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/orderer/participation"
	"github.com/weft-ledger/weft/orderer/raftchain"
)

// Consenter membership changes through channel configuration updates.

// configBlock returns the newest config block a node holds.
func (n *network) configBlock(ctx context.Context, id uint64) (*cb.Block, error) {
	h, err := n.Height(ctx, id)
	if err != nil {
		return nil, err
	}
	last, err := n.Blocks(ctx, id, h-1, h-1)
	if err != nil || len(last) != 1 {
		return nil, fmt.Errorf("read block %d of %s: %v", h-1, n.node(id).name, err)
	}
	obm, _, err := raftchain.BlockMetadata(last[0])
	if err != nil {
		return nil, err
	}
	idx := obm.GetLastConfig().GetIndex()
	if idx == h-1 {
		return last[0], nil
	}
	blocks, err := n.Blocks(ctx, id, idx, idx)
	if err != nil || len(blocks) != 1 {
		return nil, fmt.Errorf("read config block %d of %s: %v", idx, n.node(id).name, err)
	}
	return blocks[0], nil
}

// consenter describes node id as a consenter of the channel.
func (n *network) consenter(id uint64) (*etcdraft.Consenter, error) {
	nd := n.node(id)
	cert, err := os.ReadFile(filepath.Join(n.ordererDir(nd), "tls", "server.crt"))
	if err != nil {
		return nil, err
	}
	return &etcdraft.Consenter{Host: nd.ip, Port: listenPort, ClientTlsCert: cert, ServerTlsCert: cert}, nil
}

// consenterUpdate builds a CONFIG_UPDATE envelope, signed by the orderer
// organisation's Admin, that replaces the channel's consenters by
// change(current) in the config block cfgBlock.
func (n *network) consenterUpdate(cfgBlock *cb.Block, change func([]*etcdraft.Consenter) ([]*etcdraft.Consenter, error)) (*cb.Envelope, error) {
	cfg, _, err := channelconfig.ConfigFromBlock(cfgBlock)
	if err != nil {
		return nil, err
	}
	updated := proto.Clone(cfg).(*cb.Config)
	og := updated.GetChannelGroup().GetGroups()["Orderer"]
	v := og.GetValues()["ConsensusType"]
	if v == nil {
		return nil, fmt.Errorf("config has no Orderer ConsensusType value")
	}
	ct := &ab.ConsensusType{}
	if err := proto.Unmarshal(v.Value, ct); err != nil {
		return nil, err
	}
	md := &etcdraft.ConfigMetadata{}
	if err := proto.Unmarshal(ct.Metadata, md); err != nil {
		return nil, err
	}
	if md.Consenters, err = change(md.Consenters); err != nil {
		return nil, err
	}
	if ct.Metadata, err = proto.Marshal(md); err != nil {
		return nil, err
	}
	if v.Value, err = proto.Marshal(ct); err != nil {
		return nil, err
	}
	update, err := client.ComputeUpdate(channelID, cfg, updated)
	if err != nil {
		return nil, err
	}
	adminMSP := filepath.Join(n.dir, "organizations", "ordererOrganizations", "example.com", "users", "Admin@example.com", "msp")
	admin, err := msp.LoadSigningIdentity(adminMSP, "OrdererMSP")
	if err != nil {
		return nil, err
	}
	return client.NewConfigUpdateTx(channelID, update, admin)
}

// changeConsenters broadcasts a consenter change to node via and waits until
// every node of wait holds the resulting config block.
func (n *network) changeConsenters(t testing.TB, via uint64, wait []uint64, change func([]*etcdraft.Consenter) ([]*etcdraft.Consenter, error)) *cb.Block {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before, err := n.configBlock(ctx, via)
	if err != nil {
		t.Fatal(err)
	}
	env, err := n.consenterUpdate(before, change)
	if err != nil {
		t.Fatal(err)
	}
	status, info, err := n.Broadcast(ctx, via, env)
	if err != nil || status != cb.Status_SUCCESS {
		t.Fatalf("config update through node %d: %v %s %v", via, status, info, err)
	}
	var after *cb.Block
	deadline, _ := ctx.Deadline()
	eventually.NoError(t, time.Until(deadline), fmt.Sprintf("a config block after %d at nodes %v", before.GetHeader().GetNumber(), wait), func(ctx context.Context) error {
		for _, id := range wait {
			b, err := n.configBlock(ctx, id)
			if err != nil {
				return fmt.Errorf("node %d: %w", id, err)
			}
			if b.GetHeader().GetNumber() <= before.GetHeader().GetNumber() {
				return fmt.Errorf("node %d holds no config block after %d", id, before.GetHeader().GetNumber())
			}
			after = b
		}
		return nil
	})
	return after
}

// TestMembership adds a fourth consenter through a config update and joins
// it through the participation API; checks that it catches up and votes;
// removes a consenter, which notices its eviction; and checks that a change
// that would lose quorum is refused.
func TestMembership(t *testing.T) {
	n := start(t, options{Nodes: 4, Consenters: 3})
	lead := n.leader(t)
	members := []uint64{1, 2, 3}
	l := n.startLoad(loadOptions{Workers: 4, Targets: func() []uint64 { return members }})
	waitAcks(t, l, 30, time.Time{}, 20*time.Second)

	// Add node 4.
	cfg := n.changeConsenters(t, lead, members, func(cs []*etcdraft.Consenter) ([]*etcdraft.Consenter, error) {
		c, err := n.consenter(4)
		return append(cs, c), err
	})
	n.StartNode(4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := n.admin(n.node(4)).Join(ctx, mustMarshal(t, cfg)); err != nil {
		t.Fatalf("join node 4 with config block %d: %v", cfg.GetHeader().GetNumber(), err)
	}
	l.stop()
	if _, err := n.waitHeights([]uint64{1, 2, 3, 4}, cfg.GetHeader().GetNumber()+1, 30*time.Second); err != nil {
		t.Fatalf("node 4 did not catch up: %v", err)
	}
	n.checkChains(t, 1, 2, 3, 4)

	// Node 4 votes: with one original follower down, 3 of 4 need it.
	down := others(members, lead)[0]
	n.Kill(down)
	up := others([]uint64{1, 2, 3, 4}, down)
	since := time.Now()
	l2 := n.startLoad(loadOptions{Workers: 4, Targets: func() []uint64 { return up }})
	waitAcks(t, l2, 30, since, 30*time.Second)
	l2.stop()
	n.StartNode(down)
	n.checkChains(t, 1, 2, 3, 4)

	// Remove a follower while it is down; when it returns it notices the
	// eviction and stops serving the channel.
	all := []uint64{1, 2, 3, 4}
	lead, _, err := n.Leader(10 * electionTimeout)
	if err != nil {
		t.Fatal(err)
	}
	removed := others(members, lead)[0]
	remaining := others(all, removed)
	n.Kill(removed)
	n.changeConsenters(t, lead, remaining, func(cs []*etcdraft.Consenter) ([]*etcdraft.Consenter, error) {
		return dropConsenter(cs, n.node(removed).ip)
	})
	n.StartNode(removed)
	eventually.NoError(t, 30*time.Second, fmt.Sprintf("removed node %d shows the channel inactive", removed), func(ctx context.Context) error {
		info, err := n.admin(n.node(removed)).Info(ctx, channelID)
		if err == nil && info.Status != participation.StatusInactive {
			err = fmt.Errorf("%+v", info)
		}
		return err
	})
	env, _, err := n.newTx(100)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, err := n.Broadcast(ctx, removed, env); err == nil && status == cb.Status_SUCCESS {
		t.Errorf("the removed node %d still accepts broadcasts", removed)
	}

	// With x down, removing y would leave {x, z} with only z up: refused.
	x, y, z := remaining[0], remaining[1], remaining[2]
	n.Kill(x)
	before, err := n.configBlock(ctx, z)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := n.consenterUpdate(before, func(cs []*etcdraft.Consenter) ([]*etcdraft.Consenter, error) {
		return dropConsenter(cs, n.node(y).ip)
	})
	if err != nil {
		t.Fatal(err)
	}
	if status, info, err := n.Broadcast(ctx, z, bad); err == nil && status == cb.Status_SUCCESS {
		t.Errorf("removing node %d while node %d is down was accepted (%s); it loses quorum", y, x, info)
	}
	n.StartNode(x)
	since = time.Now()
	l3 := n.startLoad(loadOptions{Workers: 4, Targets: func() []uint64 { return remaining }})
	waitAcks(t, l3, 30, since, 30*time.Second)
	l3.stop()
	chain := n.checkChains(t, remaining...)
	checkExactlyOnce(t, mergeAcks(l, l2, l3), chain)
	if after, err := n.configBlock(ctx, z); err != nil || after.GetHeader().GetNumber() != before.GetHeader().GetNumber() {
		t.Errorf("a config block followed the refused update: %v", err)
	}
}

// dropConsenter removes the consenter at host from cs.
func dropConsenter(cs []*etcdraft.Consenter, host string) ([]*etcdraft.Consenter, error) {
	var out []*etcdraft.Consenter
	for _, c := range cs {
		if c.Host != host {
			out = append(out, c)
		}
	}
	if len(out) == len(cs) {
		return nil, fmt.Errorf("no consenter at %s", host)
	}
	return out, nil
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	raw, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
