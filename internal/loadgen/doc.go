// Package loadgen is Weft's load generator. It drives any Fabric-compatible
// network through Fabric's public protocols only — Endorser/ProcessProposal,
// AtomicBroadcast/Broadcast and Deliver/DeliverFiltered — with an identity from
// an MSP folder and peers from connection profiles.
//
// It signs every proposal before the clock starts, keeps a bounded number of
// transactions in flight (optionally at a fixed offered rate), counts only
// transactions that blocks report VALID, and measures latency from sending the
// proposal to seeing the commit. Every run is bounded in count and time.
package loadgen
