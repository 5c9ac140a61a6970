// Package channelconfig owns a channel's configuration tree (cb.Config): it
// reads Fabric's configtx.yaml, builds genesis blocks identical in structure
// to configtxgen's, parses any config into an immutable Bundle (MSPs, policies
// compiled by absolute path, orderer and application settings) and evaluates
// policies the way Fabric does.
//
// Guarantees:
//   - GenesisBlock produces the same groups, values, policies, versions and
//     mod_policies as configtxgen for the same configtx.yaml and profile.
//   - Signature policies check each signer through the channel MSPs
//     (deserialize, validate, verify the signature), count each distinct
//     identity once — MSP ID and certificate normalised as Fabric's MSP
//     normalises it, so re-encodings of one certificate are one signer — and
//     use each signature for at most one principal. Expiry is checked only
//     when the caller sets a time (SignatureSet.ValidAt). A
//     signature is verified only when its signer could satisfy a principal,
//     and at most once per SignatureSet, however many policies judge it; the
//     verdict and error are those of checking every signature first.
//   - Policy errors wrap ErrPolicyNotSatisfied and say which principals or
//     sub-policies were not satisfied and which signatures were rejected, why.
//   - A Bundle never changes after NewBundle returns; it is safe for
//     concurrent use.
//   - ProposeConfigUpdate applies Fabric's configtx rules to a CONFIG_UPDATE
//     (read-set versions, write-set versions, the current mod_policy of every
//     changed element satisfied by the update's signatures) and admits the
//     result only if it parses as a Bundle and is a valid successor (same
//     consensus type and organization MSP IDs, valid Raft consenters, one
//     consenter change at a time). Its errors name the element, versions,
//     policy and signers.
//
// It never does I/O other than reading configtx.yaml and the files it names,
// signs only with a signer its caller passes (ConfigTxEnvelope), and does not
// import peer, orderer or ledger code.
package channelconfig
