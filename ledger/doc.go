// Package ledger owns a peer's channel ledger: the append-only block store with
// its indexes, the world state (statedb) kept in step with it, MVCC validation
// at commit, and the endorsement-time transaction simulator.
//
// Guarantees:
//   - blocks are appended only in order and only if they hash-chain to the
//     previous block; indexes behind the block files are rebuilt from them;
//   - a torn tail — a damaged record (cut short, a zero length, or a checksum
//     mismatch) in the last block file with no intact record anywhere after
//     it — is what a crash during append leaves, and open truncates it; any
//     other damage (in a file that later files follow, with intact records
//     after it, a checksummed record that is not a block, a missing file) is
//     refused with a *CorruptError naming the file and offset, and nothing is
//     truncated or deleted; a damaged block the index already covers is
//     reported the same way when it is read;
//   - Commit decides MVCC validity, records the final TRANSACTIONS_FILTER in the
//     block, appends it, then applies the valid write sets and the savepoint in
//     one atomic state update; on Open, blocks above the state savepoint are
//     replayed from the block store with their stored filters, so a crash at any
//     point converges to the state of a ledger that never crashed;
//   - a state write that fails after the append leaves the block in the chain
//     and the state behind it (StateHeight < Blocks().Height()): that Commit
//     returns an error wrapping ErrStateBehind, no later block is appended
//     until the state has caught up, and Recover or the next Commit replays
//     the missing blocks exactly as Open would, so the ledger resumes without
//     a reopen once the state database works again; each block's writes and
//     savepoint are applied in one atomic step, never half;
//   - private data is stored only for collections this peer's organisation
//     is a member of (Options.Collections; without it every collection is
//     eligible and never expires); the others get the hashes only, and
//     GetPrivateData on a key whose private value this peer lacks fails with
//     ErrPrivateDataNotAvailable saying whether it is not a member or the
//     data has not arrived yet;
//   - the private data store (dir/pvtdata) keeps, for every committed block,
//     the private write sets of its valid transactions that this peer
//     applied (members only, bytes hashing to the block's pvt_rwset_hash),
//     by block, transaction and collection (PrivateData), and records as
//     missing each member collection a valid transaction wrote without its
//     set reaching Commit (MissingPrivateData; MissingIn tells beforehand).
//     Both, and the block's expiry schedule, are written and synced before
//     the block is appended (no extra sync when there is nothing), and Open
//     replays a block with its stored sets under the same rules as Commit,
//     so a crash never loses this peer's private writes; records of a block
//     whose append never completed are dropped at Open;
//   - CommitPrivateData stores sets fetched from other peers for committed
//     blocks once they verify against the block's hashes (the whole set, or
//     key by key for a set a purge cut), removes their missing entries, and
//     applies each key only where the hashed state still holds that
//     transaction's version: a later write or delete wins. It is serialised
//     with Commit, and a crash part way leaves the data missing, to be
//     fetched and applied again;
//   - blockToLive: data committed at block N in a collection with
//     blockToLive k is readable through block N+k; the state update of block
//     N+k+1 removes its hash and private value (unless a later write
//     replaced them, which has its own schedule), for members and non-members
//     alike, in the same atomic step as that block's writes (and outside its
//     commit hash, as in Fabric), so replay redoes it after a crash; the
//     store then drops the block's expired sets and missing entries;
//   - a committed purge also rewrites the stored sets of earlier
//     transactions of the collection without the key;
//   - the history index (dir/history) holds, for every public write of every
//     valid endorser transaction, the key and the transaction's height, never
//     the value (GetHistoryForKey reads it back from the block store, newest
//     first as in Fabric v2); it is updated after the state with its own
//     savepoint, and Open indexes the blocks above that savepoint again, so a
//     crash neither loses nor duplicates history;
//   - Simulator output (rwsets) is laid out exactly as Fabric v2.5 lays it out,
//     so endorsements from Weft and Fabric peers match byte for byte; as in
//     Fabric, private range queries record nothing and are allowed only in
//     read-only transactions, and PurgePrivateData records a hashed write
//     with is_delete and is_purge;
//   - rich queries (Simulator.ExecuteQuery, ExecuteQueryPage,
//     ExecuteQueryOnPrivateData) run only on a state database that is a
//     statedb.Querier (CouchDB); elsewhere (LevelDB) they fail with an error
//     wrapping ErrNoRichQueries. As in Fabric, each public result is
//     recorded as a plain read of its key, a private query records nothing,
//     and paginated and private queries are allowed only in read-only
//     transactions. Rich query results are not re-checked for phantoms at
//     commit: MVCC checks the versions of the keys returned, but a key that
//     comes to match the query after simulation is not detected (use a range
//     query where that matters);
//   - the world state is LevelDB in dir/state unless Options.State hands in
//     another statedb.DB; its optional capabilities are detected before
//     Options.WrapState wraps it. A state database that is a
//     statedb.BulkLoader gets, before the MVCC checks of each committed
//     block, one Preload call with every public and hashed key the block's
//     valid transactions read or write; one that is a
//     statedb.KeyValueChecker checks every write at simulation, so a key or
//     value it cannot store fails the endorsement, not the commit. A state
//     database whose savepoint is above the block store's height belongs to
//     another ledger: Open fails with ErrStateAhead;
//   - a committed purge removes the key from the hashed and the private state
//     even when this peer did not receive the purge's private write set (the
//     key is found by its hash), and from the private data store (above), so
//     no older version survives.
//
// The ledger never checks signatures or endorsement policies: the
// TRANSACTIONS_FILTER handed to Commit already carries the peer's verdicts.
package ledger
