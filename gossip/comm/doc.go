// Package comm is the gossip transport: the gossip.Gossip gRPC service
// (GossipStream, Ping) served on the peer's own gRPC server, connections to
// remote peers over the same service, and Fabric's handshake on each.
//
// Handshake (Fabric's gossip/comm/comm_impl.go): each side sends first, then
// reads, a GossipMessage with tag EMPTY holding ConnEstablish{pki_id,
// identity, tls_cert_hash, probe}, signed by the peer's signing identity.
// tls_cert_hash is SHA-256 over the DER of the sender's own TLS certificate
// on that connection. Each side checks the hash against the certificate the
// other presented, stores the identity in the identity.Store (which
// validates it and checks its PKI-ID) and verifies the signature. With TLS
// on, a side that presents no certificate is refused: the dialer presents
// the peer's TLS certificate as client certificate, and the peer's gRPC
// server must request one (tls.RequestClientCert, as Fabric's does). A
// dialer that expected a PKI-ID refuses another. A probe (Handshake) learns
// who answers at an endpoint and closes; the answering side does not keep
// the connection.
//
// Connections: at most one per remote PKI-ID, used both ways whoever
// dialled. As in Fabric (gossip/comm/conn.go), an authenticated inbound
// connection replaces an existing one to the same PKI-ID, and a dialled
// connection that finds one already there is closed in favour of it. Send
// is asynchronous and best effort: a message for a peer without a connection
// waits (up to SendBufferSize of them) while one is made, and a message that
// finds the send buffer full is dropped, as Fabric's non-blocking send does.
// Reading applies back pressure instead: a received message waits until
// every subscriber that accepts it has taken it.
//
// Received messages: every envelope read after the handshake is decoded and
// checked by gossip/message; one that fails is dropped and logged naming
// the sender, and the connection stays. ConnEstablish messages after the
// handshake are dropped. Everything else goes to the subscribers whose
// filter accepts it (Subscribe; Messages is a subscription to everything),
// with the ConnInfo of its connection and a Respond that sends on that same
// connection. Signatures of the messages themselves are not verified here:
// which messages must be signed is the consumer's rule.
//
// Acknowledged sends (Fabric's SendWithAck, used for private data pushed
// at endorsement): SendWithAck sends a message carrying a nonce to several
// peers, making connections as needed, and waits until enough of them
// answer GossipMessage{Nonce, Ack} on their connection. Acknowledgements
// are matched by nonce and the PKI-ID of the connection they come on; they
// never reach subscribers, and those nobody waits for are dropped. SendTo
// sends to one peer the same way, without waiting for an answer.
//
// Lifecycle: Close stops every goroutine the Comm started and waits for
// them; afterwards Send is a no-op, GossipStream refuses, and subscription
// channels are closed.
package comm
