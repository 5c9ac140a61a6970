package peer

import (
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/peer/validator"
)

// writesLifecycle reports whether a transaction the validator found valid
// writes the `_lifecycle` namespace: a public key, key metadata, or a key of
// one of its (implicit organisation) collections. Such a block may change a
// chaincode definition or this organisation's approved package, so the
// channel's definition cache must not survive its commit. The validator
// decoded every valid transaction's writes already; nothing is decoded
// again here.
func writesLifecycle(verdicts []validator.Verdict) bool {
	for _, v := range verdicts {
		if v.WritesNamespace(lifecycle.Namespace) {
			return true
		}
	}
	return false
}
