package orderer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/internal/operations"
)

// metrics are the orderer's Prometheus metrics, named as Fabric's.
type metrics struct {
	reg           *operations.Registry
	broadcast     *operations.Counter
	leaderChanges *operations.Counter
	isLeader      *operations.Gauge
	clusterSize   *operations.Gauge
	committed     *operations.Gauge
	height        *operations.Gauge

	mu          sync.Mutex        // guards seenChanges
	seenChanges map[string]uint64 // chain.LeaderChanges() already counted, by channel
}

func newMetrics() *metrics {
	r := operations.NewRegistry()
	ch := []string{"channel"}
	return &metrics{
		reg: r,
		broadcast: r.Counter(operations.Opts{Name: "broadcast_processed_count", Labels: []string{"channel", "type", "status"},
			Help: "The number of transactions processed."}),
		leaderChanges: r.Counter(operations.Opts{Name: "consensus_etcdraft_leader_changes", Labels: ch,
			Help: "The number of leader changes since process start."}),
		isLeader: r.Gauge(operations.Opts{Name: "consensus_etcdraft_is_leader", Labels: ch,
			Help: "The leadership status of the current node: 1 if it is the leader else 0."}),
		clusterSize: r.Gauge(operations.Opts{Name: "consensus_etcdraft_cluster_size", Labels: ch,
			Help: "Number of nodes in this channel."}),
		committed: r.Gauge(operations.Opts{Name: "consensus_etcdraft_committed_block_number", Labels: ch,
			Help: "The block number of the latest block committed."}),
		height: r.Gauge(operations.Opts{Name: "ledger_blockchain_height", Labels: ch,
			Help: "Height of the chain in blocks."}),
		seenChanges: map[string]uint64{},
	}
}

// observeBroadcast is the broadcast handler's Observe hook.
func (m *metrics) observeBroadcast(channel, typ string, status cb.Status) {
	m.broadcast.Inc(channel, typ, status.String())
}

// scrape reads the channels' heights and Raft state.
func (n *Node) scrape() {
	m := n.metrics
	for _, g := range []*operations.Gauge{m.isLeader, m.clusterSize, m.committed, m.height} {
		g.Reset()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, name := range n.registrar.ChannelNames() {
		c, ok := n.registrar.channel(name)
		if !ok {
			continue // onboarding
		}
		h := c.store.Height()
		m.height.Set(float64(h), name)
		if h > 0 {
			m.committed.Set(float64(h-1), name)
		}
		if c.chain == nil {
			continue
		}
		st := c.chain.Status()
		leader := 0.0
		if st.Role == "StateLeader" {
			leader = 1
		}
		m.isLeader.Set(leader, name)
		m.clusterSize.Set(float64(len(st.Consenters)), name)
		// The chain counts leader changes itself; the counter adds what it
		// has not seen. A chain started again (rejoin) counts from zero.
		seen := m.seenChanges[name]
		if st.LeaderChanges < seen {
			seen = 0
		}
		m.leaderChanges.Add(float64(st.LeaderChanges-seen), name)
		m.seenChanges[name] = st.LeaderChanges
	}
}

// newOperations builds the operations service with the orderer's checks.
func (n *Node) newOperations() (*operations.Server, error) {
	cfg := operations.Config{ListenAddress: n.cfg.Operations.ListenAddress, Logging: n.logging, Logger: n.log}
	if n.cfg.Metrics.Provider != "disabled" {
		cfg.Metrics = n.metrics.reg
	}
	if t := n.cfg.Operations.TLS; t.Enabled {
		tc, err := operations.TLSFiles{CertFile: t.Certificate, KeyFile: t.PrivateKey,
			ClientAuthRequired: t.ClientAuthRequired, ClientRootCAs: t.ClientRootCAs}.Config()
		if err != nil {
			return nil, fmt.Errorf("Operations.TLS: %w", err)
		}
		cfg.TLS = tc
	}
	s := operations.NewServer(cfg)
	s.RegisterChecker("orderer", func(context.Context) error { return nil })
	s.RegisterReadiness("channels", n.checkChannelsReady)
	return s, nil
}

// checkChannelsReady: every channel this orderer is a consenter of has a
// running chain that knows a Raft leader.
func (n *Node) checkChannelsReady(context.Context) error {
	var bad []string
	for _, name := range n.registrar.ChannelNames() {
		c, ok := n.registrar.channel(name)
		if !ok {
			bad = append(bad, fmt.Sprintf("channel %s: onboarding (pulling blocks from the other orderers)", name))
			continue
		}
		if c.chain == nil || c.chain.Evicted() {
			continue // a config tracker: it orders nothing
		}
		select {
		case <-c.chain.Done():
			bad = append(bad, fmt.Sprintf("channel %s: consensus stopped: %v", name, c.chain.Err()))
			continue
		default:
		}
		if st := c.chain.Status(); st.Leader == 0 {
			bad = append(bad, fmt.Sprintf("channel %s: no Raft leader (this node %d is %s at term %d; %d consenters)",
				name, st.NodeID, st.Role, st.Term, len(st.Consenters)))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}
