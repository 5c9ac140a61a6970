// Package mango checks CouchDB index definitions (the JSON files a chaincode
// package carries in META-INF/statedb/couchdb/indexes/) before anything tries
// to create them.
//
// It owns one rule set, CheckIndex, shared by chaincode install (which refuses
// a package with a malformed index) and by the CouchDB backend (which checks
// again before it creates). It accepts what Fabric's metadata validation
// accepts, and also refuses the definitions Fabric lets through but CouchDB
// would then reject when the index is created: empty or missing "fields",
// field entries that are neither a name nor a one-key {name: "asc"|"desc"}
// object, empty names, and a partial_filter_selector that is not an object.
// Those refusals give the error at install, where a user can still fix the
// package, instead of a log line on every peer after commit.
//
// mango parses; it never talks to a database and never rewrites a definition.
package mango
