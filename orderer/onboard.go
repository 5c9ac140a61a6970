package orderer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/rpcrecover"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/orderer/cluster"
	"github.com/weft-ledger/weft/orderer/participation"
	"github.com/weft-ledger/weft/orderer/raftchain"
	"github.com/weft-ledger/weft/protos"
)

// onboarding is a channel joined from a config block above 0: its blocks up
// to the join block are pulled from the other consenters, then its chain
// starts with an empty Raft log (the leader replays the log or sends a
// snapshot). The join block is kept in <FileLedger.Location>/pendingops/join
// until the chain runs, so a restart resumes the pull.
type onboarding struct {
	name   string
	block  *cb.Block
	bundle *channelconfig.Bundle // config of the join block
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	height atomic.Uint64
	failed atomic.Pointer[error]
}

func (ob *onboarding) info() participation.ChannelInfo {
	status := participation.StatusOnboarding
	if ob.failed.Load() != nil {
		status = participation.StatusFailed
	}
	return participation.ChannelInfo{
		Name: ob.name, ConsensusRelation: participation.RelationConsenter,
		Status: status, Height: ob.height.Load(),
	}
}

// stop ends the pull and waits for the goroutine.
func (ob *onboarding) stop() {
	ob.cancel()
	<-ob.done
}

// errJoinMismatch: the orderers serve a chain whose block N is not the join block.
var errJoinMismatch = errors.New("join block mismatch")

// startOnboarding registers and starts an onboarding; r.mu must be held.
func (r *Registrar) startOnboarding(name string, block *cb.Block, bundle *channelconfig.Bundle) *onboarding {
	ctx, cancel := context.WithCancel(context.Background())
	ob := &onboarding{name: name, block: block, bundle: bundle, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	r.joining[name] = ob
	go r.onboard(ob)
	return ob
}

func (r *Registrar) onboard(ob *onboarding) {
	defer close(ob.done)
	// A panic (a bug met by the blocks pulled) fails this onboarding, as an
	// error would, rather than the orderer: logged with its stack, reported
	// by the participation API with status "failed".
	defer func() {
		if rec := recover(); rec != nil {
			var err error = rpcrecover.Recovered(r.log, "onboarding channel "+ob.name, rec)
			ob.failed.Store(&err)
		}
	}()
	err := r.pullToJoinBlock(ob)
	if ob.ctx.Err() != nil {
		return
	}
	if err != nil {
		ob.failed.Store(&err)
		r.log.Error("onboarding failed; remove the channel and join it again", "channel", ob.name, "error", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.joining[ob.name] != ob {
		return // removed meanwhile
	}
	c, err := r.open(ob.name, nil)
	if err != nil {
		ob.failed.Store(&err)
		r.log.Error("onboarding: cannot start the channel after pulling its blocks", "channel", ob.name, "error", err)
		return
	}
	delete(r.joining, ob.name)
	r.channels[ob.name] = c
	if err := os.Remove(r.joinBlockPath(ob.name)); err != nil {
		r.log.Warn("cannot remove the pending join block", "path", r.joinBlockPath(ob.name), "error", err)
	}
	r.log.Info("onboarded channel: blocks pulled, chain started", "channel", ob.name, "height", c.store.Height(), "raft_id", c.nodeID)
}

// pullToJoinBlock pulls blocks from the store's height up to the join block
// from the join block's other consenters, retrying with backoff until it has
// them or the onboarding is stopped. Signatures are checked against the
// config in force at each block; the pulled block N must be the join block
// (same header hash), which anchors the whole hash chain.
func (r *Registrar) pullToJoinBlock(ob *onboarding) error {
	dir := filepath.Join(r.ledgerDir, ob.name)
	store, err := ledger.OpenBlockStoreWithOptions(dir, ordererStoreOptions)
	if err != nil {
		return fmt.Errorf("channel %s: %w", ob.name, err)
	}
	if r.observeStore != nil {
		r.observeStore(ob.name, store)
	}
	defer store.Close()
	join, n := ob.block, ob.block.Header.Number
	var cur *channelconfig.Bundle
	if store.Height() > 0 {
		if _, _, cur, err = lastConfig(ob.name, store); err != nil {
			return err
		}
	}
	members, _ := consenterMembers(ob.bundle.Orderer().Consenters, join)
	self := r.selfID(ob.bundle.Orderer().Consenters, members)
	var endpoints []string
	for _, m := range members {
		if m.ID != self {
			endpoints = append(endpoints, m.Endpoint)
		}
	}
	wait := 200 * time.Millisecond
	for store.Height() <= n {
		ob.height.Store(store.Height())
		p, err := cluster.NewPuller(cluster.PullerConfig{
			Channel:   ob.name,
			Endpoints: func() []string { return endpoints },
			TLS:       r.tls.clientConfig(ob.bundle, cur),
			Signer:    r.signer,
			Verify: func(b *cb.Block) error {
				switch {
				case b.Header.Number > n:
					return fmt.Errorf("block %d is past the join block %d", b.Header.Number, n)
				case b.Header.Number > 0 && cur == nil:
					return fmt.Errorf("block %d: no config to check it against (block 0 missing)", b.Header.Number)
				}
				return channelconfig.VerifyBlock(b, nil, cur)
			},
			Logger: r.log,
		})
		if err != nil {
			return err
		}
		err = p.Pull(ob.ctx, store.Height(), n, func(b *cb.Block) error {
			if b.Header.Number == n && !bytes.Equal(protos.BlockHeaderHash(b.Header), protos.BlockHeaderHash(join.Header)) {
				return fmt.Errorf("%w: the orderers' block %d has header hash %x, the join block %x: the join block is not from this channel's chain",
					errJoinMismatch, n, protos.BlockHeaderHash(b.Header), protos.BlockHeaderHash(join.Header))
			}
			if err := store.Append(b); err != nil {
				return err
			}
			ob.height.Store(store.Height())
			if b.Header.Number == 0 || isConfigBlock(b) {
				nb, err := channelconfig.BundleFromBlock(b)
				if err != nil {
					return fmt.Errorf("config block %d: %w", b.Header.Number, err)
				}
				cur = nb
			}
			return nil
		})
		if err == nil {
			break
		}
		if ob.ctx.Err() != nil {
			return ob.ctx.Err()
		}
		if errors.Is(err, errJoinMismatch) {
			store.Close()
			os.RemoveAll(dir)
			return err
		}
		r.log.Warn("onboarding: pulling blocks failed; retrying", "channel", ob.name, "height", store.Height(), "join_block", n, "retry_in", wait, "error", err)
		select {
		case <-time.After(wait):
		case <-ob.ctx.Done():
			return ob.ctx.Err()
		}
		wait = min(2*wait, 10*time.Second)
	}
	ob.height.Store(store.Height())
	return nil
}

// isConfigBlock: an orderer-written block whose LastConfig is itself.
func isConfigBlock(b *cb.Block) bool {
	obm, _, err := raftchain.BlockMetadata(b)
	return err == nil && b.GetHeader().GetNumber() > 0 && obm.GetLastConfig().GetIndex() == b.GetHeader().GetNumber()
}

func (r *Registrar) joinBlockPath(name string) string {
	return filepath.Join(r.pendingDir, name+".join")
}

// writeJoinBlock records an onboarding, so that a restart resumes it.
func (r *Registrar) writeJoinBlock(name string, b *cb.Block) error {
	if err := os.MkdirAll(r.pendingDir, 0o755); err != nil {
		return fmt.Errorf("channel %s: record the join block: %w", name, err)
	}
	path := r.joinBlockPath(name)
	if err := os.WriteFile(path+".tmp", protos.Marshal(b), 0o644); err != nil {
		return fmt.Errorf("channel %s: record the join block: %w", name, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("channel %s: record the join block: %w", name, err)
	}
	return nil
}

// resumeOnboarding restarts the onboardings a previous run left unfinished.
func (r *Registrar) resumeOnboarding() error {
	entries, err := os.ReadDir(r.pendingDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list pending joins in %s: %w", r.pendingDir, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".join")
		if !ok || e.IsDir() {
			continue
		}
		path := filepath.Join(r.pendingDir, e.Name())
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("pending join of channel %s: %w", name, err)
		}
		block := &cb.Block{}
		if err := proto.Unmarshal(raw, block); err != nil {
			return fmt.Errorf("pending join of channel %s: %s is not a block (%v); remove it and the folder %s, then join again", name, path, err, filepath.Join(r.ledgerDir, name))
		}
		bundle, err := channelconfig.BundleFromBlock(block)
		if err != nil {
			return fmt.Errorf("pending join of channel %s: %s: %w; remove it and the folder %s, then join again", name, path, err, filepath.Join(r.ledgerDir, name))
		}
		r.log.Info("resuming onboarding", "channel", name, "join_block", block.GetHeader().GetNumber())
		r.startOnboarding(name, block, bundle)
	}
	return nil
}
