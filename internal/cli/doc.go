// Package cli implements the weft command: the development network (`weft up`),
// crypto material and genesis blocks, and channel and chaincode operations
// against a peer and orderer chosen the way Fabric's `peer` CLI chooses them
// (CORE_PEER_* environment variables, -o/--tls/--cafile flags), so test-network
// instructions carry over word for word.
package cli
