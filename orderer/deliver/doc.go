// Package deliver implements AtomicBroadcast/Deliver for the orderer: each
// request on a stream is a signed envelope carrying an ab.SeekInfo; the
// creator must satisfy the channel's /Channel/Readers policy; blocks from
// start to stop are streamed as they are committed (waiting on the store,
// never polling), followed by a SUCCESS status for a bounded range.
//
// Status codes follow Fabric: BAD_REQUEST for a malformed request or range,
// NOT_FOUND for an unknown channel or (FAIL_IF_NOT_READY) a block not yet
// written, FORBIDDEN for a failed Readers policy or a requester whose
// certificate has expired (checked when the request arrives and again before
// each block, so a stream ends when the certificate expires, as in Fabric),
// SERVICE_UNAVAILABLE when a STRICT request meets a halted chain. The package
// only reads blocks.
package deliver
