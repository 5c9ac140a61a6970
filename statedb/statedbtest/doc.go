// Package statedbtest is the behaviour suite every statedb backend must pass.
// A backend's test calls Run(t, open), or RunWith(t, open, Options) to say
// what it can hold beyond the minimum (namespace names of any bytes; JSON
// objects handed back re-encoded). The suite never touches storage itself.
//
// What it checks, backend-neutrally:
//   - reads and writes over realistic namespaces (chaincode names in any case
//     and length, _lifecycle, ns$$pcoll and ns$$hcoll forms) kept apart;
//     deletes, of absent keys too; versions up to MaxUint64; metadata with and
//     without values and metadata-only changes; values that are big (1.5 MiB),
//     binary, empty (not a delete), JSON of every kind, and that change kind;
//   - range scans for every combination of bounds, keys with special
//     characters, high bytes, prefixes of other keys and composite keys, in
//     byte order; empty namespaces; ranges of 2,500 keys; iterators left open
//     while Apply runs, closed early and closed twice;
//   - the savepoint (fresh, monotonic, after reopen); bulk batches of
//     thousands of updates; a key updated twice in a batch; Apply of the same
//     batch twice, after a reopen, and after a partial Apply, as the ledger
//     does after a crash; Gets and scans from several goroutines during
//     Apply (run it with -race);
//   - the optional capabilities, found by type assertion and skipped when
//     absent: Preload (Gets agree, absent keys and unwritten namespaces too),
//     rich queries (selectors, sort, fields, pages chained by bookmark,
//     empty namespaces, invalid queries), CheckKeyValue (refusals name the
//     key or field), indexes (created twice, malformed ones refused) and
//     HealthCheck.
//
// Keys a backend cannot hold are not an option: when the store implements
// statedb.KeyValueChecker, the arbitrary-bytes key cases use only the keys
// its CheckKeyValue accepts, while the keys of $$h namespaces (raw SHA-256
// hashes) and everyday UTF-8 keys must always round-trip.
package statedbtest
