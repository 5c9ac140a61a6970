package orderer

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/orderer/blockcutter"
	"github.com/weft-ledger/weft/orderer/cluster"
	"github.com/weft-ledger/weft/orderer/participation"
	"github.com/weft-ledger/weft/orderer/raftchain"
	"github.com/weft-ledger/weft/orderer/reorder"
	"github.com/weft-ledger/weft/protos"
)

// Registrar owns the set of channels this orderer serves.
type Registrar struct {
	ledgerDir  string // <FileLedger.Location>/chains/<channel>
	walDir     string // <WALDir>/<channel>
	pendingDir string // <FileLedger.Location>/pendingops/join/<channel>.join: onboarding in progress
	signer     protos.Signer
	self       consenterMatch
	snapEvery  uint64
	// tickInterval overrides every channel's etcdraft TickInterval when > 0 (tests).
	tickInterval time.Duration
	// reorder names the channels whose blocks are ordered against MVCC
	// conflicts (Weft.Reorder.Channels).
	reorder map[string]bool
	// holdBatches: cut blocks only when full or timed out (Weft.CutWhenIdle
	// false, the default).
	holdBatches bool
	// observeStore, when set, is given every channel block store opened
	// (metrics time its appends).
	observeStore func(channel string, s *ledger.BlockStore)
	// observePersist, when set, gives the Raft chain of a channel its WAL
	// write timer.
	observePersist func(channel string) func(time.Duration)
	log            *slog.Logger
	// comm carries Raft messages to the other orderers and tls is what its
	// clients present and trust; both nil when General.TLS is off (then only
	// single-consenter channels can run).
	comm *cluster.Comm
	tls  *clusterTLS
	// rootBundles are the configs whose orderer TLS CAs the cluster trusts.
	rootsMu     sync.Mutex
	rootBundles map[string]*channelconfig.Bundle

	mu       sync.RWMutex // guards channels, joining and removing
	channels map[string]*channel
	joining  map[string]*onboarding
	removing map[string]bool
}

// consenterMatch identifies this orderer among a channel's consenters.
type consenterMatch struct {
	tlsCertDER    []byte // nil when TLS is off
	clientCertDER []byte // the cluster client certificate (may equal tlsCertDER)
	host          string
	port          uint32
}

func (m consenterMatch) matches(c *etcdraft.Consenter) bool {
	if m.tlsCertDER != nil {
		if der := pemDER(c.ServerTlsCert); der != nil && bytes.Equal(der, m.tlsCertDER) {
			return true
		}
		der := pemDER(c.ClientTlsCert)
		return der != nil && (bytes.Equal(der, m.tlsCertDER) || bytes.Equal(der, m.clientCertDER))
	}
	return c.Port == m.port && c.Host == m.host
}

func pemDER(p []byte) []byte {
	if b, _ := pem.Decode(p); b != nil {
		return b.Bytes
	}
	if _, err := x509.ParseCertificate(p); err == nil {
		return p
	}
	return nil
}

func newRegistrar(ledgerRoot, walRoot string, signer protos.Signer, self consenterMatch, snapEvery uint64, log *slog.Logger) *Registrar {
	return &Registrar{
		ledgerDir: filepath.Join(ledgerRoot, "chains"), walDir: walRoot,
		pendingDir: filepath.Join(ledgerRoot, "pendingops", "join"),
		signer:     signer, self: self, snapEvery: snapEvery, log: log,
		channels: map[string]*channel{}, joining: map[string]*onboarding{}, removing: map[string]bool{},
		rootBundles: map[string]*channelconfig.Bundle{},
	}
}

// openExisting resumes the interrupted onboardings and starts every other
// channel found in the ledger folder.
func (r *Registrar) openExisting() error {
	if err := r.resumeOnboarding(); err != nil {
		return err
	}
	entries, err := os.ReadDir(r.ledgerDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list channels in %s: %w", r.ledgerDir, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		if r.joining[name] != nil {
			continue
		}
		c, err := r.open(name, nil)
		if errors.Is(err, errEmptyLedger) {
			r.log.Warn("removing channel folder left by an interrupted join", "channel", name)
			os.RemoveAll(filepath.Join(r.ledgerDir, name))
			os.RemoveAll(filepath.Join(r.walDir, name))
			continue
		}
		if err != nil {
			return err
		}
		r.channels[name] = c
		r.log.Info("serving channel", "channel", name, "height", c.store.Height())
	}
	return nil
}

var errEmptyLedger = errors.New("channel ledger holds no block")

// ordererStoreOptions open a channel's block store without the TxID index:
// nothing on an orderer looks a transaction up by its ID, and the index cost
// a LevelDB read and write per transaction written.
var ordererStoreOptions = ledger.BlockStoreOptions{NoTxIndex: true}

// open opens (genesis == nil) or creates the channel's store and starts its
// chain. A channel whose last config block does not name this orderer is
// opened inactive (no chain): it was removed from the consenters.
func (r *Registrar) open(name string, genesis *cb.Block) (*channel, error) {
	store, err := ledger.OpenBlockStoreWithOptions(filepath.Join(r.ledgerDir, name), ordererStoreOptions)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", name, err)
	}
	if r.observeStore != nil {
		r.observeStore(name, store)
	}
	ok := false
	defer func() {
		if !ok {
			store.Close()
		}
	}()
	if genesis != nil && store.Height() == 0 {
		if err := store.Append(genesis); err != nil {
			return nil, fmt.Errorf("channel %s: store genesis block: %w", name, err)
		}
	}
	if store.Height() == 0 {
		return nil, errEmptyLedger
	}
	last, cfgBlock, bundle, err := lastConfig(name, store)
	if err != nil {
		return nil, err
	}
	oc := bundle.Orderer()
	if err := checkEtcdraft(bundle); err != nil {
		return nil, err
	}
	members, next := consenterMembers(oc.Consenters, last, cfgBlock)
	c := &channel{name: name, store: store, recent: &recentBlocks{}, inactive: make(chan struct{}), watchDone: make(chan struct{})}
	c.bundle.Store(bundle)
	c.members.Store(&members)
	self := r.selfID(oc.Consenters, members)
	if self == 0 {
		if genesis != nil {
			return nil, r.notConsenter(bundle)
		}
		close(c.inactive)
		close(c.watchDone)
		r.log.Warn("this orderer is not a consenter of the channel's last config block; serving its blocks only (inactive)",
			"channel", name, "config_block", cfgBlock.GetHeader().GetNumber(), "consenters", consenterNames(oc.Consenters))
		ok = true
		return c, nil
	}
	if len(members) > 1 && r.comm == nil {
		return nil, fmt.Errorf("channel %s has %d consenters (%s): a Raft cluster needs General.TLS.Enabled=true, since orderers talk to each other over mutual TLS",
			name, len(members), consenterNames(oc.Consenters))
	}
	c.nodeID = self

	// A brand-new Raft log starts from the genesis consenters, as on every
	// other node; a node joining later replays the log or gets a snapshot.
	var voters []uint64
	if b0, err := store.Block(0); err == nil {
		if cs, err := raftchain.ConsentersOfConfigBlock(b0); err == nil {
			gm, _ := consenterMembers(cs, b0)
			for _, m := range gm {
				voters = append(voters, m.ID)
			}
		}
	}
	if len(voters) == 0 {
		return nil, fmt.Errorf("channel %s: cannot read the consenters of the genesis block", name)
	}

	tick, election, heartbeat := defaultTick, 10, 1
	var snapBytes uint64
	var inflight int
	if o := oc.RaftOptions; o != nil {
		snapBytes = uint64(o.SnapshotIntervalSize)
		inflight = int(o.MaxInflightBlocks)
		if d, err := time.ParseDuration(o.TickInterval); err == nil && d > 0 {
			tick = d
		}
		if o.ElectionTick > 0 {
			election = int(o.ElectionTick)
		}
		if o.HeartbeatTick > 0 {
			heartbeat = int(o.HeartbeatTick)
		}
	}
	if r.tickInterval > 0 {
		tick = r.tickInterval
	}
	ccfg := raftchain.Config{
		ChannelID: name, NodeID: self, Voters: voters, NextConsenterID: next,
		Batch: blockcutter.Config{
			MaxMessageCount: oc.MaxMessageCount, AbsoluteMaxBytes: oc.AbsoluteMaxBytes,
			PreferredMaxBytes: oc.PreferredMaxBytes, BatchTimeout: oc.BatchTimeout,
		},
		WALDir:       filepath.Join(r.walDir, name),
		TickInterval: tick, ElectionTick: election, HeartbeatTick: heartbeat,
		SnapshotIntervalBlocks: r.snapEvery,
		SnapshotIntervalBytes:  snapBytes,
		MaxInflightMsgs:        inflight,
		Signer:                 r.signer,
		Logger:                 r.log,
		OnBlockWritten:         func(b *cb.Block) { r.blockWritten(c, b) },
		HoldBatches:            r.holdBatches,
	}
	if r.observePersist != nil {
		ccfg.ObservePersist = r.observePersist(name)
	}
	if r.reorder[name] {
		ccfg.Order = reorder.Order
	}
	var tr raftchain.Transport = raftchain.NoopTransport{}
	if r.comm != nil {
		if err := r.comm.Configure(name, self, members); err != nil {
			return nil, fmt.Errorf("channel %s: %w", name, err)
		}
		r.trustOrderers(name, bundle)
		tr = r.comm.Transport(name)
		ccfg.Reachable = func() []uint64 { return r.comm.Reachable(name) }
		ccfg.Puller = channelPuller{r: r, c: c}
	}
	chain, err := raftchain.New(ccfg, recordingStore{store, c.recent}, tr)
	if err != nil {
		if r.comm != nil {
			r.comm.Remove(name)
		}
		return nil, err
	}
	c.chain = chain
	chain.Start()
	go r.watch(c)
	ok = true
	return c, nil
}

// lastConfig reads the store's last block, its last config block and that
// config.
func lastConfig(name string, store *ledger.BlockStore) (last, cfgBlock *cb.Block, bundle *channelconfig.Bundle, err error) {
	last, err = store.Block(store.Height() - 1)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("channel %s: %w", name, err)
	}
	obm, _, err := raftchain.BlockMetadata(last)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("channel %s: %w", name, err)
	}
	cfgBlock, err = store.Block(obm.GetLastConfig().GetIndex())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("channel %s: read last config block: %w", name, err)
	}
	bundle, err = channelconfig.BundleFromBlock(cfgBlock)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("channel %s: config block %d: %w", name, cfgBlock.GetHeader().GetNumber(), err)
	}
	return last, cfgBlock, bundle, nil
}

// watch waits for the channel's chain to stop; an evicted chain leaves the
// cluster's channel configuration.
func (r *Registrar) watch(c *channel) {
	defer close(c.watchDone)
	<-c.chain.Done()
	if c.chain.Evicted() {
		r.log.Warn("this orderer was removed from the channel's consenters; the channel is inactive here",
			"channel", c.name, "reason", c.chain.Err())
		if r.comm != nil {
			r.comm.Remove(c.name)
		}
	}
}

// blockWritten runs on the chain's writer after each block: after a config
// block it swaps the channel's config and tells the cluster the consenters.
// It must not call into the chain.
func (r *Registrar) blockWritten(c *channel, b *cb.Block) {
	obm, _, err := raftchain.BlockMetadata(b)
	if err != nil || b.GetHeader().GetNumber() == 0 || obm.GetLastConfig().GetIndex() != b.GetHeader().GetNumber() {
		return // not a config block
	}
	num := b.Header.Number
	nb, err := channelconfig.BundleFromBlock(b)
	if err != nil {
		r.log.Error("config block written but its config does not parse; keeping the previous config", "channel", c.name, "block", num, "error", err)
		return
	}
	c.bundle.Store(nb)
	members, _ := consenterMembers(nb.Orderer().Consenters, b)
	c.members.Store(&members)
	r.log.Info("channel config updated", "channel", c.name, "block", num, "sequence", nb.Sequence(), "consenters", len(members))
	if r.comm != nil {
		if err := r.comm.Configure(c.name, c.nodeID, members); err != nil {
			r.log.Error("cannot configure the cluster for the new consenters", "channel", c.name, "block", num, "error", err)
		}
		r.trustOrderers(c.name, nb)
	}
}

// trustOrderers makes the cluster trust the TLS CAs of the orderer
// organizations of every channel's current config (besides the configured
// roots), so that an organization added by a config update is reachable
// without a restart.
func (r *Registrar) trustOrderers(channel string, b *channelconfig.Bundle) {
	r.rootsMu.Lock()
	defer r.rootsMu.Unlock()
	if b == nil {
		delete(r.rootBundles, channel)
	} else {
		r.rootBundles[channel] = b
	}
	bundles := make([]*channelconfig.Bundle, 0, len(r.rootBundles))
	for _, rb := range r.rootBundles {
		bundles = append(bundles, rb)
	}
	r.comm.SetRootCAs(r.tls.pool(bundles...))
}

func checkEtcdraft(b *channelconfig.Bundle) error {
	oc := b.Orderer()
	if oc == nil {
		return fmt.Errorf("channel %s: config has no Orderer group", b.ChannelID())
	}
	if oc.ConsensusType != "etcdraft" {
		return fmt.Errorf("channel %s: consensus type %q is not supported (only etcdraft)", b.ChannelID(), oc.ConsensusType)
	}
	return nil
}

// notConsenter explains that this orderer is none of the channel's consenters.
func (r *Registrar) notConsenter(b *channelconfig.Bundle) error {
	how := "by TLS certificate (General.TLS.Certificate)"
	if r.self.tlsCertDER == nil {
		how = "by host:port " + net.JoinHostPort(r.self.host, strconv.Itoa(int(r.self.port)))
	}
	return fmt.Errorf("channel %s: this orderer is not one of its consenters [%s] (matched %s); joining as a follower is not supported: add this orderer to the channel's consenters with a config update first, then join it with that config block",
		b.ChannelID(), consenterNames(b.Orderer().Consenters), how)
}

func (r *Registrar) channel(name string) (*channel, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.channels[name]
	return c, ok
}

// ChannelNames lists served and onboarding channels, sorted.
func (r *Registrar) ChannelNames() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for n := range r.channels {
		out = append(out, n)
	}
	for n := range r.joining {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ChannelInfo describes one served or onboarding channel.
func (r *Registrar) ChannelInfo(name string) (participation.ChannelInfo, error) {
	r.mu.RLock()
	c, ok := r.channels[name]
	ob := r.joining[name]
	r.mu.RUnlock()
	switch {
	case ok:
		return r.info(c), nil
	case ob != nil:
		return ob.info(), nil
	}
	return participation.ChannelInfo{}, participation.ErrChannelNotExist
}

// info reports a channel as Fabric's participation API does: a consenter
// that orders is active; one removed from the consenters keeps its blocks as
// an inactive config-tracker; a chain that stopped on an error has failed.
func (r *Registrar) info(c *channel) participation.ChannelInfo {
	info := participation.ChannelInfo{
		Name: c.name, ConsensusRelation: participation.RelationConsenter,
		Status: participation.StatusActive, Height: c.store.Height(),
	}
	switch {
	case c.chain == nil:
		info.ConsensusRelation, info.Status = participation.RelationConfigTracker, participation.StatusInactive
	case c.chain.Evicted():
		info.ConsensusRelation, info.Status = participation.RelationConfigTracker, participation.StatusInactive
	default:
		select {
		case <-c.chain.Done():
			info.Status = participation.StatusFailed
		default:
		}
	}
	return info
}

// Join starts serving the channel of a config block that names this orderer
// as a consenter: from its genesis block, or, given a later config block,
// by first pulling the blocks up to it from the other consenters
// (onboarding, reported as status "onboarding" until the chain starts).
func (r *Registrar) Join(block *cb.Block) (participation.ChannelInfo, error) {
	if block.GetHeader() == nil || block.GetData() == nil {
		return participation.ChannelInfo{}, fmt.Errorf("%w: block has no header or data", participation.ErrBadJoinBlock)
	}
	bundle, err := channelconfig.BundleFromBlock(block)
	if err != nil {
		return participation.ChannelInfo{}, fmt.Errorf("%w: not a config block: %v", participation.ErrBadJoinBlock, err)
	}
	name := bundle.ChannelID()
	if err := participation.ValidateChannelName(name); err != nil {
		return participation.ChannelInfo{}, fmt.Errorf("%w: %v", participation.ErrBadJoinBlock, err)
	}
	n := block.Header.Number
	if !bytes.Equal(block.Header.DataHash, protos.BlockDataHash(block.Data)) {
		return participation.ChannelInfo{}, fmt.Errorf("%w: data_hash of block %d does not match its data", participation.ErrBadJoinBlock, n)
	}
	if err := checkEtcdraft(bundle); err != nil {
		return participation.ChannelInfo{}, fmt.Errorf("%w: %v", participation.ErrBadJoinBlock, err)
	}
	members, _ := consenterMembers(bundle.Orderer().Consenters, block)
	if r.selfID(bundle.Orderer().Consenters, members) == 0 {
		return participation.ChannelInfo{}, fmt.Errorf("%w: %v", participation.ErrBadJoinBlock, r.notConsenter(bundle))
	}
	if len(members) > 1 && r.comm == nil {
		return participation.ChannelInfo{}, fmt.Errorf("%w: channel %s has %d consenters: a Raft cluster needs General.TLS.Enabled=true on this orderer",
			participation.ErrBadJoinBlock, name, len(members))
	}
	if n > 0 && len(members) == 1 {
		return participation.ChannelInfo{}, fmt.Errorf("%w: block %d of channel %s names this orderer as the only consenter: there is no other orderer to pull blocks 0-%d from; join with the genesis block",
			participation.ErrBadJoinBlock, n, name, n-1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.channels[name]; ok || r.joining[name] != nil {
		return participation.ChannelInfo{}, fmt.Errorf("%w: %s", participation.ErrChannelAlreadyExists, name)
	}
	if r.removing[name] {
		return participation.ChannelInfo{}, fmt.Errorf("%w: %s", participation.ErrChannelPendingRemove, name)
	}
	// Leftovers of a removed channel must not leak into the new one.
	os.RemoveAll(filepath.Join(r.walDir, name))
	if n > 0 {
		os.RemoveAll(filepath.Join(r.ledgerDir, name))
		if err := r.writeJoinBlock(name, block); err != nil {
			return participation.ChannelInfo{}, err
		}
		ob := r.startOnboarding(name, block, bundle)
		r.log.Info("joining channel from a config block: pulling its blocks from the other consenters", "channel", name, "join_block", n)
		return ob.info(), nil
	}
	c, err := r.open(name, block)
	if err != nil {
		os.RemoveAll(filepath.Join(r.ledgerDir, name))
		os.RemoveAll(filepath.Join(r.walDir, name))
		return participation.ChannelInfo{}, err
	}
	r.channels[name] = c
	r.log.Info("joined channel", "channel", name, "raft_id", c.nodeID)
	return r.info(c), nil
}

// Remove stops serving (or onboarding) a channel and deletes its ledger and WAL.
func (r *Registrar) Remove(name string) error {
	r.mu.Lock()
	c, ok := r.channels[name]
	ob := r.joining[name]
	if !ok && ob == nil {
		r.mu.Unlock()
		return participation.ErrChannelNotExist
	}
	delete(r.channels, name)
	delete(r.joining, name)
	r.removing[name] = true
	r.mu.Unlock()

	if ob != nil {
		ob.stop()
	}
	if c != nil {
		c.close()
	}
	if r.comm != nil {
		r.comm.Remove(name)
		r.trustOrderers(name, nil)
	}
	var errs []error
	for _, d := range []string{filepath.Join(r.ledgerDir, name), filepath.Join(r.walDir, name), r.joinBlockPath(name)} {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	r.mu.Lock()
	delete(r.removing, name)
	r.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %v", participation.ErrRemovalFailure, err)
	}
	r.log.Info("removed channel", "channel", name)
	return nil
}

// Close stops every onboarding, every chain and closes every store.
func (r *Registrar) Close() {
	r.mu.Lock()
	obs := r.joining
	r.joining = map[string]*onboarding{}
	r.mu.Unlock()
	for _, ob := range obs {
		ob.stop()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, c := range r.channels {
		c.close()
		delete(r.channels, n)
	}
}
