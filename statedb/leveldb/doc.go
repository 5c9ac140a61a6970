// Package leveldb is the LevelDB backend of statedb, on github.com/syndtr/goleveldb.
//
// Layout: a data key is 'd' ‖ uvarint(len(ns)) ‖ ns ‖ key, so each namespace is
// one contiguous, byte-ordered key range that no other namespace can enter (a
// namespace that is a prefix of another gets a different length byte). The
// savepoint lives under the single key "s". A value is
// uvarint(block) ‖ uvarint(tx) ‖ uvarint(len(metadata)) ‖ metadata ‖ value.
//
// Apply writes a whole statedb.Batch and the savepoint in one synced leveldb
// batch, so a crash leaves either all of it or none of it.
package leveldb
