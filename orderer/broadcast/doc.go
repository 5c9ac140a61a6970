// Package broadcast implements AtomicBroadcast/Broadcast: it admits an
// envelope only if it is well formed, addressed to a channel this orderer
// serves, from a creator whose certificate has not expired (BAD_REQUEST, as
// Fabric's expiration check), within the channel's size limit, and signed by
// a creator that satisfies the channel's /Channel/Writers policy; then it
// hands the envelope
// to the channel's chain and answers SUCCESS once the chain has committed it
// to its Raft log.
//
// A CONFIG_UPDATE envelope passes the same checks, then the channel turns it
// into a CONFIG envelope signed by the orderer (Channel.ProcessConfigUpdate),
// which passes them again and is what gets ordered; a refused update is
// BAD_REQUEST with the reason, as in Fabric. Clients cannot broadcast CONFIG
// or ORDERER_TRANSACTION envelopes.
//
// Every refusal is an ab.BroadcastResponse with Fabric's status code and an
// info text naming the cause. Responses keep the order of the requests on a
// stream; several envelopes of one stream may be in flight at once. The
// package never reads or writes blocks.
package broadcast
