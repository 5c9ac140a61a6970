package raftchain

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/orderer/blockcutter"
)

// Consenters and their Raft ids come from config blocks; the bookkeeper
// decides what a change means (validateConsenters, nextConfChange, onBlock,
// evicted) and the Chain carries it out through Raft and the block store.

// consenterName is host:port, how errors name a consenter.
func consenterName(c *etcdraft.Consenter) string {
	return net.JoinHostPort(c.GetHost(), strconv.Itoa(int(c.GetPort())))
}

// sameConsenter: the same orderer, known by its client or server TLS certificate.
func sameConsenter(a, b *etcdraft.Consenter) bool {
	if len(a.GetClientTlsCert()) > 0 && bytes.Equal(a.GetClientTlsCert(), b.GetClientTlsCert()) {
		return true
	}
	return len(a.GetServerTlsCert()) > 0 && bytes.Equal(a.GetServerTlsCert(), b.GetServerTlsCert())
}

// membership is a consenter set with the Raft id of each consenter, in
// config order (as etcdraft.BlockMetadata.ConsenterIds lists them).
type membership struct {
	ids  []uint64
	set  []*etcdraft.Consenter // nil when the config could not be read
	next uint64                // NextConsenterId
}

// change is the difference between the current consenters and a new set.
type change struct {
	next    membership
	added   []*etcdraft.Consenter
	removed []*etcdraft.Consenter
	// removedIDs parallels removed.
	removedIDs []uint64
	// rotated: one consenter replaced its certificates (same host:port); it
	// keeps its id and the Raft voters do not change.
	rotated bool
}

// diff matches newSet against m by TLS certificate: kept consenters keep
// their ids, a new one gets m.next (which then increments).
func (m membership) diff(newSet []*etcdraft.Consenter) change {
	ch := change{next: membership{set: newSet, next: m.next, ids: make([]uint64, len(newSet))}}
	used := make([]bool, len(m.set))
	var addedAt []int
	for i, c := range newSet {
		found := false
		for j, old := range m.set {
			if !used[j] && sameConsenter(old, c) {
				used[j], found = true, true
				ch.next.ids[i] = m.ids[j]
				break
			}
		}
		if !found {
			addedAt = append(addedAt, i)
			ch.added = append(ch.added, c)
		}
	}
	for j, old := range m.set {
		if !used[j] {
			ch.removed = append(ch.removed, old)
			ch.removedIDs = append(ch.removedIDs, m.ids[j])
		}
	}
	if len(ch.added) == 1 && len(ch.removed) == 1 && consenterName(ch.added[0]) == consenterName(ch.removed[0]) {
		ch.rotated = true
		ch.next.ids[addedAt[0]] = ch.removedIDs[0]
		return ch
	}
	for _, i := range addedAt {
		ch.next.ids[i] = ch.next.next
		ch.next.next++
	}
	return ch
}

func names(cs []*etcdraft.Consenter) string {
	var out []string
	for _, c := range cs {
		out = append(out, consenterName(c))
	}
	return strings.Join(out, ", ")
}

// ErrConsenterChange wraps every refusal of ValidateConsenters.
var ErrConsenterChange = errors.New("raftchain: consenter change refused")

// ValidateConsenters checks that moving the channel to newSet is a change the
// cluster can make safely: at most one consenter added or removed (or one
// consenter's certificates rotated on the same host:port), no earlier change
// still being applied, and the voters that this node reaches now are a
// quorum both before and after the change. A leader knows who is reachable
// from Raft (followers it heard from within the last election timeout); a
// follower asks Config.Reachable and, without it, only checks the counts.
func (c *Chain) ValidateConsenters(newSet []*etcdraft.Consenter) error {
	var err error
	qerr := c.inLoop(func() { err = c.bk.validateConsenters(newSet, c.reachable) })
	if qerr != nil {
		return qerr
	}
	return err
}

// reachable returns the consenter ids this node reaches now (itself
// included), and whether that is known at all.
func (c *Chain) reachable() (map[uint64]bool, bool) {
	if c.bk.isLeader {
		ids := make([]uint64, 0, len(c.rn.Status().Progress))
		for id := range c.rn.Status().Progress {
			ids = append(ids, id)
		}
		return c.bk.heardRecently(ids), true
	}
	out := map[uint64]bool{c.cfg.NodeID: true}
	if c.cfg.Reachable == nil {
		return out, false
	}
	for _, id := range c.cfg.Reachable() {
		out[id] = true
	}
	return out, true
}

// validateConsenters is ValidateConsenters' decision; reachable is asked
// only once the change passed the checks that need no network view.
func (b *bookkeeper) validateConsenters(newSet []*etcdraft.Consenter, reachable func() (map[uint64]bool, bool)) error {
	ch := b.members.diff(newSet)
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w on channel %s: %s", ErrConsenterChange, b.channelID, fmt.Sprintf(format, args...))
	}
	if b.members.set == nil {
		return refuse("the current consenter set is unknown (the last config block could not be read)")
	}
	if len(newSet) == 0 {
		return refuse("the new config lists no consenters")
	}
	if ch.rotated || (len(ch.added) == 0 && len(ch.removed) == 0) {
		return nil
	}
	if n := len(ch.added) + len(ch.removed); n > 1 {
		return refuse("%d consenters change at once (adding [%s], removing [%s]); add or remove one consenter per config update and wait for its block", n, names(ch.added), names(ch.removed))
	}
	if want, have := b.members.ids, b.voters(); !sameIDs(want, have) {
		return refuse("an earlier consenter change is still being applied (raft voters %v, consenters %v); retry once it completes", have, want)
	}
	reach, known := reachable()
	if !known {
		return nil
	}
	byID := map[uint64]*etcdraft.Consenter{}
	for i, id := range b.members.ids {
		byID[id] = b.members.set[i]
	}
	var down []string
	up := 0
	for _, id := range b.members.ids {
		if reach[id] {
			up++
		} else {
			down = append(down, consenterName(byID[id]))
		}
	}
	oldN := len(b.members.ids)
	newN := oldN + len(ch.added) - len(ch.removed)
	upAfter := up
	if len(ch.removed) == 1 && reach[ch.removedIDs[0]] {
		upAfter--
	}
	what := "adding " + names(ch.added)
	if len(ch.removed) == 1 {
		what = "removing " + names(ch.removed)
	}
	if up < oldN/2+1 || upAfter < newN/2+1 {
		if len(ch.added) == 1 {
			// A new consenter counts only once it runs and has joined.
			down = append(down, names(ch.added)+" (new, not joined yet)")
		}
		return refuse("%s would leave %d reachable of %d consenters, below the quorum of %d (unreachable: %s); bring the unreachable ones back first",
			what, upAfter, newN, newN/2+1, strings.Join(down, ", "))
	}
	return nil
}

// heardRecently returns which of ids (Raft's voters and learners, as the
// leader tracks them) this node heard from within the last election
// timeout, itself included. (Raft's RecentActive is not enough: it starts
// true for a voter just added, before that node ever answered.)
func (b *bookkeeper) heardRecently(ids []uint64) map[uint64]bool {
	out := map[uint64]bool{b.nodeID: true}
	for _, id := range ids {
		if h := b.heard[id]; h > 0 && b.ticks+1-h <= b.electionTick {
			out[id] = true
		}
	}
	return out
}

func sameIDs(a, b []uint64) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// reconcileVoters proposes the conf change the bookkeeper asks for, if any.
func (c *Chain) reconcileVoters() {
	cc := c.bk.nextConfChange()
	if cc == nil {
		return
	}
	if err := c.rn.ProposeConfChange(&raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{cc}}); err != nil {
		c.log.Warn("conf change proposal dropped", "change", cc.GetType().String(), "node", cc.GetNodeId(), "error", err)
		return
	}
	c.bk.confChangeProposed()
	c.log.Info("proposed raft membership change", "change", cc.GetType().String(), "node", cc.GetNodeId())
}

// nextConfChange is the conf change an active leader proposes next: when the
// consenters of the last config block differ from the Raft voters, one
// ConfChangeSingle that adds (first) or removes one voter; nil when they
// agree or a change is still in flight. Every node derives the consenters
// from committed blocks, so a new leader finishes a change its predecessor
// began.
func (b *bookkeeper) nextConfChange() *raftpb.ConfChangeSingle {
	if !b.isLeader || !b.active || len(b.members.ids) == 0 || (b.ccPending && b.ticks < b.ccDeadline) {
		return nil
	}
	voters := b.voters()
	for _, id := range b.members.ids {
		if !slices.Contains(voters, id) {
			return &raftpb.ConfChangeSingle{Type: raftpb.ConfChangeType_ConfChangeAddNode.Enum(), NodeId: proto.Uint64(id)}
		}
	}
	for _, id := range voters {
		if !slices.Contains(b.members.ids, id) {
			return &raftpb.ConfChangeSingle{Type: raftpb.ConfChangeType_ConfChangeRemoveNode.Enum(), NodeId: proto.Uint64(id)}
		}
	}
	return nil
}

// confChangeProposed: Raft took the change nextConfChange asked for.
// Applying any conf change ends it (confChanged); a proposal lost on the way
// is proposed again after two election timeouts.
func (b *bookkeeper) confChangeProposed() {
	b.ccPending, b.ccDeadline = true, b.ticks+2*b.electionTick
}

// onBlock updates the bookkeeper's view of the channel for a block handed to
// the writer: last config, batch settings and consenters (with ids) after a
// config block. A pulled block carries another orderer's metadata, which is
// taken as is. A config block that no longer lists this node starts its
// eviction.
func (b *bookkeeper) onBlock(blk *cb.Block, pulled bool) {
	if !isConfigBlock(blk) {
		return
	}
	num := blk.GetHeader().GetNumber()
	b.lastConfig = num
	b.applyBatchConfig(blk)
	set, err := ConsentersOfConfigBlock(blk)
	if err != nil {
		b.log.Warn("cannot read the consenters of a config block; keeping the current set", "block", num, "error", err)
		return
	}
	next := b.members.diff(set).next
	if b.members.set == nil && len(set) == len(b.members.ids) {
		// The previous consenters are unknown (a genesis block this node
		// could not read): keep the ids in order.
		next = membership{ids: slices.Clone(b.members.ids), set: set, next: b.members.next}
	}
	if pulled {
		if _, rmd, err := BlockMetadata(blk); err == nil && rmd != nil && len(rmd.ConsenterIds) == len(set) {
			next = membership{ids: rmd.ConsenterIds, set: set, next: rmd.NextConsenterId}
		}
	}
	if !slices.Equal(next.ids, b.members.ids) {
		b.log.Info("consenter set changed", "block", num, "consenters", next.ids, "next_consenter_id", next.next)
	}
	b.members = next
	if slices.Contains(next.ids, b.nodeID) {
		b.wasMember, b.evictPending = true, false
	} else if b.wasMember {
		if !b.evictPending {
			b.evictPending = true
			b.evictAt = b.ticks + 2*b.electionTick
		}
		b.log.Warn("this orderer is no longer a consenter of the channel", "block", num)
	}
}

// evicted returns why the chain stops because this node is out of the
// consenters, or nil while it goes on: it stops when Raft removed it, or (a
// follower) some time after the config block, since a removed node may never
// hear of the conf change that removed it. A removed leader goes on until
// its own removal is applied, then steps down.
func (b *bookkeeper) evicted() error {
	if !b.evictPending {
		return nil
	}
	inRaft := slices.Contains(b.voters(), b.nodeID)
	if inRaft && (b.isLeader || b.ticks < b.evictAt) {
		return nil
	}
	return fmt.Errorf("%w: channel %s, config block %d lists consenters %v, not this orderer (id %d)",
		ErrEvicted, b.channelID, b.lastConfig, b.members.ids, b.nodeID)
}

// consenterMetadata is the etcdraft.BlockMetadata written with the next block.
func (b *bookkeeper) consenterMetadata(raftIndex uint64) *etcdraft.BlockMetadata {
	return &etcdraft.BlockMetadata{
		ConsenterIds:    slices.Clone(b.members.ids),
		NextConsenterId: b.members.next,
		RaftIndex:       raftIndex,
	}
}

// acceptConfig decides, in log order and so identically on every node,
// whether a committed CONFIG envelope is ordered: its config sequence must
// follow the last accepted one (two updates computed on the same config race
// at different orderers; the second loses). It returns a non-nil refusal
// (wrapping ErrStaleConfig) for a stale envelope, and an error only when the
// bookkeeper cannot tell (the chain did not set the sequence it starts from).
func (b *bookkeeper) acceptConfig(env []byte) (refusal, err error) {
	seq, err := configSequence(env)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStaleConfig, err), nil
	}
	if !b.seq.known {
		return nil, errors.New("the config sequence the log starts from is not known")
	}
	if seq != b.seq.seq+1 {
		return fmt.Errorf("%w: it makes config sequence %d, but the channel is at sequence %d", ErrStaleConfig, seq, b.seq.seq), nil
	}
	b.seq.seq = seq
	return nil, nil
}

// configSeqAt is the channel's config sequence at a snapshot: that of the
// config block in force at the snapshot's last block, or of the last config
// envelope the snapshot still holds pending.
func (c *Chain) configSeqAt(d snapData) (uint64, error) {
	blk, err := c.store.Block(d.lastBlock)
	if err != nil {
		return 0, fmt.Errorf("read block %d to find the config sequence: %w", d.lastBlock, err)
	}
	obm, _, err := BlockMetadata(blk)
	if err != nil {
		return 0, err
	}
	cfgBlk, err := c.store.Block(obm.GetLastConfig().GetIndex())
	if err != nil {
		return 0, fmt.Errorf("read config block %d: %w", obm.GetLastConfig().GetIndex(), err)
	}
	if len(cfgBlk.GetData().GetData()) != 1 {
		return 0, fmt.Errorf("config block %d holds %d envelopes, want 1", cfgBlk.GetHeader().GetNumber(), len(cfgBlk.GetData().GetData()))
	}
	seq, err := configSequence(cfgBlk.Data.Data[0])
	if err != nil {
		// Not a config this chain can read (test stores): count from 0, the
		// same on every node.
		c.log.Warn("cannot read the config sequence; counting from 0", "block", cfgBlk.GetHeader().GetNumber(), "error", err)
		seq = 0
	}
	for _, p := range d.pending {
		if isConfigEnvelope(p.env) {
			if s, err := configSequence(p.env); err == nil {
				seq = s
			}
		}
	}
	return seq, nil
}

// applyBatchConfig takes up the Orderer BatchSize and BatchTimeout of a
// config block: the leader cuts what it holds under the old limits, then
// cuts by the new ones. Only the leader cuts, so no node needs to agree.
func (b *bookkeeper) applyBatchConfig(blk *cb.Block) {
	bc, err := batchConfigOfConfigBlock(blk)
	if err != nil {
		b.log.Warn("cannot read the batch settings of a config block; keeping the current ones", "block", blk.GetHeader().GetNumber(), "error", err)
		return
	}
	if bc == b.cutter.Config() {
		return
	}
	if err := bc.Validate(); err != nil {
		b.log.Warn("config block has batch settings the chain cannot use; keeping the current ones", "block", blk.GetHeader().GetNumber(), "error", err)
		return
	}
	b.log.Info("batch settings changed", "block", blk.GetHeader().GetNumber(),
		"max_message_count", bc.MaxMessageCount, "absolute_max_bytes", bc.AbsoluteMaxBytes,
		"preferred_max_bytes", bc.PreferredMaxBytes, "batch_timeout", bc.BatchTimeout)
	if b.active {
		if batch := b.cutter.Cut(); len(batch) > 0 {
			b.makeBlock(batch)
		}
	}
	if cutter, err := blockcutter.New(bc); err == nil {
		b.cutter = cutter
	}
}

// batchConfig is the channel's batch settings as of the last config block.
func (b *bookkeeper) batchConfig() blockcutter.Config { return b.cutter.Config() }
