package reorder

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
)

// keyRef names one versioned key of the world state: a public key of a
// namespace, or the hash of a private key of a collection (coll set).
type keyRef struct {
	ns, coll string
	key      string // the key, or for a private key its SHA-256
}

// version is a read version; absent reads carry none.
type version struct{ block, tx uint64 }

func (a version) less(b version) bool {
	return a.block < b.block || (a.block == b.block && a.tx < b.tx)
}

type read struct {
	key     keyRef
	v       version
	present bool // false: read as absent (no version)
}

// rangeRead is a public range query the peer re-runs at validation: keys in
// [start, end), or [start, end] when the simulator stopped early (Fabric then
// records the last key it returned as end); end "" is unbounded.
type rangeRead struct {
	ns, start, end string
	inclusive      bool
	reads          []read // the keys it returned, with their versions
}

func (r rangeRead) covers(key string) bool {
	if key < r.start {
		return false
	}
	switch {
	case r.end == "":
		return true
	case r.inclusive:
		return key <= r.end
	default:
		return key < r.end
	}
}

// rwSet is what ordering needs to know of one endorser transaction.
type rwSet struct {
	txID   string
	reads  []read
	ranges []rangeRead
	writes []keyRef // value writes and deletes (purges too, for private keys)
	metas  []keyRef // metadata writes
}

// decode reads the read/write set of an ENDORSER_TRANSACTION envelope. ok is
// false for any other envelope and for one that does not decode: those keep
// their place in the block. Only the fields ordering needs are read, without
// copying the envelope's layers; a peer checks the rest, and a wrong guess
// here can only cost validity, never change a verdict's correctness.
func decode(env []byte) (rwSet, bool) {
	var s rwSet
	payload, ok := field(env, 1)
	if !ok {
		return s, false
	}
	header, ok := field(payload, 1)
	if !ok {
		return s, false
	}
	chdr, ok := field(header, 1)
	if !ok {
		return s, false
	}
	typ, ok := varintField(chdr, 1)
	if !ok || typ != uint64(cb.HeaderType_ENDORSER_TRANSACTION) {
		return s, false
	}
	txID, _ := field(chdr, 5)
	s.txID = string(txID)
	data, ok := field(payload, 2)
	if !ok {
		return s, false
	}
	// Fabric accepts exactly one action per transaction.
	actions := repeated(data, 1)
	if len(actions) != 1 {
		return s, false
	}
	cap, ok := field(actions[0], 2)
	if !ok {
		return s, false
	}
	endorsed, ok := field(cap, 2)
	if !ok {
		return s, false
	}
	prp, ok := field(endorsed, 1)
	if !ok {
		return s, false
	}
	ext, ok := field(prp, 2)
	if !ok {
		return s, false
	}
	results, _ := field(ext, 1)
	rws := &rwset.TxReadWriteSet{}
	if err := proto.Unmarshal(results, rws); err != nil {
		return s, false
	}
	for _, n := range rws.NsRwset {
		kv := &kvrwset.KVRWSet{}
		if err := proto.Unmarshal(n.Rwset, kv); err != nil {
			return s, false
		}
		s.addPublic(n.Namespace, kv)
		for _, c := range n.CollectionHashedRwset {
			h := &kvrwset.HashedRWSet{}
			if err := proto.Unmarshal(c.HashedRwset, h); err != nil {
				return s, false
			}
			s.addHashed(n.Namespace, c.CollectionName, h)
		}
	}
	return s, true
}

func (s *rwSet) addPublic(ns string, kv *kvrwset.KVRWSet) {
	for _, r := range kv.Reads {
		s.reads = append(s.reads, readOf(keyRef{ns: ns, key: r.Key}, r.Version))
	}
	for _, q := range kv.RangeQueriesInfo {
		rr := rangeRead{ns: ns, start: q.StartKey, end: q.EndKey, inclusive: !q.ItrExhausted}
		for _, r := range q.GetRawReads().GetKvReads() {
			rr.reads = append(rr.reads, readOf(keyRef{ns: ns, key: r.Key}, r.Version))
		}
		s.ranges = append(s.ranges, rr)
	}
	for _, w := range kv.Writes {
		s.writes = append(s.writes, keyRef{ns: ns, key: w.Key})
	}
	for _, m := range kv.MetadataWrites {
		s.metas = append(s.metas, keyRef{ns: ns, key: m.Key})
	}
}

func (s *rwSet) addHashed(ns, coll string, h *kvrwset.HashedRWSet) {
	for _, r := range h.HashedReads {
		s.reads = append(s.reads, readOf(keyRef{ns: ns, coll: coll, key: string(r.KeyHash)}, r.Version))
	}
	for _, w := range h.HashedWrites {
		s.writes = append(s.writes, keyRef{ns: ns, coll: coll, key: string(w.KeyHash)})
	}
	for _, m := range h.MetadataWrites {
		s.metas = append(s.metas, keyRef{ns: ns, coll: coll, key: string(m.KeyHash)})
	}
}

func readOf(k keyRef, v *kvrwset.Version) read {
	if v == nil {
		return read{key: k}
	}
	return read{key: k, v: version{v.BlockNum, v.TxNum}, present: true}
}

// field returns the last occurrence of length-delimited field num of msg
// (for a scalar, proto keeps the last one too).
func field(msg []byte, num protowire.Number) ([]byte, bool) {
	var out []byte
	found := false
	ok := scan(msg, func(n protowire.Number, typ protowire.Type, b []byte, _ uint64) {
		if n == num && typ == protowire.BytesType {
			out, found = b, true
		}
	})
	return out, ok && found
}

// varintField returns the last occurrence of varint field num of msg.
func varintField(msg []byte, num protowire.Number) (uint64, bool) {
	var out uint64
	ok := scan(msg, func(n protowire.Number, typ protowire.Type, _ []byte, v uint64) {
		if n == num && typ == protowire.VarintType {
			out = v
		}
	})
	return out, ok
}

// repeated returns every occurrence of length-delimited field num of msg.
func repeated(msg []byte, num protowire.Number) [][]byte {
	var out [][]byte
	if !scan(msg, func(n protowire.Number, typ protowire.Type, b []byte, _ uint64) {
		if n == num && typ == protowire.BytesType {
			out = append(out, b)
		}
	}) {
		return nil
	}
	return out
}

// scan calls fn for each field of msg; it reports false on malformed input.
func scan(msg []byte, fn func(protowire.Number, protowire.Type, []byte, uint64)) bool {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		switch typ {
		case protowire.BytesType:
			b, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return false
			}
			fn(num, typ, b, 0)
			msg = msg[m:]
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(msg)
			if m < 0 {
				return false
			}
			fn(num, typ, nil, v)
			msg = msg[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, msg)
			if m < 0 {
				return false
			}
			msg = msg[m:]
		}
	}
	return true
}
