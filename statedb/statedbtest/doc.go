// Package statedbtest is the behaviour suite every statedb backend must pass:
// get/put/delete, versions and metadata, range bounds (including an empty end
// key), namespace isolation for names and keys holding 0x00 and 0xff bytes and
// for a namespace that is a prefix of another, the savepoint, and persistence
// across reopen. Backends call Run from their own tests; it never touches
// storage itself.
package statedbtest
