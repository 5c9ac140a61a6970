// Package couchdb is the CouchDB backend of statedb, on
// github.com/go-kivik/kivik/v4 and its couchdb driver. It lays the world
// state out in CouchDB as Hyperledger Fabric does, so that what works on
// Fabric's CouchDB (Fauxton, Mango queries, a chaincode's index files)
// works here.
//
// One Client serves all channels of a peer (Connect); OpenChannel returns a
// channel's DB, which implements statedb.DB and every optional capability:
// BulkLoader, Querier, KeyValueChecker, IndexCreator and HealthChecker.
//
// # Layout
//
// Every name below is prefixed by Config.DatabasePrefix ("" gives
// Fabric's names exactly).
//
//   - <channel>_ is the channel's metadata database. It holds the document
//     statedb_savepoint ({"BlockNum": n, "TxNum": m}) and channel_metadata
//     ({"ChannelName", "NamespaceDBsInfo": {ns: {"Namespace", "DBName"}}}),
//     which records the database of every namespace written.
//   - <channel>_<namespace> holds a namespace: a chaincode (mychannel_basic),
//     _lifecycle (mychannel__lifecycle), a private collection
//     (mychannel_basic$$pmycoll) or its hashes (mychannel_basic$$hmycoll).
//     Upper-case letters are written '$' and the lower case; '.' becomes
//     '$'; a name longer than CouchDB allows (238 less the prefix) keeps 50
//     bytes of the channel, chaincode and collection and appends the
//     SHA-256 of the full "<channel>_<namespace>" in parentheses.
//   - fabric__internal holds dataformatVersion {"Version": "2.0"}.
//
// Databases are created on first write; reading a namespace never written
// finds nothing and creates nothing.
//
// A key is its document's _id, except in $$h namespaces, whose keys are raw
// hashes and are stored in standard base64 (Fabric's encoding when the state
// database takes no byte keys). A value that is a JSON object becomes the
// document's fields; any other value (an array, a string, a number, null,
// bytes that are not JSON) is the attachment "valueBytes"
// (application/octet-stream), sent inline in base64. Beside the value, the
// field ~version holds the version and metadata in Fabric's encoding: 0x00
// then the base64 of the protobuf {1: height, 2: metadata}. A delete deletes
// the document.
//
// A JSON value reads back as Fabric returns it: the document's fields
// without _id, _rev and ~version, marshalled by encoding/json (fields
// sorted, <, > and & escaped, numbers as the server spells them: CouchDB 3
// may respell floats, and a JavaScript server such as the test server keeps
// integers beyond 2^53 only approximately). Other values read back byte for
// byte.
//
// # Commits and recovery
//
// Apply writes with _bulk_docs, MaxBatchUpdateSize documents a request;
// each write needs the document's current _rev, from the cache or else from
// one _all_docs request per database; a document that conflicts is retried
// alone with its current _rev. The savepoint document is written last.
// CouchDB has no transaction over several documents, so Apply is not
// atomic. It is idempotent instead: after a failure or a crash at any
// point, the ledger applies again every block above the savepoint (as it
// does on LevelDB), and the second Apply ends with the state one clean
// Apply leaves. Weft therefore needs no redo log, unlike Fabric.
//
// # Cache
//
// One cache, bounded by CacheSizeMB, serves all channels of a Client
// (Fabric's cacheSize, which is shared by channels too). It holds committed
// values with their version and _rev, and keys known to be absent. Apply
// updates it; Get and Preload fill it, except with keys an Apply wrote
// while they read (never an older value left behind). It holds a JSON value only in the
// form CouchDB will hand back (predictable when its numbers are integers
// below 10^15; else the value is read once after each write), so a read
// returns the same bytes whether or not it hits the cache.
//
// # Rich queries and bookmarks
//
// A query is a Mango query run with _find on the namespace's database, as
// Fabric runs it: "fields" must be an array and gains _id, ~version and
// _attachments; "limit" is always the peer's; results come in requests of
// InternalQueryLimit; ExecuteQuery stops at TotalQueryLimit. Weft also
// refuses a query without an object "selector", and applies a query's
// "skip" once, at the start of the results (Fabric passes it to every
// request). Results are not re-checked for phantoms at commit, as in
// Fabric: a query may see a different result at commit.
//
// The bookmark ExecuteQueryPage returns is Weft's own, tied to its query
// (another query's bookmark is refused with ErrBadBookmark), and "" after
// the last page. How it continues depends on the server:
//   - CouchDB 2.1 and later: it wraps CouchDB's _find bookmark, with
//     CouchDB's guarantees.
//   - Servers without _find bookmarks (PouchDB Server), query without sort
//     or use_index: results come by key, and the next page starts after the
//     last key returned. No key that exists throughout is skipped or
//     repeated, whatever is committed between pages.
//   - Servers without _find bookmarks, query with sort or use_index: the
//     next page skips the results already returned. It is exact when nothing
//     the query matches is committed between pages.
//
// # Other behaviour
//
// Transient failures (connection refused or reset, timeouts, 5xx) are
// retried MaxRetries times, 125ms then doubling up to 4s; every request error names
// the server ("CouchDB at http://127.0.0.1:5984: read ...") and, when the
// server was unreachable, matches ErrUnavailable. Connect retries
// MaxRetriesOnStartup times. Each request is bounded by RequestTimeout.
//
// CheckKeyValue applies Fabric's rules (UTF-8, not empty, no leading "_";
// no top-level JSON field "~version" or starting with "_"); as in Fabric
// there is no size check, and CouchDB's max_document_size applies at
// commit. A key that cannot be stored reads as absent and is refused by
// Apply before anything is written.
//
// CreateIndexes posts each index file, checked by statedb/mango, to
// /{db}/_index; CouchDB keeps one index per name, so creating it again
// changes nothing. After every WarmIndexesAfterNBlocks Applies, a
// background pass queries each index's view with stale=update_after (Fabric
// 1.4's index warming); it never fails a commit.
//
// The package never decides what to commit, never interprets values beyond
// telling JSON objects from other bytes, and never deletes a database.
package couchdb
