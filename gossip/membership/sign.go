package membership

import (
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"

	"github.com/weft-ledger/weft/gossip/message"
)

// The helpers below adapt gossip/message to a Signer.

func sign(s Signer, msg *gp.GossipMessage) (*gp.Envelope, error) {
	return message.Sign(msg, s.Sign)
}

func noopSign(msg *gp.GossipMessage) (*gp.Envelope, error) { return message.NoopSign(msg) }

func signSecret(s Signer, env *gp.Envelope, internalEndpoint string) error {
	return message.SignSecret(env, internalEndpoint, s.Sign)
}

// decode unmarshals and checks an envelope nested in a membership message
// (self information, response entries, pulled items).
func decode(env *gp.Envelope) (*gp.GossipMessage, error) { return message.Decode(env) }

// withoutSecret is env without its secret envelope, for another
// organisation; env itself is left as it is.
func withoutSecret(env *gp.Envelope) *gp.Envelope {
	if env == nil || env.SecretEnvelope == nil {
		return env
	}
	return message.NoSecret(env)
}
