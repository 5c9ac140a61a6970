// Command asset-transfer-queries is an asset chaincode that finds its assets
// with rich queries, written with Fabric's contract API
// (fabric-contract-api-go/v2) and the official shim, as Fabric's
// "ledger queries" sample is: assets are JSON documents with a docType and an
// owner, and the package ships a CouchDB index on those two fields in
// META-INF/statedb/couchdb/indexes/indexOwner.json.
//
// It needs a peer whose world state is on CouchDB: on LevelDB every query
// function fails with the peer's message that rich queries need CouchDB.
//
// It is its own Go module (the main module never depends on the contract
// API); e2e/couchdb deploys it as a Go source package on a CouchDB-backed
// network, and e2e/richquery_test.go on LevelDB. It runs as
// chaincode-as-a-service when CHAINCODE_SERVER_ADDRESS and CHAINCODE_ID are
// set, and otherwise dials the peer that launched it.
package main
