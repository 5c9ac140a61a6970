// Package cli implements the weft command: the development network (`weft up`),
// crypto material and genesis blocks, and channel and chaincode operations
// against a peer and orderer chosen the way Fabric's `peer` CLI chooses them
// (CORE_PEER_* environment variables, -o/--tls/--cafile flags), so test-network
// instructions carry over word for word.
//
// `weft chaincode package|calculatepackageid|install|queryinstalled|
// getinstalledpackage|approveformyorg|queryapproved|checkcommitreadiness|
// commit|querycommitted` (also spelled `weft lifecycle chaincode ...`) and
// `weft chaincode invoke|query` take the flags of Fabric v2.5's `peer
// lifecycle chaincode` and `peer chaincode` under the same long and short
// names, and print the same plain text and, with -O/--output json, the same
// JSON (encoding/json of the result message, tab-indented). Where Weft
// differs it says so in the flag's help: --connectionProfile is refused,
// --tlsHandshakeTimeShift has no effect, install installs on every
// --peerAddresses peer, and the orderer flags are accepted everywhere and
// ignored by commands that order nothing, as in Fabric.
package cli
