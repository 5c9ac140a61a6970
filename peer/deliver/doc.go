// Package deliver owns the two block-streaming ends of a peer.
//
// Server implements the peer's protos.Deliver gRPC service: full blocks
// (Deliver), Fabric's filtered blocks (DeliverFiltered) and blocks with private
// data (DeliverWithPrivateData). Every request is a signed DELIVER_SEEK_INFO
// envelope, checked as Fabric checks it:
//   - its channel header's timestamp is within TimeWindow of the server's
//     clock (peer.authentication.timewindow, 15m) and, under mutual TLS, its
//     tls_cert_hash is the SHA-256 of the client's TLS certificate; otherwise
//     BAD_REQUEST, so a captured request cannot be replayed later or on
//     another TLS session;
//   - its creator satisfies the channel's event ACL, event/Block for Deliver
//     and DeliverWithPrivateData, event/FilteredBlock for DeliverFiltered (the
//     policy the channel config's ACLs assign, by default
//     /Channel/Application/Readers; it verifies the signature), judged again
//     whenever the channel's config sequence changes and at a config block
//     newer than the config judged by, which a requester it refuses does not
//     receive: the stream ends with FORBIDDEN;
//   - its creator's certificate has not expired, checked when the request
//     arrives and again before each block.
//
// DeliverWithPrivateData sends with each block the private write sets the
// channel's PrivateData holds for the block's valid transactions, cut down to
// the collections the requester's organisation may read (Fabric's rule: every
// collection that is not memberOnlyRead, and those it is a member of); a
// channel without PrivateData sends empty maps.
//
// Refusals are logged naming the cause: both times and the window, both
// hashes, the requester with the resource and the policy, or its NotAfter.
// Each request ends with exactly one DeliverResponse status: SUCCESS once the
// stop block was sent, NOT_FOUND for an unknown channel or a missing block
// under FAIL_IF_NOT_READY, FORBIDDEN, BAD_REQUEST. Waiting for future blocks
// uses the block store's WaitHeight; the server never polls.
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
