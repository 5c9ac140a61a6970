package lifecycle

import (
	"crypto/sha256"

	"github.com/weft-ledger/weft/statedb"
)

// VersionedGetter is the read side of a statedb.DB.
type VersionedGetter interface {
	Get(ns, key string) (*statedb.VersionedValue, error)
}

// DBState reads committed public and private state straight from a state
// database, for readers outside a simulation (validator, chaincode runtime).
type DBState struct{ DB VersionedGetter }

// GetState returns the committed value of key in ns, or nil.
func (s DBState) GetState(ns, key string) ([]byte, error) {
	vv, err := s.DB.Get(ns, key)
	if err != nil || vv == nil {
		return nil, err
	}
	return vv.Value, nil
}

// GetPrivateData returns this peer's committed private value of key in
// collection coll of ns (namespace ns$$p<coll>), or nil.
func (s DBState) GetPrivateData(ns, coll, key string) ([]byte, error) {
	return s.GetState(ns+"$$p"+coll, key)
}

// GetPrivateDataHash returns the committed hash of the value of key in
// collection coll of ns (namespace ns$$h<coll>, keyed by the key's SHA-256),
// or nil. Every peer of the channel holds it, member of the collection or not.
func (s DBState) GetPrivateDataHash(ns, coll, key string) ([]byte, error) {
	h := sha256.Sum256([]byte(key))
	return s.GetState(ns+"$$h"+coll, string(h[:]))
}
