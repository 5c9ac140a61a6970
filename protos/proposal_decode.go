package protos

import (
	"unicode/utf8"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The in-place decoders below read the messages of a proposal as
// proto.Unmarshal does, but their bytes fields share the proposal's bytes
// instead of being copied: proto.Unmarshal copies every bytes field at every
// level, so a proposal's creator certificate was copied three times. Each
// shared slice has its capacity cut to its length, so that an append to it
// never writes into the proposal.
//
// They decline (false) anything unusual: an unknown field, a field of the
// wrong wire type, a singular field given twice (proto.Unmarshal keeps the
// last or merges), a map (transient data, decorations), invalid UTF-8 in a
// string, malformed bytes. ParseProposal then decodes that message with
// proto.Unmarshal, as it always did, so that its result and its errors stay
// those of proto.Unmarshal. FuzzDecodeProposalPart checks that what they
// accept, proto.Unmarshal decodes to an equal message.

// walkFields calls f with each field of the message in raw: a varint field's
// value in v, a bytes field's bytes in b (capacity cut to length). False
// when raw is malformed, a field has another wire type, or f declines.
func walkFields(raw []byte, f func(num protowire.Number, typ protowire.Type, v uint64, b []byte) bool) bool {
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return false
		}
		raw = raw[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(raw)
			if n < 0 || !f(num, typ, v, nil) {
				return false
			}
			raw = raw[n:]
		case protowire.BytesType:
			b, n := protowire.ConsumeBytes(raw)
			if n < 0 || !f(num, typ, 0, b[:len(b):len(b)]) {
				return false
			}
			raw = raw[n:]
		default:
			return false
		}
	}
	return true
}

// fieldSet notes the singular fields seen in a message, to decline one
// given twice.
type fieldSet uint32

// first notes field num and reports whether it is its first occurrence
// (false for a field number beyond those of the messages decoded here).
func (s *fieldSet) first(num protowire.Number) bool {
	if num <= 0 || num >= 32 || *s&(1<<num) != 0 {
		return false
	}
	*s |= 1 << num
	return true
}

// singleBytes is a proto3 bytes field as proto.Unmarshal sets it: nil when
// empty.
func singleBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// decodeProposalMsg decodes a peer.Proposal in place into m.
func decodeProposalMsg(raw []byte, m *pb.Proposal) bool {
	var seen fieldSet
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, _ uint64, b []byte) bool {
		if typ != protowire.BytesType || !seen.first(num) {
			return false
		}
		switch num {
		case 1:
			m.Header = singleBytes(b)
		case 2:
			m.Payload = singleBytes(b)
		case 3:
			m.Extension = singleBytes(b)
		default:
			return false
		}
		return true
	})
}

// decodeHeader decodes a common.Header in place into m.
func decodeHeader(raw []byte, m *cb.Header) bool {
	var seen fieldSet
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, _ uint64, b []byte) bool {
		if typ != protowire.BytesType || !seen.first(num) {
			return false
		}
		switch num {
		case 1:
			m.ChannelHeader = singleBytes(b)
		case 2:
			m.SignatureHeader = singleBytes(b)
		default:
			return false
		}
		return true
	})
}

// decodeChannelHeader decodes a common.ChannelHeader in place into m, its
// timestamp into ts (its strings are copied, as strings must be).
func decodeChannelHeader(raw []byte, m *cb.ChannelHeader, ts *timestamppb.Timestamp) bool {
	var seen fieldSet
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, v uint64, b []byte) bool {
		if !seen.first(num) {
			return false
		}
		switch {
		case num == 1 && typ == protowire.VarintType:
			m.Type = int32(v)
		case num == 2 && typ == protowire.VarintType:
			m.Version = int32(v)
		case num == 3 && typ == protowire.BytesType:
			m.Timestamp = ts
			return decodeTimestamp(b, ts)
		case num == 4 && typ == protowire.BytesType && utf8.Valid(b):
			m.ChannelId = string(b)
		case num == 5 && typ == protowire.BytesType && utf8.Valid(b):
			m.TxId = string(b)
		case num == 6 && typ == protowire.VarintType:
			m.Epoch = v
		case num == 7 && typ == protowire.BytesType:
			m.Extension = singleBytes(b)
		case num == 8 && typ == protowire.BytesType:
			m.TlsCertHash = singleBytes(b)
		default:
			return false
		}
		return true
	})
}

// decodeTimestamp decodes a google.protobuf.Timestamp into m.
func decodeTimestamp(raw []byte, m *timestamppb.Timestamp) bool {
	var seen fieldSet
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) bool {
		if typ != protowire.VarintType || !seen.first(num) {
			return false
		}
		switch num {
		case 1:
			m.Seconds = int64(v)
		case 2:
			m.Nanos = int32(v)
		default:
			return false
		}
		return true
	})
}

// decodeSignatureHeader decodes a common.SignatureHeader in place into m.
func decodeSignatureHeader(raw []byte, m *cb.SignatureHeader) bool {
	var seen fieldSet
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, _ uint64, b []byte) bool {
		if typ != protowire.BytesType || !seen.first(num) {
			return false
		}
		switch num {
		case 1:
			m.Creator = singleBytes(b)
		case 2:
			m.Nonce = singleBytes(b)
		default:
			return false
		}
		return true
	})
}

// decodeHeaderExtension decodes a peer.ChaincodeHeaderExtension into m, its
// chaincode ID into id.
func decodeHeaderExtension(raw []byte, m *pb.ChaincodeHeaderExtension, id *pb.ChaincodeID) bool {
	var seen fieldSet
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, _ uint64, b []byte) bool {
		if num != 2 || typ != protowire.BytesType || !seen.first(num) {
			return false
		}
		m.ChaincodeId = id
		return decodeChaincodeID(b, id)
	})
}

// decodeChaincodeID decodes a peer.ChaincodeID into m.
func decodeChaincodeID(raw []byte, m *pb.ChaincodeID) bool {
	var seen fieldSet
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, _ uint64, b []byte) bool {
		if typ != protowire.BytesType || !seen.first(num) || !utf8.Valid(b) {
			return false
		}
		switch num {
		case 1:
			m.Path = string(b)
		case 2:
			m.Name = string(b)
		case 3:
			m.Version = string(b)
		default:
			return false
		}
		return true
	})
}

// decodeProposalPayload decodes a peer.ChaincodeProposalPayload in place
// into m; it declines one with a transient map.
func decodeProposalPayload(raw []byte, m *pb.ChaincodeProposalPayload) bool {
	var seen fieldSet
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, _ uint64, b []byte) bool {
		if num != 1 || typ != protowire.BytesType || !seen.first(num) {
			return false
		}
		m.Input = singleBytes(b)
		return true
	})
}

// decodeInvocationSpec decodes a peer.ChaincodeInvocationSpec in place into
// m, its parts into spec, id and input.
func decodeInvocationSpec(raw []byte, m *pb.ChaincodeInvocationSpec, spec *pb.ChaincodeSpec, id *pb.ChaincodeID, input *pb.ChaincodeInput) bool {
	var seen fieldSet
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, _ uint64, b []byte) bool {
		if num != 1 || typ != protowire.BytesType || !seen.first(num) {
			return false
		}
		m.ChaincodeSpec = spec
		return decodeChaincodeSpec(b, spec, id, input)
	})
}

// decodeChaincodeSpec decodes a peer.ChaincodeSpec in place into m, its
// chaincode ID into id and its input into input.
func decodeChaincodeSpec(raw []byte, m *pb.ChaincodeSpec, id *pb.ChaincodeID, input *pb.ChaincodeInput) bool {
	var seen fieldSet
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, v uint64, b []byte) bool {
		if !seen.first(num) {
			return false
		}
		switch {
		case num == 1 && typ == protowire.VarintType:
			m.Type = pb.ChaincodeSpec_Type(int32(v))
		case num == 2 && typ == protowire.BytesType:
			m.ChaincodeId = id
			return decodeChaincodeID(b, id)
		case num == 3 && typ == protowire.BytesType:
			m.Input = input
			return decodeChaincodeInput(b, input)
		case num == 4 && typ == protowire.VarintType:
			m.Timeout = int32(v)
		default:
			return false
		}
		return true
	})
}

// decodeChaincodeInput decodes a peer.ChaincodeInput in place; it declines
// one with decorations. Its arguments share raw: proto.Unmarshal gives an
// empty argument as an empty, not nil, slice, and so do they.
func decodeChaincodeInput(raw []byte, m *pb.ChaincodeInput) bool {
	var seen fieldSet
	// Count the arguments first so that Args is allocated once.
	n := 0
	if !walkFields(raw, func(num protowire.Number, _ protowire.Type, _ uint64, _ []byte) bool {
		if num == 1 {
			n++
		}
		return true
	}) {
		return false
	}
	if n > 0 {
		m.Args = make([][]byte, 0, n)
	}
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, v uint64, b []byte) bool {
		switch {
		case num == 1 && typ == protowire.BytesType:
			m.Args = append(m.Args, b)
		case num == 3 && typ == protowire.VarintType && seen.first(num):
			m.IsInit = v != 0
		default:
			return false
		}
		return true
	})
}
