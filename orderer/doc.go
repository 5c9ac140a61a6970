// Package orderer is Weft's ordering node: it owns the gRPC AtomicBroadcast
// service (Broadcast and Deliver), the admin HTTPS listener with the channel
// participation API, the operations listener (/healthz), and the set of
// channels it serves, each with its block store (ledger.BlockStore), its
// channel configuration (channelconfig.Bundle) and its Raft chain
// (orderer/raftchain).
//
// Channels are joined through the participation API with a genesis block
// that names this orderer as a consenter (matched by TLS certificate, or by
// host:port when TLS is off) and are found again on restart from the ledger
// folder. The package never imports peer/ and never changes a channel's
// configuration (config updates are refused by broadcast for now).
package orderer
