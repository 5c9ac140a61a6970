package peer

import (
	"context"
	"fmt"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/statedb/couchdb"
)

// The world state database of the peer's channels (ledger.state.*): with
// goleveldb each ledger opens LevelDB in its own folder and the node does
// nothing here; with CouchDB the node connects once, when Run starts, and
// hands each channel's ledger the CouchDB databases of that channel.
//
// While CouchDB is down, reads fail with the backend's error (it names
// CouchDB): endorsements fail, and the commit path keeps the block it is
// committing (commit.go: a failure before the append is returned to the
// puller, which offers the block again after its backoff; a failure after
// it is retried by finishAppended), so no block is skipped or half applied
// and the channel resumes by itself once CouchDB answers. /healthz reports
// the "couchdb" check meanwhile.

// couchState is the CouchDB server the channels' state lives in.
type couchState struct {
	client *couchdb.Client
	addr   string // ledger.state.couchDBConfig.couchDBAddress, as logs and /healthz name it
}

// backendConfig turns ledger.state.couchDBConfig, whose values mean what
// they mean in core.yaml, into the backend's Config, where 0 means "the
// default": a cacheSize of 0 turns the cache off, and maxRetries or
// maxRetriesOnStartup of 0 means one attempt, as in Fabric.
func backendConfig(c couchdb.Config) couchdb.Config {
	for _, v := range []*int{&c.CacheSizeMB, &c.MaxRetries, &c.MaxRetriesOnStartup} {
		if *v == 0 {
			*v = -1
		}
	}
	return c
}

// connectState connects to CouchDB when ledger.state.stateDatabase names it,
// retrying ledger.state.couchDBConfig.maxRetriesOnStartup times; the error,
// which stops the peer, names the address. Run calls it before it opens a
// channel or a listener.
func (n *Node) connectState(ctx context.Context) error {
	if !n.cfg.Ledger.UsesCouchDB() {
		return nil
	}
	cfg := backendConfig(n.cfg.Ledger.CouchDB)
	cfg.Logger = n.log.With("component", "couchdb")
	n.log.Info("connecting to the state database", "state_database", StateCouchDB, "address", cfg.Address,
		"database_prefix", cfg.DatabasePrefix, "max_retries_on_startup", n.cfg.Ledger.CouchDB.MaxRetriesOnStartup)
	c, err := couchdb.Connect(ctx, cfg)
	if err != nil {
		// The backend's error names the server and the attempts made.
		return fmt.Errorf("state database (ledger.state.stateDatabase CouchDB, ledger.state.couchDBConfig.maxRetriesOnStartup %d): %w", n.cfg.Ledger.CouchDB.MaxRetriesOnStartup, err)
	}
	n.couch = &couchState{client: c, addr: cfg.Address}
	n.log.Info("state database connected", "state_database", StateCouchDB, "address", cfg.Address)
	return nil
}

// closeState closes the CouchDB client, once every ledger is closed.
func (n *Node) closeState() {
	if n.couch == nil {
		return
	}
	if err := n.couch.client.Close(); err != nil {
		n.log.Warn("close the CouchDB client", "address", n.couch.addr, "err", err)
	}
}

// openLedger opens (creating if needed) the ledger of channelID in dir, on
// the configured state database. On CouchDB, a state that is behind the
// block store (a new prefix, or a peer moved from LevelDB) is rebuilt from
// the blocks by the ledger as it opens.
func (n *Node) openLedger(channelID, dir string) (*ledger.Ledger, error) {
	opts := n.ledgerOptions()
	opts.Logger = n.log.With("channel", channelID)
	if n.couch != nil {
		db, err := n.couch.client.OpenChannel(channelID)
		if err != nil {
			return nil, fmt.Errorf("open the state of channel %s in CouchDB at %s: %w", channelID, n.couch.addr, err)
		}
		opts.State = db // the ledger owns it from here on, closing it on failure too
	}
	return ledger.OpenWithOptions(dir, opts)
}

// checkCouchDB is the "couchdb" check of /healthz: one request to the
// server, failing with an error that names CouchDB and its address.
func (n *Node) checkCouchDB(ctx context.Context) error {
	if err := n.couch.client.HealthCheck(ctx); err != nil {
		return fmt.Errorf("state database: %w", err) // the backend's error names CouchDB and its address
	}
	return nil
}
