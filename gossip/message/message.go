package message

import (
	"errors"
	"fmt"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/protobuf/proto"
)

// ErrInvalid is wrapped by every error of Decode, CheckTag and CheckFields:
// the message is malformed whoever signed it.
var ErrInvalid = errors.New("invalid gossip message")

// Sign marshals m into an Envelope's Payload and signs the payload with
// sign.
func Sign(m *gp.GossipMessage, sign func([]byte) ([]byte, error)) (*gp.Envelope, error) {
	payload, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal gossip %s message: %w", Kind(m), err)
	}
	sig, err := sign(payload)
	if err != nil {
		return nil, fmt.Errorf("sign gossip %s message: %w", Kind(m), err)
	}
	return &gp.Envelope{Payload: payload, Signature: sig}, nil
}

// NoopSign wraps m in an Envelope with no signature, as Fabric sends the
// messages whose authenticity comes from the connection alone (pull digests
// and requests, state transfer, acknowledgements, private data).
func NoopSign(m *gp.GossipMessage) (*gp.Envelope, error) {
	return Sign(m, func([]byte) ([]byte, error) { return nil, nil })
}

// SignSecret attaches to env a SecretEnvelope holding Secret{InternalEndpoint}
// signed with sign, replacing any secret env had.
func SignSecret(env *gp.Envelope, internalEndpoint string, sign func([]byte) ([]byte, error)) error {
	payload, err := proto.Marshal(&gp.Secret{Content: &gp.Secret_InternalEndpoint{InternalEndpoint: internalEndpoint}})
	if err != nil {
		return fmt.Errorf("marshal gossip secret: %w", err)
	}
	sig, err := sign(payload)
	if err != nil {
		return fmt.Errorf("sign gossip secret: %w", err)
	}
	env.SecretEnvelope = &gp.SecretEnvelope{Payload: payload, Signature: sig}
	return nil
}

// Decode unmarshals env's payload and checks it with CheckTag and
// CheckFields. It does not verify signatures.
func Decode(env *gp.Envelope) (*gp.GossipMessage, error) {
	if env == nil {
		return nil, fmt.Errorf("%w: no envelope", ErrInvalid)
	}
	if len(env.Payload) == 0 {
		return nil, fmt.Errorf("%w: envelope has an empty payload", ErrInvalid)
	}
	m := &gp.GossipMessage{}
	if err := proto.Unmarshal(env.Payload, m); err != nil {
		return nil, fmt.Errorf("%w: payload is not a GossipMessage: %v", ErrInvalid, err)
	}
	if err := CheckTag(m); err != nil {
		return nil, err
	}
	if err := CheckFields(m); err != nil {
		return nil, err
	}
	return m, nil
}

// Verify checks env's signature over its payload, and its secret envelope's
// signature when it has one, with v against the sender's serialized
// identity. An unsigned envelope is refused.
func Verify(env *gp.Envelope, serialized []byte, v func(serialized, sig, msg []byte) error) error {
	if env == nil {
		return errors.New("verify gossip envelope: no envelope")
	}
	if len(env.Payload) == 0 {
		return errors.New("verify gossip envelope: empty payload")
	}
	if len(env.Signature) == 0 {
		return errors.New("verify gossip envelope: it is not signed")
	}
	if err := v(serialized, env.Signature, env.Payload); err != nil {
		return fmt.Errorf("verify gossip envelope: %w", err)
	}
	if s := env.SecretEnvelope; s != nil {
		if len(s.Payload) == 0 || len(s.Signature) == 0 {
			return errors.New("verify gossip secret envelope: empty payload or no signature")
		}
		if err := v(serialized, s.Signature, s.Payload); err != nil {
			return fmt.Errorf("verify gossip secret envelope: %w", err)
		}
	}
	return nil
}

// InternalEndpoint is the internal endpoint carried by env's secret
// envelope, or "" when it has none or it cannot be read. Only trust it once
// Verify accepted env.
func InternalEndpoint(env *gp.Envelope) string {
	if env == nil || env.SecretEnvelope == nil {
		return ""
	}
	s := &gp.Secret{}
	if err := proto.Unmarshal(env.SecretEnvelope.Payload, s); err != nil {
		return ""
	}
	return s.GetInternalEndpoint()
}

// NoSecret returns a copy of env without its secret envelope: what may be
// sent to another organisation. The copy shares env's payload and signature
// bytes; env itself is unchanged.
func NoSecret(env *gp.Envelope) *gp.Envelope {
	if env == nil {
		return nil
	}
	return &gp.Envelope{Payload: env.Payload, Signature: env.Signature}
}

// Channel is the channel a message names, "" for none.
func Channel(m *gp.GossipMessage) string { return string(m.GetChannel()) }

// IsPull reports whether m is part of the pull exchange (hello, digest,
// request, update).
func IsPull(m *gp.GossipMessage) bool {
	return m.GetHello() != nil || m.GetDataDig() != nil || m.GetDataReq() != nil || m.GetDataUpdate() != nil
}

// PullType is the kind of item a pull message is about (blocks or
// identities), UNDEFINED when m is not a pull message.
func PullType(m *gp.GossipMessage) gp.PullMsgType {
	switch {
	case m.GetHello() != nil:
		return m.GetHello().MsgType
	case m.GetDataDig() != nil:
		return m.GetDataDig().MsgType
	case m.GetDataReq() != nil:
		return m.GetDataReq().MsgType
	case m.GetDataUpdate() != nil:
		return m.GetDataUpdate().MsgType
	}
	return gp.PullMsgType_UNDEFINED
}

// IsStateInfo reports whether m is about channel state: a state info
// message, a snapshot of them or a request for one.
func IsStateInfo(m *gp.GossipMessage) bool {
	return m.GetStateInfo() != nil || m.GetStateSnapshot() != nil || m.GetStateInfoPullReq() != nil
}

// IsRemoteState reports whether m is a state transfer request or response.
func IsRemoteState(m *gp.GossipMessage) bool {
	return m.GetStateRequest() != nil || m.GetStateResponse() != nil
}

// IsPrivateData reports whether m carries private data or asks for it.
func IsPrivateData(m *gp.GossipMessage) bool {
	return m.GetPrivateReq() != nil || m.GetPrivateRes() != nil || m.GetPrivateData() != nil
}

// IsChannelRestricted reports whether m's tag keeps it within its channel.
func IsChannelRestricted(m *gp.GossipMessage) bool {
	switch m.GetTag() {
	case gp.GossipMessage_CHAN_AND_ORG, gp.GossipMessage_CHAN_ONLY, gp.GossipMessage_CHAN_OR_ORG:
		return true
	}
	return false
}

// IsOrgRestricted reports whether m's tag keeps it within the organisation.
func IsOrgRestricted(m *gp.GossipMessage) bool {
	t := m.GetTag()
	return t == gp.GossipMessage_CHAN_AND_ORG || t == gp.GossipMessage_ORG_ONLY
}

// Kind names m's content for logs and errors, e.g. "AliveMsg".
func Kind(m *gp.GossipMessage) string {
	switch m.GetContent().(type) {
	case nil:
		return "empty"
	case *gp.GossipMessage_AliveMsg:
		return "AliveMsg"
	case *gp.GossipMessage_MemReq:
		return "MemReq"
	case *gp.GossipMessage_MemRes:
		return "MemRes"
	case *gp.GossipMessage_DataMsg:
		return "DataMsg"
	case *gp.GossipMessage_Hello:
		return "Hello"
	case *gp.GossipMessage_DataDig:
		return "DataDig"
	case *gp.GossipMessage_DataReq:
		return "DataReq"
	case *gp.GossipMessage_DataUpdate:
		return "DataUpdate"
	case *gp.GossipMessage_Empty:
		return "Empty"
	case *gp.GossipMessage_Conn:
		return "Conn"
	case *gp.GossipMessage_StateInfo:
		return "StateInfo"
	case *gp.GossipMessage_StateSnapshot:
		return "StateSnapshot"
	case *gp.GossipMessage_StateInfoPullReq:
		return "StateInfoPullReq"
	case *gp.GossipMessage_StateRequest:
		return "StateRequest"
	case *gp.GossipMessage_StateResponse:
		return "StateResponse"
	case *gp.GossipMessage_LeadershipMsg:
		return "LeadershipMsg"
	case *gp.GossipMessage_PeerIdentity:
		return "PeerIdentity"
	case *gp.GossipMessage_Ack:
		return "Ack"
	case *gp.GossipMessage_PrivateReq:
		return "PrivateReq"
	case *gp.GossipMessage_PrivateRes:
		return "PrivateRes"
	case *gp.GossipMessage_PrivateData:
		return "PrivateData"
	}
	return "unknown"
}
