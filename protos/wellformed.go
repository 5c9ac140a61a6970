package protos

import (
	"bytes"
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// CheckEnvelopesWellFormed checks what Fabric v2.5 checks of a block's data
// before it trusts the block's data hash (its fix for CVE-2023-46132): the
// block holds at least one item, and each item decodes as a common.Envelope
// with a payload and a signature that re-encodes to exactly the item's bytes.
//
// The data hash covers the items' concatenation, so without this check bytes
// could move from one item to the next (or hide in a duplicated field) and one
// hash would stand for envelopes that nodes read differently. Like Fabric, a
// block whose only item is a CONFIG (or ORDERER_TRANSACTION) envelope is not
// checked further: with one item there is no boundary to move. Like Fabric,
// only the envelope is re-encoded, not the payload inside it, so Weft and
// Fabric refuse the same blocks. Errors name the transaction index.
func CheckEnvelopesWellFormed(d *cb.BlockData) error {
	if len(d.GetData()) == 0 {
		return fmt.Errorf("the block holds no transaction")
	}
	if isConfigData(d) {
		return nil
	}
	for i, raw := range d.Data {
		if envelopeIsCanonical(raw) {
			continue
		}
		if err := checkEnvelopeWellFormed(i, raw); err != nil {
			return err
		}
	}
	return nil
}

// envelopeIsCanonical reports, without decoding or allocating, whether raw is
// exactly the deterministic encoding of an envelope with a non-empty payload
// and a non-empty signature and no other field: tag 1 with its minimal length
// and the payload, then tag 2 with its minimal length and the signature,
// nothing after. Every envelope a client or orderer writes has this form, and
// any such bytes decode and re-encode to themselves. Anything else (trailing
// unknown fields included) is left to checkEnvelopeWellFormed, which gives
// the verdict and the error text.
func envelopeIsCanonical(raw []byte) bool {
	rest, ok := canonicalBytesField(raw, 0x0a) // field 1, length-delimited
	if !ok {
		return false
	}
	rest, ok = canonicalBytesField(rest, 0x12) // field 2, length-delimited
	return ok && len(rest) == 0
}

// canonicalBytesField takes from the front of b one non-empty length-delimited
// field whose one-byte tag is tag and whose length is minimally encoded, and
// returns what follows it.
func canonicalBytesField(b []byte, tag byte) ([]byte, bool) {
	if len(b) == 0 || b[0] != tag {
		return nil, false
	}
	v, n := protowire.ConsumeBytes(b[1:])
	if n < 0 || len(v) == 0 || n != protowire.SizeVarint(uint64(len(v)))+len(v) {
		return nil, false
	}
	return b[1+n:], true
}

// checkEnvelopeWellFormed is the full check of item i: decode it as a
// common.Envelope, then re-encode it and compare with raw.
func checkEnvelopeWellFormed(i int, raw []byte) error {
	env := &cb.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return fmt.Errorf("transaction %d is not a common.Envelope: %v", i, err)
	}
	if len(env.Payload) == 0 {
		return fmt.Errorf("transaction %d has no payload", i)
	}
	if len(env.Signature) == 0 {
		return fmt.Errorf("transaction %d has no signature", i)
	}
	again, err := proto.MarshalOptions{Deterministic: true}.Marshal(env)
	if err != nil {
		return fmt.Errorf("transaction %d: re-encode common.Envelope: %v", i, err)
	}
	if len(again) < len(raw) {
		return fmt.Errorf("transaction %d is not in canonical form: %d of its %d bytes are not part of the envelope it decodes to (duplicated or trailing fields)",
			i, len(raw)-len(again), len(raw))
	}
	if !bytes.Equal(again, raw) {
		return fmt.Errorf("transaction %d is not in canonical form: its %d bytes differ from the %d bytes of the envelope it decodes to, re-encoded (fields out of order)",
			i, len(raw), len(again))
	}
	return nil
}

// isConfigData reports whether d holds exactly one envelope and it is a
// CONFIG or ORDERER_TRANSACTION, as Fabric decides it (anything that does not
// decode is not).
func isConfigData(d *cb.BlockData) bool {
	if len(d.Data) != 1 {
		return false
	}
	env := &cb.Envelope{}
	payload := &cb.Payload{}
	if proto.Unmarshal(d.Data[0], env) != nil || proto.Unmarshal(env.Payload, payload) != nil || payload.Header == nil {
		return false
	}
	chdr := &cb.ChannelHeader{}
	if proto.Unmarshal(payload.Header.ChannelHeader, chdr) != nil {
		return false
	}
	t := cb.HeaderType(chdr.Type)
	return t == cb.HeaderType_CONFIG || t == cb.HeaderType_ORDERER_TRANSACTION
}
