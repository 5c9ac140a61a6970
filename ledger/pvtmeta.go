package ledger

import "fmt"

// GetPrivateDataMetadata returns the committed metadata entries of private
// key key of collection coll (nil when the key or its metadata is absent),
// such as its key-level endorsement policy. Metadata lives with the key's
// hash in the hashed state, so every peer of the channel can answer,
// members of the collection or not. As in Fabric, the read is recorded as
// a hashed read of the key, so the transaction fails MVCC if the key
// changes before it commits.
func (s *Simulator) GetPrivateDataMetadata(ns, coll, key string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, ErrSimulationDone
	}
	vv, err := s.state.Get(HashedNamespace(ns, coll), string(keyHash(key)))
	if err != nil {
		return nil, fmt.Errorf("simulate %s: metadata of private data %s/%s key %q: %w", s.txID, ns, coll, key, err)
	}
	s.recordHashedRead(ns, coll, key, protoVersion(vv))
	if vv == nil || len(vv.Metadata) == 0 {
		return nil, nil
	}
	md, err := DecodeMetadata(vv.Metadata)
	if err != nil {
		return nil, fmt.Errorf("simulate %s: metadata of private data %s/%s key %q: %w", s.txID, ns, coll, key, err)
	}
	return md, nil
}

// SetPrivateDataMetadata records a metadata write of private key key of
// collection coll; an empty map removes the key's metadata. As in Fabric
// the write goes to both write sets: with the key in the private one, with
// its hash in the public one, and at commit it is applied to the hashed
// state, where validation finds it (a key-level endorsement policy set
// with SetPrivateDataValidationParameter).
func (s *Simulator) SetPrivateDataMetadata(ns, coll, key string, metadata map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.beginPrivateWriteLocked("SetPrivateDataMetadata", "metadata write of private data", ns, coll, key, nil); err != nil {
		return err
	}
	cp := make(map[string][]byte, len(metadata))
	for k, v := range metadata {
		cp[k] = v
	}
	inner(inner(s.pvtMetaWrites, ns), coll)[key] = cp
	return nil
}
