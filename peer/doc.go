// Package peer is the peer node: it wires the endorser, the chaincode runtime,
// the `_lifecycle`, `cscc` and `qscc` system chaincodes, the deliver and gateway
// services and, per channel, the commit path (pull blocks from the orderer,
// verify, validate, commit, notify).
//
// Each channel caches its committed chaincode definitions for the endorser and
// the gateway; the commit path invalidates that cache before and after
// applying any block whose VALID transactions write `_lifecycle`.
//
// A Node owns its channels: a channel exists on the peer once an admin of the
// peer's organisation has joined it with the channel's genesis block (cscc
// JoinChain), and it is reopened from its ledger when the peer restarts. The
// node never trusts a block it has not verified against the channel's
// BlockValidation policy and hash chain.
package peer
