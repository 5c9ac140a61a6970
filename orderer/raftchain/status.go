package raftchain

import (
	"errors"
	"slices"
)

// Status is a chain's Raft state for operations.
type Status struct {
	NodeID uint64
	Leader uint64 // 0: none known
	Term   uint64
	// Role is this node's Raft state: StateLeader, StateFollower,
	// StateCandidate, StatePreCandidate; "Stopped" or "Evicted" once the
	// chain stopped.
	Role          string
	Voters        []uint64 // Raft voters (consenter ids)
	Consenters    []uint64 // consenter ids of the last config block
	LeaderChanges uint64   // times this node saw a new leader
}

// Status returns the chain's Raft state as of its last Raft round.
func (c *Chain) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Voters, s.Consenters = slices.Clone(s.Voters), slices.Clone(s.Consenters)
	return s
}

// LeaderChanges counts the leaders this node has seen come up.
func (c *Chain) LeaderChanges() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status.LeaderChanges
}

// setStopped marks the status of a chain whose loop ended.
func (c *Chain) setStopped() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.Role = "Stopped"
	if errors.Is(c.err, ErrEvicted) {
		c.status.Role = "Evicted"
	}
	c.status.Leader = 0
}
