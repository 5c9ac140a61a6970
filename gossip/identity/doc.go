// Package identity names gossip peers and keeps their identities.
//
// A PKI-ID is Fabric's: SHA-256 over the MSP ID followed by the identity
// bytes (the PEM certificate) of a serialized identity. Peers learn each
// other's identities from handshakes, alive messages and identity pull; the
// Store keeps each one once it is valid for an organisation the peer knows,
// and verifies gossip signatures against it.
package identity
