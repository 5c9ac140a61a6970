package deliver

import (
	"fmt"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// blockPrivateData returns what DeliverWithPrivateData sends with block b to a
// requester of organisation mspID: the private write sets src holds for b's
// valid transactions, each cut down to the collections the requester may
// read. Transactions left with no collection are left out, so the map holds
// only what the requester may see. A nil src gives an empty map.
func blockPrivateData(src PrivateData, b *cb.Block, mspID string) (map[uint64]*rwset.TxPvtReadWriteSet, error) {
	out := map[uint64]*rwset.TxPvtReadWriteSet{}
	if src == nil {
		return out, nil
	}
	n := b.GetHeader().GetNumber()
	held, err := src.BlockPrivateData(n)
	if err != nil {
		return nil, fmt.Errorf("read the private data of block %d: %w", n, err)
	}
	if len(held) == 0 {
		return out, nil
	}
	flags := b.GetMetadata().GetMetadata()
	var txFilter []byte
	if len(flags) > int(cb.BlockMetadataIndex_TRANSACTIONS_FILTER) {
		txFilter = flags[cb.BlockMetadataIndex_TRANSACTIONS_FILTER]
	}
	// The question is asked once per collection of the block, not per write
	// set: a block usually carries many transactions on the same few.
	mayRead := map[[2]string]bool{}
	for tx, ws := range held {
		// The ledger keeps private data of valid transactions only; the
		// check costs nothing and keeps an invalid transaction's writes
		// from ever leaving the peer should a store hold them.
		if tx >= uint64(len(txFilter)) || pb.TxValidationCode(txFilter[tx]) != pb.TxValidationCode_VALID {
			continue
		}
		kept := &rwset.TxPvtReadWriteSet{DataModel: ws.GetDataModel()}
		for _, ns := range ws.GetNsPvtRwset() {
			var colls []*rwset.CollectionPvtReadWriteSet
			for _, c := range ns.GetCollectionPvtRwset() {
				key := [2]string{ns.GetNamespace(), c.GetCollectionName()}
				ok, asked := mayRead[key]
				if !asked {
					ok, err = src.MayRead(n, ns.GetNamespace(), c.GetCollectionName(), mspID)
					if err != nil {
						return nil, fmt.Errorf("block %d, transaction %d: may %s read collection %s of chaincode %s: %w",
							n, tx, mspID, c.GetCollectionName(), ns.GetNamespace(), err)
					}
					mayRead[key] = ok
				}
				if ok {
					colls = append(colls, c)
				}
			}
			if len(colls) > 0 {
				kept.NsPvtRwset = append(kept.NsPvtRwset, &rwset.NsPvtReadWriteSet{Namespace: ns.GetNamespace(), CollectionPvtRwset: colls})
			}
		}
		if len(kept.NsPvtRwset) > 0 {
			out[tx] = kept
		}
	}
	return out, nil
}
