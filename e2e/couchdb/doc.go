// Package couchdb holds the end-to-end tests of a development network whose
// peers keep their world state in CouchDB: both peers on the server named
// by WEFT_TEST_COUCHDB_URL (CouchDB 3, or the CouchDB-compatible test server
// .ci/run starts), each under a database prefix of its own. Through Fabric's
// official fabric-gateway client they drive the basic sample, and the
// asset-transfer-queries sample deployed as a Go source package with a
// CouchDB index: the index in each peer's database, rich queries by owner,
// paginated queries chained by bookmark, Fabric's read-set semantics of a
// query in a transaction (an updated result is an MVCC conflict, a new
// match is a phantom nobody detects), and the refusal of a package whose
// index is malformed.
//
// Without WEFT_TEST_COUCHDB_URL every test skips saying what to set; the
// network is started by the first test that runs and stopped, with its
// databases dropped, after the last.
package couchdb
