// Package devnettest is test support for end-to-end tests that drive a
// development network (internal/devnet) as real processes: Start builds the
// binaries and starts a network for a package's tests (on LevelDB, or with
// the peers' state on CouchDB), and the helpers connect Fabric's official
// fabric-gateway client to a peer, deploy chaincode through _lifecycle as a
// Fabric admin does, and wait until every peer has committed a transaction.
//
// It is what e2e/ and e2e/couchdb share, so that each keeps one copy of
// these steps. Every helper takes the network it works on; none keeps
// state of its own, and whatever a helper opens is closed when its test
// ends. Only tests import it.
package devnettest
