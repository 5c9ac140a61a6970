package protos

import (
	"bytes"
	"fmt"
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

// benchBlockData is ~500 signed-looking endorser envelopes of ~3 KB each,
// about what a full block of the devnet's load holds.
func benchBlockData() *cb.BlockData {
	d := &cb.BlockData{}
	body := strings.Repeat("w", 2900)
	for i := 0; i < 500; i++ {
		payload := Marshal(&cb.Payload{Header: &cb.Header{ChannelHeader: Marshal(NewChannelHeader(cb.HeaderType_ENDORSER_TRANSACTION, "mychannel", "tx"+strings.Repeat("0", 62)))}, Data: []byte(body)})
		sig := bytes.Repeat([]byte{0x30}, 71)
		d.Data = append(d.Data, Marshal(&cb.Envelope{Payload: payload, Signature: sig}))
	}
	return d
}

func BenchmarkCheckEnvelopesWellFormed(b *testing.B) {
	d := benchBlockData()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := CheckEnvelopesWellFormed(d); err != nil {
			b.Fatal(err)
		}
	}
}

// oracleCheckEnvelopesWellFormed is the check as it was before it learnt to
// recognise canonical envelopes in place: every item decoded and re-encoded
// (checkEnvelopeWellFormed, which still judges the items the fast path
// passes on). The fuzz target holds the current check to its verdicts and
// error texts.
func oracleCheckEnvelopesWellFormed(d *cb.BlockData) error {
	if len(d.GetData()) == 0 {
		return fmt.Errorf("the block holds no transaction")
	}
	if isConfigData(d) {
		return nil
	}
	for i, raw := range d.Data {
		if err := checkEnvelopeWellFormed(i, raw); err != nil {
			return err
		}
	}
	return nil
}

// wellFormedEdgeCases are encodings near the canonical form that the check
// must judge exactly as the oracle does.
func wellFormedEdgeCases() [][]byte {
	good := testEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, "a")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	p, s := []byte("payload"), []byte("sig")
	return [][]byte{
		good,
		cat(field(1, p), field(2, s)),
		cat(field(2, s), field(1, p)), // out of order
		cat(field(1, p), field(2, s), field(1, p)),                                                                  // duplicate payload
		cat(field(1, p), field(2, s), field(2, s)),                                                                  // duplicate signature
		cat(field(1, p), field(2, s), field(99, []byte{})),                                                          // trailing unknown
		cat(field(1, p), field(2, s), protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 5)), // field 1, wrong wire type
		cat([]byte{0x0a, 0x87, 0x00}, p, field(2, s)),                                                               // length not minimal
		cat([]byte{0x8a, 0x00, 0x07}, p, field(2, s)),                                                               // tag not minimal
		cat(field(1, p), []byte{0x12, 0x83, 0x00}, s),                                                               // signature length not minimal
		cat(field(1, p), field(2, s), []byte{0x92, 0x00, 0x00}),                                                     // empty signature again, tag not minimal
		cat(field(1, nil), field(2, s)),                                                                             // empty payload written out
		cat(field(1, p), field(2, nil)),                                                                             // empty signature written out
		field(1, p),
		field(2, s),
		{0x0a, 0x08, 'x'}, // truncated
		{0x0a},
		{},
	}
}

func TestCheckEnvelopesWellFormedMatchesOracle(t *testing.T) {
	good := testEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, "b")
	for i, raw := range wellFormedEdgeCases() {
		for _, d := range []*cb.BlockData{{Data: [][]byte{raw}}, {Data: [][]byte{good, raw}}, {Data: [][]byte{raw, good}}} {
			got, want := CheckEnvelopesWellFormed(d), oracleCheckEnvelopesWellFormed(d)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("case %d (%x): got %v, want %v", i, raw, got, want)
			}
		}
	}
}

// FuzzCheckEnvelopesWellFormed holds the check to the oracle's verdict and
// error text, on one item (where a lone config envelope is skipped) and on
// two items cut from the same bytes.
func FuzzCheckEnvelopesWellFormed(f *testing.F) {
	good := testEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, "a")
	for _, raw := range wellFormedEdgeCases() {
		f.Add(raw, good, uint16(len(raw)))
	}
	f.Add(testEnvelope(cb.HeaderType_CONFIG, "c"), good, uint16(3))
	f.Fuzz(func(t *testing.T, a, b []byte, cut uint16) {
		joined := bytes.Join([][]byte{a, b}, nil)
		c := int(cut) % (len(joined) + 1)
		for _, d := range []*cb.BlockData{
			{Data: [][]byte{a}},
			{Data: [][]byte{a, b}},
			{Data: [][]byte{joined[:c], joined[c:]}},
		} {
			got, want := CheckEnvelopesWellFormed(d), oracleCheckEnvelopesWellFormed(d)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("items %x: got %v, want %v", d.Data, got, want)
			}
		}
	})
}
