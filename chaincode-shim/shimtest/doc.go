// Package shimtest is a fake Fabric peer for testing chaincode: it speaks the
// peer side of the chaincode protocol over a real gRPC stream (as the
// ChaincodeSupport/Register server, or as the client of a chaincode server's
// Chaincode/Connect), answers state requests from an in-memory Ledger and lets
// a test send INIT and TRANSACTION messages and read the replies.
//
// It imports nothing from the shim, so the shim's own tests can use it.
// It is test support: it fails tests through testing.TB and bounds every
// wait with WaitLimit.
package shimtest
