// Package gossip is the peer's side of Fabric's gossip protocol: it wires
// the transport (gossip/comm), the membership of the organisation and the
// channels (gossip/membership) and, per joined channel, the channel state
// (gossip/channel: state info, block push and pull, leader election, state
// transfer) into one Service the peer node starts and stops.
//
// Layout, lowest first:
//
//   - gossip/identity: PKI-IDs (Fabric's SHA-256 over MSP ID and certificate)
//     and the store of peer identities that verifies gossip signatures.
//   - gossip/message: signing, decoding and checking GossipMessages (tags,
//     required fields), the one place remote bytes become messages.
//   - gossip/comm: the gossip.Gossip gRPC service (GossipStream, Ping), the
//     signed ConnEstablish handshake bound to the TLS certificate, and one
//     connection per remote peer.
//   - gossip/pull: Fabric's pull exchange (hello, digest, request, update),
//     used for identities and blocks.
//   - gossip/membership: alive messages, membership request and response,
//     expiry of dead peers, bootstrap and anchor peers, identity pull.
//   - gossip/channel: one per channel.
//   - gossip/privdata: one per channel, private data pushed at endorsement
//     (acknowledged) and pulled when missing, kept and served by the peer's
//     privdata.Store (ChannelDeps.Private); Service.PushPrivateData and
//     PullPrivateData are its client calls.
//
// Every message that reaches this package has passed the handshake of its
// connection; every block handed to the peer is verified by the peer exactly
// as a block from the orderer.
package gossip
