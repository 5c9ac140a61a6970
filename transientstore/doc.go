// Package transientstore keeps, on disk, the private write sets a peer
// produces at endorsement until their transaction commits, so that a peer
// restarted between endorsement and commit still holds them.
//
// One Store is one LevelDB folder and serves one channel; the peer opens one
// per channel under <peer.fileSystemPath>/transientstore/<channel>. Each entry
// records the ledger height at which it was simulated. Take removes every
// entry of the transactions a block commits (or Get reads them and Remove
// removes them once the block is known committed, for a committer that may
// have to commit the block again); PurgeBelow removes entries
// simulated below a height, so endorsements whose transactions never commit do
// not accumulate (Fabric purges those older than
// peer.gossip.pvtData.transientstoreMaxBlockRetention blocks).
//
// Several entries of one transaction may be stored: endorsements (a client
// may ask the same peer twice) and collections other peers pushed at their
// endorsement, one collection per entry. Take and Get return, per
// transaction, the union of its entries' collections (of a collection held
// twice, the first: identical for a deterministic chaincode); Entries returns
// them all, to answer other peers' pulls.
//
// Layout (all integers big-endian):
//
//	"t" txID 0x00 height(8) nonce(8)  -> version(1)=1 | marshaled TxPvtReadWriteSet
//	"h" height(8) txID 0x00 nonce(8)  -> empty (the height index for PurgeBelow)
//
// A Store is safe for concurrent use. It never reads or writes the ledger.
package transientstore
