// Package shimtest helps test Go chaincode written against Weft's shim, at
// two levels.
//
// MockStub runs a chaincode in memory, with no peer and no network, as
// Fabric's old shimtest.MockStub did: NewMockStub, then MockInit and
// MockInvoke. It implements all of shim.ChaincodeStubInterface and follows
// the peer where the old MockStub did not:
//
//   - A transaction's writes (state, private data, key-level endorsement
//     policies) become visible, and enter the key history, only when it ends
//     with a status below 400; a failing or panicking transaction leaves
//     everything as it was. Reads see committed state only, so a chaincode
//     does not read its own writes. (The old MockStub wrote through at once
//     and kept the writes of failed transactions.)
//   - Range and partial composite key queries page like a LevelDB peer: a
//     page starts at the bookmark, and its bookmark is the key the next page
//     starts at, "" when there is none. Paginated and private data range
//     queries are refused in a transaction that writes, and writes after
//     them, as on a peer.
//   - GetHistoryForKey lists every committed write of a key, newest first.
//   - Rich queries (GetQueryResult...) fail as on a peer with LevelDB.
//   - InvokeChaincode calls stubs registered with MockPeerChaincode inside
//     the caller's transaction: on the same channel the callee's writes
//     commit or roll back with the caller's; on another channel they are
//     discarded.
//   - Events are read with Event, not from a channel.
//
// Ledger, Session, Peer and StartPeer are a fake peer at the protocol level:
// it speaks the peer side of the chaincode protocol over a real gRPC stream
// (as the ChaincodeSupport/Register server, or as the client of a chaincode
// server's Chaincode/Connect), answers state requests from an in-memory
// Ledger and lets a test send INIT and TRANSACTION messages and read the
// replies. It fails tests through testing.TB and bounds every wait with
// WaitLimit.
//
// Like the shim, the package imports only the standard library, Fabric's
// protos, gRPC, protobuf and the shim.
package shimtest
