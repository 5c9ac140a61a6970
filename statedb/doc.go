// Package statedb defines Weft's versioned world state: a small key/value
// interface where every value carries the version (block, tx) of the
// transaction that wrote it, and a Batch of pending updates that a committer
// fills while validating a block.
//
// Guarantees every backend gives (checked by statedbtest.Run):
//   - namespaces are separate key spaces, whatever bytes their names or keys hold;
//   - GetRange returns keys of one namespace in byte order, [start, end), with an
//     empty end meaning "to the end of the namespace";
//   - Apply writes all updates of a Batch and the savepoint atomically.
//
// statedb knows nothing of blocks, transactions or channels, and never
// interprets values or metadata.
package statedb
