package endorser

import (
	"fmt"
	"sort"
	"sync"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/peer/lifecycle"
)

// KeyMetadataReader is an optional Ledger capability: the committed metadata
// of a public key, or of a private key by its hash, read without recording a
// read. The endorser reads the key-level endorsement policies
// (VALIDATION_PARAMETER) of the keys a transaction writes with it, for the
// chaincode interest; without it every written key counts as having none.
// NewLedger's adapter has it.
type KeyMetadataReader interface {
	KeyMetadata(ns, key string) (map[string][]byte, error)
	PrivateKeyMetadata(ns, coll string, keyHash []byte) (map[string][]byte, error)
}

// validationParameter is the metadata entry holding a key-level endorsement
// policy (a marshalled common.SignaturePolicyEnvelope), as Fabric names it.
const validationParameter = "VALIDATION_PARAMETER"

// fullSimulator is a Simulator with every optional capability the chaincode
// handler and _lifecycle look for; *ledger.Simulator is one (ledger.go
// asserts it). Only such a simulator is wrapped to record private reads, so
// the wrapper never hides a capability. A capability added to the handler
// must be added here too.
type fullSimulator interface {
	Simulator
	chaincode.PrivateDataReader
	chaincode.PrivateDataDeleter
	chaincode.PrivateDataPurger
	chaincode.PrivateDataRangeReader
	chaincode.StateMetadataAccessor
	chaincode.RangePager
	chaincode.RichQuerier
}

var _ lifecycle.TxSimulator = fullSimulator(nil)

// privateReads records the collections a transaction read private data from.
// Reads of private data hashes (GetPrivateDataHash) leave the same hashed
// read in the read/write set but, as in Fabric, are not private reads: only
// a private read needs endorsers that hold the collection.
type privateReads struct {
	fullSimulator
	mu    sync.Mutex          // guards colls: chaincode calls may overlap
	colls map[string][]string // namespace -> collections read
}

// trackPrivateReads wraps sim to record its private reads; the returned
// function lists them. A simulator without every capability is not wrapped
// and reports none.
func trackPrivateReads(sim Simulator) (Simulator, func() map[string][]string) {
	full, ok := sim.(fullSimulator)
	if !ok {
		return sim, func() map[string][]string { return nil }
	}
	r := &privateReads{fullSimulator: full, colls: map[string][]string{}}
	return r, r.read
}

// GetPrivateData reads through the simulator and records the collection.
func (r *privateReads) GetPrivateData(ns, coll, key string) ([]byte, error) {
	v, err := r.fullSimulator.GetPrivateData(ns, coll, key)
	if err == nil {
		r.mu.Lock()
		if !containsString(r.colls[ns], coll) {
			r.colls[ns] = append(r.colls[ns], coll)
		}
		r.mu.Unlock()
	}
	return v, err
}

func (r *privateReads) read() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]string, len(r.colls))
	for ns, cs := range r.colls {
		out[ns] = append([]string(nil), cs...)
	}
	return out
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// buildInterest derives the chaincode interest of a simulated transaction,
// the shape Fabric's endorser returns in ProposalResponse.Interest for
// clients and gateways to ask service discovery for endorsers:
//
//   - a namespace the transaction wrote gets a call without collections
//     when a written public key has no key-level policy, or a written key
//     (public or private) has one: those policies go in KeyPolicies, with
//     DisregardNamespacePolicy when no written public key lacks one;
//   - each collection written with a key lacking a key-level policy, and each
//     collection read privately, gets a call of its own naming it, with
//     NoPrivateReads unless the transaction read its private data;
//   - a namespace only read gets a call without collections;
//   - system chaincodes (isSystem) get none.
//
// Calls are ordered by namespace, then the public call, then collections by
// name (Fabric's order is its maps'). meta may be nil.
func buildInterest(pub *rwset.TxReadWriteSet, reads map[string][]string, meta KeyMetadataReader, isSystem func(string) bool) (*pb.ChaincodeInterest, error) {
	// required[ns][coll]: a call for (ns, coll) is needed; for coll "" the
	// value says whether the chaincode policy itself is needed.
	required := map[string]map[string]bool{}
	keyPolicies := map[string][]*cb.SignaturePolicyEnvelope{}
	policyOf := func(md map[string][]byte, what string) (*cb.SignaturePolicyEnvelope, error) {
		vp := md[validationParameter]
		if len(vp) == 0 {
			return nil, nil
		}
		env := &cb.SignaturePolicyEnvelope{}
		if err := proto.Unmarshal(vp, env); err != nil {
			return nil, fmt.Errorf("decode the key-level endorsement policy of %s: %w", what, err)
		}
		return env, nil
	}
	var readOnly []string
	for _, nsrw := range pub.GetNsRwset() {
		ns := nsrw.GetNamespace()
		kv := &kvrwset.KVRWSet{}
		if err := proto.Unmarshal(nsrw.GetRwset(), kv); err != nil {
			return nil, fmt.Errorf("decode the read/write set of namespace %s: %w", ns, err)
		}
		var public []string
		for _, w := range kv.GetWrites() {
			public = append(public, w.GetKey())
		}
		for _, w := range kv.GetMetadataWrites() {
			public = append(public, w.GetKey())
		}
		type hashedKey struct {
			coll string
			hash []byte
		}
		var private []hashedKey
		for _, c := range nsrw.GetCollectionHashedRwset() {
			h := &kvrwset.HashedRWSet{}
			if err := proto.Unmarshal(c.GetHashedRwset(), h); err != nil {
				return nil, fmt.Errorf("decode the hashed read/write set of %s/%s: %w", ns, c.GetCollectionName(), err)
			}
			for _, w := range h.GetHashedWrites() {
				private = append(private, hashedKey{c.GetCollectionName(), w.GetKeyHash()})
			}
			for _, w := range h.GetMetadataWrites() {
				private = append(private, hashedKey{c.GetCollectionName(), w.GetKeyHash()})
			}
		}
		if len(public) == 0 && len(private) == 0 {
			readOnly = append(readOnly, ns)
			continue
		}
		req := map[string]bool{"": false}
		required[ns] = req
		for _, key := range public {
			var md map[string][]byte
			if meta != nil {
				var err error
				if md, err = meta.KeyMetadata(ns, key); err != nil {
					return nil, fmt.Errorf("read the metadata of key %q in %s: %w", key, ns, err)
				}
			}
			env, err := policyOf(md, fmt.Sprintf("key %q in %s", key, ns))
			if err != nil {
				return nil, err
			}
			if env != nil {
				keyPolicies[ns] = append(keyPolicies[ns], env)
			} else {
				req[""] = true
			}
		}
		for _, k := range private {
			var md map[string][]byte
			if meta != nil {
				var err error
				if md, err = meta.PrivateKeyMetadata(ns, k.coll, k.hash); err != nil {
					return nil, fmt.Errorf("read the metadata of private key %x in %s/%s: %w", k.hash, ns, k.coll, err)
				}
			}
			env, err := policyOf(md, fmt.Sprintf("private key %x in %s/%s", k.hash, ns, k.coll))
			if err != nil {
				return nil, err
			}
			if env != nil {
				keyPolicies[ns] = append(keyPolicies[ns], env)
			} else {
				req[k.coll] = true
			}
		}
	}
	for _, ns := range readOnly {
		required[ns] = map[string]bool{"": true}
	}
	privatelyRead := map[string]map[string]bool{}
	for ns, colls := range reads {
		privatelyRead[ns] = map[string]bool{}
		for _, c := range colls {
			privatelyRead[ns][c] = true
			if required[ns] == nil {
				required[ns] = map[string]bool{}
			}
			required[ns][c] = true
		}
	}

	interest := &pb.ChaincodeInterest{}
	for _, ns := range sortedKeys(required) {
		if isSystem(ns) {
			continue
		}
		for _, coll := range sortedKeys(required[ns]) { // "" first
			call := &pb.ChaincodeCall{Name: ns}
			if coll == "" {
				needed := required[ns][""]
				switch {
				case len(keyPolicies[ns]) > 0:
					call.KeyPolicies = keyPolicies[ns]
					call.DisregardNamespacePolicy = !needed
				case !needed:
					continue
				}
			} else {
				call.CollectionNames = []string{coll}
				call.NoPrivateReads = !privatelyRead[ns][coll]
			}
			interest.Chaincodes = append(interest.Chaincodes, call)
		}
	}
	return interest, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
