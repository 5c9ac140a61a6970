// Package privdata is the private data part of a channel's gossip, Fabric's
// push at endorsement and pull for missing data, on the wire as Fabric v2.5
// peers speak it:
//
//   - Push: GossipMessage{Channel, Tag: CHAN_ONLY, Nonce, PrivateData{
//     PrivatePayload}} sent unsigned (the connection's handshake vouches for
//     the sender) with comm.SendWithAck; the receiver answers
//     GossipMessage{Nonce, Ack{Error}} on the same connection, Error empty
//     when it kept the data.
//   - Pull: GossipMessage{Channel, Tag: CHAN_ONLY, Nonce, PrivateReq{digests}},
//     answered by PrivateRes{elements} with the same nonce on the same
//     connection, one element per digest the responder serves, each with the
//     collection's write sets as payload. The requester asks the peers it is
//     given one after the other, each for what is still missing, and matches
//     an answer by nonce and by the peer it asked.
//
// What is kept and what is served is the peer's decision, behind Store: this
// package hands the Store the requester's or sender's ConnInfo (identity,
// MSP ID, signed handshake) for it to check collection membership. Before
// that, as for every channel message, a message from a peer whose
// organisation is not in the channel is dropped; a push must also come from
// an identity that satisfies the channel's Readers policy, which Fabric
// checks on the handshake's signature.
//
// Guarantees: the routing goroutine that calls Handle never waits for the
// Store: Store calls run on goroutines of their own, at most MaxConcurrent at
// once; a push that finds them all busy is acknowledged with an error, a
// request is dropped. A response carries at most MaxResponseBytes of
// payload (the rest is left for another peer or a later pull), and at most
// MaxDigests digests of a request are served. Answers nobody waits for are
// dropped. Close waits for the Store calls in flight.
package privdata
