package ledger

import "errors"

var (
	// ErrBlockNotFound is returned for a block number, hash or TxID the store does not hold.
	ErrBlockNotFound = errors.New("ledger: block not found")
	// ErrTxNotFound is returned for a TxID the store does not hold.
	ErrTxNotFound = errors.New("ledger: transaction not found")
	// ErrClosed is returned by calls on a closed store or ledger.
	ErrClosed = errors.New("ledger: closed")
	// ErrOutOfOrder is returned by Append for a block whose number is not the current height.
	ErrOutOfOrder = errors.New("ledger: block out of order")
	// ErrBadChain is returned by Append for a block whose previous_hash does not match.
	ErrBadChain = errors.New("ledger: block does not chain to the previous block")
	// ErrStateBehind is wrapped by the error of a Commit (or Recover) that
	// appended a block but could not apply its writes to the state: the
	// block is part of the chain, and Recover or the next Commit applies it.
	ErrStateBehind = errors.New("ledger: blocks are appended but their writes are not applied to the state yet")
	// ErrCorrupt is wrapped by errors for damaged block files that are not a
	// torn write (see CorruptError).
	ErrCorrupt = errors.New("ledger: block store is damaged")
	// ErrStateAhead is wrapped by the error of an Open whose state database
	// has a savepoint above the block store's height: the state belongs to
	// another ledger, or the block files were lost.
	ErrStateAhead = errors.New("ledger: the state database is ahead of the block store")
	// ErrNoRichQueries is wrapped by the error of a rich query (ExecuteQuery,
	// ExecuteQueryPage, ExecuteQueryOnPrivateData) on a ledger whose state
	// database does not implement statedb.Querier, such as LevelDB.
	ErrNoRichQueries = errors.New("rich queries (JSON selectors) need a CouchDB state database")
	// ErrPrivateDataNotAvailable is wrapped by the error of GetPrivateData
	// when the hashed state holds a version of the key but this peer holds
	// no private value for that version: its organisation is not a member
	// of the collection, or the data has not reached it yet.
	ErrPrivateDataNotAvailable = errors.New("ledger: private data not available on this peer")
)
