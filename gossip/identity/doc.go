// Package identity names gossip peers and keeps their identities.
//
// A PKI-ID is Fabric's: SHA-256 over the MSP ID followed by the identity
// bytes (the PEM certificate) of a serialized identity. Peers learn each
// other's identities from handshakes, alive messages and identity pull; the
// Store keeps each one once it is valid for an organisation the peer knows,
// and verifies gossip signatures against it.
//
// Guarantees: the Store holds only identities whose PKI-ID matches, that the
// Verifier accepted when they were put, and whose certificate had not
// expired then; an identity whose certificate expires is no longer returned
// from that moment on. As in Fabric (gossip/identity/identity.go), Expire
// (and Run, every tenth of the usage timeout) removes identities whose
// certificate expired and those not used for UsageTimeout (one hour), never
// the peer's own; Revalidate drops identities the Verifier no longer
// accepts (Fabric's SuspectPeers, after a configuration update). The removed
// PKI-IDs are returned so that the owner closes their connections. Time
// comes from an injectable clock (WithClock).
//
// Managers adapts MSP managers (every joined channel's and the local MSP's)
// to the Verifier the Store needs. The package does no network I/O and never
// logs.
package identity
