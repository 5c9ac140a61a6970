// Package membership is this peer's view of the gossip network: which
// peers are alive and which are dead, by PKI-ID, with their endpoints and
// their latest signed alive message. It follows Fabric v2.5's discovery
// (gossip/discovery/discovery_impl.go), the disclosure rules of
// gossip/gossip/gossip_impl.go and the identity pull of
// gossip/gossip/certstore.go.
//
// What it does:
//
//   - Sends a signed alive message every AliveTimeInterval (with a secret
//     envelope carrying the internal endpoint, and the peer's identity during
//     PublishCertPeriod after start) to PropagatePeerNum peers, and forwards
//     every new alive message it learns the same way.
//   - Marks a peer dead when nothing newer came from it for
//     AliveExpirationTimeout, probes dead peers every ReconnectInterval, and
//     forgets them after AliveExpirationTimeout × MsgExpirationFactor unless
//     they are bootstrap or anchor peers.
//   - Sends membership requests to bootstrap peers (after a handshake that
//     must show a peer of this peer's organisation), to anchor peers passed
//     to Connect, to dead peers that answer a probe, and every PullInterval
//     to PullPeerNum alive peers; answers requests with the alive and dead
//     members the requester may see.
//   - Pulls signed PeerIdentity messages (gossip/pull, IDENTITY_MSG) and
//     hands the valid ones to the identity store.
//
// What it guarantees: an alive message is believed only when it is newer
// (PeerTime: inc_num, then seq_num) than the last one of its PKI-ID and is
// signed by the identity of that PKI-ID; one from a PKI-ID whose identity is
// not known yet is dropped. Another organisation never receives from this
// peer an internal endpoint (secret envelopes are stripped), nor an alive
// message of a peer without an external endpoint, nor anything at all when
// it has no external endpoint itself, except about its own organisation.
//
// What it never does: dial on its own (the Transport does), or keep state
// outside its lock while sending: all sends happen after the lock is
// released, so a Transport may deliver synchronously. Time is read from
// Config.Now and only Tick acts on it; Run calls Tick on real timers.
package membership
