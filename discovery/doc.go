// Package discovery is Fabric's service discovery on the peer: the
// discovery.Discovery gRPC service (Server) and the endorsement computation
// behind its chaincode query (Endorsers), which the peer's Gateway also
// uses to plan endorsements.
//
// It owns no state beyond the authorisation cache: what it answers comes
// from two interfaces the peer implements, Channels (channel configs and
// committed chaincode definitions) and Membership (gossip's view of alive
// peers with their signed alive and state info envelopes). It never talks to
// other peers and never changes anything.
//
// Guarantees, as Fabric v2.5:
//   - A request's signature by its client identity is verified before any
//     query is answered. A channel query needs the channel's
//     /Channel/Application/Writers policy (Config.ChannelPolicy); the local
//     peers query needs an admin of the peer's MSP (any member with
//     OrgMembersAllowedAccess). A refused query gets "access denied"; the
//     cause goes to the log with the client and the remote address.
//   - Under mutual TLS a request must claim the SHA-256 of the client's TLS
//     certificate (client_tls_cert_hash); a claimed hash never names another
//     certificate than the one on the connection.
//   - Verdicts are cached per channel and signed request (when enabled) and
//     forgotten when the channel's config sequence changes.
//   - Peers are disclosed only with an external endpoint, and their alive
//     envelopes without the secret part.
//   - A peer is offered as an endorser only when it satisfies a principal
//     of the policy in the channel's MSPs, is a member of the collections
//     read, and its state info lists each chaincode of the interest with the
//     definition's sequence as version.
package discovery
