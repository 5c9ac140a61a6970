package raftchain

import (
	"context"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
)

// Order proposes env and returns nil once it is committed to the Raft log.
func (c *Chain) Order(ctx context.Context, env []byte) error {
	wait, err := c.Submit(ctx, env)
	if err != nil {
		return err
	}
	select {
	case err := <-wait:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.doneC:
		// The loop may have stopped with env still queued.
		select {
		case err := <-wait:
			return err
		default:
			return c.haltErr()
		}
	}
}

// Submit queues env for proposal — envelopes are proposed in the order of
// Submit calls — and returns a channel that receives nil once env is
// committed to the Raft log, or the reason it was not. Callers also watch
// Done: a chain that stops may leave the channel unanswered.
func (c *Chain) Submit(ctx context.Context, env []byte) (<-chan error, error) {
	select {
	case <-c.doneC:
		return nil, c.haltErr()
	default:
	}
	if limit := c.maxBytes.Load(); len(env) > int(limit) {
		return nil, fmt.Errorf("%w: envelope of %d bytes, channel %s allows %d (Orderer.BatchSize.AbsoluteMaxBytes)",
			ErrMessageTooLarge, len(env), c.cfg.ChannelID, limit)
	}
	p := proposal{env: env, done: make(chan error, 1)}
	select {
	case c.proposeC <- p:
		return p.done, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.doneC:
		return nil, c.haltErr()
	}
}

// drainProposals proposes what is already queued (up to a channel's worth),
// so that it shares the next Ready and its fsync.
func (c *Chain) drainProposals(first ...proposal) {
	batch := first
loop:
	for len(batch) < cap(c.proposeC) {
		select {
		case p := <-c.proposeC:
			batch = append(batch, p)
		default:
			break loop
		}
	}
	c.propose(batch)
}

// maxProposalBytes bounds the envelopes of one Raft proposal message, which
// a follower forwards to the leader as a whole.
const maxProposalBytes = 1 << 20

// propose proposes envelopes: on the leader into its log, on a follower
// through Raft, which forwards them to the leader. Queued envelopes go in one
// proposal message (up to maxProposalBytes), so a follower forwards many
// with one message and the leader appends them at once. Either way a waiter
// is answered when its entry is applied here, i.e. committed on a quorum.
func (c *Chain) propose(batch []proposal) {
	for len(batch) > 0 {
		n, size := 0, 0
		for n < len(batch) && (n == 0 || size+len(batch[n].env) <= maxProposalBytes) {
			size += len(batch[n].env)
			n++
		}
		c.proposeOne(batch[:n])
		batch = batch[n:]
	}
}

func (c *Chain) proposeOne(batch []proposal) {
	fail := func(err error) {
		for _, p := range batch {
			p.done <- err
		}
	}
	if err := c.bk.refuseWithoutLeader(); err != nil {
		fail(err)
		return
	}
	// The entries and their data are allocated once for the whole batch
	// rather than once per envelope: the leader's Raft copies what it
	// appends, and a follower forwards the message as it is; neither is
	// reused here.
	size := 0
	for _, p := range batch {
		size += 9 + len(p.env)
	}
	data := make([]byte, 0, size)
	slab := make([]raftpb.Entry, len(batch))
	entries := make([]*raftpb.Entry, len(batch))
	ids := make([]uint64, len(batch))
	for i, p := range batch {
		ids[i] = c.bk.newProposalID()
		start := len(data)
		data = appendEnvelope(data, ids[i], p.env)
		slab[i].Data = data[start:len(data):len(data)]
		entries[i] = &slab[i]
	}
	if err := c.rn.Step(&raftpb.Message{Type: raftpb.MessageType_MsgProp.Enum(), Entries: entries}); err != nil {
		fail(c.bk.proposalRefused(err))
		return
	}
	for i, p := range batch {
		c.replies[ids[i]] = p.done
		c.bk.proposed(ids[i])
	}
}
