// Package cluster holds the fault-injection tests of Weft's Raft ordering
// cluster. The package has no code outside its tests; this file documents the
// harness they share.
//
// Every test starts its own ordering cluster: real orderer processes (built
// once by TestMain from ./cmd/orderer), each inside its own Linux network
// namespace. The namespaces hang off a bridge that lives in one more
// namespace of the test (the "switch"), and the switch has one veth into the
// root namespace, so the test process reaches every node at its own address
// (10.77.X.11, .12, ... on a /24 chosen per network that no other interface
// uses) while the nodes talk to each other through the bridge. Nothing is
// added to the root namespace's firewall: partitions are iptables DROP rules
// inside the node namespaces, between node addresses only, so the test can
// still broadcast to a node cut off from the others. Names carry the test
// process id (wft<pid>-<n>-o1, wft<pid>-<n>-sw, root veth wft<pid>-<n>);
// t.Cleanup kills the nodes and removes every namespace and veth, and
// TestMain removes leftovers of test processes that no longer exist.
//
// The harness (harness_test.go, netns_test.go, load_test.go):
//
//	n := start(t, options{Nodes: 3})       // crypto, genesis, namespaces, processes, channel joined
//	n.Kill(id) / n.KillAll(ids...) / n.Terminate(id) / n.Stop(id) / n.Cont(id) / n.Restart(id) / n.StartNode(id)
//	n.Partition([]uint64{1}, []uint64{2, 3}) / n.Heal()
//	n.Leader(timeout, exclude...)          // from the nodes' "became raft leader" log lines
//	n.Broadcast(ctx, id, env)              // one envelope to one orderer: status, info
//	n.Height(ctx, id) / n.Blocks(ctx, id, from, to) / n.waitHeights(ids, min, timeout)
//	l := n.startLoad(loadOptions{...})     // bounded load; l.waitAcks, l.Acked, l.summary, l.stop
//	chain := n.checkChains(t, ids...)      // settles, then identical chains block for block
//	checkExactlyOnce(t, l.Acked(), chain)  // every ack in the chain exactly once, no TxID twice
//
// Each channel uses TickInterval 100ms, ElectionTick 10, HeartbeatTick 1
// (an election timeout of about a second), BatchTimeout 100ms and
// MaxMessageCount 10, so a short load makes many blocks. Envelopes are signed
// ENDORSER_TRANSACTION envelopes of Org1's User1, a fresh TxID for every
// attempt (a refused broadcast is never resent), so a TxID twice in the chain
// means an envelope was ordered twice.
//
// Node ids are the consenter ids (1-based positions in the genesis consenter
// list). The tests need root, iproute2 and iptables; without them they fail
// and say what is missing (they never skip). .ci/run installs the tools.
//
// Runs (WEFT_ORDERER_BIN=/path/orderer tests a prebuilt orderer instead of
// building ./cmd/orderer):
//
//	go test -race -count=1 ./e2e/cluster/                          # short fault tests (make test)
//	make chaos CHAOS_DURATION=2m                                   # random faults, then exactly-once + identical chains
//	WEFT_MEASURE=1 go test -count=1 -v -run TestMeasure ./e2e/cluster/ # failover time, 3 vs 1 node throughput, catch-up speed
package cluster
