// Package flowcontrol holds the HTTP/2 flow-control settings of the peer's
// gRPC server, the chaincode stream, and the clients Weft dials (CLI, load
// generator, gateway, gossip, discovery, block pullers, orderer cluster):
// fixed windows instead of gRPC's automatic sizing. (The orderer's server
// fixes a smaller window of its own, bounding what each client may send
// ahead; chaincode-shim, which imports nothing of Weft's, keeps its own.)
//
// By default grpc-go estimates each connection's bandwidth-delay product: on
// a DATA frame received while no estimate is running it sends a PING, and
// the other side wakes up to answer it. Over the small messages of a ledger
// network (a proposal, a response, a chaincode message, a broadcast ack)
// that is a PING and its ack for nearly every message at low load — more
// wake-ups than the messages themselves cost — and the window it would grow
// is never filled anyway. Fixed windows turn the estimation off. Their sizes
// let a block of several MB arrive without waiting for window updates; they
// are credit, not buffers: memory is used only by data actually in flight.
package flowcontrol
