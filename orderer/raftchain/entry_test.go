package raftchain

import (
	"bytes"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"

	"github.com/weft-ledger/weft/protos"
)

// FuzzDecodeSnapshotData: snapshot data comes from disk; decoding must never
// panic, and whatever decodes must encode back to the same bytes.
func FuzzDecodeSnapshotData(f *testing.F) {
	f.Add(encodeSnapshotData(snapData{version: 1}))
	f.Add(encodeSnapshotData(snapData{version: 1, pending: []pendingEnv{{index: 7, env: []byte("env")}, {index: 9, env: nil}}}))
	f.Add(encodeSnapshotData(snapData{lastBlock: 4, blockHash: []byte("hash"), pending: []pendingEnv{{index: 7, env: []byte("env")}}}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodeSnapshotData(data)
		if err != nil || len(data) == 0 {
			return
		}
		if again := encodeSnapshotData(p); !bytes.Equal(again, data[:len(again)]) {
			t.Fatalf("round trip changed the data")
		}
	})
}

// FuzzDecodeEntry: entry data comes from the Raft log (other nodes, later).
func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEnvelope(3, []byte("env")))
	f.Add([]byte{kindBlock, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{9})
	f.Fuzz(func(t *testing.T, data []byte) {
		kind, n, body, err := decodeEntry(data)
		if err != nil {
			return
		}
		if kind == kindEnvelope && !bytes.Equal(encodeEnvelope(n, body), data) {
			t.Fatalf("envelope entry round trip changed the data")
		}
	})
}

// Snapshot data written before the block number was added still decode;
// the current format carries the last block and its hash.
func TestSnapshotDataVersions(t *testing.T) {
	old := []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 2, 'h', 'i'}
	d, err := decodeSnapshotData(old)
	if err != nil || d.version != 1 || len(d.pending) != 1 || d.pending[0].index != 7 || string(d.pending[0].env) != "hi" {
		t.Fatalf("old format: %+v %v", d, err)
	}
	want := snapData{version: snapshotV2, lastBlock: 9, blockHash: []byte("hash"), pending: d.pending}
	got, err := decodeSnapshotData(encodeSnapshotData(want))
	if err != nil || got.version != snapshotV2 || got.lastBlock != 9 || string(got.blockHash) != "hash" || len(got.pending) != 1 {
		t.Fatalf("v2: %+v %v", got, err)
	}
	if _, err := decodeSnapshotData([]byte{7, 1, 2}); err == nil {
		t.Fatal("unknown version accepted")
	}
}

// isConfigEnvelope reads the header type in place; it must agree with a full decode.
func TestIsConfigEnvelopeAgreesWithDecode(t *testing.T) {
	endorser := protos.Marshal(&cb.Envelope{Payload: protos.Marshal(&cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(&cb.ChannelHeader{Type: int32(cb.HeaderType_ENDORSER_TRANSACTION), ChannelId: "c"})},
		Data:   []byte("tx"),
	})})
	for _, tc := range []struct {
		env  []byte
		want bool
	}{
		{configEnvelope(1, consenters(1)), true},
		{endorser, false},
		{[]byte("not an envelope"), false},
		{nil, false},
		{make([]byte, 3000), false},
	} {
		if got := isConfigEnvelope(tc.env); got != tc.want {
			t.Fatalf("isConfigEnvelope(%.20x) = %v", tc.env, got)
		}
		chdr, err := protos.EnvelopeChannelHeader(tc.env)
		if decoded := err == nil && chdr.Type == int32(cb.HeaderType_CONFIG); decoded != tc.want {
			t.Fatalf("full decode of %.20x says config=%v", tc.env, decoded)
		}
	}
}
