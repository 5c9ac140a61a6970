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
//   - Errors name the identity (subject and MSP) and the reason, and wrap the
//     sentinel errors ErrBadSignature, ErrInvalidIdentity, ErrUnknownMSP and
//     ErrPrincipalNotSatisfied.
//
// It never checks certificate expiry during validation (Fabric does not
// either), never logs or returns private key material, and does no network I/O.
package msp
