// Package orderer is Weft's ordering node: it owns the gRPC AtomicBroadcast
// service (Broadcast and Deliver), the admin HTTPS listener with the channel
// participation API, the operations listener (/healthz), and the set of
// channels it serves, each with its block store (ledger.BlockStore), its
// channel configuration (channelconfig.Bundle) and its Raft chain
// (orderer/raftchain).
//
// Channels are joined through the participation API. A genesis block that
// names this orderer as a consenter (matched by TLS certificate, or by
// host:port when TLS is off) starts the channel's chain at once; a later
// config block naming it (after a config update added it) onboards it: the
// blocks up to that one are pulled from the other consenters, their hash
// chain anchored at the join block, then the chain starts with an empty Raft
// log (the leader replays it or sends a snapshot). Channels are found again
// on restart from the ledger folder, interrupted onboardings from
// <FileLedger.Location>/pendingops/join.
//
// Cluster wiring: with General.TLS on, the node owns one cluster.Comm (client
// key pair General.Cluster.ClientCertificate/ClientPrivateKey, default the
// General.TLS pair; roots General.Cluster.RootCAs and General.TLS.RootCAs)
// and serves the cluster service on the General listener, which asks
// clients for a certificate without requiring one. Each channel tells the
// Comm its consenters with their Raft ids (etcdraft.BlockMetadata
// ConsenterIds, else genesis positions) and again after every config block,
// when it also swaps the channel's config. Its chain gets the Comm's
// transport and reachability, and a block puller over the other
// consenters that checks signatures against the channel's BlockValidation
// policy. A config update that changes the consenters is first put to the
// chain (one change at a time, quorum kept). An orderer removed from the
// consenters keeps the channel's blocks and reports it inactive
// (config-tracker); broadcasts there answer SERVICE_UNAVAILABLE. Following
// a channel without being a consenter is not supported.
//
// The package never imports peer/.
package orderer
