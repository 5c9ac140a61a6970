package validator

import (
	"unicode/utf8"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The messages between an envelope and its endorsements are layers of bytes
// wrapped in bytes: proto.Unmarshal copies every bytes field it decodes, so
// reaching the proposal response payload through Envelope, Payload,
// Transaction, TransactionAction and ChaincodeActionPayload copied most of
// the transaction five times. The decoders below read the messages these
// layers are made of, whose fields 1 and 2 are all length-delimited, in
// place: their bytes fields are slices of the block's own bytes, which
// validation only reads. Anything but the plain form (a field repeated that
// is not a repeated field, an unknown field, another wire type, bytes that do
// not parse) is decoded by proto.Unmarshal as before, so the messages, and
// the errors for those that do not decode, are the same either way.

// eachLenField calls fn with the number and the value (a slice of raw) of
// every field of raw, and reports false as soon as a field is not field 1 or
// 2 of the length-delimited wire type, does not parse, or fn returns false.
func eachLenField(raw []byte, fn func(num protowire.Number, v []byte) bool) bool {
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 || typ != protowire.BytesType || (num != 1 && num != 2) {
			return false
		}
		raw = raw[n:]
		v, n := protowire.ConsumeBytes(raw)
		if n < 0 {
			return false
		}
		raw = raw[n:]
		if !fn(num, v) {
			return false
		}
	}
	return true
}

// lenFields returns fields 1 and 2 of raw when each appears at most once. A
// field that is absent comes back nil; one that is present, even empty,
// comes back non-nil (a slice of raw).
func lenFields(raw []byte) (f1, f2 []byte, ok bool) {
	ok = eachLenField(raw, func(num protowire.Number, v []byte) bool {
		if num == 1 && f1 == nil {
			f1 = v
			return true
		}
		if num == 2 && f2 == nil {
			f2 = v
			return true
		}
		return false
	})
	return f1, f2, ok
}

// bytesField is v as proto.Unmarshal sets a proto3 bytes field: nil when
// empty.
func bytesField(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return v
}

func decodeEnvelope(raw []byte) (*cb.Envelope, error) {
	if p, s, ok := lenFields(raw); ok {
		return &cb.Envelope{Payload: bytesField(p), Signature: bytesField(s)}, nil
	}
	env := &cb.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return nil, err
	}
	return env, nil
}

func decodePayload(raw []byte) (*cb.Payload, error) {
	if h, d, ok := lenFields(raw); ok {
		p := &cb.Payload{Data: bytesField(d)}
		if h == nil {
			return p, nil
		}
		// A header present, even empty, is a non-nil message, as proto makes it.
		if ch, sh, ok := lenFields(h); ok {
			p.Header = &cb.Header{ChannelHeader: bytesField(ch), SignatureHeader: bytesField(sh)}
			return p, nil
		}
	}
	p := &cb.Payload{}
	if err := proto.Unmarshal(raw, p); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeSignatureHeader: a SignatureHeader is creator (1) and nonce (2).
func decodeSignatureHeader(raw []byte) (*cb.SignatureHeader, error) {
	if c, n, ok := lenFields(raw); ok {
		return &cb.SignatureHeader{Creator: bytesField(c), Nonce: bytesField(n)}, nil
	}
	h := &cb.SignatureHeader{}
	if err := proto.Unmarshal(raw, h); err != nil {
		return nil, err
	}
	return h, nil
}

// decodeTransaction: a Transaction is its repeated actions (1), each a
// header (1) and a payload (2).
func decodeTransaction(raw []byte) (*pb.Transaction, error) {
	tx := &pb.Transaction{}
	ok := eachLenField(raw, func(num protowire.Number, v []byte) bool {
		h, p, ok := lenFields(v)
		if num != 1 || !ok {
			return false
		}
		tx.Actions = append(tx.Actions, &pb.TransactionAction{Header: bytesField(h), Payload: bytesField(p)})
		return true
	})
	if ok {
		return tx, nil
	}
	tx = &pb.Transaction{}
	if err := proto.Unmarshal(raw, tx); err != nil {
		return nil, err
	}
	return tx, nil
}

// decodeChaincodeActionPayload: a ChaincodeActionPayload is the chaincode
// proposal payload (1) and the endorsed action (2), itself the proposal
// response payload (1) and the repeated endorsements (2), each an endorser
// (1) and a signature (2).
func decodeChaincodeActionPayload(raw []byte) (*pb.ChaincodeActionPayload, error) {
	if ccp, a, ok := lenFields(raw); ok {
		cap := &pb.ChaincodeActionPayload{ChaincodeProposalPayload: bytesField(ccp)}
		if a == nil {
			return cap, nil
		}
		act := &pb.ChaincodeEndorsedAction{}
		// The endorsements are counted first so that they and the slice of
		// them take one allocation each, whatever their number.
		n := 0
		eachLenField(a, func(num protowire.Number, _ []byte) bool {
			if num == 2 {
				n++
			}
			return true
		})
		var slab []pb.Endorsement
		if n > 0 {
			slab = make([]pb.Endorsement, n)
			act.Endorsements = make([]*pb.Endorsement, 0, n)
		}
		var seenPRP bool
		ok := eachLenField(a, func(num protowire.Number, v []byte) bool {
			if num == 1 {
				if seenPRP {
					return false
				}
				seenPRP = true
				act.ProposalResponsePayload = bytesField(v)
				return true
			}
			e, s, ok := lenFields(v)
			if !ok {
				return false
			}
			en := &slab[len(act.Endorsements)]
			en.Endorser, en.Signature = bytesField(e), bytesField(s)
			act.Endorsements = append(act.Endorsements, en)
			return true
		})
		if ok {
			cap.Action = act
			return cap, nil
		}
	}
	cap := &pb.ChaincodeActionPayload{}
	if err := proto.Unmarshal(raw, cap); err != nil {
		return nil, err
	}
	return cap, nil
}

// decodeProposalResponsePayload: a ProposalResponsePayload is the proposal
// hash (1) and the extension (2).
func decodeProposalResponsePayload(raw []byte) (*pb.ProposalResponsePayload, error) {
	if h, e, ok := lenFields(raw); ok {
		return &pb.ProposalResponsePayload{ProposalHash: bytesField(h), Extension: bytesField(e)}, nil
	}
	prp := &pb.ProposalResponsePayload{}
	if err := proto.Unmarshal(raw, prp); err != nil {
		return nil, err
	}
	return prp, nil
}

// eachPlainNamespace calls fn with the namespace (a valid UTF-8 string, as
// proto requires) and the rwset bytes of each NsReadWriteSet of raw, a
// marshalled rwset.TxReadWriteSet, in order, when raw is the plain form:
// data_model (1) as a varint and namespaces (2) made of nothing but their
// namespace (1) and rwset (2), each at most once, so without collections.
// It reports false, having stopped, for anything else or when fn returns
// false.
func eachPlainNamespace(raw []byte, fn func(ns, set []byte) bool) bool {
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return false
		}
		raw = raw[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			_, n = protowire.ConsumeVarint(raw)
		case num == 2 && typ == protowire.BytesType:
			var v []byte
			if v, n = protowire.ConsumeBytes(raw); n < 0 {
				return false
			}
			ns, set, ok := lenFields(v)
			if !ok || !utf8.Valid(ns) || !fn(ns, set) {
				return false
			}
		default:
			return false
		}
		if n < 0 {
			return false
		}
		raw = raw[n:]
	}
	return true
}
