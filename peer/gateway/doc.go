// Package gateway implements Fabric's Gateway gRPC service
// (gateway.Gateway: Evaluate, Endorse, Submit, CommitStatus, ChaincodeEvents) on
// a peer, compatible with the official fabric-gateway client SDKs.
//
// When gossip knows the channel's peers (Channel.Peers lists another peer
// than this one), endorsements are planned from service discovery, as
// Fabric's gateway plans them: Endorse has a peer of the local organisation
// endorse first (the highest ledger height, this peer among equals), asks
// discovery (discovery.Endorsers) for the layouts that satisfy the chaincode
// interest of that response (chaincodes called, collections written or read,
// key-level policies; with transient data only collection members), and asks
// the peers each layout still needs, best first; a peer that fails is
// replaced by the next of its group (organisation), and a layout that cannot
// be completed gives way to the next. Endorsing organisations the client
// names get one peer each. Evaluate tries the local organisation's peers
// that list the chaincode (this one first among equals), then the other
// organisations' by decreasing ledger height, moving on when a peer cannot
// answer but not when the chaincode returned an error.
//
// Only when discovery knows no peer of the channel but this one (gossip off,
// or none heard of yet) does the gateway fall back to the plan it had before
// discovery: Evaluate runs on this peer, and Endorse endorses locally, then
// collects endorsements from peers of just enough other organisations to
// satisfy the chaincode's endorsement policy (a signature policy, or a
// channel policy reference such as MAJORITY Endorsement resolved from the
// channel config), reaching them through the anchor peers of the channel
// configuration over TLS. Either way Endorse returns the prepared, unsigned
// transaction envelope. Submit broadcasts the signed envelope to one of the
// channel's orderers. CommitStatus and ChaincodeEvents answer signed requests
// whose signature and the channel's ACL are checked, as Fabric's gateway
// checks them: gateway/CommitStatus and gateway/ChaincodeEvents, the policy
// the channel config's ACLs assign, by default /Channel/Application/Readers
// (Evaluate and Endorse are held to peer/Propose by the endorser). A
// ChaincodeEvents stream is judged again at each config block and ends with
// PermissionDenied when the new config refuses its requester. They wait on
// the CommitNotifier that the peer's commit path feeds after every block.
//
// Errors are gRPC statuses whose details are gateway.ErrorDetail values, one
// per endpoint that failed, naming its address, MSP ID and the cause.
//
// The package owns the CommitNotifier and the gRPC connections it opens to
// other peers and orderers (closed by Server.Close). It never validates or
// commits blocks and never holds private data.
package gateway
