package ledger

import (
	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-ledger/weft/protos"
)

// lenFields reads raw as a marshalled message made of nothing but its fields
// 1 and 2, each length-delimited (bytes or an embedded message) and present
// at most once, and returns their values as slices of raw, without copying.
// A field that is absent comes back nil; one that is present, even empty,
// comes back non-nil. ok is false for anything else (another field, a field
// repeated, another wire type, bytes that do not parse): the caller then
// decodes raw with proto, which copies but knows every rule.
//
// Envelope, Payload and Header all have this shape, and decoding them with
// proto.Unmarshal only to reach the small channel header copies the whole
// transaction twice.
func lenFields(raw []byte) (f1, f2 []byte, ok bool) {
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 || typ != protowire.BytesType {
			return nil, nil, false
		}
		raw = raw[n:]
		v, n := protowire.ConsumeBytes(raw)
		if n < 0 {
			return nil, nil, false
		}
		raw = raw[n:]
		switch {
		case num == 1 && f1 == nil:
			f1 = v
		case num == 2 && f2 == nil:
			f2 = v
		default:
			return nil, nil, false
		}
	}
	return f1, f2, true
}

// envelopeChannelHeader returns the channel_header bytes of a marshalled
// common.Envelope as a slice of raw, when raw is in the plain form lenFields
// reads and holds a non-empty channel header; ok is false otherwise.
func envelopeChannelHeader(raw []byte) (chdr []byte, ok bool) {
	payload, _, ok := lenFields(raw)
	if !ok || payload == nil {
		return nil, false
	}
	header, _, ok := lenFields(payload)
	if !ok || header == nil {
		return nil, false
	}
	chdr, _, ok = lenFields(header)
	if !ok || len(chdr) == 0 {
		return nil, false
	}
	return chdr, true
}

// channelHeaderOf is protos.EnvelopeChannelHeader, the same header or the
// same error, without copying the payload on the way when the envelope is
// in the plain form.
func channelHeaderOf(raw []byte) (*cb.ChannelHeader, error) {
	if chdr, ok := envelopeChannelHeader(raw); ok {
		// EnvelopeChannelHeader ends with this call on these same bytes.
		return protos.UnmarshalChannelHeader(chdr)
	}
	return protos.EnvelopeChannelHeader(raw)
}
