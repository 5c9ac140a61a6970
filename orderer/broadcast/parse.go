package broadcast

import (
	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-ledger/weft/protos"
)

// parseEnvelope is protos.ParseEnvelope without copying the payload's data,
// which broadcast never reads (the bytes it orders are the whole envelope):
// it finds the header's two byte fields in place and decodes only those.
// The result's Payload is nil. Any payload it does not recognise at once (a
// field other than header and data, one given twice, malformed wire data, a
// header ParseEnvelope refuses) goes through protos.ParseEnvelope, so the
// result and the errors are the same.
func parseEnvelope(env *cb.Envelope) (*protos.Envelope, error) {
	if env != nil {
		if hdr, ok := onlyBytesFields(env.Payload, 1, 2); ok && hdr != nil {
			if chb, ok := onlyBytesFields(hdr, 1, 2); ok {
				shb, _ := onlyBytesFields(hdr, 2, 1)
				chdr, err1 := protos.UnmarshalChannelHeader(chb)
				shdr, err2 := protos.UnmarshalSignatureHeader(shb)
				if err1 == nil && err2 == nil {
					return &protos.Envelope{Envelope: env, ChannelHeader: chdr, SignatureHeader: shdr}, nil
				}
			}
		}
	}
	return protos.ParseEnvelope(env)
}

// onlyBytesFields reports whether msg consists of well-formed length-delimited
// fields numbered want and other, each at most once, and returns want's
// value (nil when absent, empty but not nil when present and empty).
func onlyBytesFields(msg []byte, want, other protowire.Number) ([]byte, bool) {
	var value []byte
	var seenWant, seenOther bool
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 || typ != protowire.BytesType {
			return nil, false
		}
		msg = msg[n:]
		v, m := protowire.ConsumeBytes(msg)
		if m < 0 {
			return nil, false
		}
		msg = msg[m:]
		switch {
		case num == want && !seenWant:
			seenWant = true
			value = v[:len(v):len(v)]
		case num == other && !seenOther:
			seenOther = true
		default:
			return nil, false
		}
	}
	if seenWant && value == nil {
		value = []byte{}
	}
	return value, true
}
