// Package pull is Fabric's pull exchange: a peer asks a few others what
// they hold and fetches what it lacks, in four messages that share one
// nonce per remote peer:
//
//	Hello{nonce, msg_type}            initiator -> remote
//	DataDigest{nonce, digests}        remote    -> initiator
//	DataRequest{nonce, digests}       initiator -> remote
//	DataUpdate{nonce, data}           remote    -> initiator
//
// A Mediator runs the exchange for one kind of item (Config.MsgType:
// IDENTITY_MSG for membership, BLOCK_MSG for a channel). It owns only the
// bookkeeping of rounds and nonces; the items live in the caller's Store,
// which also verifies every item received before keeping it.
//
// Semantics follow Fabric v2.5 (gossip/gossip/algo/pull.go,
// gossip/gossip/pull/pullstore.go): a round starts every Interval with a
// Hello to PeerCount random peers; digests are accepted for DigestWait,
// then each missing digest is requested from one random peer that offered
// it; updates are accepted for ResponseWait after that. A remote's request
// is answered only within RequestWait of the Hello that carried its nonce.
// Digests and updates with a nonce this peer did not send, and updates
// outside a round, are ignored, as are messages of another MsgType.
//
// Time is read from Config.Now and advanced by Tick, so tests drive rounds
// without sleeping; Run calls Tick on a real timer until its context ends.
// The Mediator starts no goroutine of its own and never sends while holding
// its lock, so a Sender may deliver synchronously.
package pull
