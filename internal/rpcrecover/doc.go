// Package rpcrecover keeps a bug in one request from taking a node down.
//
// Its gRPC interceptors (ServerOptions) turn a panic in a handler into an
// Internal error for that call alone and log the method and the stack.
// Goroutines that a request or a block starts beyond the handler's own
// (validator workers, endorsement fan-out, stream senders, chaincode message
// handlers) defer Recover, or run their work through Call, so that a panic
// there becomes a *PanicError for that request or transaction, logged with
// its stack, instead of ending the process. It changes nothing for code that
// does not panic.
//
// A runtime fatal error (concurrent map writes, out of memory, stack
// exhaustion) is not a panic and still ends the process.
package rpcrecover
