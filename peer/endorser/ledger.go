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
