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
)
