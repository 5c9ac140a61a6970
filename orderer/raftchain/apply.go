package raftchain

import (
	"bytes"
	"fmt"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// apply applies committed entries: conf changes to Raft, envelopes and
// blocks to the bookkeeper, and hands committed blocks to the writer.
func (c *Chain) apply(entries []*raftpb.Entry) error {
	now := c.clock()
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
			c.bk.confChanged(c.rn.ApplyConfChange(&cc), false)
		case raftpb.EntryConfChangeV2:
			var cc raftpb.ConfChangeV2
			if err := proto.Unmarshal(e.Data, &cc); err != nil {
				return fmt.Errorf("decode conf change at index %d: %w", e.GetIndex(), err)
			}
			c.bk.confChanged(c.rn.ApplyConfChange(&cc), true)
			c.log.Info("applied raft membership change", "voters", c.bk.voters())
		case raftpb.EntryNormal:
			if len(e.Data) > 0 {
				if err := c.applyNormal(now, e); err != nil {
					return err
				}
			}
		}
		c.applied = e.GetIndex()
	}
	return nil
}

// applyNormal applies an entry this package wrote; now is when an envelope
// reaches the cutter.
func (c *Chain) applyNormal(now time.Time, e *raftpb.Entry) error {
	kind, n, body, err := decodeEntry(e.Data)
	if err != nil {
		return fmt.Errorf("raft entry %d: %w", e.GetIndex(), err)
	}
	if kind == kindEnvelope {
		if base, need := c.bk.needConfigSeq(); need && isConfigEnvelope(body) {
			seq, err := c.configSeqAt(base)
			if err != nil {
				return fmt.Errorf("raft entry %d: %w", e.GetIndex(), err)
			}
			c.bk.setConfigSeq(seq)
		}
		return c.bk.applyEnvelope(now, e.GetIndex(), n, body)
	}
	blk, err := c.bk.applyBlockEntry(kind, n, body)
	if err != nil {
		return fmt.Errorf("raft entry %d: %w", e.GetIndex(), err)
	}
	return c.handBlock(blk, e.GetIndex(), false)
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
