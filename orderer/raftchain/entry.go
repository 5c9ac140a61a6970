package raftchain

import (
	"encoding/binary"
	"errors"
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"
)

// Kinds of normal Raft entries this package writes.
const (
	kindEnvelope byte = 1 // kind ‖ uint64 proposal id ‖ envelope bytes
	kindBlock    byte = 2 // kind ‖ uint64 index of its last envelope entry ‖ block bytes (a block whose envelopes the leader reordered)
	// kindBlockRef: kind ‖ uint64 index of its last envelope entry ‖ marshalled
	// cb.BlockHeader. The block's data are the committed envelopes not yet in
	// a block up to that index, which every node holds in the same order, so
	// the log carries each envelope once; the header's data hash checks them.
	kindBlockRef byte = 3
)

func encodeEnvelope(id uint64, env []byte) []byte {
	return appendEnvelope(make([]byte, 0, 9+len(env)), id, env)
}

// appendEnvelope appends the entry data of envelope env with proposal id to out.
func appendEnvelope(out []byte, id uint64, env []byte) []byte {
	out = append(out, kindEnvelope)
	out = binary.BigEndian.AppendUint64(out, id)
	return append(out, env...)
}

// putEnvelopePrefix writes the prefix of an envelope entry with proposal id
// into entry[:EntryPrefix]; the envelope follows it in entry.
func putEnvelopePrefix(entry []byte, id uint64) {
	entry[0] = kindEnvelope
	binary.BigEndian.PutUint64(entry[1:EntryPrefix], id)
}

func encodeBlock(lastEnvIndex uint64, b *cb.Block) []byte {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(b)
	if err != nil {
		panic(fmt.Sprintf("marshal block %d: %v", b.GetHeader().GetNumber(), err))
	}
	out := make([]byte, 9+len(raw))
	out[0] = kindBlock
	binary.BigEndian.PutUint64(out[1:9], lastEnvIndex)
	copy(out[9:], raw)
	return out
}

func encodeBlockRef(lastEnvIndex uint64, h *cb.BlockHeader) []byte {
	out := make([]byte, 9, 9+proto.Size(h))
	out[0] = kindBlockRef
	binary.BigEndian.PutUint64(out[1:9], lastEnvIndex)
	out, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(out, h)
	if err != nil {
		panic(fmt.Sprintf("marshal header of block %d: %v", h.GetNumber(), err))
	}
	return out
}

// decodeEntry splits entry data into its kind, its uint64 field and its body.
func decodeEntry(data []byte) (kind byte, n uint64, body []byte, err error) {
	if len(data) < 9 {
		return 0, 0, nil, fmt.Errorf("raft entry of %d bytes is too short", len(data))
	}
	kind = data[0]
	if kind != kindEnvelope && kind != kindBlock && kind != kindBlockRef {
		return 0, 0, nil, fmt.Errorf("unknown raft entry kind %d", kind)
	}
	return kind, binary.BigEndian.Uint64(data[1:9]), data[9:], nil
}

// pendingEnv is a committed envelope that no committed block holds yet.
type pendingEnv struct {
	index uint64
	env   []byte
}

// snapData is what a Raft snapshot carries besides the log position: the
// last block the snapshot covers and the committed envelopes no block holds yet.
type snapData struct {
	version   byte // 1: pending envelopes only (earlier versions); 2: with the last block
	lastBlock uint64
	blockHash []byte // header hash of lastBlock
	pending   []pendingEnv
}

const snapshotV2 byte = 2

// Snapshot data, version 1: uint64 count, then per envelope uint64 index,
// uint32 length, bytes (its first byte is 0: no count reaches 2^56).
// Version 2: byte 2, uint64 last block number, uint32 length and header hash
// of that block, then the version 1 layout.
func encodeSnapshotData(d snapData) []byte {
	var out []byte
	if d.version != 1 {
		out = append(out, snapshotV2)
		out = binary.BigEndian.AppendUint64(out, d.lastBlock)
		out = binary.BigEndian.AppendUint32(out, uint32(len(d.blockHash)))
		out = append(out, d.blockHash...)
	}
	out = binary.BigEndian.AppendUint64(out, uint64(len(d.pending)))
	for _, p := range d.pending {
		out = binary.BigEndian.AppendUint64(out, p.index)
		out = binary.BigEndian.AppendUint32(out, uint32(len(p.env)))
		out = append(out, p.env...)
	}
	return out
}

var errBadSnapshot = errors.New("raftchain: malformed snapshot data")

func decodeSnapshotData(data []byte) (snapData, error) {
	d := snapData{version: 1}
	if len(data) == 0 {
		return d, nil
	}
	if data[0] == snapshotV2 {
		if len(data) < 13 {
			return d, errBadSnapshot
		}
		d.version = snapshotV2
		d.lastBlock = binary.BigEndian.Uint64(data[1:])
		l := binary.BigEndian.Uint32(data[9:])
		data = data[13:]
		if uint64(len(data)) < uint64(l) {
			return d, errBadSnapshot
		}
		d.blockHash = append([]byte(nil), data[:l]...)
		data = data[l:]
	} else if data[0] != 0 {
		return d, fmt.Errorf("%w: unknown version %d", errBadSnapshot, data[0])
	}
	if len(data) < 8 {
		return d, errBadSnapshot
	}
	n := binary.BigEndian.Uint64(data)
	data = data[8:]
	for i := uint64(0); i < n; i++ {
		if len(data) < 12 {
			return d, errBadSnapshot
		}
		idx := binary.BigEndian.Uint64(data)
		l := binary.BigEndian.Uint32(data[8:])
		data = data[12:]
		if uint64(len(data)) < uint64(l) {
			return d, errBadSnapshot
		}
		d.pending = append(d.pending, pendingEnv{index: idx, env: append([]byte(nil), data[:l]...)})
		data = data[l:]
	}
	return d, nil
}
