// Package protos holds Weft's small helpers around Fabric's protobuf messages
// (from fabric-protos-go-apiv2): transaction IDs, block and data hashes, and the
// building and parsing of envelopes, proposals and blocks.
//
// It owns no state and performs no I/O. Every parser returns an error that names
// the message and field that could not be decoded, so callers at a trust boundary
// can pass it on to the user unchanged.
package protos
