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
	return c.submit(ctx, proposal{env: env})
}

// EntryPrefix is the number of bytes an envelope's Raft entry holds before
// the envelope: its kind and proposal id.
const EntryPrefix = 9

// SubmitFramed is Submit for an envelope its caller encoded after
// EntryPrefix free bytes: framed[EntryPrefix:] is the envelope. The chain
// writes the prefix in place and proposes framed as the entry itself, so the
// envelope is not copied once more on its way to the Raft log. framed
// belongs to the chain from then on; the caller must not modify it.
func (c *Chain) SubmitFramed(ctx context.Context, framed []byte) (<-chan error, error) {
	if len(framed) < EntryPrefix {
		return nil, fmt.Errorf("raftchain: a framed envelope of %d bytes has no room for the %d-byte entry prefix", len(framed), EntryPrefix)
	}
	return c.submit(ctx, proposal{env: framed[EntryPrefix:], entry: framed})
}

// submit queues p, whose done channel it makes, as Submit describes.
func (c *Chain) submit(ctx context.Context, p proposal) (<-chan error, error) {
	env := p.env
	select {
	case <-c.doneC:
		return nil, c.haltErr()
	default:
	}
	if limit := c.maxBytes.Load(); len(env) > int(limit) {
		return nil, fmt.Errorf("%w: envelope of %d bytes, channel %s allows %d (Orderer.BatchSize.AbsoluteMaxBytes)",
			ErrMessageTooLarge, len(env), c.cfg.ChannelID, limit)
	}
	p.done = make(chan error, 1)
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
	// The entries and the data of envelopes submitted without room for
	// their prefix are allocated once for the whole batch rather than once
	// per envelope; a framed envelope (SubmitFramed) is its entry's data
	// already. The leader's Raft keeps what it appends, and a follower
	// forwards the message as it is; neither is reused here.
	size := 0
	for _, p := range batch {
		if p.entry == nil {
			size += EntryPrefix + len(p.env)
		}
	}
	var data []byte
	if size > 0 {
		data = make([]byte, 0, size)
	}
	slab := make([]raftpb.Entry, len(batch))
	entries := make([]*raftpb.Entry, len(batch))
	ids := make([]uint64, len(batch))
	for i, p := range batch {
		ids[i] = c.bk.newProposalID()
		if p.entry != nil {
			putEnvelopePrefix(p.entry, ids[i])
			slab[i].Data = p.entry[:len(p.entry):len(p.entry)]
		} else {
			start := len(data)
			data = appendEnvelope(data, ids[i], p.env)
			slab[i].Data = data[start:len(data):len(data)]
		}
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
