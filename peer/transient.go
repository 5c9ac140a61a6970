package peer

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"

	"github.com/weft-ledger/weft/transientstore"
)

// transientBlockRetention is Fabric's default of
// peer.gossip.pvtData.transientstoreMaxBlockRetention: private write sets
// simulated more than this many blocks below the ledger are purged, on each
// block whose number is a multiple of it.
const transientBlockRetention = 1000

// transientStores keeps the private write sets produced at endorsement until
// their transaction commits, in one on-disk transientstore.Store per channel
// under <peer.fileSystemPath>/transientstore/<channel>, as Fabric lays them
// out. A channel's store is opened on first use (an endorsement or a commit),
// so a peer restarted between endorsement and commit finds its entries again.
// A block's sets are read when it commits and removed when the next block
// does (a block whose commit failed is committed again and needs them); the
// sets of the last block before a restart are left to the purge by height.
type transientStores struct {
	dir       string
	retention uint64
	// height reads a channel's ledger height, recorded with each Put.
	height func(channelID string) (uint64, error)
	log    *slog.Logger

	mu     sync.Mutex // guards the fields below
	stores map[string]*transientstore.Store
	// taken holds, per channel, the block whose sets Take last read and
	// their txIDs: they are removed once a later block is taken, which
	// shows that block committed (a block whose commit failed is offered
	// again and must find its sets again).
	taken  map[string]takenBlock
	closed bool
}

type takenBlock struct {
	number uint64
	txIDs  []string
}

func newTransientStores(dir string, retention uint64, height func(string) (uint64, error), log *slog.Logger) *transientStores {
	return &transientStores{dir: dir, retention: retention, height: height, log: log, stores: map[string]*transientstore.Store{}, taken: map[string]takenBlock{}}
}

// store returns the channel's store, opening it on first use.
func (t *transientStores) store(channelID string) (*transientstore.Store, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("channel %s: transient stores in %s: %w", channelID, t.dir, transientstore.ErrClosed)
	}
	if s, ok := t.stores[channelID]; ok {
		return s, nil
	}
	if channelID == "" || channelID != filepath.Base(channelID) || channelID == "." || channelID == ".." {
		return nil, fmt.Errorf("channel %q: not a name a transient store folder can have", channelID)
	}
	s, err := transientstore.Open(filepath.Join(t.dir, channelID))
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", channelID, err)
	}
	t.stores[channelID] = s
	return s, nil
}

// Put records the private write set of a transaction endorsed on a channel,
// with the channel's ledger height.
func (t *transientStores) Put(channelID, txID string, pvt *rwset.TxPvtReadWriteSet) error {
	if len(pvt.GetNsPvtRwset()) == 0 {
		return nil
	}
	height, err := t.height(channelID)
	if err != nil {
		return fmt.Errorf("keep the private write set of transaction %s: %w", txID, err)
	}
	return t.PutAt(channelID, txID, height, pvt)
}

// PutAt records a private write set simulated at ledger height height (one
// another peer pushed: the height is the one it simulated at).
func (t *transientStores) PutAt(channelID, txID string, height uint64, pvt *rwset.TxPvtReadWriteSet) error {
	s, err := t.store(channelID)
	if err != nil {
		return fmt.Errorf("keep the private write set of transaction %s: %w", txID, err)
	}
	return s.Put(txID, height, pvt)
}

// Entries returns every private write set kept for a transaction.
func (t *transientStores) Entries(channelID, txID string) ([]*rwset.TxPvtReadWriteSet, error) {
	s, err := t.store(channelID)
	if err != nil {
		return nil, err
	}
	return s.Entries(txID)
}

// Take returns the private write sets of the transactions of block
// blockNum, keyed by their index in the block. It removes the sets of the
// block taken before, now known committed (Fabric purges by txID after
// commit), and, as Fabric does, on blocks that are multiples of the retention
// purges the entries simulated more than the retention below the block. A
// store that cannot be read is logged: the block commits without the sets it
// lost, as Fabric's peer commits without private data it cannot find.
func (t *transientStores) Take(channelID string, blockNum uint64, txIDs []string) map[uint64]*rwset.TxPvtReadWriteSet {
	s, err := t.store(channelID)
	if err != nil {
		t.log.Error("block commits without this peer's private write sets", "channel", channelID, "block", blockNum, "err", err)
		return nil
	}
	t.mu.Lock()
	prev, ok := t.taken[channelID]
	t.taken[channelID] = takenBlock{number: blockNum, txIDs: txIDs}
	t.mu.Unlock()
	if ok && prev.number < blockNum {
		if err := s.Remove(prev.txIDs); err != nil {
			// Left to the purge by height.
			t.log.Warn("remove the private write sets of a committed block", "channel", channelID, "block", prev.number, "err", err)
		}
	}
	out, err := s.Get(txIDs)
	if err != nil {
		t.log.Error("some private write sets of the block could not be read; it commits without them", "channel", channelID, "block", blockNum, "err", err)
	}
	if r := t.retention; r > 0 && blockNum%r == 0 && blockNum > r {
		n, err := s.PurgeBelow(blockNum - r)
		if err != nil {
			t.log.Error("purge the transient store", "channel", channelID, "block", blockNum, "below_height", blockNum-r, "err", err)
		} else if n > 0 {
			t.log.Info("purged private write sets of transactions never committed", "channel", channelID, "block", blockNum, "below_height", blockNum-r, "entries", n)
		}
	}
	return out
}

// Close closes every channel's store; later calls fail.
func (t *transientStores) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	var errs []error
	for id, s := range t.stores {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(t.stores, id)
	}
	return errors.Join(errs...)
}
