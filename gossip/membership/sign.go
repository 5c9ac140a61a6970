package membership

import (
	"errors"
	"fmt"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"
)

// The helpers below stand in for gossip/message (Sign, NoopSign,
// SignSecret, Decode, InternalEndpoint), which is being written at the same
// time; they follow Fabric's gossip/protoext/signing.go and go away when
// that package lands.

// sign marshals msg and signs the bytes: the envelope's payload is exactly
// what was signed.
func sign(s Signer, msg *gp.GossipMessage) (*gp.Envelope, error) {
	payload, err := proto.Marshal(msg)
	if err != nil {
		return nil, err
	}
	sig, err := s.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("sign gossip message: %w", err)
	}
	return &gp.Envelope{Payload: payload, Signature: sig}, nil
}

// noopSign wraps msg unsigned, for point-to-point messages on an
// authenticated connection (membership request and response).
func noopSign(msg *gp.GossipMessage) (*gp.Envelope, error) {
	payload, err := proto.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return &gp.Envelope{Payload: payload}, nil
}

// signSecret attaches a signed secret carrying the internal endpoint.
func signSecret(s Signer, env *gp.Envelope, internalEndpoint string) error {
	payload, err := proto.Marshal(&gp.Secret{Content: &gp.Secret_InternalEndpoint{InternalEndpoint: internalEndpoint}})
	if err != nil {
		return err
	}
	sig, err := s.Sign(payload)
	if err != nil {
		return fmt.Errorf("sign gossip secret: %w", err)
	}
	env.SecretEnvelope = &gp.SecretEnvelope{Payload: payload, Signature: sig}
	return nil
}

// decode unmarshals an envelope's payload.
func decode(env *gp.Envelope) (*gp.GossipMessage, error) {
	if env == nil {
		return nil, errors.New("no envelope")
	}
	msg := &gp.GossipMessage{}
	if err := proto.Unmarshal(env.Payload, msg); err != nil {
		return nil, fmt.Errorf("envelope payload is not a gossip message: %w", err)
	}
	return msg, nil
}

// internalEndpoint reads the internal endpoint of a secret envelope, "" if
// there is none.
func internalEndpoint(s *gp.SecretEnvelope) string {
	if s == nil {
		return ""
	}
	secret := &gp.Secret{}
	if err := proto.Unmarshal(s.Payload, secret); err != nil {
		return ""
	}
	return secret.GetInternalEndpoint()
}

// withoutSecret is env without its secret envelope, for another
// organisation; env itself is left as it is (it may be sent elsewhere).
func withoutSecret(env *gp.Envelope) *gp.Envelope {
	if env == nil || env.SecretEnvelope == nil {
		return env
	}
	return &gp.Envelope{Payload: env.Payload, Signature: env.Signature}
}
