package protos

import (
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// slowChannelHeader is EnvelopeChannelHeader by full decoding, the rule the
// in-place walk must follow.
func slowChannelHeader(raw []byte) (*cb.ChannelHeader, error) {
	env := &cb.Envelope{}
	if err := proto.Unmarshal(raw, env); err != nil {
		return nil, err
	}
	payload := &cb.Payload{}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		return nil, err
	}
	return UnmarshalChannelHeader(payload.GetHeader().GetChannelHeader())
}

// checkWalkAgrees fails unless the in-place walk, whenever it answers,
// answers as full decoding does.
func checkWalkAgrees(t *testing.T, raw []byte) bool {
	t.Helper()
	chdr, ok := channelHeaderBytes(raw)
	if !ok {
		return false
	}
	want, err := slowChannelHeader(raw)
	fast, ferr := UnmarshalChannelHeader(chdr)
	if (err == nil) != (ferr == nil) || (err == nil && !proto.Equal(want, fast)) {
		t.Fatalf("envelope %x: in place %v (%v), decoded %v (%v)", raw, fast, ferr, want, err)
	}
	return true
}

func testEnvelopes() [][]byte {
	chdr := Marshal(&cb.ChannelHeader{Type: int32(cb.HeaderType_ENDORSER_TRANSACTION), ChannelId: "mychannel", TxId: "tx1"})
	other := Marshal(&cb.ChannelHeader{Type: int32(cb.HeaderType_CONFIG), ChannelId: "other", TxId: "tx2"})
	hdr := func(fields ...[]byte) []byte {
		var b []byte
		for _, f := range fields {
			b = append(b, f...)
		}
		return b
	}
	env := func(payload []byte) []byte {
		return Marshal(&cb.Envelope{Payload: payload, Signature: []byte("signature")})
	}
	return [][]byte{
		env(Marshal(&cb.Payload{Header: &cb.Header{ChannelHeader: chdr, SignatureHeader: []byte("sh")}, Data: []byte("data")})),
		env(Marshal(&cb.Payload{Data: []byte("no header")})),
		env(nil),
		// two Payload.header occurrences merge; the last channel_header wins
		env(hdr(field(1, hdr(field(1, chdr), field(2, []byte("sh")))), field(1, field(2, []byte("sh2"))), field(1, field(1, other)))),
		env(hdr(field(1, field(1, chdr)), field(1, field(2, []byte("sh"))))),
		// payload twice: the last wins
		hdr(field(1, Marshal(&cb.Payload{Header: &cb.Header{ChannelHeader: chdr}})), field(1, Marshal(&cb.Payload{Header: &cb.Header{ChannelHeader: other}}))),
		// a varint and a group among the fields; field 1 with another wire type
		hdr(protowire.AppendVarint(protowire.AppendTag(nil, 7, protowire.VarintType), 5),
			protowire.AppendTag(nil, 8, protowire.StartGroupType), protowire.AppendTag(nil, 8, protowire.EndGroupType),
			protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1),
			field(1, Marshal(&cb.Payload{Header: &cb.Header{ChannelHeader: chdr}}))),
	}
}

// EnvelopeChannelHeader walks the envelope in place; whatever it answers
// that way is what decoding the envelope answers, for well-formed envelopes,
// every one-byte change of them and every truncation.
func TestChannelHeaderInPlaceAgrees(t *testing.T) {
	for i, raw := range testEnvelopes() {
		if !checkWalkAgrees(t, raw) {
			t.Fatalf("envelope %d: the in-place walk refuses well-formed wire data %x", i, raw)
		}
		for n := range len(raw) {
			checkWalkAgrees(t, raw[:n])
			for _, x := range []byte{0x01, 0x02, 0x07, 0x08, 0x80, 0xff} {
				m := append([]byte{}, raw...)
				m[n] ^= x
				checkWalkAgrees(t, m)
			}
		}
	}
	got, err := EnvelopeChannelHeader(testEnvelopes()[3])
	if err != nil || got.ChannelId != "other" {
		t.Fatalf("merged headers: channel header %v (%v), want the last one (channel other)", got, err)
	}
}

func FuzzChannelHeaderInPlace(f *testing.F) {
	for _, raw := range testEnvelopes() {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkWalkAgrees(t, raw)
	})
}

func BenchmarkEnvelopeChannelHeader(b *testing.B) {
	chdr := Marshal(&cb.ChannelHeader{Type: int32(cb.HeaderType_ENDORSER_TRANSACTION), ChannelId: "mychannel", TxId: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"})
	raw := Marshal(&cb.Envelope{
		Payload:   Marshal(&cb.Payload{Header: &cb.Header{ChannelHeader: chdr, SignatureHeader: make([]byte, 900)}, Data: make([]byte, 3000)}),
		Signature: make([]byte, 71),
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EnvelopeChannelHeader(raw); err != nil {
			b.Fatal(err)
		}
	}
}
