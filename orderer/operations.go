package orderer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"time"

	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/orderer/broadcast"
	"github.com/weft-ledger/weft/orderer/participation"
)

// metrics are the orderer's Prometheus metrics, named, typed and labelled
// as Fabric v2.5's (docs/operations.md lists them).
type metrics struct {
	reg               *operations.Registry
	broadcast         *operations.Counter
	broadcastValidate *operations.Histogram
	broadcastEnqueue  *operations.Histogram
	deliver           *operations.DeliverMetrics
	blockStorage      *operations.Histogram
	leaderChanges     *operations.Counter
	normalProposals   *operations.Counter
	configProposals   *operations.Counter
	proposalFailures  *operations.Counter
	persist           *operations.Histogram
	snapshotBlock     *operations.Gauge
	activeNodes       *operations.Gauge
	isLeader          *operations.Gauge
	clusterSize       *operations.Gauge
	committed         *operations.Gauge
	height            *operations.Gauge
	status            *operations.Gauge
	relation          *operations.Gauge

	mu          sync.Mutex        // guards seenChanges
	seenChanges map[string]uint64 // chain.LeaderChanges() already counted, by channel
}

// ledgerBuckets are the buckets of Fabric's ledger_* histograms.
var ledgerBuckets = []float64{0.005, 0.01, 0.015, 0.05, 0.1, 1, 10}

func newMetrics() *metrics {
	r := operations.NewRegistry()
	ch := []string{"channel"}
	cts := []string{"channel", "type", "status"}
	return &metrics{
		reg: r,
		broadcast: r.Counter(operations.Opts{Name: "broadcast_processed_count", Labels: cts,
			Help: "The number of transactions processed."}),
		broadcastValidate: r.Histogram(operations.Opts{Name: "broadcast_validate_duration", Labels: cts,
			Help: "The time to validate a transaction in seconds."}, nil),
		broadcastEnqueue: r.Histogram(operations.Opts{Name: "broadcast_enqueue_duration", Labels: cts,
			Help: "The time to enqueue a transaction in seconds."}, nil),
		deliver: operations.NewDeliverMetrics(r),
		blockStorage: r.Histogram(operations.Opts{Name: "ledger_blockstorage_commit_time", Labels: ch,
			Help: "Time taken in seconds for committing the block to storage."}, ledgerBuckets),
		normalProposals: r.Counter(operations.Opts{Name: "consensus_etcdraft_normal_proposals_received", Labels: ch,
			Help: "The total number of proposals received for normal type transactions."}),
		configProposals: r.Counter(operations.Opts{Name: "consensus_etcdraft_config_proposals_received", Labels: ch,
			Help: "The total number of proposals received for config type transactions."}),
		proposalFailures: r.Counter(operations.Opts{Name: "consensus_etcdraft_proposal_failures", Labels: ch,
			Help: "The number of proposal failures."}),
		persist: r.Histogram(operations.Opts{Name: "consensus_etcdraft_data_persist_duration", Labels: ch,
			Help: "The time taken for etcd/raft data to be persisted in storage (in seconds)."}, nil),
		snapshotBlock: r.Gauge(operations.Opts{Name: "consensus_etcdraft_snapshot_block_number", Labels: ch,
			Help: "The block number of the latest snapshot."}),
		activeNodes: r.Gauge(operations.Opts{Name: "consensus_etcdraft_active_nodes", Labels: ch,
			Help: "Number of active nodes in this channel."}),
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
		status: r.Gauge(operations.Opts{Name: "participation_status", Labels: ch,
			Help: "The channel participation status of the node: 0 if inactive, 1 if active, 2 if onboarding, 3 if failed."}),
		relation: r.Gauge(operations.Opts{Name: "participation_consensus_relation", Labels: ch,
			Help: "The channel participation consensus relation of the node: 0 if other, 1 if consenter, 2 if follower, 3 if config-tracker."}),
		seenChanges: map[string]uint64{},
	}
}

// observePersist times a channel's Raft WAL writes.
func (m *metrics) observePersist(channel string) func(time.Duration) {
	h := m.persist.With(channel)
	return func(d time.Duration) { h.Observe(d.Seconds()) }
}

// observeStore times the appends of a channel's block store.
func (m *metrics) observeStore(channel string, s *ledger.BlockStore) {
	h := m.blockStorage.With(channel)
	s.ObserveAppend(func(d time.Duration) { h.Observe(d.Seconds()) })
}

// participation values of the participation_* gauges, as Fabric numbers them.
var (
	statusValue   = map[string]float64{participation.StatusInactive: 0, participation.StatusActive: 1, participation.StatusOnboarding: 2, participation.StatusFailed: 3}
	relationValue = map[string]float64{participation.RelationConsenter: 1, participation.RelationFollower: 2, participation.RelationConfigTracker: 3}
)

// observeBroadcast is the broadcast handler's Observe hook.
func (m *metrics) observeBroadcast(o broadcast.Outcome) {
	status := o.Status.String()
	m.broadcastValidate.Observe(o.Validate.Seconds(), o.Channel, o.Type, status)
	if o.Enqueued {
		m.broadcastEnqueue.Observe(o.Enqueue.Seconds(), o.Channel, o.Type, status)
		// Handed to the channel's Raft chain: a proposal, as Fabric counts
		// them where broadcast hands envelopes to etcdraft; one that was not
		// ordered (no leader, chain stopped, not committed in time) failed.
		if o.Type == "CONFIG_UPDATE" {
			m.configProposals.Inc(o.Channel)
		} else {
			m.normalProposals.Inc(o.Channel)
		}
		if o.Status != cb.Status_SUCCESS {
			m.proposalFailures.Inc(o.Channel)
		}
	}
	m.broadcast.Inc(o.Channel, o.Type, status)
}

// scrape reads the channels' heights and Raft state.
func (n *Node) scrape() {
	m := n.metrics
	for _, g := range []*operations.Gauge{m.isLeader, m.clusterSize, m.committed, m.height, m.status, m.relation, m.snapshotBlock, m.activeNodes} {
		g.Reset()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, name := range n.registrar.ChannelNames() {
		if info, err := n.registrar.ChannelInfo(name); err == nil {
			m.status.Set(statusValue[info.Status], name)
			m.relation.Set(relationValue[info.ConsensusRelation], name) // 0: other
		}
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
		m.snapshotBlock.Set(float64(st.SnapshotBlock), name)
		if st.Role == "StateLeader" {
			// Fabric's followers copy the leader's count from block
			// metadata; Weft's chain counts on the leader only.
			m.activeNodes.Set(float64(st.ActiveNodes), name)
		}
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
