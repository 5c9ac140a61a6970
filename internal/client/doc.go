// Package client is Weft's small client for Fabric's public protocols: it dials
// peers and orderers over TLS, sends signed proposals to endorsers, assembles and
// broadcasts transactions, and waits for their commit through DeliverFiltered.
// It computes, signs and wraps channel config updates as configtxlator and
// `peer channel signconfigtx` do.
//
// The weft CLI, the development network, the load generator, the REST gateway
// and the end-to-end tests use it. It speaks only what any Fabric-compatible
// network serves (Endorser, Broadcast, Deliver, the channel participation API),
// so it works against Weft and Fabric alike. It keeps no state between calls.
//
// Why it is internal: applications already have a public client that works
// against Weft unchanged — Fabric's fabric-gateway (Go, Node, Java), which is
// what Weft promises compatibility with and tests against. This package exists
// to serve Weft's own tools, including the administrative and low-level steps
// fabric-gateway does not cover (lifecycle, config updates, osnadmin, raw
// proposals for tests), and its API changes with them. Publishing it would be
// a second client to keep stable with no user asking for it; if one does, the
// promise to write first is its doc: which calls are stable, and that it stays
// free of Weft's node packages (today it imports only Weft's protos helpers).
package client
