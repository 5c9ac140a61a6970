package statedb

import "context"

// The interfaces below are optional: a backend implements those it can, and
// the consumer (the ledger, the chaincode runtime, lifecycle, the peer's
// health checks) detects them with a type assertion. LevelDB implements only
// Snapshotter; CouchDB implements all the others.

// NsKey names one key of one namespace.
type NsKey struct{ Namespace, Key string }

// BulkLoader is implemented by backends for which one bulk read is much
// cheaper than many single reads. Before the MVCC checks of a block, the
// committer hands Preload every key the block reads or writes; the Gets that
// follow for those keys are then served without a round trip.
type BulkLoader interface {
	Preload(keys []NsKey) error
}

// Querier is implemented by backends that run rich queries: JSON selector
// queries in CouchDB's Mango syntax ({"selector": {...}, "sort": [...],
// "fields": [...], "use_index": ...}), over the JSON values of one namespace.
// Results are not re-checked for phantoms at commit, as in Fabric.
type Querier interface {
	// ExecuteQuery iterates every value of ns the query selects, in the
	// order the query's sort asks for (without one, in an order the backend
	// chooses: CouchDB's is that of the index it uses), up to the backend's
	// total query limit.
	ExecuteQuery(ns, query string) (Iterator, error)
	// ExecuteQueryPage returns at most pageSize results of the query,
	// starting where bookmark (from an earlier page of the same query, ""
	// for the first page) left off, and the bookmark of the page after it
	// ("" when there is none). The bookmark is opaque to the caller.
	ExecuteQueryPage(ns, query, bookmark string, pageSize int32) (kvs []*KV, next string, err error)
}

// KeyValueChecker is implemented by backends that cannot store every key or
// value (CouchDB: a key must be UTF-8 and may not start with "_"; a JSON value
// may not use the field names CouchDB reserves). The simulator calls it on
// every write, so a chaincode learns at endorsement, not at commit.
type KeyValueChecker interface {
	CheckKeyValue(key string, value []byte) error
}

// Index is one index definition, as a chaincode package carries it in
// META-INF/statedb/couchdb/indexes/ (or .../collections/<name>/indexes/).
type Index struct {
	// Name is the file the definition came from, named in errors.
	Name string
	// Definition is the file's JSON: {"index": {"fields": [...]},
	// "ddoc": ..., "name": ..., "type": "json"}.
	Definition []byte
}

// IndexCreator is implemented by backends that keep indexes.
type IndexCreator interface {
	// CheckIndex reports why a definition cannot be created, naming the
	// field at fault; nil when it can.
	CheckIndex(ix Index) error
	// CreateIndexes creates the indexes in namespace ns (ns$$p<coll> for a
	// collection's); creating one that exists changes nothing.
	CreateIndexes(ns string, indexes []Index) error
}

// HealthChecker is implemented by backends that live outside the peer's
// process; the peer's /healthz reports its error.
type HealthChecker interface {
	HealthCheck(ctx context.Context) error
}

// Reader reads the state: a DB, or a Snapshot of one.
type Reader interface {
	// Get is DB.Get.
	Get(ns, key string) (*VersionedValue, error)
	// GetRange is DB.GetRange.
	GetRange(ns, startKey, endKey string) (Iterator, error)
}

// Snapshot is a read-only view of the state fixed when it was taken: an
// Apply made after that does not change what it returns.
type Snapshot interface {
	Reader
	// Release frees the view; it is safe to call more than once. Iterators
	// opened on the snapshot must be closed first.
	Release()
}

// Snapshotter is implemented by backends for which reading many keys through
// one fixed view is cheaper than separate Gets (LevelDB: every Get pins a
// view of its own). The committer reads a block's MVCC versions and current
// values through one Snapshot.
type Snapshotter interface {
	Snapshot() (Snapshot, error)
}
