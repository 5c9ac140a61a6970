package ledger

import (
	"unicode/utf8"

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

// channelHeaderTxID returns the tx_id of raw, a marshalled
// common.ChannelHeader, as a slice of raw, when raw holds nothing but the
// header's eight fields, each at most once, of their own wire types, with
// valid UTF-8 strings and a timestamp of only seconds and nanos: proto
// decodes such bytes without error to that tx_id. ok is false for anything
// else, which the caller leaves to proto. It spares the TxID index the
// header, its timestamp and its strings, of which it needs one.
func channelHeaderTxID(raw []byte) (txID []byte, ok bool) {
	if len(raw) == 0 {
		return nil, false
	}
	var seen uint16
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 || num > 8 || seen&(1<<num) != 0 {
			return nil, false
		}
		seen |= 1 << num
		raw = raw[n:]
		switch num {
		case 1, 2, 6: // type, version, epoch
			if typ != protowire.VarintType {
				return nil, false
			}
			_, n = protowire.ConsumeVarint(raw)
		default: // 3 timestamp, 4 channel_id, 5 tx_id, 7 extension, 8 tls_cert_hash
			if typ != protowire.BytesType {
				return nil, false
			}
			var v []byte
			v, n = protowire.ConsumeBytes(raw)
			if n < 0 {
				return nil, false
			}
			switch {
			case num == 3 && !plainTimestamp(v):
				return nil, false
			case (num == 4 || num == 5) && !utf8.Valid(v):
				return nil, false
			case num == 5:
				txID = v
			}
		}
		if n < 0 {
			return nil, false
		}
		raw = raw[n:]
	}
	return txID, true
}

// plainTimestamp reports whether raw is a google.protobuf.Timestamp made of
// nothing but varint seconds (1) and nanos (2).
func plainTimestamp(raw []byte) bool {
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 || (num != 1 && num != 2) || typ != protowire.VarintType {
			return false
		}
		raw = raw[n:]
		if _, n = protowire.ConsumeVarint(raw); n < 0 {
			return false
		}
		raw = raw[n:]
	}
	return true
}
