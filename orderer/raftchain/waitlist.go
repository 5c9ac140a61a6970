package raftchain

import (
	"slices"
	"time"
)

// waitlist holds the envelopes this node proposed that are not answered yet,
// by proposal id, and decides when each is answered: once committed (or
// refused in log order), at its deadline, or all at once when this node can
// no longer tell. It only records answers; the chain holds the reply
// channels and delivers them (takeAnswers), so the waitlist is plain data a
// script test can drive.
type waitlist struct {
	// nextID is the last proposal id handed out. Ids carry the node id in
	// their top 16 bits, so that envelopes proposed by different nodes never
	// share an id; the chain starts the rest from the clock, so a restarted
	// node does not reuse the ids of entries it may still replay.
	nextID        uint64
	submitTicks   uint64              // ticks an envelope waits before ErrSubmitTimeout
	submitTimeout time.Duration       // what submitTicks stand for, for the error
	waiting       map[uint64]struct{} // ids not answered yet
	expiry        []expiry            // waiting ids in proposal order, with their deadline tick
	answers       []answer            // decided, not yet taken by the chain
}

type expiry struct {
	id, at uint64
}

// answer is the outcome of one proposed envelope: nil once committed.
type answer struct {
	id  uint64
	err error
}

const idMask = 1<<48 - 1

func newWaitlist(nodeID, firstID, submitTicks uint64, submitTimeout time.Duration) waitlist {
	return waitlist{
		nextID:        nodeID<<48 | firstID&idMask,
		submitTicks:   submitTicks,
		submitTimeout: submitTimeout,
		waiting:       map[uint64]struct{}{},
	}
}

// newID returns the id of the next envelope nodeID proposes.
func (w *waitlist) newID(nodeID uint64) uint64 {
	w.nextID = nodeID<<48 | (w.nextID+1)&idMask
	return w.nextID
}

// add starts waiting for id, proposed at tick now.
func (w *waitlist) add(id, now uint64) {
	w.waiting[id] = struct{}{}
	w.expiry = append(w.expiry, expiry{id: id, at: now + w.submitTicks})
}

// answer answers id with err if it is waiting (an envelope proposed by
// another node, or before a restart, is nobody's here).
func (w *waitlist) answer(id uint64, err error) {
	if _, ok := w.waiting[id]; ok {
		delete(w.waiting, id)
		w.answers = append(w.answers, answer{id: id, err: err})
	}
}

// expire answers every envelope whose deadline is tick now or earlier with
// the error reason returns (asked once, only when one expires).
func (w *waitlist) expire(now uint64, reason func() error) {
	var err error
	for len(w.expiry) > 0 && w.expiry[0].at <= now {
		if _, ok := w.waiting[w.expiry[0].id]; ok {
			if err == nil {
				err = reason()
			}
			w.answer(w.expiry[0].id, err)
		}
		w.expiry = w.expiry[1:]
	}
	if len(w.waiting) == 0 {
		w.expiry = nil
	}
}

// failAll answers err to every waiting envelope, in id order.
func (w *waitlist) failAll(err error) {
	ids := make([]uint64, 0, len(w.waiting))
	for id := range w.waiting {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		w.answer(id, err)
	}
	w.expiry = nil
}

// takeAnswers returns the answers decided since the last call. The slice is
// reused: it is valid until the next call into the waitlist.
func (w *waitlist) takeAnswers() []answer {
	out := w.answers
	w.answers = w.answers[:0]
	return out
}
