package ledger

import (
	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// TxRWSet is the read/write set of one endorser transaction, decoded by a
// caller that had to decode it anyway (the peer's validator). UseDecoded
// hands such sets to Commit so that the block's read/write sets are not
// decoded a second time on the commit path.
type TxRWSet struct {
	TxID       string
	Namespaces []NsRWSet // in the order of the transaction's TxReadWriteSet
}

// NsRWSet is one namespace of a TxRWSet.
type NsRWSet struct {
	Namespace string
	KV        *kvrwset.KVRWSet
	Hashed    []CollHashedRWSet // in the order of CollectionHashedRwset
}

// CollHashedRWSet is the hashed read/write set of one collection of a
// namespace, with the hash of its private write set (pvt_rwset_hash).
type CollHashedRWSet struct {
	Collection string
	Set        *kvrwset.HashedRWSet
	PvtHash    []byte
}

// UseDecoded lets the next MissingIn and Commit of block b (the same
// *cb.Block) use sets instead of decoding the block's transactions again.
// filter is the block's transaction filter as it will be at that call
// (TxFilter(b)); sets[i] is transaction i's read/write set, nil for a
// transaction filter marks invalid and for one that carries none (a
// configuration transaction). The sets must decode exactly what the block
// holds and must not be changed afterwards. A later call for another block
// replaces them; a Commit with another filter decodes as usual.
func (l *Ledger) UseDecoded(b *cb.Block, filter []byte, sets []*TxRWSet) {
	if b == nil || len(sets) != len(filter) || len(filter) != len(b.GetData().GetData()) {
		return
	}
	txs := make([]decodedTx, len(sets))
	for i, s := range sets {
		txs[i].code = pb.TxValidationCode_VALID
		if s == nil || pb.TxValidationCode(filter[i]) != pb.TxValidationCode_VALID {
			continue
		}
		txs[i].txID = s.TxID
		nss := make([]decodedNs, len(s.Namespaces))
		for j, n := range s.Namespaces {
			nss[j] = decodedNs{ns: n.Namespace, kv: n.KV}
			for _, c := range n.Hashed {
				nss[j].hashed = append(nss[j].hashed, decodedColl{name: c.Collection, set: c.Set, pvtHash: c.PvtHash})
			}
		}
		txs[i].sets = nss
	}
	l.decodedMu.Lock()
	l.decoded = decodedBlock{block: b, filter: append([]byte(nil), filter...), txs: txs}
	l.decodedMu.Unlock()
}
