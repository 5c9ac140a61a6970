// Package blockjson decodes Fabric blocks and transactions into plain Go
// structs with JSON tags, for the REST gateway's "block by number" and
// "transaction by ID" operations.
//
// It is a pure library: no I/O, no state, no signature or policy checks. It
// reports what a block says; whether a transaction counts is given by its
// validationCode, which comes from the block's TRANSACTIONS_FILTER metadata
// (a block without that metadata reads as all VALID, as protos.TxFilter does).
//
// # JSON field rules
//
// Field names are lowerCamelCase and stable; optional parts are omitted when
// absent. One rule per kind of field:
//
//   - Hashes (dataHash, previousHash, collection pvtRwsetHash): lower-case hex.
//   - Numbers (block numbers, tx numbers, statuses, sequences): JSON numbers.
//   - Timestamps: RFC 3339 in UTC with nanoseconds (time.RFC3339Nano).
//   - Enumerations (type, validationCode): the protobuf enum name, such as
//     ENDORSER_TRANSACTION or MVCC_READ_CONFLICT; a number not in the enum
//     is written as its decimal digits.
//   - Opaque bytes that may be text (write values, arguments, response and
//     event payloads) come as two fields: x (a string, present only when the
//     bytes are "text": valid UTF-8 made of graphic characters, tabs and line
//     breaks; empty bytes are the text "") and xBase64 (always present,
//     standard base64 of the exact bytes). Arguments follow the same rule
//     element-wise: args[i] is null when argument i is not text.
//   - Keys of read/write sets are strings as they are (composite keys keep
//     their U+0000 separators, escaped by JSON as \u0000).
//   - Identities (creator, endorsers, block signers) give the MSP ID and the
//     X.509 subject in RFC 2253 form; the PEM certificate only with
//     Options.Certificates.
//
// # Errors
//
// Bad input yields a *DecodeError naming the block, the transaction index and
// the protobuf field path that could not be decoded. A transaction the peer
// marked invalid may legitimately hold garbage (that is often why it is
// invalid), so for it a decode failure is not an error: the transaction is
// returned with what could be read and decodeError set. A transaction marked
// VALID must decode completely; if it does not, the input is not what a peer
// committed and the whole call fails. Nothing here panics on any input.
package blockjson
