// Package channel is one joined channel's gossip, as Fabric v2.5's peer
// runs it (gossip/gossip/channel, gossip/state, gossip/election):
//
//   - State info: this peer's signed StateInfo (ledger height, chaincodes)
//     is published every publishStateInfoInterval when it changed, others'
//     are kept (the newest per PKI-ID, only from peers whose organisation is
//     in the channel and whose signature satisfies the channel's Readers
//     policy), forwarded, and pulled with StateInfoPullRequest/Snapshot.
//     Peers lists them for discovery.
//   - Blocks: a received block enters an ordered buffer bounded by
//     blockBufferSize and is handed to the Committer in order; once
//     committed, a pushed block is pushed on to propagatePeerNum peers of our
//     organisation, and the newest maxBlockCountToStore blocks are offered
//     to block pull (gossip/pull, digests are decimal block numbers). A block
//     the Committer refuses is dropped, logged with its sender, and goes no
//     further. Blocks go only to peers of our organisation, as in Fabric.
//   - Leadership: Fabric's election among the organisation's peers in the
//     channel, or a static leader (peer.gossip.orgLeader); the peer starts
//     and stops its orderer puller from OnLeadership and hands what it pulls
//     to Gossip.
//   - State transfer: when a peer of the channel advertises a higher
//     height, the missing blocks are asked for in batches of at most
//     batchSize (RemoteStateRequest/Response). Requests are answered only
//     for peers whose handshake satisfies the channel's Readers policy.
//
// The package never verifies a block itself: Committer.Commit does, exactly
// as for a block from the orderer. It never sends a message outside the
// peers membership lists, and all its time comes from the Clock in Deps.
// Messages reach Handle already authenticated by gossip/comm; the caller
// routes a StateInfo or StateInfoPullRequest to the channel whose MAC
// (see MAC) it carries, and other messages by their channel field.
package channel
