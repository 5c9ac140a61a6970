// Package reorder chooses the order of a block's transactions at the
// orderer so that fewer of them fail Fabric's MVCC checks at the peers, as
// Fabric++ and FabricSharp do. Fabric keeps the order in which transactions
// reached the orderer; a transaction that reads a key an earlier valid
// transaction of the same block wrote is then MVCC_READ_CONFLICT (or
// PHANTOM_READ_CONFLICT for a range query), even when putting the reader
// first would have kept both valid.
//
// Order reads each endorser transaction's read/write set (public keys,
// range queries, and private keys as collection + key hash) and builds the
// conflict graph: a reader of a key must come before its writers. Of the
// transactions that read and write the same key only one can be valid in
// any order; Order keeps those with the fewest such conflicts first. What
// cycles remain it breaks by leaving out the transactions with the most
// conflicts, then it orders the rest so that every reader comes before the
// writers of what it read, earlier arrivals first among equals.
//
// Guarantees:
//   - Only the order changes: every envelope stays in the block, so a
//     transaction left out of the acyclic order is placed after the others
//     and is invalidated at the peers as it would be today; its client still
//     gets a status. The block is a valid Fabric block, and any Fabric or Weft
//     peer validates it to the same verdicts.
//   - Anything that is not a decodable ENDORSER_TRANSACTION (config,
//     undecodable bytes) keeps its position: transactions are reordered only
//     among the endorser transactions between two such envelopes.
//   - The output depends on the envelopes only (no clock, no map order), so
//     the same input gives the same block.
//   - Never fewer valid transactions than the given order, counted within the
//     block with every read taken as current: when Order finds no better
//     order it returns the input unchanged.
//
// What the orderer cannot see it leaves to the peers: a read already stale
// against the committed state fails wherever it is placed. Two transactions
// that read the same key at different versions tell that the older one is
// stale; Order puts it at the end, where its writes cannot stand in anyone's
// way. A repeated TxID in the batch is placed after the first one, which
// keeps it DUPLICATE_TXID. A metadata write (a key-level endorsement policy)
// invalidates later reads and writes of its key in the block, so it is kept
// apart from every other transaction touching that key.
package reorder
