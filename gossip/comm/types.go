package comm

import (
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/identity"
)

// RemotePeer is a peer to send to: its endpoint (host:port) and, when
// known, its PKI-ID. A PKI-ID given is checked against the handshake.
type RemotePeer struct {
	Endpoint string
	PKIID    identity.PKIID
}

// ConnInfo is what the handshake of a connection established about the
// remote peer.
type ConnInfo struct {
	PKIID    identity.PKIID
	Identity []byte // serialized identity (msp.SerializedIdentity)
	MSPID    string
	Endpoint string // remote address as seen on the connection
	// Signature and SignedData are the remote's signed ConnEstablish
	// message: proof, for a later check such as a channel's Readers policy,
	// that the identity is the one on the other end.
	Signature  []byte
	SignedData []byte
}

// ReceivedMessage is one message read from an authenticated connection.
type ReceivedMessage struct {
	Envelope *gp.Envelope
	Message  *gp.GossipMessage // Envelope.Payload decoded and checked
	Conn     ConnInfo
	// Respond sends env back on the connection the message came in on.
	Respond func(env *gp.Envelope) error
}
