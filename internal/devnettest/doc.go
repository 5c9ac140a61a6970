// Package devnettest is test support for end-to-end tests that drive a
// development network (internal/devnet) as real processes: Start builds the
// binaries and starts a network for a package's tests (on LevelDB, or with
// the peers' state on CouchDB), and the helpers connect Fabric's official
// fabric-gateway client to a peer, deploy chaincode through _lifecycle as a
// Fabric admin does, and wait until every peer has committed a transaction.
// With Options.Peers 2 the network runs two peers per organisation; a test
// can then stop and start one peer, read its ledger height, and cut it off
// from the orderer without root: OverrideOrderer points the peer at a
// Forwarder, and Forwarder.Cut closes it and every connection through it.
//
// It is what e2e/, e2e/couchdb and e2e/gossip share, so that each keeps
// one copy of these steps. Every helper takes the network it works on;
// none but a Forwarder keeps state of its own, and whatever a helper opens
// is closed when its test ends. Only tests import it.
package devnettest
