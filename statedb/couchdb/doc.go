// Package couchdb is the CouchDB backend of statedb, on github.com/go-kivik/kivik/v4
// and its couchdb driver, laid out in CouchDB as Hyperledger Fabric lays out
// its world state there, so that tools written for Fabric's CouchDB (Fauxton,
// Mango queries, chaincode index definitions) see what they expect.
//
// (The full contract is written out once the backend is complete.)
package couchdb
