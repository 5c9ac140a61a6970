package protos

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// channelHeaderBytes finds the channel header of a serialized common.Envelope
// without decoding (and copying) the envelope and its payload: it walks
// Envelope.payload, Payload.header and Header.channel_header in place. It
// reports false when any of the three messages is not well-formed wire data,
// so that the caller decodes with proto.Unmarshal and gets its error; when it
// reports true, proto.Unmarshal of the same bytes succeeds and yields the
// same channel_header (the last occurrence of a bytes field wins, occurrences
// of a message field merge, fields of another wire type are unknown fields).
func channelHeaderBytes(raw []byte) ([]byte, bool) {
	var payload []byte
	if !eachField(raw, func(num protowire.Number, v []byte) {
		if num == 1 {
			payload = v
		}
	}) {
		return nil, false
	}
	var chdr []byte
	var headers [][]byte
	if !eachField(payload, func(num protowire.Number, v []byte) {
		if num == 1 {
			headers = append(headers, v)
		}
	}) {
		return nil, false
	}
	for _, h := range headers { // Payload.header occurrences merge
		if !eachField(h, func(num protowire.Number, v []byte) {
			if num == 1 {
				chdr = v
			}
		}) {
			return nil, false
		}
	}
	return chdr, true
}

// eachField calls fn for every field of wire type bytes of the message in b,
// in order, and reports whether b is well-formed wire data. The values are
// sub-slices of b.
func eachField(b []byte, fn func(protowire.Number, []byte)) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return false
			}
			fn(num, v)
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return false
		}
		b = b[m:]
	}
	return true
}
