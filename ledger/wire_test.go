package ledger

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weft-ledger/weft/protos"
)

// slowTxIDOf is txIDOf as it was before the in-place path: the reference the
// fast path must agree with on every input.
func slowTxIDOf(raw []byte) string {
	ch, err := protos.EnvelopeChannelHeader(raw)
	if err != nil {
		return ""
	}
	return ch.TxId
}

// lenField appends field num of wire type bytes holding v.
func lenField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// txIDSeeds are envelopes in the plain form and in forms the in-place path
// must hand to proto: repeated and unknown fields, other wire types,
// missing levels, truncations.
func txIDSeeds() [][]byte {
	chdr := protos.Marshal(&cb.ChannelHeader{Type: int32(cb.HeaderType_ENDORSER_TRANSACTION), ChannelId: "ch", TxId: "tx-1"})
	chdr2 := protos.Marshal(&cb.ChannelHeader{TxId: "tx-2"})
	header := lenField(lenField(nil, 1, chdr), 2, []byte("sighdr"))
	payload := lenField(lenField(nil, 1, header), 2, []byte("data"))
	plain := lenField(lenField(nil, 1, payload), 2, []byte("sig"))

	// Payload with its header twice: proto merges the two headers, so the
	// later channel header wins.
	header2 := lenField(nil, 1, chdr2)
	twoHeaders := lenField(lenField(nil, 1, header), 1, header2)
	// An unknown varint field in the envelope, kept aside by proto.
	unknown := protowire.AppendVarint(protowire.AppendTag(append([]byte(nil), plain...), 9, protowire.VarintType), 7)
	// Field 2 of the envelope as a varint: proto keeps it as an unknown field.
	wrongType := protowire.AppendVarint(protowire.AppendTag(lenField(nil, 1, payload), 2, protowire.VarintType), 1)
	// A channel header that is not a ChannelHeader (a string with bad UTF-8).
	badChdr := lenField(nil, 1, lenField(nil, 1, lenField(nil, 1, lenField(nil, 4, []byte{0xff, 0xfe}))))
	seeds := [][]byte{
		plain,
		nil,
		{},
		lenField(nil, 1, twoHeaders),
		unknown,
		wrongType,
		badChdr,
		lenField(nil, 1, nil),                   // empty payload
		lenField(nil, 1, lenField(nil, 1, nil)), // empty header
		lenField(nil, 1, lenField(nil, 1, lenField(nil, 1, nil))), // empty channel header
		lenField(lenField(nil, 1, payload), 1, payload),           // payload twice
		lenField(nil, 2, []byte("sig")),                           // no payload
	}
	// Channel headers the in-place tx_id reader must leave to proto.
	wrap := func(chdr []byte) []byte { return lenField(nil, 1, lenField(nil, 1, lenField(nil, 1, chdr))) }
	ts := lenField(nil, 3, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1700000000))
	seeds = append(seeds,
		wrap(lenField(lenField(nil, 5, []byte("first")), 5, []byte("second"))),                                        // tx_id twice: the last wins
		wrap(lenField(nil, 5, []byte{0xc3, 0x28})),                                                                    // tx_id not UTF-8
		wrap(append(lenField(nil, 5, []byte("id")), ts...)),                                                           // a plain timestamp
		wrap(append(lenField(nil, 5, []byte("id")), lenField(nil, 3, lenField(nil, 9, nil))...)),                      // timestamp with an unknown field
		wrap(append(lenField(nil, 5, []byte("id")), lenField(nil, 3, []byte{0x08})...)),                               // truncated timestamp
		wrap(append(lenField(nil, 5, []byte("id")), lenField(nil, 1, []byte("x"))...)),                                // type as bytes
		wrap(protowire.AppendVarint(protowire.AppendTag(lenField(nil, 5, []byte("id")), 5, protowire.VarintType), 3)), // tx_id as a varint
		wrap(lenField(lenField(nil, 5, []byte("id")), 12, []byte("unknown"))),
	)
	for i := 1; i < len(plain); i += 7 {
		seeds = append(seeds, plain[:i])
	}
	return seeds
}

// checkChannelHeaderOf fails unless channelHeaderOf(raw) gives what
// protos.EnvelopeChannelHeader gives: the same header or the same error.
func checkChannelHeaderOf(t *testing.T, raw []byte) {
	t.Helper()
	got, gotErr := channelHeaderOf(raw)
	want, wantErr := protos.EnvelopeChannelHeader(raw)
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("channelHeaderOf(%x): error %v, EnvelopeChannelHeader gives %v", raw, gotErr, wantErr)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("channelHeaderOf(%x) = %v, EnvelopeChannelHeader gives %v", raw, got, want)
	}
}

func TestTxIDOfAgreesWithProto(t *testing.T) {
	seeds := txIDSeeds()
	if got := txIDOf(seeds[0]); got != "tx-1" {
		t.Fatalf("txIDOf(plain envelope) = %q, want tx-1", got)
	}
	if _, ok := envelopeChannelHeader(seeds[0]); !ok {
		t.Fatal("the plain envelope did not take the in-place path")
	}
	// A header as Weft and Fabric write it is read in place.
	full := protos.Marshal(&cb.ChannelHeader{Type: 3, Version: 1, Timestamp: timestamppb.Now(), ChannelId: "mychannel",
		TxId: "abc", Epoch: 0, Extension: []byte{1, 2}, TlsCertHash: []byte{3}})
	if id, ok := channelHeaderTxID(full); !ok || string(id) != "abc" {
		t.Fatalf("channelHeaderTxID(full header) = %q, %v; want abc, true", id, ok)
	}
	if got := txIDOf(seeds[3]); got != "tx-2" {
		t.Fatalf("txIDOf(payload with two headers) = %q, want tx-2 as proto merges them", got)
	}
	for i, raw := range seeds {
		if got, want := txIDOf(raw), slowTxIDOf(raw); got != want {
			t.Errorf("seed %d (%x): txIDOf = %q, proto decoding gives %q", i, raw, got, want)
		}
		checkChannelHeaderOf(t, raw)
	}
}

func FuzzTxIDOf(f *testing.F) {
	for _, s := range txIDSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if got, want := txIDOf(raw), slowTxIDOf(raw); got != want {
			t.Fatalf("txIDOf = %q, proto decoding gives %q", got, want)
		}
		checkChannelHeaderOf(t, raw)
	})
}
