package raftchain

import (
	"bytes"
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/orderer/blockcutter"
	"github.com/weft-ledger/weft/protos"
)

// activate starts cutting: the cutter is refilled with every envelope that
// no committed block holds, and blocks chain onto the last written one.
func (c *Chain) activate() {
	c.active = true
	cutter, _ := blockcutter.New(c.cfg.Batch)
	c.cutter = cutter
	c.uncut = nil
	c.lastMade = c.lastBlock
	for _, p := range c.pending {
		c.cut(p)
	}
}

func (c *Chain) cut(p pendingEnv) {
	c.uncut = append(c.uncut, p.index)
	if isConfigEnvelope(p.env) {
		// A config envelope gets a block of its own.
		if b := c.cutter.Cut(); len(b) > 0 {
			c.makeBlock(b)
		}
		c.makeBlock(blockcutter.Batch{p.env})
		return
	}
	batches, err := c.cutter.Add(c.clock(), p.env)
	if err != nil {
		// Committed but above the limit (the limit changed): give it its own block.
		batches = []blockcutter.Batch{c.cutter.Cut(), {p.env}}
	}
	for _, b := range batches {
		if len(b) > 0 {
			c.makeBlock(b)
		}
	}
}

func (c *Chain) makeBlock(batch blockcutter.Batch) {
	blk := protos.NewBlock(c.lastMade.Number+1, protos.BlockHeaderHash(c.lastMade), batch)
	lastEnv := c.uncut[len(batch)-1]
	c.uncut = c.uncut[len(batch):]
	c.lastMade = blk.Header
	c.toPropose = append(c.toPropose, encodeBlockRef(lastEnv, blk.Header))
}

func (c *Chain) apply(entries []*raftpb.Entry) error {
	for _, e := range entries {
		if e.GetIndex() <= c.applied {
			continue
		}
		switch e.GetType() {
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if err := proto.Unmarshal(e.Data, &cc); err != nil {
				return fmt.Errorf("decode conf change at index %d: %w", e.GetIndex(), err)
			}
			c.confState = c.rn.ApplyConfChange(&cc)
		case raftpb.EntryConfChangeV2:
			var cc raftpb.ConfChangeV2
			if err := proto.Unmarshal(e.Data, &cc); err != nil {
				return fmt.Errorf("decode conf change at index %d: %w", e.GetIndex(), err)
			}
			c.confState = c.rn.ApplyConfChange(&cc)
			c.ccPending = false
			c.log.Info("applied raft membership change", "voters", c.confState.GetVoters())
		case raftpb.EntryNormal:
			if len(e.Data) > 0 {
				if err := c.applyNormal(e); err != nil {
					return err
				}
			}
		}
		c.applied = e.GetIndex()
	}
	return nil
}

func (c *Chain) applyNormal(e *raftpb.Entry) error {
	kind, n, body, err := decodeEntry(e.Data)
	if err != nil {
		return fmt.Errorf("raft entry %d: %w", e.GetIndex(), err)
	}
	switch kind {
	case kindEnvelope:
		if isConfigEnvelope(body) {
			accepted, err := c.acceptConfig(body)
			if err != nil {
				return fmt.Errorf("raft entry %d: %w", e.GetIndex(), err)
			}
			if accepted != nil {
				// Dropped on every node alike: the log decides, not timing.
				c.log.Warn("config update not ordered", "index", e.GetIndex(), "reason", accepted)
				if w, ok := c.waiters[n]; ok {
					w <- accepted
					delete(c.waiters, n)
				}
				return nil
			}
		}
		p := pendingEnv{index: e.GetIndex(), env: body}
		c.pending = append(c.pending, p)
		if c.active {
			c.cut(p)
		}
		if w, ok := c.waiters[n]; ok {
			w <- nil
			delete(c.waiters, n)
		}
	case kindBlock, kindBlockRef:
		i := 0
		for i < len(c.pending) && c.pending[i].index <= n {
			i++
		}
		covered := c.pending[:i]
		c.pending = c.pending[i:]
		blk, err := blockOfEntry(kind, body, covered)
		if err != nil {
			return fmt.Errorf("raft entry %d: %w", e.GetIndex(), err)
		}
		return c.handBlock(blk, e.GetIndex(), false)
	}
	return nil
}

// blockOfEntry returns the block a block entry commits: decoded whole
// (kindBlock), or rebuilt from its header and the envelopes it covers.
func blockOfEntry(kind byte, body []byte, covered []pendingEnv) (*cb.Block, error) {
	if kind == kindBlock {
		blk := &cb.Block{}
		if err := proto.Unmarshal(body, blk); err != nil {
			return nil, fmt.Errorf("decode block: %w", err)
		}
		return blk, nil
	}
	hdr := &cb.BlockHeader{}
	if err := proto.Unmarshal(body, hdr); err != nil {
		return nil, fmt.Errorf("decode block header: %w", err)
	}
	envs := make([][]byte, len(covered))
	for i, p := range covered {
		envs[i] = p.env
	}
	blk := protos.NewBlock(hdr.Number, hdr.PreviousHash, envs)
	if !bytes.Equal(blk.Header.DataHash, hdr.DataHash) {
		return nil, fmt.Errorf("block %d: the %d committed envelopes it covers do not match its data hash; this node's log diverged from the leader's", hdr.Number, len(envs))
	}
	return blk, nil
}
