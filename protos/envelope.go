package protos

import (
	"crypto/sha256"
	"fmt"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// SignedData is one (data, identity, signature) triple a policy evaluates:
// Signature must be a valid signature by the serialized Identity over Data.
type SignedData struct {
	Data      []byte
	Identity  []byte // a serialized msp.SerializedIdentity
	Signature []byte
}

// Signer is what a component needs to sign messages as one identity.
type Signer interface {
	// Sign returns a DER ECDSA signature (low-S) over SHA-256(msg).
	Sign(msg []byte) ([]byte, error)
	// Serialize returns the serialized msp.SerializedIdentity of the signer.
	Serialize() ([]byte, error)
}

// Envelope is a decoded cb.Envelope with its headers.
type Envelope struct {
	Envelope        *cb.Envelope
	Payload         *cb.Payload
	ChannelHeader   *cb.ChannelHeader
	SignatureHeader *cb.SignatureHeader
}

// SignedData returns the creator's signature over the payload.
func (e *Envelope) SignedData() SignedData {
	return SignedData{
		Data:      e.Envelope.Payload,
		Identity:  e.SignatureHeader.Creator,
		Signature: e.Envelope.Signature,
	}
}

// UnmarshalEnvelope decodes raw bytes as a cb.Envelope and parses its headers.
func UnmarshalEnvelope(raw []byte) (*Envelope, error) {
	env := &cb.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return nil, fmt.Errorf("decode common.Envelope: %w", err)
	}
	return ParseEnvelope(env)
}

// ParseEnvelope decodes the payload and headers of env and checks that the fields
// every consumer relies on are present.
func ParseEnvelope(env *cb.Envelope) (*Envelope, error) {
	if env == nil || len(env.Payload) == 0 {
		return nil, fmt.Errorf("envelope has no payload")
	}
	payload := &cb.Payload{}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		return nil, fmt.Errorf("decode common.Payload: %w", err)
	}
	if payload.Header == nil {
		return nil, fmt.Errorf("payload has no header")
	}
	chdr, err := UnmarshalChannelHeader(payload.Header.ChannelHeader)
	if err != nil {
		return nil, err
	}
	shdr, err := UnmarshalSignatureHeader(payload.Header.SignatureHeader)
	if err != nil {
		return nil, err
	}
	return &Envelope{Envelope: env, Payload: payload, ChannelHeader: chdr, SignatureHeader: shdr}, nil
}

// UnmarshalChannelHeader decodes a cb.ChannelHeader.
func UnmarshalChannelHeader(raw []byte) (*cb.ChannelHeader, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("header has no channel_header")
	}
	h := &cb.ChannelHeader{}
	if err := proto.Unmarshal(raw, h); err != nil {
		return nil, fmt.Errorf("decode common.ChannelHeader: %w", err)
	}
	return h, nil
}

// UnmarshalSignatureHeader decodes a cb.SignatureHeader and requires a creator.
func UnmarshalSignatureHeader(raw []byte) (*cb.SignatureHeader, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("header has no signature_header")
	}
	h := &cb.SignatureHeader{}
	if err := proto.Unmarshal(raw, h); err != nil {
		return nil, fmt.Errorf("decode common.SignatureHeader: %w", err)
	}
	if len(h.Creator) == 0 {
		return nil, fmt.Errorf("signature_header has no creator")
	}
	return h, nil
}

// NewChannelHeader returns a channel header of the given type, stamped now.
func NewChannelHeader(typ cb.HeaderType, channelID, txID string) *cb.ChannelHeader {
	return &cb.ChannelHeader{
		Type:      int32(typ),
		ChannelId: channelID,
		TxId:      txID,
		Timestamp: timestamppb.New(time.Now().UTC()),
	}
}

// NewSignatureHeader returns a signature header for signer with a fresh nonce.
func NewSignatureHeader(signer Signer) (*cb.SignatureHeader, error) {
	creator, err := signer.Serialize()
	if err != nil {
		return nil, fmt.Errorf("serialize signer: %w", err)
	}
	nonce, err := NewNonce()
	if err != nil {
		return nil, err
	}
	return &cb.SignatureHeader{Creator: creator, Nonce: nonce}, nil
}

// NewSignedEnvelope builds and signs an envelope of type typ carrying msg on
// channelID, as an orderer or an admin does for config and deliver requests.
func NewSignedEnvelope(typ cb.HeaderType, channelID string, signer Signer, msg proto.Message) (*cb.Envelope, error) {
	return newSignedEnvelope(typ, channelID, signer, msg, nil)
}

// NewDeliverRequest builds and signs the DELIVER_SEEK_INFO envelope of a
// Deliver request. tlsCert, when not empty, is the DER client certificate of
// the TLS session the request travels on: its SHA-256 in the channel header
// binds the request to that session, as deliver services with mutual TLS
// expect.
func NewDeliverRequest(signer Signer, channelID string, seek *ab.SeekInfo, tlsCert []byte) (*cb.Envelope, error) {
	var certHash []byte
	if len(tlsCert) > 0 {
		sum := sha256.Sum256(tlsCert)
		certHash = sum[:]
	}
	return newSignedEnvelope(cb.HeaderType_DELIVER_SEEK_INFO, channelID, signer, seek, certHash)
}

func newSignedEnvelope(typ cb.HeaderType, channelID string, signer Signer, msg proto.Message, tlsCertHash []byte) (*cb.Envelope, error) {
	shdr, err := NewSignatureHeader(signer)
	if err != nil {
		return nil, err
	}
	chdr := NewChannelHeader(typ, channelID, ComputeTxID(shdr.Nonce, shdr.Creator))
	chdr.TlsCertHash = tlsCertHash
	payload := &cb.Payload{
		Header: &cb.Header{ChannelHeader: Marshal(chdr), SignatureHeader: Marshal(shdr)},
		Data:   Marshal(msg),
	}
	return SignEnvelope(payload, signer)
}

// SignEnvelope marshals payload and signs it with signer.
func SignEnvelope(payload *cb.Payload, signer Signer) (*cb.Envelope, error) {
	raw := Marshal(payload)
	sig, err := signer.Sign(raw)
	if err != nil {
		return nil, fmt.Errorf("sign envelope: %w", err)
	}
	return &cb.Envelope{Payload: raw, Signature: sig}, nil
}

// EnvelopeChannelHeader decodes only the channel header of a marshalled
// envelope. Unlike UnmarshalEnvelope it accepts an envelope without a creator,
// such as the CONFIG envelope of a genesis block written by configtxgen.
func EnvelopeChannelHeader(raw []byte) (*cb.ChannelHeader, error) {
	env := &cb.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return nil, fmt.Errorf("decode common.Envelope: %w", err)
	}
	payload := &cb.Payload{}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		return nil, fmt.Errorf("decode common.Payload: %w", err)
	}
	return UnmarshalChannelHeader(payload.GetHeader().GetChannelHeader())
}
