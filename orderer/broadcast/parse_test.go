package broadcast

import (
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// sameAsParseEnvelope fails unless parseEnvelope gives what
// protos.ParseEnvelope gives for payload: the same headers or the same error.
func sameAsParseEnvelope(t *testing.T, payload []byte) {
	t.Helper()
	env := &cb.Envelope{Payload: payload, Signature: []byte("sig")}
	want, wantErr := protos.ParseEnvelope(env)
	got, gotErr := parseEnvelope(env)
	if (wantErr == nil) != (gotErr == nil) || (wantErr != nil && wantErr.Error() != gotErr.Error()) {
		t.Fatalf("payload %x: parseEnvelope error %v, ParseEnvelope error %v", payload, gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if !proto.Equal(got.ChannelHeader, want.ChannelHeader) || !proto.Equal(got.SignatureHeader, want.SignatureHeader) {
		t.Fatalf("payload %x: parseEnvelope headers %v %v, ParseEnvelope %v %v", payload, got.ChannelHeader, got.SignatureHeader, want.ChannelHeader, want.SignatureHeader)
	}
	if got.Envelope != env || got.SignedData().Identity == nil || string(got.SignedData().Data) != string(payload) {
		t.Fatalf("payload %x: signed data %+v", payload, got.SignedData())
	}
}

// parseSeeds are payloads of every shape parseEnvelope takes in place or
// hands to protos.ParseEnvelope.
func parseSeeds() [][]byte {
	chdr := protos.Marshal(&cb.ChannelHeader{Type: int32(cb.HeaderType_ENDORSER_TRANSACTION), ChannelId: "mychannel", TxId: "tx"})
	shdr := protos.Marshal(&cb.SignatureHeader{Creator: []byte("creator"), Nonce: []byte("nonce")})
	hdr := protos.Marshal(&cb.Header{ChannelHeader: chdr, SignatureHeader: shdr})
	field := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	good := protos.Marshal(&cb.Payload{Header: &cb.Header{ChannelHeader: chdr, SignatureHeader: shdr}, Data: []byte("data")})
	return [][]byte{
		good,
		protos.Marshal(&cb.Payload{Header: &cb.Header{ChannelHeader: chdr, SignatureHeader: shdr}}),
		field(field(nil, 2, []byte("data")), 1, hdr),                                        // data first
		field(good, 1, protos.Marshal(&cb.Header{ChannelHeader: chdr})),                     // header twice: merged
		field(good, 2, []byte("more data")),                                                 // data twice
		field(good, 7, []byte("unknown")),                                                   // unknown field
		protowire.AppendVarint(protowire.AppendTag(good, 9, protowire.VarintType), 1),       // unknown varint
		field(nil, 1, field(field(hdr, 1, chdr), 3, nil)),                                   // header with a repeated and an unknown field
		field(nil, 1, field(nil, 1, chdr)),                                                  // no signature header
		field(nil, 1, field(nil, 2, shdr)),                                                  // no channel header
		field(nil, 1, field(field(nil, 1, chdr), 2, protos.Marshal(&cb.SignatureHeader{}))), // no creator
		field(nil, 1, field(field(nil, 1, []byte{0xff}), 2, shdr)),                          // malformed channel header
		field(nil, 1, nil),            // empty header
		field(nil, 2, []byte("data")), // no header
		good[:len(good)-2],            // truncated
		{0x0a},
		{0x00, 0x00},
		nil,
	}
}

func TestParseEnvelopeMatchesProtos(t *testing.T) {
	for _, p := range parseSeeds() {
		sameAsParseEnvelope(t, p)
	}
	if _, err := parseEnvelope(nil); err == nil {
		t.Fatal("parseEnvelope(nil) accepted")
	}
}

func FuzzParseEnvelope(f *testing.F) {
	for _, p := range parseSeeds() {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) { sameAsParseEnvelope(t, payload) })
}
