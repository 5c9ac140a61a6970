// Package message is the one place remote bytes become gossip messages: it
// signs GossipMessages into Envelopes, decodes Envelopes back and checks them
// (content present, tag legal for the content, the fields the rest of gossip
// relies on), and verifies envelope and secret envelope signatures.
//
// The tag rules are Fabric's (gossip/protoext/message.go, IsTagLegal) for
// every content Fabric checks them on; for the contents Fabric's gossip
// layer never tag-checks (ConnEstablish, Empty, Acknowledgement, private
// data), Decode accepts the tag Fabric sends: EMPTY for ConnEstablish,
// CHAN_ONLY for private data, any tag for Empty and Acknowledgement (Fabric
// sends acknowledgements with the tag unset).
//
// Guarantees: Decode never panics on any input; a message it returns passes
// CheckTag and CheckFields, and marshals to bytes that decode to an equal
// message. Decode does not verify signatures: Verify does, against an
// identity the caller trusts for the sender. Nothing here does I/O or logs.
//
// Secret envelopes carry what must not leave the organisation (the internal
// endpoint): NoSecret strips them from an envelope that crosses
// organisations.
package message
