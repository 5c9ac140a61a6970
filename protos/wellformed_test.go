package protos

import (
	"bytes"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/encoding/protowire"
)

// testEnvelope is a canonical envelope whose payload has a channel header of
// type typ.
func testEnvelope(typ cb.HeaderType, body string) []byte {
	payload := Marshal(&cb.Payload{Header: &cb.Header{ChannelHeader: Marshal(NewChannelHeader(typ, "mychannel", "tx-"+body))}, Data: []byte(body)})
	return Marshal(&cb.Envelope{Payload: payload, Signature: []byte("sig-" + body)})
}

// field is one protobuf bytes field: tag then length-prefixed value.
func field(num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
}

func TestCheckEnvelopesWellFormed(t *testing.T) {
	good := testEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, "a")
	other := testEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, "b")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	for name, tc := range map[string]struct {
		data [][]byte
		want string // "" accepted
	}{
		"canonical envelopes": {data: [][]byte{good, other}},
		// The payload field twice: decodes to the same envelope (the last
		// value wins) but re-encodes without the decoy.
		"duplicate payload field": {data: [][]byte{good, cat(field(1, []byte("decoy")), other)},
			want: "transaction 1 is not in canonical form"},
		// An unknown field ahead of the known ones: same envelope, but
		// re-encoding moves the unknown field to the end.
		"unknown field first": {data: [][]byte{cat(field(99, []byte("x")), good), other},
			want: "transaction 0 is not in canonical form"},
		// Trailing unknown fields re-encode to themselves: Fabric accepts them,
		// so Weft must too.
		"unknown field last": {data: [][]byte{good, cat(other, field(99, []byte("x")))}},
		"no signature":       {data: [][]byte{good, Marshal(&cb.Envelope{Payload: []byte("p")})}, want: "transaction 1 has no signature"},
		"no payload":         {data: [][]byte{Marshal(&cb.Envelope{Signature: []byte("s")}), good}, want: "transaction 0 has no payload"},
		"not an envelope":    {data: [][]byte{good, {0xff}}, want: "transaction 1 is not a common.Envelope"},
		"empty block":        {data: nil, want: "no transaction"},
		// One CONFIG envelope: nothing can move between items, Fabric skips it.
		"lone config envelope with an unknown field first": {data: [][]byte{cat(field(99, []byte("x")), testEnvelope(cb.HeaderType_CONFIG, "c"))}},
		"config envelope among others":                     {data: [][]byte{cat(field(99, []byte("x")), testEnvelope(cb.HeaderType_CONFIG, "c")), good}, want: "transaction 0"},
	} {
		err := CheckEnvelopesWellFormed(&cb.BlockData{Data: tc.data})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error mentioning %q", name, err, tc.want)
		}
	}
}

// TestCheckEnvelopesWellFormedShiftedBoundary is the attack of
// CVE-2023-46132: the same concatenated bytes, hence the same data hash, cut
// into items at another place.
func TestCheckEnvelopesWellFormedShiftedBoundary(t *testing.T) {
	a := testEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, "a")
	b := testEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, "b")
	orig := &cb.BlockData{Data: [][]byte{a, b}}
	joined := bytes.Join(orig.Data, nil)
	for cut := 1; cut < len(joined); cut++ {
		if cut == len(a) {
			continue
		}
		forged := &cb.BlockData{Data: [][]byte{joined[:cut], joined[cut:]}}
		if !bytes.Equal(BlockDataHash(forged), BlockDataHash(orig)) {
			t.Fatal("test bug: the data hash changed")
		}
		if err := CheckEnvelopesWellFormed(forged); err == nil {
			t.Errorf("cut at %d of %d: same data hash, other envelopes, accepted", cut, len(joined))
		}
	}
	if err := CheckEnvelopesWellFormed(orig); err != nil {
		t.Fatal(err)
	}
}

// TestFixtureBlocksAreWellFormed: every block a Fabric v2.5.16 network wrote
// passes.
func TestFixtureBlocksAreWellFormed(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 171} {
		b := loadFixtureBlock(t, n)
		if err := CheckEnvelopesWellFormed(b.Data); err != nil {
			t.Errorf("fixture block %d: %v", n, err)
		}
	}
}
