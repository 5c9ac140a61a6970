package cluster

import "github.com/weft-ledger/weft/orderer/raftchain"

// The chain codes against these interfaces; keep the method sets equal.
var (
	_ raftchain.Transport = (*Transport)(nil)
	_ raftchain.Puller    = (*Puller)(nil)
)
