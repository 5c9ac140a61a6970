// Package shim is Weft's Go chaincode shim: the API a chaincode author codes
// against (Chaincode, ChaincodeStubInterface, Success, Error, Start,
// ChaincodeServer) and the Fabric v2.5 chaincode protocol underneath it.
//
// It mirrors the API of github.com/hyperledger/fabric-chaincode-go/v2/shim,
// so chaincode written for Fabric compiles against it after changing the
// import path, and it speaks peer.ChaincodeMessage over gRPC, so it runs
// against a Fabric peer as well as a Weft peer.
//
// What it owns: one stream to the peer per process (Start: the chaincode
// dials the peer's ChaincodeSupport/Register; ChaincodeServer: the peer dials
// the chaincode's Chaincode/Connect). On that stream it registers
// (REGISTER → REGISTERED → READY), runs every TRANSACTION and INIT in its own
// goroutine, turns stub calls into GET_STATE, PUT_STATE, ... requests matched
// to the peer's RESPONSE or ERROR by (channel, txid), ends each invocation with
// COMPLETED or ERROR, and echoes KEEPALIVE.
//
// Guarantees: exactly one goroutine calls Send on the stream; a chat that
// ends (peer gone, send failure, protocol violation) fails every in-flight
// stub call instead of blocking it, and waits for the invocation goroutines
// before returning.
//
// What it never does: import anything beyond the standard library, gRPC,
// protobuf and fabric-protos-go-apiv2 (TestImportBoundary enforces this, so
// the package can be split out); batch writes (StartWriteBatch is accepted and
// ignored, every write goes to the peer immediately); keep state across
// invocations.
package shim
