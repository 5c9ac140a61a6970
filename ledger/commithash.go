package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/statedb"
)

// The commit hash is the value a Fabric v2.5 peer writes into a block's
// COMMIT_HASH metadata slot as it commits the block. It chains a digest of
// what each block changed in the world state, so two peers whose states have
// diverged disagree on the commit hash of every block from the first
// difference on. Weft computes it exactly as Fabric's ledger does, so a Weft
// peer and a Fabric peer that commit the same block record the same bytes:
//
//	commitHash(n) = SHA-256( varint(len(filter)) ‖ filter ‖ updates ‖ commitHash(n-1) )
//
// where filter is the block's final TRANSACTIONS_FILTER and updates is the
// protobuf encoding of Fabric's ledger-internal message
//
//	message KVWrite { string namespace = 1; string collection = 2; bytes key = 3;
//	                  bool isDelete = 4; bytes value = 5; bytes version_bytes = 6; }
//	message Updates { repeated KVWrite kvwrites = 1; }
//
// listing the block's public writes and the hashes of its private writes
// (key hash and value hash), never the private values themselves: namespaces
// in byte order; within a namespace the public keys in byte order, then each
// collection in name order with its key hashes in byte order. Namespace and
// collection are set only on the first write of each run. version_bytes is the
// order-preserving encoding of the writing transaction's (block, tx) height.
//
// Fabric computes a commit hash for block 1 (from an empty previous hash) and
// for every later block whose predecessor has one; the genesis block has none,
// and a ledger whose blocks carry none (one made before Weft wrote them) goes
// on without them, as a Fabric peer does.

// commitHashOf returns the commit hash of a block whose final filter is
// filter and whose state updates are batch, following prev.
func commitHashOf(filter []byte, batch *statedb.Batch, prev []byte) []byte {
	h := sha256.New()
	h.Write(protowire.AppendVarint(nil, uint64(len(filter))))
	h.Write(filter)
	h.Write(commitHashUpdates(batch))
	h.Write(prev)
	return h.Sum(nil)
}

// commitHashUpdates encodes batch as Fabric's Updates message. Private values
// (PrivateNamespace) are left out: only what every peer of the channel holds
// counts.
func commitHashUpdates(batch *statedb.Batch) []byte {
	type nsUpdates struct {
		public bool     // the batch writes public keys of the namespace
		colls  []string // collections whose hashes the batch writes
	}
	byNS := map[string]*nsUpdates{}
	for _, bns := range batch.Namespaces() {
		if strings.Contains(bns, "$$p") {
			continue
		}
		ns, coll, hashed := strings.Cut(bns, "$$h")
		u := byNS[ns]
		if u == nil {
			u = &nsUpdates{}
			byNS[ns] = u
		}
		if hashed {
			u.colls = append(u.colls, coll)
		} else {
			u.public = true
		}
	}
	names := make([]string, 0, len(byNS))
	for ns := range byNS {
		names = append(names, ns)
	}
	sort.Strings(names)

	var out []byte
	// One KVWrite is encoded at a time into kv, which each reuses, before
	// its length prefix is known.
	var kv []byte
	for _, ns := range names {
		if ns == "" {
			// Fabric keeps the channel config under the empty namespace and
			// leaves it out; Weft writes nothing there, but treats it alike.
			continue
		}
		u := byNS[ns]
		sort.Strings(u.colls)
		nsField := ns // set on the namespace's first write only
		appendRun := func(bns, coll string) {
			collField := coll // set on the collection's first write only
			for _, key := range batch.Keys(bns) {
				vv, deleted, _ := batch.Get(bns, key)
				out = protowire.AppendTag(out, 1, protowire.BytesType)
				kv = appendKVWrite(kv[:0], nsField, collField, key, deleted, vv)
				out = protowire.AppendBytes(out, kv)
				nsField, collField = "", ""
			}
		}
		if u.public {
			appendRun(ns, "")
		}
		for _, c := range u.colls {
			appendRun(HashedNamespace(ns, c), c)
		}
	}
	return out
}

// appendKVWrite appends one KVWrite to b, marshalled as proto3 does: fields
// in number order, default values left out.
func appendKVWrite(b []byte, ns, collection, key string, deleted bool, vv *statedb.VersionedValue) []byte {
	if ns != "" {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, ns)
	}
	if collection != "" {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, collection)
	}
	if key != "" {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, key)
	}
	if deleted {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	} else if len(vv.Value) > 0 {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, vv.Value)
	}
	b = protowire.AppendTag(b, 6, protowire.BytesType)
	// Two order-preserving numbers: at most 2 × (1 + 8) bytes.
	var hb [18]byte
	return protowire.AppendBytes(b, appendHeight(hb[:0], vv.Version))
}

// appendHeight appends Fabric's encoding of version v to b: the block number,
// then the transaction number, each as a one-byte length followed by the
// number's big-endian bytes without leading zeros (zero is the single byte 0).
func appendHeight(b []byte, v statedb.Version) []byte {
	return appendOrderPreserving(appendOrderPreserving(b, v.BlockNum), v.TxNum)
}

func appendOrderPreserving(b []byte, n uint64) []byte {
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], n)
	i := 0
	for i < 8 && be[i] == 0 {
		i++
	}
	b = protowire.AppendVarint(b, uint64(8-i))
	return append(b, be[i:]...)
}

// CommitHash returns the commit hash a peer recorded in b's COMMIT_HASH
// metadata, or nil when b carries none.
func CommitHash(b *cb.Block) ([]byte, error) {
	md := b.GetMetadata().GetMetadata()
	if len(md) <= int(cb.BlockMetadataIndex_COMMIT_HASH) || len(md[cb.BlockMetadataIndex_COMMIT_HASH]) == 0 {
		return nil, nil
	}
	m := &cb.Metadata{}
	if err := proto.Unmarshal(md[cb.BlockMetadataIndex_COMMIT_HASH], m); err != nil {
		return nil, fmt.Errorf("block %d: COMMIT_HASH metadata is not a common.Metadata: %w", b.GetHeader().GetNumber(), err)
	}
	return m.Value, nil
}

// setCommitHash records hash in b's COMMIT_HASH metadata slot, as Fabric
// does: a common.Metadata whose value is the hash.
func setCommitHash(b *cb.Block, hash []byte) {
	if b.Metadata == nil {
		b.Metadata = &cb.BlockMetadata{}
	}
	for len(b.Metadata.Metadata) <= int(cb.BlockMetadataIndex_COMMIT_HASH) {
		b.Metadata.Metadata = append(b.Metadata.Metadata, nil)
	}
	raw, _ := proto.Marshal(&cb.Metadata{Value: hash})
	b.Metadata.Metadata[cb.BlockMetadataIndex_COMMIT_HASH] = raw
}
