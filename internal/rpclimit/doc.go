// Package rpclimit bounds the requests a node serves at once per gRPC
// service, as Fabric's peer does with peer.limits.concurrency.*: its server
// interceptors count the unary calls in flight and the streams open for each
// limited service, and refuse a call or stream beyond the limit at once with
// ResourceExhausted and Fabric's message, "too many requests for
// /protos.Endorser, exceeding concurrency limit (2500)". Nothing waits in a
// queue: a refused client retries or goes elsewhere.
//
// Services without a limit (or with a limit of 0) are not counted.
package rpclimit
