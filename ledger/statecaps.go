package ledger

import (
	"fmt"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/statedb"
)

// stateCaps are the optional statedb capabilities the ledger uses; a nil
// field means the state database lacks it.
type stateCaps struct {
	loader  statedb.BulkLoader
	querier statedb.Querier
	checker statedb.KeyValueChecker
}

// detectCaps finds the capabilities of base, the database as opened. A
// wrapper (Options.WrapState) hides them unless it forwards them, so they
// are detected on base; when the wrapper implements one too, its
// implementation is used, so instrumentation and injected faults see the
// calls.
func detectCaps(base, wrapped statedb.DB) stateCaps {
	return stateCaps{
		loader:  capability[statedb.BulkLoader](base, wrapped),
		querier: capability[statedb.Querier](base, wrapped),
		checker: capability[statedb.KeyValueChecker](base, wrapped),
	}
}

func capability[T any](base, wrapped statedb.DB) T {
	var none T
	b, ok := base.(T)
	if !ok {
		return none
	}
	if w, ok := wrapped.(T); ok {
		return w
	}
	return b
}

// preloadKeys lists, once each and in the order first met, every key the
// transactions of txs still marked VALID in filter read or write: public
// reads, writes and metadata writes, and the hashed keys of collections.
// Range queries are not listed: MVCC re-runs them as ranges. Private
// writes are not either: committing them reads nothing.
func preloadKeys(txs []decodedTx, filter []byte) []statedb.NsKey {
	seen := map[statedb.NsKey]bool{}
	var keys []statedb.NsKey
	add := func(ns, key string) {
		k := statedb.NsKey{Namespace: ns, Key: key}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for i := range txs {
		if txs[i].sets == nil || pb.TxValidationCode(filter[i]) != pb.TxValidationCode_VALID {
			continue
		}
		for _, n := range txs[i].sets {
			for _, r := range n.kv.Reads {
				add(n.ns, r.Key)
			}
			for _, w := range n.kv.Writes {
				add(n.ns, w.Key)
			}
			for _, w := range n.kv.MetadataWrites {
				add(n.ns, w.Key)
			}
			for _, c := range n.hashed {
				hns := HashedNamespace(n.ns, c.name)
				for _, r := range c.set.HashedReads {
					add(hns, string(r.KeyHash))
				}
				for _, w := range c.set.HashedWrites {
					add(hns, string(w.KeyHash))
				}
				for _, w := range c.set.MetadataWrites {
					add(hns, string(w.KeyHash))
				}
			}
		}
	}
	return keys
}

// preload hands the state database, when it is a statedb.BulkLoader, every
// key the block's valid transactions read or write, in one call.
func (l *Ledger) preload(txs []decodedTx, filter []byte) error {
	if l.caps.loader == nil {
		return nil
	}
	keys := preloadKeys(txs, filter)
	if len(keys) == 0 {
		return nil
	}
	if err := l.caps.loader.Preload(keys); err != nil {
		return fmt.Errorf("preload %d keys from the state database: %w", len(keys), err)
	}
	return nil
}
