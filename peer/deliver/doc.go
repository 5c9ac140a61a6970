// Package deliver owns the two block-streaming ends of a peer.
//
// Server implements the peer's protos.Deliver gRPC service: full blocks
// (Deliver), Fabric's filtered blocks (DeliverFiltered) and blocks with private
// data (DeliverWithPrivateData). Every request is a signed DELIVER_SEEK_INFO
// envelope whose creator must satisfy the channel's /Channel/Application/Readers
// policy (the policy verifies the signature) and hold a certificate that has not
// expired: checked when the request arrives and again before each block, so a
// stream ends with FORBIDDEN when the certificate expires, as in Fabric; the
// log names the requester and its NotAfter. Each request ends with exactly one
// DeliverResponse status: SUCCESS once the stop block was sent, NOT_FOUND for an
// unknown channel or a missing block under FAIL_IF_NOT_READY, FORBIDDEN,
// BAD_REQUEST. Waiting for future blocks uses the block store's WaitHeight; the
// server never polls.
//
// Puller is the client side: it pulls a channel's blocks from an orderer's
// AtomicBroadcast/Deliver over TLS with a signed SeekInfo, hands each block, in
// order and exactly once, to a callback. On a broken stream or a block the
// callback rejects it moves to the next orderer endpoint (random first, then
// round robin) with bounded exponential backoff; it also leaves, without
// waiting, an orderer that stopped delivering while another has the next block
// for BehindTimeout, or that left the channel's endpoints. It always resumes
// at the first block not yet accepted. OrdererEndpoints reads the endpoints
// from a channel config as Fabric 2.5 does.
//
// The package never verifies, validates or stores blocks itself: that is the
// caller's commit path. It owns no goroutines that outlive a call: a stream
// handler returns when its stream ends; Pull returns when its context ends.
package deliver
