// Package gateway implements Fabric's Gateway gRPC service
// (gateway.Gateway: Evaluate, Endorse, Submit, CommitStatus, ChaincodeEvents) on
// a peer, compatible with the official fabric-gateway client SDKs.
//
// Evaluate runs a proposal on the local peer's endorser. Endorse endorses
// locally, then collects endorsements from peers of just enough other
// organisations to satisfy the chaincode's endorsement policy (a signature
// policy, or a channel policy reference such as MAJORITY Endorsement resolved
// from the channel config), reaching them through the anchor peers of the
// channel configuration over TLS; it returns the prepared, unsigned
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
// per endpoint that failed, naming its address and MSP ID.
//
// The package owns the CommitNotifier and the gRPC connections it opens to
// other peers and orderers (closed by Server.Close). It never validates or
// commits blocks and never holds private data.
package gateway
