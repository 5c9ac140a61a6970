package couchdb

import (
	"context"
	"errors"
	"log/slog"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	_ "github.com/go-kivik/kivik/v4/couchdb" // the "couch" driver

	"github.com/weft-ledger/weft/statedb"
)

// Config is the peer's ledger.state.couchDBConfig section.
type Config struct {
	// Address is ledger.state.couchDBConfig.couchDBAddress: host:port or
	// http(s)://host:port.
	Address string
	// Username and Password authenticate every request (basic auth); empty
	// for a server without authentication.
	Username, Password string
	// MaxRetries is how often a failed request is retried while running.
	MaxRetries int
	// MaxRetriesOnStartup is how often Connect retries reaching the server.
	MaxRetriesOnStartup int
	// RequestTimeout bounds each HTTP request.
	RequestTimeout time.Duration
	// InternalQueryLimit is the page size of the requests behind one query.
	InternalQueryLimit int
	// TotalQueryLimit caps the results of one ExecuteQuery.
	TotalQueryLimit int
	// MaxBatchUpdateSize caps the documents of one _bulk_docs request.
	MaxBatchUpdateSize int
	// WarmIndexesAfterNBlocks: after every N applied blocks, the views of
	// each design document are queried so indexes stay warm.
	WarmIndexesAfterNBlocks int
	// CreateGlobalChangesDB creates the server's _global_changes database.
	CreateGlobalChangesDB bool
	// CacheSizeMB bounds each channel's cache of committed values (cacheSize).
	CacheSizeMB int
	// DatabasePrefix is Weft's own: it is prepended to every database name
	// so several peers can share one server; "" gives Fabric's names.
	DatabasePrefix string
	// Logger receives the backend's logs; nil means slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with Fabric's default for every zero field.
func (c Config) WithDefaults() Config {
	if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	if c.MaxRetriesOnStartup == 0 {
		c.MaxRetriesOnStartup = 10
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 35 * time.Second
	}
	if c.InternalQueryLimit == 0 {
		c.InternalQueryLimit = 1000
	}
	if c.TotalQueryLimit == 0 {
		c.TotalQueryLimit = 100000
	}
	if c.MaxBatchUpdateSize == 0 {
		c.MaxBatchUpdateSize = 1000
	}
	if c.WarmIndexesAfterNBlocks == 0 {
		c.WarmIndexesAfterNBlocks = 1
	}
	if c.CacheSizeMB == 0 {
		c.CacheSizeMB = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Client is a connection to one CouchDB server, shared by the channels'
// state databases.
type Client struct {
	cfg    Config
	client *kivik.Client
}

var errNotImplemented = errors.New("couchdb: not implemented yet")

// Connect reaches the server at cfg.Address, retrying MaxRetriesOnStartup
// times with backoff, and fails with an error naming the address and the
// last cause.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	return nil, errNotImplemented
}

// OpenChannel returns the state database of channel.
func (c *Client) OpenChannel(channel string) (*DB, error) {
	return nil, errNotImplemented
}

// HealthCheck makes one request to the server's root.
func (c *Client) HealthCheck(ctx context.Context) error {
	return errNotImplemented
}

// Close releases the client's connections.
func (c *Client) Close() error { return nil }

// DB is the world state of one channel in CouchDB. It is safe for
// concurrent use.
type DB struct {
	client  *Client
	channel string
}

var (
	_ statedb.DB              = (*DB)(nil)
	_ statedb.BulkLoader      = (*DB)(nil)
	_ statedb.Querier         = (*DB)(nil)
	_ statedb.KeyValueChecker = (*DB)(nil)
	_ statedb.IndexCreator    = (*DB)(nil)
	_ statedb.HealthChecker   = (*DB)(nil)
)

// ObserveApply makes every successful Apply call fn with its duration and
// the number of updates it wrote; nil stops it. fn runs on the committing
// goroutine and must be quick.
func (d *DB) ObserveApply(fn func(elapsed time.Duration, updates int)) {}

// Get implements statedb.DB.
func (d *DB) Get(ns, key string) (*statedb.VersionedValue, error) { return nil, errNotImplemented }

// GetRange implements statedb.DB.
func (d *DB) GetRange(ns, startKey, endKey string) (statedb.Iterator, error) {
	return nil, errNotImplemented
}

// Apply implements statedb.DB.
func (d *DB) Apply(b *statedb.Batch, savepoint statedb.Version) error { return errNotImplemented }

// Savepoint implements statedb.DB.
func (d *DB) Savepoint() (statedb.Version, bool, error) {
	return statedb.Version{}, false, errNotImplemented
}

// Close implements statedb.DB.
func (d *DB) Close() error { return nil }

// Preload implements statedb.BulkLoader.
func (d *DB) Preload(keys []statedb.NsKey) error { return errNotImplemented }

// ExecuteQuery implements statedb.Querier.
func (d *DB) ExecuteQuery(ns, query string) (statedb.Iterator, error) {
	return nil, errNotImplemented
}

// ExecuteQueryPage implements statedb.Querier.
func (d *DB) ExecuteQueryPage(ns, query, bookmark string, pageSize int32) ([]*statedb.KV, string, error) {
	return nil, "", errNotImplemented
}

// CheckKeyValue implements statedb.KeyValueChecker.
func (d *DB) CheckKeyValue(key string, value []byte) error { return errNotImplemented }

// CheckIndex implements statedb.IndexCreator.
func (d *DB) CheckIndex(ix statedb.Index) error { return errNotImplemented }

// CreateIndexes implements statedb.IndexCreator.
func (d *DB) CreateIndexes(ns string, indexes []statedb.Index) error { return errNotImplemented }

// HealthCheck implements statedb.HealthChecker.
func (d *DB) HealthCheck(ctx context.Context) error { return d.client.HealthCheck(ctx) }
