package endorser

import (
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/peer/lifecycle"
)

// NewLedger adapts a channel's *ledger.Ledger to Ledger. The adapter is also
// a chaincode.HistoryReader over the ledger's history index.
func NewLedger(l *ledger.Ledger) Ledger { return ledgerAdapter{l} }

type ledgerAdapter struct{ l *ledger.Ledger }

func (a ledgerAdapter) TxExists(txID string) (bool, error) { return a.l.Blocks().TxExists(txID) }
func (a ledgerAdapter) NewSimulator(txID string) Simulator { return a.l.NewSimulator(txID) }
func (a ledgerAdapter) CommittedState() CommittedState {
	return lifecycle.DBState{DB: a.l.State()}
}

func (a ledgerAdapter) GetHistoryForKey(ns, key string) (chaincode.HistoryIterator, error) {
	it, err := a.l.GetHistoryForKey(ns, key)
	if err != nil {
		return nil, err
	}
	return it, nil
}

// The real simulator lists its private reads for the chaincode interest.
var _ privateReadLister = (*ledger.Simulator)(nil)

// KeyMetadata is the committed metadata of a public key (none when absent),
// read without recording a read.
func (a ledgerAdapter) KeyMetadata(ns, key string) (map[string][]byte, error) {
	return committedMetadata(a.l, ns, key)
}

// PrivateKeyMetadata is the committed metadata of a private key, found by
// the hash of the key in the collection's hashed state.
func (a ledgerAdapter) PrivateKeyMetadata(ns, coll string, keyHash []byte) (map[string][]byte, error) {
	return committedMetadata(a.l, ledger.HashedNamespace(ns, coll), string(keyHash))
}

func committedMetadata(l *ledger.Ledger, ns, key string) (map[string][]byte, error) {
	vv, err := l.State().Get(ns, key)
	if err != nil {
		return nil, err
	}
	if vv == nil || len(vv.Metadata) == 0 {
		return nil, nil
	}
	return ledger.DecodeMetadata(vv.Metadata)
}
