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
	// SnapshotBlock is the last block covered by the latest Raft snapshot
	// taken or installed.
	SnapshotBlock uint64
	// ActiveNodes, on the leader, counts the voters it heard from lately,
	// itself included; 0 on other nodes.
	ActiveNodes int
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

// setSnapshotBlock records the block of the latest snapshot.
func (c *Chain) setSnapshotBlock(n uint64) {
	c.mu.Lock()
	c.status.SnapshotBlock = n
	c.mu.Unlock()
}

// countActive counts, on the leader, the voters Raft saw recently active
// (loop only; once a tick).
func (c *Chain) countActive() {
	active := 0
	if c.bk.isLeader {
		active = 1
		for id, pr := range c.rn.Status().Progress {
			if id != c.cfg.NodeID && pr.RecentActive {
				active++
			}
		}
	}
	c.mu.Lock()
	c.status.ActiveNodes = active
	c.mu.Unlock()
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
