// Package commitcheck tells a peer whether its world state has diverged from
// another peer's on the same channel, by comparing commit hashes.
//
// Every committing peer, Weft or Fabric v2.5, records in each block's
// COMMIT_HASH metadata a hash chained from the previous block's and computed
// from what the block changed in the state (package ledger). Two peers whose
// states agree record the same hash for every block; once they differ they
// never agree again. Compare asks another peer for a block both have
// committed — through qscc (GetChainInfo, GetBlockByNumber), which every
// Fabric-compatible peer serves to channel members — and compares its commit
// hash with the local one. It costs one block fetch per comparison and reads
// nothing else.
//
// The package decides and reports; the peer chooses whom to ask and how often,
// logs a mismatch and counts it in a metric.
package commitcheck
