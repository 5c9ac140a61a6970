// Package endorser implements the peer's Endorser service (ProcessProposal).
//
// For each signed proposal it checks the header with Fabric v2.5's rules
// (type ENDORSER_TRANSACTION, or CONFIG as Fabric's `peer channel join` sends;
// epoch 0; a nonce and a creator; the txid derived from them), the creator (deserialized and
// validated by the channel's MSPs, or by the local MSP for the few
// channel-less proposals; its certificate not expired now, which Fabric's
// endorser does not check) and its signature, the channel ACL peer/Propose
// for user chaincode (the policy the channel config's ACLs assign it, by
// default /Channel/Application/Writers; system chaincodes check the ACL of
// the function called themselves, as in Fabric: qscc/<function>,
// cscc/<function>, _lifecycle/<function>), and refuses txids already on the
// ledger. An ACL refusal names the resource, the policy and the creator. It then runs the chaincode, a system chaincode
// in-process or user chaincode through the chaincode runtime with the package
// ID this peer's organisation approved, on a fresh ledger simulator, and signs
// a ProposalResponse over the public read/write set; private writes go to the
// transient store keyed by txid.
//
// A successful endorsement carries, unsigned, the transaction's chaincode
// interest (ProposalResponse.Interest) in Fabric's shape, for gateways and
// clients to ask service discovery for the endorsers it needs: the user
// chaincodes it read or wrote (those called by chaincode included), the
// collections it wrote or read private data from, and the key-level
// endorsement policies of the committed keys it writes.
//
// The chaincode definition and approved package may come from the channel's
// lifecycle.DefinitionCache, but the endorsement always records, through the
// simulator, the read of the definition's sequence key with its committed
// version (as Fabric does), and refuses to pair a cached definition with the
// read of another sequence: the cache never changes endorsement bytes.
//
// Chaincode may call chaincode (Endorser.InvokeChaincode, the TxContext's
// Invoker): on the same channel the callee shares the transaction and
// simulator (its own namespace, its definition's sequence read recorded, its
// event dropped); on another channel it runs on a throwaway simulator of that
// channel, so it can only be queried. To call user chaincode the caller's
// proposal must satisfy the target channel's peer/ChaincodeToChaincode ACL
// (by default its Writers policy); a system chaincode checks its own.
//
// A definition committed with InitRequired (`--init-required`) is enforced
// as Fabric does, for proposals and for chaincode called by chaincode: the
// chaincode's namespace holds InitializedKey with the definition version that
// was initialized; until it holds the current version only an init
// (ChaincodeInput.IsInit, `chaincode invoke --isInit`) is accepted, which
// writes it, and afterwards an init is refused. The key is read and written
// through the transaction's simulator, so a second init of the same version
// fails MVCC validation. Without InitRequired an init is refused.
//
// Like Fabric, every failure is answered as a ProposalResponse with status
// 500 and a message naming the cause, and a chaincode response with status
// >= 400 is returned unendorsed. The endorser never commits state and never
// talks to the orderer.
package endorser
