// Package client is Weft's small client for Fabric's public protocols: it dials
// peers and orderers over TLS, sends signed proposals to endorsers, assembles and
// broadcasts transactions, and waits for their commit through DeliverFiltered.
// It computes, signs and wraps channel config updates as configtxlator and
// `peer channel signconfigtx` do.
//
// The weft CLI, the development network and the load generator use it. It speaks
// only what any Fabric-compatible network serves (Endorser, Broadcast, Deliver),
// so it works against Weft and Fabric alike. It keeps no state between calls.
package client
