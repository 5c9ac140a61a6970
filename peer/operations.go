package peer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weft-ledger/weft/internal/flowcontrol"
	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/peer/deliver"
	"github.com/weft-ledger/weft/peer/endorser"
	"github.com/weft-ledger/weft/peer/validator"
	"github.com/weft-ledger/weft/protos"
)

// metrics are the peer's Prometheus metrics, named, typed and labelled as
// Fabric v2.5's (docs/operations.md lists them), plus Weft's own
// ledger_commit_hash_mismatches.
type metrics struct {
	reg             *operations.Registry
	blockProcessing *operations.Histogram // MVCC validation and preparation (the ledger's part)
	blockAndPvtdata *operations.Histogram
	blockStorage    *operations.Histogram
	statedbCommit   *operations.Histogram
	transactions    *operations.Counter
	height          *operations.Gauge
	endorser        *endorser.Metrics
	chaincode       *chaincode.Metrics
	deliver         *operations.DeliverMetrics
	// commitHashMismatches is Weft's own: comparisons whose commit hashes
	// differed (peer/commitcheck.go).
	commitHashMismatches *operations.Counter

	ccMu     sync.Mutex
	ccLabels map[ccID]string // "name:version" label values, made once each
}

// ccID is a chaincode name and version.
type ccID struct{ name, version string }

// ledgerBuckets are the buckets of Fabric's ledger_* histograms.
var ledgerBuckets = []float64{0.005, 0.01, 0.015, 0.05, 0.1, 1, 10}

func newMetrics() *metrics {
	r := operations.NewRegistry()
	ch := []string{"channel"}
	return &metrics{
		reg: r,
		blockProcessing: r.Histogram(operations.Opts{Name: "ledger_block_processing_time", Labels: ch,
			Help: "Time taken in seconds for ledger block processing."}, ledgerBuckets),
		blockAndPvtdata: r.Histogram(operations.Opts{Name: "ledger_blockstorage_and_pvtdata_commit_time", Labels: ch,
			Help: "Time taken in seconds for committing the block and private data to storage."}, ledgerBuckets),
		blockStorage: r.Histogram(operations.Opts{Name: "ledger_blockstorage_commit_time", Labels: ch,
			Help: "Time taken in seconds for committing the block to storage."}, ledgerBuckets),
		statedbCommit: r.Histogram(operations.Opts{Name: "ledger_statedb_commit_time", Labels: ch,
			Help: "Time taken in seconds for committing block changes to state db."}, ledgerBuckets),
		transactions: r.Counter(operations.Opts{Name: "ledger_transaction_count",
			Labels: []string{"channel", "transaction_type", "chaincode", "validation_code"},
			Help:   "Number of transactions processed."}),
		height: r.Gauge(operations.Opts{Name: "ledger_blockchain_height", Labels: ch,
			Help: "Height of the chain in blocks."}),
		endorser:  endorser.NewMetrics(r),
		chaincode: chaincode.NewMetrics(r),
		deliver:   operations.NewDeliverMetrics(r),
		commitHashMismatches: r.Counter(operations.Opts{Name: "ledger_commit_hash_mismatches", Labels: []string{"channel", "peer"},
			Help: "Comparisons with another peer whose commit hash for the same block differed: the world states have diverged."}),
		ccLabels: map[ccID]string{},
	}
}

// observeLedger times the commits of a channel's ledger where Fabric's
// ledger does: MVCC validation, block and private data storage, block
// storage alone, and the state database update.
func (m *metrics) observeLedger(channel string, l *ledger.Ledger) {
	processing, stored, state := m.blockProcessing.With(channel), m.blockAndPvtdata.With(channel), m.statedbCommit.With(channel)
	l.ObserveCommit(func(t ledger.CommitTimes) {
		processing.Observe(t.Processing.Seconds())
		stored.Observe(t.BlockAndPvtdata.Seconds())
		state.Observe(t.StateDB.Seconds())
	})
	blocks := m.blockStorage.With(channel)
	l.Blocks().ObserveAppend(func(d time.Duration) { blocks.Observe(d.Seconds()) })
}

// transactionsCommitted counts a committed block's transactions as Fabric's
// ledger does: a transaction the validator found valid is labelled with its
// header type and, for an endorser transaction, "name:version" of the
// endorsed chaincode ("unknown" otherwise); one it refused has type and
// chaincode "unknown". The validation code is the final one, after the
// ledger's MVCC check. verdicts are the validator's (nil for a genesis block
// a join commits, whose one transaction is the configuration).
func (m *metrics) transactionsCommitted(channel string, b *cb.Block, verdicts []validator.Verdict) {
	filter := protos.TxFilter(b)
	for i, raw := range b.GetData().GetData() {
		typ, cc := "unknown", "unknown"
		switch {
		case verdicts == nil:
			if chdr, err := protos.EnvelopeChannelHeader(raw); err == nil {
				typ = cb.HeaderType(chdr.Type).String()
			}
		case i < len(verdicts) && verdicts[i].Code == pb.TxValidationCode_VALID:
			typ = verdicts[i].Type.String()
			if verdicts[i].ChaincodeName != "" {
				cc = m.chaincodeLabel(verdicts[i].ChaincodeName, verdicts[i].ChaincodeVersion)
			}
		}
		code := pb.TxValidationCode_NOT_VALIDATED
		if i < len(filter) {
			code = pb.TxValidationCode(filter[i])
		}
		m.transactions.Inc(channel, typ, cc, code.String())
	}
}

// chaincodeLabel returns "name:version", made once per chaincode version.
func (m *metrics) chaincodeLabel(name, version string) string {
	k := ccID{name, version}
	m.ccMu.Lock()
	defer m.ccMu.Unlock()
	l, ok := m.ccLabels[k]
	if !ok {
		l = name + ":" + version
		m.ccLabels[k] = l
	}
	return l
}

// scrape sets the gauges read from the ledgers.
func (n *Node) scrape() {
	n.metrics.height.Reset()
	n.mu.RLock()
	defer n.mu.RUnlock()
	for id, ch := range n.channels {
		n.metrics.height.Set(float64(ch.committed.Height()), id)
	}
}

// newOperations builds the operations service (not yet listening) with the
// peer's health and readiness checks.
func (n *Node) newOperations() (*operations.Server, error) {
	cfg := operations.Config{
		ListenAddress: n.cfg.OperationsAddress,
		Logging:       n.logging,
		Logger:        n.log,
	}
	if n.cfg.MetricsProvider != "disabled" {
		cfg.Metrics = n.metrics.reg
	}
	if t := n.cfg.OperationsTLS; t.Enabled {
		tc, err := operations.TLSFiles{CertFile: t.CertFile, KeyFile: t.KeyFile,
			ClientAuthRequired: t.ClientAuthRequired, ClientRootCAs: t.ClientRootCAs}.Config()
		if err != nil {
			return nil, fmt.Errorf("operations.tls: %w", err)
		}
		cfg.TLS = tc
	}
	s := operations.NewServer(cfg)
	s.RegisterChecker("peer", n.checkRunning)
	s.RegisterChecker("commits", n.checkCommits)
	if n.couch != nil {
		s.RegisterChecker("couchdb", n.checkCouchDB)
	}
	s.RegisterReadiness("peer", n.checkRunning)
	s.RegisterReadiness("ledgers", n.checkLedgers)
	s.RegisterReadiness("channels", n.checkChannelsCaughtUp)
	return s, nil
}

func (n *Node) checkRunning(context.Context) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.runCtx == nil {
		return errors.New("peer is not running (starting or stopping)")
	}
	return nil
}

// checkCommits fails while a channel's commits are stopped or stuck because
// the commit path panicked, naming the channel, the block and the panic.
func (n *Node) checkCommits(context.Context) error {
	var bad []string
	for _, id := range n.channelIDs() {
		ch, err := n.channel(id)
		if err != nil {
			continue
		}
		if f := ch.fault(); f != "" {
			bad = append(bad, f)
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// checkLedgers reads every joined channel's ledger.
func (n *Node) checkLedgers(context.Context) error {
	var bad []string
	for _, id := range n.channelIDs() {
		ch, err := n.channel(id)
		if err != nil {
			continue // left meanwhile
		}
		if _, _, err := ch.ledger.State().Savepoint(); err != nil {
			bad = append(bad, fmt.Sprintf("channel %s: state database: %v", id, err))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// checkChannelsCaughtUp asks each channel's orderers for their height: a
// channel is ready when one of them answers and the peer's committed height
// is at most ReadyMaxLag blocks below it.
func (n *Node) checkChannelsCaughtUp(ctx context.Context) error {
	var bad []string
	for _, id := range n.channelIDs() {
		ch, err := n.channel(id)
		if err != nil {
			continue
		}
		height, addr, err := n.ordererHeight(ctx, ch)
		if err != nil {
			bad = append(bad, fmt.Sprintf("channel %s: %v", id, err))
			continue
		}
		if have := ch.committed.Height(); have+n.cfg.ReadyMaxLag < height {
			bad = append(bad, fmt.Sprintf("channel %s: committed height %d, orderer %s has height %d (more than operations.readiness.maxBlockLag = %d blocks behind)",
				id, have, addr, height, n.cfg.ReadyMaxLag))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// ordererHeight returns the height of the channel at the first of its
// orderers that answers, with that orderer's address.
func (n *Node) ordererHeight(ctx context.Context, ch *channel) (uint64, string, error) {
	eps := ch.ordererEndpoints()
	if len(eps) == 0 {
		return 0, "", errors.New("the channel configuration names no orderer")
	}
	var errs []string
	for _, ep := range eps {
		if o, ok := n.overrides[ep.Address]; ok {
			ep = o
		}
		h, err := n.askHeight(ctx, ch.id, ep)
		if err == nil {
			return h, ep.Address, nil
		}
		errs = append(errs, err.Error())
		if ctx.Err() != nil {
			break
		}
	}
	return 0, "", fmt.Errorf("no orderer reachable: %s", strings.Join(errs, "; "))
}

// askHeight asks one orderer for the newest block header of a channel.
func (n *Node) askHeight(ctx context.Context, channelID string, ep deliver.Endpoint) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	tc := &tls.Config{RootCAs: ep.TLSRoots, MinVersion: tls.VersionTLS12}
	if n.tlsCert != nil {
		tc.Certificates = []tls.Certificate{*n.tlsCert}
	}
	conn, err := grpc.NewClient(ep.Address, append(flowcontrol.DialOptions(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))...)
	if err != nil {
		return 0, fmt.Errorf("orderer %s: %w", ep.Address, err)
	}
	defer conn.Close()
	stream, err := ab.NewAtomicBroadcastClient(conn).Deliver(ctx, grpc.WaitForReady(true))
	if err != nil {
		return 0, fmt.Errorf("orderer %s: %w", ep.Address, err)
	}
	newest := &ab.SeekPosition{Type: &ab.SeekPosition_Newest{Newest: &ab.SeekNewest{}}}
	seek := &ab.SeekInfo{Start: newest, Stop: newest, Behavior: ab.SeekInfo_FAIL_IF_NOT_READY, ContentType: ab.SeekInfo_HEADER_WITH_SIG}
	var cert []byte
	if c := n.tlsCert; c != nil && len(c.Certificate) > 0 {
		cert = c.Certificate[0] // binds the request to this TLS session, as the puller does
	}
	env, err := protos.NewDeliverRequest(n.signer, channelID, seek, cert)
	if err != nil {
		return 0, err
	}
	if err := stream.Send(env); err != nil {
		return 0, fmt.Errorf("orderer %s: %w", ep.Address, err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return 0, fmt.Errorf("orderer %s: %w", ep.Address, err)
	}
	if b := resp.GetBlock(); b.GetHeader() != nil {
		return b.Header.Number + 1, nil
	}
	return 0, fmt.Errorf("orderer %s answered with status %s", ep.Address, resp.GetStatus())
}
