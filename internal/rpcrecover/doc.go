// Package rpcrecover keeps a bug in one gRPC handler from taking a node down:
// its interceptors turn a panic into an Internal error for that call alone and
// log the method and the stack. It changes nothing for calls that do not panic.
package rpcrecover
