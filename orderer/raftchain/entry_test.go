package raftchain

import (
	"bytes"
	"testing"
)

// FuzzDecodeSnapshotData: snapshot data comes from disk; decoding must never
// panic, and whatever decodes must encode back to the same bytes.
func FuzzDecodeSnapshotData(f *testing.F) {
	f.Add(encodeSnapshotData(nil))
	f.Add(encodeSnapshotData([]pendingEnv{{index: 7, env: []byte("env")}, {index: 9, env: nil}}))
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
