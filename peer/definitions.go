package peer

import (
	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

// writesLifecycle reports whether a transaction of block marked VALID in
// flags writes the `_lifecycle` namespace: a public key, key metadata, or a
// key of one of its (implicit organisation) collections. Such a block may
// change a chaincode definition or this organisation's approved package, so
// the channel's definition cache must not survive its commit. A transaction
// it cannot decode counts as a write: in doubt, invalidate.
//
// Every user transaction reads `_lifecycle` (the definition's sequence), so
// only the writes of that one namespace are decoded.
func writesLifecycle(block *cb.Block, flags []byte) bool {
	for i, raw := range block.GetData().GetData() {
		if i >= len(flags) || flags[i] != byte(pb.TxValidationCode_VALID) {
			continue
		}
		chdr, err := protos.EnvelopeChannelHeader(raw)
		if err != nil {
			return true
		}
		if cb.HeaderType(chdr.Type) != cb.HeaderType_ENDORSER_TRANSACTION {
			continue // configuration transactions never touch chaincode state
		}
		env, err := protos.UnmarshalEnvelope(raw)
		if err != nil {
			return true
		}
		tx, err := protos.ParseEndorserTx(env)
		if err != nil {
			return true
		}
		for _, ns := range tx.ReadWriteSet.GetNsRwset() {
			if ns.Namespace != lifecycle.Namespace {
				continue
			}
			kv := &kvrwset.KVRWSet{}
			if err := proto.Unmarshal(ns.Rwset, kv); err != nil || len(kv.Writes) > 0 || len(kv.MetadataWrites) > 0 {
				return true
			}
			for _, c := range ns.CollectionHashedRwset {
				h := &kvrwset.HashedRWSet{}
				if err := proto.Unmarshal(c.HashedRwset, h); err != nil || len(h.HashedWrites) > 0 || len(h.MetadataWrites) > 0 {
					return true
				}
			}
		}
	}
	return false
}
