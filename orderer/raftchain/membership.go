package raftchain

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/orderer/blockcutter"
)

// isConfigEnvelope reports whether env is a CONFIG transaction; such an
// envelope gets a block of its own. It runs for every envelope on the
// leader, so it reads the header type in place instead of decoding
// (Envelope.payload → Payload.header → Header.channel_header → ChannelHeader.type).
func isConfigEnvelope(env []byte) bool {
	b := env
	for _, field := range []protowire.Number{1, 1, 1} {
		var ok bool
		if b, ok = lastBytesField(b, field); !ok {
			return false
		}
	}
	typ, ok := lastVarintField(b, 1)
	return ok && cb.HeaderType(int32(typ)) == cb.HeaderType_CONFIG
}

// lastBytesField returns the last occurrence of length-delimited field num
// of a marshalled message (the one a decoder keeps).
func lastBytesField(b []byte, num protowire.Number) (out []byte, found bool) {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, false
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return nil, false
			}
			out, found = v, true
			b = b[l:]
			continue
		}
		if l = protowire.ConsumeFieldValue(n, typ, b); l < 0 {
			return nil, false
		}
		b = b[l:]
	}
	return out, found
}

func lastVarintField(b []byte, num protowire.Number) (out uint64, found bool) {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return 0, false
		}
		b = b[l:]
		if n == num && typ == protowire.VarintType {
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return 0, false
			}
			out, found = v, true
			b = b[l:]
			continue
		}
		if l = protowire.ConsumeFieldValue(n, typ, b); l < 0 {
			return 0, false
		}
		b = b[l:]
	}
	return out, found
}

// isConfigBlock reports whether b holds a single CONFIG envelope.
func isConfigBlock(b *cb.Block) bool {
	d := b.GetData().GetData()
	return len(d) == 1 && isConfigEnvelope(d[0])
}

// ConsentersOfConfigBlock decodes the etcdraft consenter set of a config
// block (Channel/Orderer/ConsensusType metadata). It decodes only that value,
// so it works without building the channel's MSPs.
func ConsentersOfConfigBlock(b *cb.Block) ([]*etcdraft.Consenter, error) {
	num := b.GetHeader().GetNumber()
	if len(b.GetData().GetData()) == 0 {
		return nil, fmt.Errorf("block %d has no data, not a config block", num)
	}
	env := &cb.Envelope{}
	if err := proto.Unmarshal(b.Data.Data[0], env); err != nil {
		return nil, fmt.Errorf("block %d: decode envelope: %w", num, err)
	}
	payload := &cb.Payload{}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		return nil, fmt.Errorf("block %d: decode payload: %w", num, err)
	}
	ce := &cb.ConfigEnvelope{}
	if err := proto.Unmarshal(payload.Data, ce); err != nil {
		return nil, fmt.Errorf("block %d: decode config envelope: %w", num, err)
	}
	og := ce.GetConfig().GetChannelGroup().GetGroups()["Orderer"]
	if og == nil {
		return nil, fmt.Errorf("block %d: config has no Channel/Orderer group", num)
	}
	v := og.GetValues()["ConsensusType"]
	if v == nil {
		return nil, fmt.Errorf("block %d: config has no Channel/Orderer/ConsensusType value", num)
	}
	ct := &ab.ConsensusType{}
	if err := proto.Unmarshal(v.Value, ct); err != nil {
		return nil, fmt.Errorf("block %d: decode Channel/Orderer/ConsensusType: %w", num, err)
	}
	if ct.Type != "etcdraft" {
		return nil, fmt.Errorf("block %d: consensus type %q is not etcdraft", num, ct.Type)
	}
	md := &etcdraft.ConfigMetadata{}
	if err := proto.Unmarshal(ct.Metadata, md); err != nil {
		return nil, fmt.Errorf("block %d: decode etcdraft.ConfigMetadata: %w", num, err)
	}
	return md.Consenters, nil
}

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
	qerr := c.inLoop(func() { err = c.validateConsenters(newSet) })
	if qerr != nil {
		return qerr
	}
	return err
}

func (c *Chain) validateConsenters(newSet []*etcdraft.Consenter) error {
	ch := c.members.diff(newSet)
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w on channel %s: %s", ErrConsenterChange, c.cfg.ChannelID, fmt.Sprintf(format, args...))
	}
	if c.members.set == nil {
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
	if want, have := c.members.ids, c.confState.GetVoters(); !sameIDs(want, have) {
		return refuse("an earlier consenter change is still being applied (raft voters %v, consenters %v); retry once it completes", have, want)
	}
	reach, known := c.reachable()
	if !known {
		return nil
	}
	byID := map[uint64]*etcdraft.Consenter{}
	for i, id := range c.members.ids {
		byID[id] = c.members.set[i]
	}
	var down []string
	up := 0
	for _, id := range c.members.ids {
		if reach[id] {
			up++
		} else {
			down = append(down, consenterName(byID[id]))
		}
	}
	oldN := len(c.members.ids)
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

// reachable returns the consenter ids this node reaches now (itself
// included), and whether that is known at all.
func (c *Chain) reachable() (map[uint64]bool, bool) {
	out := map[uint64]bool{c.cfg.NodeID: true}
	if c.isLeader {
		// A voter counts when it was heard from within the last election
		// timeout. (Raft's RecentActive is not enough: it starts true for a
		// voter just added, before that node ever answered.)
		for id := range c.rn.Status().Progress {
			if h := c.heard[id]; h > 0 && c.ticks+1-h <= uint64(c.cfg.ElectionTick) {
				out[id] = true
			}
		}
		return out, true
	}
	if c.cfg.Reachable == nil {
		return out, false
	}
	for _, id := range c.cfg.Reachable() {
		out[id] = true
	}
	return out, true
}

func sameIDs(a, b []uint64) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// reconcileVoters runs on an active leader: when the consenters of the last
// config block differ from the Raft voters, it proposes one ConfChangeV2 that
// adds or removes one voter. Every node derives the consenters from
// committed blocks, so a new leader finishes a change its predecessor began.
func (c *Chain) reconcileVoters() {
	if !c.isLeader || !c.active || len(c.members.ids) == 0 || (c.ccPending && c.ticks < c.ccDeadline) {
		return
	}
	voters := c.confState.GetVoters()
	var cc *raftpb.ConfChangeSingle
	for _, id := range c.members.ids {
		if !slices.Contains(voters, id) {
			cc = &raftpb.ConfChangeSingle{Type: raftpb.ConfChangeType_ConfChangeAddNode.Enum(), NodeId: proto.Uint64(id)}
			break
		}
	}
	if cc == nil {
		for _, id := range voters {
			if !slices.Contains(c.members.ids, id) {
				cc = &raftpb.ConfChangeSingle{Type: raftpb.ConfChangeType_ConfChangeRemoveNode.Enum(), NodeId: proto.Uint64(id)}
				break
			}
		}
	}
	if cc == nil {
		return
	}
	if err := c.rn.ProposeConfChange(&raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{cc}}); err != nil {
		c.log.Warn("conf change proposal dropped", "change", cc.GetType().String(), "node", cc.GetNodeId(), "error", err)
		return
	}
	// Applying any conf change clears ccPending; a proposal lost on the way
	// is proposed again after two election timeouts.
	c.ccPending, c.ccDeadline = true, c.ticks+2*uint64(c.cfg.ElectionTick)
	c.log.Info("proposed raft membership change", "change", cc.GetType().String(), "node", cc.GetNodeId())
}

// onBlock updates the chain's view of the channel for a block handed to the
// writer: last config and consenters (with ids) after a config block. A
// pulled block carries another orderer's metadata, which is taken as is.
func (c *Chain) onBlock(blk *cb.Block, pulled bool) {
	if !isConfigBlock(blk) {
		return
	}
	num := blk.GetHeader().GetNumber()
	c.lastConfig = num
	c.applyBatchConfig(blk)
	set, err := ConsentersOfConfigBlock(blk)
	if err != nil {
		c.log.Warn("cannot read the consenters of a config block; keeping the current set", "block", num, "error", err)
		return
	}
	next := c.members.diff(set).next
	if c.members.set == nil && len(set) == len(c.members.ids) {
		// The previous consenters are unknown (a genesis block this node
		// could not read): keep the ids in order.
		next = membership{ids: slices.Clone(c.members.ids), set: set, next: c.members.next}
	}
	if pulled {
		if _, rmd, err := BlockMetadata(blk); err == nil && rmd != nil && len(rmd.ConsenterIds) == len(set) {
			next = membership{ids: rmd.ConsenterIds, set: set, next: rmd.NextConsenterId}
		}
	}
	if !slices.Equal(next.ids, c.members.ids) {
		c.log.Info("consenter set changed", "block", num, "consenters", next.ids, "next_consenter_id", next.next)
	}
	c.members = next
	if slices.Contains(next.ids, c.cfg.NodeID) {
		c.wasMember, c.evictPending = true, false
	} else if c.wasMember {
		if !c.evictPending {
			c.evictPending = true
			c.evictAt = c.ticks + 2*uint64(c.cfg.ElectionTick)
		}
		c.log.Warn("this orderer is no longer a consenter of the channel", "block", num)
	}
}

// consenterMetadata is the etcdraft.BlockMetadata written with the next block.
func (c *Chain) consenterMetadata(raftIndex uint64) *etcdraft.BlockMetadata {
	return &etcdraft.BlockMetadata{
		ConsenterIds:    slices.Clone(c.members.ids),
		NextConsenterId: c.members.next,
		RaftIndex:       raftIndex,
	}
}

// inLoop runs f in the chain's loop and waits for it (bounded).
func (c *Chain) inLoop(f func()) error {
	done := make(chan struct{})
	wrapped := func() { f(); close(done) }
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	select {
	case c.queryC <- wrapped:
	case <-c.doneC:
		return c.haltErr()
	case <-timeout.C:
		return fmt.Errorf("channel %s: the raft chain is busy (catching up?); retry", c.cfg.ChannelID)
	}
	select {
	case <-done:
		return nil
	case <-c.doneC:
		return c.haltErr()
	}
}

// acceptConfig decides, in log order and so identically on every node,
// whether a committed CONFIG envelope is ordered: its config sequence must
// follow the last accepted one (two updates computed on the same config race
// at different orderers; the second loses). It returns a non-nil refusal
// (wrapping ErrStaleConfig) for a stale envelope, and an error only when the
// chain cannot tell.
func (c *Chain) acceptConfig(env []byte) (refusal, err error) {
	seq, err := configSequence(env)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStaleConfig, err), nil
	}
	if !c.configSeqKnown {
		if c.configSeq, err = c.configSeqAt(c.seqBase); err != nil {
			return nil, err
		}
		c.configSeqKnown = true
	}
	if seq != c.configSeq+1 {
		return fmt.Errorf("%w: it makes config sequence %d, but the channel is at sequence %d", ErrStaleConfig, seq, c.configSeq), nil
	}
	c.configSeq = seq
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

// configSequence reads Config.Sequence from a CONFIG envelope.
func configSequence(env []byte) (uint64, error) {
	e := &cb.Envelope{}
	if err := proto.Unmarshal(env, e); err != nil {
		return 0, fmt.Errorf("decode config envelope: %w", err)
	}
	pl := &cb.Payload{}
	if err := proto.Unmarshal(e.Payload, pl); err != nil {
		return 0, fmt.Errorf("decode config envelope payload: %w", err)
	}
	ce := &cb.ConfigEnvelope{}
	if err := proto.Unmarshal(pl.Data, ce); err != nil {
		return 0, fmt.Errorf("decode common.ConfigEnvelope: %w", err)
	}
	if ce.Config == nil {
		return 0, errors.New("config envelope carries no config")
	}
	return ce.Config.Sequence, nil
}

// applyBatchConfig takes up the Orderer BatchSize and BatchTimeout of a
// config block: the leader cuts what it holds under the old limits, then
// cuts by the new ones. Only the leader cuts, so no node needs to agree.
func (c *Chain) applyBatchConfig(blk *cb.Block) {
	bc, err := batchConfigOfConfigBlock(blk)
	if err != nil {
		c.log.Warn("cannot read the batch settings of a config block; keeping the current ones", "block", blk.GetHeader().GetNumber(), "error", err)
		return
	}
	if bc == c.cfg.Batch {
		return
	}
	if err := bc.Validate(); err != nil {
		c.log.Warn("config block has batch settings the chain cannot use; keeping the current ones", "block", blk.GetHeader().GetNumber(), "error", err)
		return
	}
	c.log.Info("batch settings changed", "block", blk.GetHeader().GetNumber(),
		"max_message_count", bc.MaxMessageCount, "absolute_max_bytes", bc.AbsoluteMaxBytes,
		"preferred_max_bytes", bc.PreferredMaxBytes, "batch_timeout", bc.BatchTimeout)
	c.cfg.Batch = bc
	c.maxBytes.Store(bc.AbsoluteMaxBytes)
	if c.active {
		if b := c.cutter.Cut(); len(b) > 0 {
			c.makeBlock(b)
		}
	}
	if cutter, err := blockcutter.New(bc); err == nil {
		c.cutter = cutter
	}
}

// batchConfigOfConfigBlock reads Orderer/BatchSize and Orderer/BatchTimeout.
func batchConfigOfConfigBlock(b *cb.Block) (blockcutter.Config, error) {
	var bc blockcutter.Config
	if len(b.GetData().GetData()) != 1 {
		return bc, errors.New("not a config block")
	}
	env := &cb.Envelope{}
	if err := proto.Unmarshal(b.Data.Data[0], env); err != nil {
		return bc, err
	}
	pl := &cb.Payload{}
	if err := proto.Unmarshal(env.Payload, pl); err != nil {
		return bc, err
	}
	ce := &cb.ConfigEnvelope{}
	if err := proto.Unmarshal(pl.Data, ce); err != nil {
		return bc, err
	}
	og := ce.GetConfig().GetChannelGroup().GetGroups()["Orderer"]
	bs, bt := &ab.BatchSize{}, &ab.BatchTimeout{}
	if err := proto.Unmarshal(og.GetValues()["BatchSize"].GetValue(), bs); err != nil {
		return bc, fmt.Errorf("Orderer/BatchSize: %w", err)
	}
	if err := proto.Unmarshal(og.GetValues()["BatchTimeout"].GetValue(), bt); err != nil {
		return bc, fmt.Errorf("Orderer/BatchTimeout: %w", err)
	}
	d, err := time.ParseDuration(bt.Timeout)
	if err != nil {
		return bc, fmt.Errorf("Orderer/BatchTimeout %q: %w", bt.Timeout, err)
	}
	return blockcutter.Config{MaxMessageCount: bs.MaxMessageCount, AbsoluteMaxBytes: bs.AbsoluteMaxBytes, PreferredMaxBytes: bs.PreferredMaxBytes, BatchTimeout: d}, nil
}
