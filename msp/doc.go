// Package msp implements Fabric-compatible X.509 membership: identities
// (msp.SerializedIdentity with a PEM certificate), ECDSA P-256 signing and
// verification, MSP definitions (msp.FabricMSPConfig, as carried in channel
// configuration) loaded from MSP folders, identity validation against an
// organisation's CAs, NodeOU roles and principal matching, and development
// crypto material in cryptogen's layout.
//
// Guarantees:
//   - Verify accepts exactly what Fabric accepts: DER ECDSA over SHA-256, low-S
//     only; Sign always produces low-S DER.
//   - An MSP and a Manager are immutable after construction and safe for
//     concurrent use; validation results are cached per certificate, and a
//     Manager's deserialized valid identities per serialized bytes, in bounded
//     caches. Identities a Manager returns are shared: never modify them.
//   - A Manager's identities carry their certificate normalised as Fabric's
//     MSP holds it (the CA's signature in low-S form), so one certificate in
//     any encoding (a flipped-S twin, other PEM whitespace) is one signer:
//     MSPID and Cert.Raw identify it.
//   - Revocation: a CRL of the MSP counts when the CA that issued the revoked
//     certificate signed it, at every link of the chain, so a root's CRL that
//     revokes an intermediate CA invalidates everything issued under it; New
//     refuses a definition whose own intermediates are revoked.
//   - Errors name the identity (subject and MSP) and the reason, and wrap the
//     sentinel errors ErrBadSignature, ErrInvalidIdentity, ErrUnknownMSP,
//     ErrPrincipalNotSatisfied and ErrExpired.
//
// It never checks certificate expiry during validation (Fabric does not
// either): validation does not depend on the time. Callers check expiry with
// Identity.CheckExpiry at a time they choose. It never logs or returns
// private key material, and does no network I/O.
package msp
