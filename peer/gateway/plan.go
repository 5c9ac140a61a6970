package gateway

import (
	"bytes"
	"fmt"
	"sort"
	"sync"

	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
)

// plan collects one Endorse request's endorsements against the layouts
// discovery offers, as Fabric's gateway does: the peers of a layout are
// asked together; a peer that fails is replaced by the next peer of its
// group; a layout whose group has no peer left is abandoned for the next
// one; an endorsement counts for every remaining layout that needs its
// group. Each peer endorses for one group only (the first, by name, that
// lists it), since one signature satisfies one principal of a policy.
//
// The goroutines asking peers share a plan; mu guards every field.
type plan struct {
	mu        sync.Mutex
	layouts   []*layoutState       // in order of preference; nil once abandoned
	current   int                  // index of the layout being collected
	queues    map[string][]*target // group -> its peers not yet asked, best first
	groupOf   map[string]string    // peer key -> the group it endorses for
	reference *endorsement         // the first endorsement: all must endorse the same payload
	done      *layoutState         // the first layout completed
	details   []*gwpb.ErrorDetail  // every failure, for the final error
}

type layoutState struct {
	need map[string]int // group -> endorsements still needed
	got  []*endorsement
	size int // endorsements the layout needs in all
}

// newPlan builds a plan from layouts (group -> number of endorsements) and
// the peers of each group, best first. Layouts that the listed peers cannot
// complete are dropped; the others are kept in order, smallest first.
func newPlan(layouts []map[string]int, groups map[string][]*target) *plan {
	p := &plan{queues: map[string][]*target{}, groupOf: map[string]string{}}
	for _, g := range sortedMapKeys(groups) {
		for _, t := range groups[g] {
			if _, taken := p.groupOf[t.key]; taken {
				continue
			}
			p.groupOf[t.key] = g
			p.queues[g] = append(p.queues[g], t)
		}
	}
	for _, l := range layouts {
		st := &layoutState{need: map[string]int{}}
		ok := len(l) > 0
		for g, n := range l {
			if n <= 0 {
				continue
			}
			if len(p.queues[g]) < n {
				ok = false
			}
			st.need[g] = n
			st.size += n
		}
		if ok && st.size > 0 {
			p.layouts = append(p.layouts, st)
		}
	}
	sort.SliceStable(p.layouts, func(i, j int) bool { return p.layouts[i].size < p.layouts[j].size })
	return p
}

// prefer moves the layouts that need t's group to the front: t has
// endorsed already, so they need one endorsement fewer.
func (p *plan) prefer(t *target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.groupOf[t.key]
	if !ok {
		return
	}
	sort.SliceStable(p.layouts, func(i, j int) bool {
		return p.layouts[i].need[g] > 0 && p.layouts[j].need[g] == 0
	})
}

// empty says the plan has no layout to try.
func (p *plan) empty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.layouts) == 0
}

// completed returns the endorsements of the completed layout, or nil.
func (p *plan) completed() []*endorsement {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return nil
	}
	return append([]*endorsement(nil), p.done.got...)
}

// targets returns the peers to ask for the current layout's missing
// endorsements, taking them off their groups' queues; it moves past layouts
// that cannot be completed any more. nil: no layout is left, or one is done.
func (p *plan) targets() []*target {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.done == nil && p.current < len(p.layouts) {
		l := p.layouts[p.current]
		if l == nil {
			p.current++
			continue
		}
		groups := sortedMapKeys(l.need)
		enough := true
		for _, g := range groups {
			if len(p.queues[g]) < l.need[g] {
				enough = false
			}
		}
		if !enough {
			p.layouts[p.current] = nil
			p.current++
			continue
		}
		var out []*target
		for _, g := range groups {
			n := l.need[g]
			out = append(out, p.queues[g][:n]...)
			p.queues[g] = p.queues[g][n:]
		}
		return out
	}
	return nil
}

// record counts t's endorsement e for every remaining layout that needs
// t's group. It returns false, and notes why, when e's payload differs from
// the first endorsement's: t's endorsement is unusable.
func (p *plan) record(t *target, e *endorsement) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reference == nil {
		p.reference = e
	} else if !bytes.Equal(p.reference.response.GetPayload(), e.response.GetPayload()) {
		ref := p.reference
		aName := fmt.Sprintf("peer %s (%s)", ref.address, ref.mspID)
		bName := fmt.Sprintf("peer %s (%s)", e.address, e.mspID)
		msg := fmt.Sprintf("endorsement differs from that of %s: %s; the chaincode may be non-deterministic or the peers' states differ",
			aName, firstDifference(aName, ref.response, bName, e.response))
		p.details = append(p.details, &gwpb.ErrorDetail{Address: e.address, MspId: e.mspID, Message: msg})
		return false
	}
	g, ok := p.groupOf[t.key]
	if !ok {
		return true // a peer no layout lists: its payload is still the reference
	}
	// t may have endorsed before the plan was made (the first endorser).
	for i, q := range p.queues[g] {
		if q.key == t.key {
			p.queues[g] = append(p.queues[g][:i:i], p.queues[g][i+1:]...)
			break
		}
	}
	for i := p.current; i < len(p.layouts) && p.done == nil; i++ {
		l := p.layouts[i]
		if l == nil || l.need[g] == 0 {
			continue
		}
		l.got = append(l.got, e)
		if l.need[g]--; l.need[g] == 0 {
			delete(l.need, g)
		}
		if len(l.need) == 0 {
			p.done = l
		}
	}
	return true
}

// fail notes a failed request to a peer.
func (p *plan) fail(d *gwpb.ErrorDetail) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.details = append(p.details, d)
}

// errorDetails returns the failures noted so far.
func (p *plan) errorDetails() []*gwpb.ErrorDetail {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*gwpb.ErrorDetail(nil), p.details...)
}

// retry returns the next peer of t's group to ask in t's place, or nil
// when the group has none left, abandoning every layout that still needs
// the group.
func (p *plan) retry(t *target) *target {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.groupOf[t.key]
	if !ok || p.done != nil {
		return nil
	}
	if q := p.queues[g]; len(q) > 0 {
		p.queues[g] = q[1:]
		return q[0]
	}
	for i := p.current; i < len(p.layouts); i++ {
		if l := p.layouts[i]; l != nil && l.need[g] > 0 {
			p.layouts[i] = nil
		}
	}
	return nil
}
