// Package deliver implements AtomicBroadcast/Deliver for the orderer: each
// request on a stream is a signed envelope carrying an ab.SeekInfo; its
// channel header's timestamp must be within TimeWindow of the orderer's clock
// (General.Authentication.TimeWindow, 15m) and, under mutual TLS, its
// tls_cert_hash the SHA-256 of the client's TLS certificate, as in Fabric, so
// a captured request cannot be replayed later or on another TLS session; the
// creator must satisfy the channel's /Channel/Readers policy, judged again
// whenever the channel's config sequence grows and at a config block newer
// than the config judged by (which a requester the new config refuses does
// not receive); blocks from start to stop are streamed as they are committed
// (waiting on the store, never polling), followed by a SUCCESS status for a
// bounded range.
//
// Status codes follow Fabric: BAD_REQUEST for a malformed request or range,
// a timestamp outside the window or a broken TLS binding, NOT_FOUND for an
// unknown channel or (FAIL_IF_NOT_READY) a block not yet written, FORBIDDEN
// for a failed Readers policy or a requester whose certificate has expired
// (checked when the request arrives and again before each block, so a stream
// ends when the certificate expires, as in Fabric), SERVICE_UNAVAILABLE when
// a STRICT request meets a halted chain. Every refusal is logged with its
// reason: both times and the window, both hashes, or the requester and the
// policy. The package only reads blocks.
package deliver
