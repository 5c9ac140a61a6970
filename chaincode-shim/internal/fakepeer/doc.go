// Package fakepeer is a fake Fabric peer for testing the shim: it speaks the
// peer side of the chaincode protocol over a real gRPC stream (as the
// ChaincodeSupport/Register server, or as the client of a chaincode server's
// Chaincode/Connect), answers state requests from an in-memory Ledger and lets
// a test send INIT and TRANSACTION messages and read the replies.
//
// It imports nothing from the shim, so the shim's own (internal) tests can
// use it; chaincode tests reach it through package shimtest, which re-exports
// it. It is test support: it fails tests through testing.TB and bounds every
// wait with WaitLimit.
package fakepeer
