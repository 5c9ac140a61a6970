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
	"github.com/weft-ledger/weft/orderer/participation"
	"github.com/weft-ledger/weft/orderer/raftchain"
	"github.com/weft-ledger/weft/protos"
)

// Registrar owns the set of channels this orderer serves.
type Registrar struct {
	ledgerDir string // <FileLedger.Location>/chains/<channel>
	walDir    string // <WALDir>/<channel>
	signer    protos.Signer
	self      consenterMatch
	snapEvery uint64
	// tickInterval overrides every channel's etcdraft TickInterval when > 0 (tests).
	tickInterval time.Duration
	log          *slog.Logger

	mu       sync.RWMutex // guards channels and removing
	channels map[string]*channel
	removing map[string]bool
}

// consenterMatch identifies this orderer among a channel's consenters.
type consenterMatch struct {
	tlsCertDER []byte // nil when TLS is off
	host       string
	port       uint32
}

func (m consenterMatch) matches(c *etcdraft.Consenter) bool {
	if m.tlsCertDER != nil {
		for _, p := range [][]byte{c.ServerTlsCert, c.ClientTlsCert} {
			if der := pemDER(p); der != nil && bytes.Equal(der, m.tlsCertDER) {
				return true
			}
		}
		return false
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
		signer: signer, self: self, snapEvery: snapEvery, log: log,
		channels: map[string]*channel{}, removing: map[string]bool{},
	}
}

// openExisting starts every channel found in the ledger folder.
func (r *Registrar) openExisting() error {
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

// open opens (genesis == nil) or creates the channel's store and starts its chain.
func (r *Registrar) open(name string, genesis *cb.Block) (*channel, error) {
	store, err := ledger.OpenBlockStore(filepath.Join(r.ledgerDir, name))
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", name, err)
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
	last, err := store.Block(store.Height() - 1)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", name, err)
	}
	obm, _, err := raftchain.BlockMetadata(last)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", name, err)
	}
	cfgBlock, err := store.Block(obm.GetLastConfig().GetIndex())
	if err != nil {
		return nil, fmt.Errorf("channel %s: read last config block: %w", name, err)
	}
	bundle, err := channelconfig.BundleFromBlock(cfgBlock)
	if err != nil {
		return nil, fmt.Errorf("channel %s: config block %d: %w", name, cfgBlock.GetHeader().GetNumber(), err)
	}
	recent := &recentBlocks{}
	nodeID, voters, err := r.consenterID(bundle)
	if err != nil {
		return nil, err
	}
	oc := bundle.Orderer()
	tick, election, heartbeat := defaultTick, 10, 1
	if o := oc.RaftOptions; o != nil {
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
	chain, err := raftchain.New(raftchain.Config{
		ChannelID: name, NodeID: nodeID, Voters: voters, NextConsenterID: uint64(len(voters)) + 1,
		Batch: blockcutter.Config{
			MaxMessageCount: oc.MaxMessageCount, AbsoluteMaxBytes: oc.AbsoluteMaxBytes,
			PreferredMaxBytes: oc.PreferredMaxBytes, BatchTimeout: oc.BatchTimeout,
		},
		WALDir:       filepath.Join(r.walDir, name),
		TickInterval: tick, ElectionTick: election, HeartbeatTick: heartbeat,
		SnapshotIntervalBlocks: r.snapEvery,
		Signer:                 r.signer,
		Logger:                 r.log,
	}, recordingStore{store, recent}, raftchain.NoopTransport{})
	if err != nil {
		return nil, err
	}
	chain.Start()
	ok = true
	return &channel{name: name, bundle: bundle, store: store, chain: chain, nodeID: nodeID, recent: recent}, nil
}

// consenterID finds this orderer among the channel's consenters; ids are
// 1-based positions in the genesis consenter list, as Fabric assigns them.
func (r *Registrar) consenterID(b *channelconfig.Bundle) (uint64, []uint64, error) {
	oc := b.Orderer()
	if oc == nil {
		return 0, nil, fmt.Errorf("channel %s: config has no Orderer group", b.ChannelID())
	}
	if oc.ConsensusType != "etcdraft" {
		return 0, nil, fmt.Errorf("channel %s: consensus type %q is not supported (only etcdraft)", b.ChannelID(), oc.ConsensusType)
	}
	var voters []uint64
	var self uint64
	for i, c := range oc.Consenters {
		id := uint64(i + 1)
		voters = append(voters, id)
		if self == 0 && r.self.matches(c) {
			self = id
		}
	}
	if self == 0 {
		var names []string
		for _, c := range oc.Consenters {
			names = append(names, net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))))
		}
		how := "by TLS certificate (General.TLS.Certificate)"
		if r.self.tlsCertDER == nil {
			how = "by host:port " + net.JoinHostPort(r.self.host, strconv.Itoa(int(r.self.port)))
		}
		return 0, nil, fmt.Errorf("channel %s: this orderer is not one of its consenters %v (matched %s); joining as a follower is not supported yet",
			b.ChannelID(), names, how)
	}
	return self, voters, nil
}

func (r *Registrar) channel(name string) (*channel, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.channels[name]
	return c, ok
}

// ChannelNames lists served channels, sorted.
func (r *Registrar) ChannelNames() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for n := range r.channels {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ChannelInfo describes one served channel.
func (r *Registrar) ChannelInfo(name string) (participation.ChannelInfo, error) {
	c, ok := r.channel(name)
	if !ok {
		return participation.ChannelInfo{}, participation.ErrChannelNotExist
	}
	return r.info(c), nil
}

func (r *Registrar) info(c *channel) participation.ChannelInfo {
	status := participation.StatusActive
	select {
	case <-c.chain.Done():
		status = participation.StatusFailed
	default:
	}
	return participation.ChannelInfo{
		Name: c.name, ConsensusRelation: participation.RelationConsenter,
		Status: status, Height: c.store.Height(),
	}
}

// Join starts serving the channel whose genesis block is given.
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
	if n := block.Header.Number; n != 0 {
		return participation.ChannelInfo{}, fmt.Errorf("%w: block %d of channel %s is not a genesis block; joining from a later config block (onboarding) is not supported yet",
			participation.ErrBadJoinBlock, n, name)
	}
	if !bytes.Equal(block.Header.DataHash, protos.BlockDataHash(block.Data)) {
		return participation.ChannelInfo{}, fmt.Errorf("%w: data_hash of block 0 does not match its data", participation.ErrBadJoinBlock)
	}
	if _, _, err := r.consenterID(bundle); err != nil {
		return participation.ChannelInfo{}, fmt.Errorf("%w: %v", participation.ErrBadJoinBlock, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.channels[name]; ok {
		return participation.ChannelInfo{}, fmt.Errorf("%w: %s", participation.ErrChannelAlreadyExists, name)
	}
	if r.removing[name] {
		return participation.ChannelInfo{}, fmt.Errorf("%w: %s", participation.ErrChannelPendingRemove, name)
	}
	// Leftovers of a removed channel must not leak into the new one.
	os.RemoveAll(filepath.Join(r.walDir, name))
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

// Remove stops serving a channel and deletes its ledger and WAL.
func (r *Registrar) Remove(name string) error {
	r.mu.Lock()
	c, ok := r.channels[name]
	if !ok {
		r.mu.Unlock()
		return participation.ErrChannelNotExist
	}
	delete(r.channels, name)
	r.removing[name] = true
	r.mu.Unlock()

	c.close()
	var errs []error
	for _, d := range []string{filepath.Join(r.ledgerDir, name), filepath.Join(r.walDir, name)} {
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

// Close stops every chain and closes every store.
func (r *Registrar) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, c := range r.channels {
		c.close()
		delete(r.channels, n)
	}
}
