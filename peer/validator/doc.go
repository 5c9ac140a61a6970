// Package validator checks blocks on a committing peer before the ledger
// commits them.
//
// VerifyBlock checks what the ordering service vouches for: the hash chain, the
// data hash and the orderers' signatures against the channel's
// /Channel/Orderer/BlockValidation policy, after checking that every envelope
// is in canonical form as Fabric does since CVE-2023-46132. ValidateBlock
// gives every transaction its Fabric v2.5 validation code
// (pb.TxValidationCode): well formed, creator and signature valid for the
// channel's MSPs, TxID derived from
// nonce and creator and not seen before, and the endorsement policy of every
// namespace the transaction writes satisfied by valid endorsements — the
// chaincode's committed definition in `_lifecycle`, the channel's
// LifecycleEndorsement policy for `_lifecycle` itself, each organisation's
// Endorsement policy for writes to its implicit collection, a collection's own
// endorsement policy, and key-level (state-based) policies stored in a key's
// VALIDATION_PARAMETER metadata. For a private key that metadata is the one
// of its hash in the hashed state (SetPrivateDataValidationParameter), so
// every peer of the channel, member of the collection or not, judges alike;
// as in Fabric, a metadata-only write is checked like a value write, and a
// key whose policy an earlier valid transaction of the block changed cannot
// be written later in that block.
//
// Each endorsement of a transaction is verified at most once, however many
// policies look at it; an endorsement this peer signed itself over exactly
// the same bytes (OwnSignatures) is not verified again. Endorsers are counted
// once per identity, whatever encoding of the certificate each endorsement
// carries (see channelconfig).
//
// Unlike Fabric, the creator's and the endorsers' certificates must not have
// expired at the transaction's own time, the timestamp of its channel header
// (a transaction without one is BAD_CREATOR_SIGNATURE; an expired creator is
// BAD_CREATOR_SIGNATURE, an expired endorser does not count for any policy).
// The validating peer's clock is never used, so verdicts do not depend on
// when a peer validates a block (docs/security.md).
//
// Guarantees: results are deterministic (signature checks run in parallel on a
// bounded pool, verdicts are assembled by transaction index); an error is
// returned only when the block cannot be judged at all (bad input, state read
// failures), never for an invalid transaction. A panic while judging one
// transaction (a bug met by its bytes) is contained to it: it is logged with
// its stack and the transaction gets PanicCode (INVALID_OTHER_REASON, Fabric's
// code for a transaction it cannot parse), so the block still commits and
// every peer reaches the same verdict.
//
// It never writes state and never runs MVCC: the ledger does that on the
// transactions still VALID. It does not authorise configuration updates: a
// CONFIG transaction is VALID when it is well formed and signed by a channel
// member; checking the update against the mod_policies is channelconfig's job.
package validator
