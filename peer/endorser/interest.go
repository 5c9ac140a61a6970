package endorser

import (
	"fmt"
	"sort"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/ledger"
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

// privateReadLister is the optional capability of a simulator that lists
// the collections its transaction read private values from
// (*ledger.Simulator has it); reads of private data hashes are not listed.
type privateReadLister interface {
	PrivateReads() map[string][]string
}

// privateReadsOf lists sim's private reads, none for a simulator that
// cannot tell.
func privateReadsOf(sim Simulator) map[string][]string {
	if l, ok := sim.(privateReadLister); ok {
		return l.PrivateReads()
	}
	return nil
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
// name (Fabric's order is its maps'). meta may be nil. decoded, when not
// nil, holds what pub's namespaces were marshalled from (see simResults).
func buildInterest(pub *rwset.TxReadWriteSet, decoded []ledger.DecodedNamespace, reads map[string][]string, meta KeyMetadataReader, isSystem func(string) bool) (*pb.ChaincodeInterest, error) {
	// required[ns][coll]: a call for (ns, coll) is needed; for coll "" the
	// value says whether the chaincode policy itself is needed.
	required := map[string]map[string]bool{}
	keyPolicies := map[string][]*cb.SignaturePolicyEnvelope{}
	// policyOf decodes a key-level policy; the caller names the key in the
	// error, so that the name is formatted only when the policy is bad.
	policyOf := func(md map[string][]byte) (*cb.SignaturePolicyEnvelope, error) {
		vp := md[validationParameter]
		if len(vp) == 0 {
			return nil, nil
		}
		env := &cb.SignaturePolicyEnvelope{}
		if err := proto.Unmarshal(vp, env); err != nil {
			return nil, err
		}
		return env, nil
	}
	var readOnly []string
	if len(decoded) != len(pub.GetNsRwset()) {
		decoded = nil
	}
	for i, nsrw := range pub.GetNsRwset() {
		ns := nsrw.GetNamespace()
		var dec *ledger.DecodedNamespace
		if decoded != nil {
			dec = &decoded[i]
		}
		kv, hashed, err := namespaceSets(nsrw, dec)
		if err != nil {
			return nil, err
		}
		type hashedKey struct {
			coll string
			hash []byte
		}
		var private []hashedKey
		for j, c := range nsrw.GetCollectionHashedRwset() {
			h := hashed[j]
			for _, w := range h.GetHashedWrites() {
				private = append(private, hashedKey{c.GetCollectionName(), w.GetKeyHash()})
			}
			for _, w := range h.GetMetadataWrites() {
				private = append(private, hashedKey{c.GetCollectionName(), w.GetKeyHash()})
			}
		}
		if len(kv.GetWrites()) == 0 && len(kv.GetMetadataWrites()) == 0 && len(private) == 0 {
			readOnly = append(readOnly, ns)
			continue
		}
		req := map[string]bool{"": false}
		required[ns] = req
		// The public keys written: the keys of the writes, then those of the
		// metadata writes.
		publicKey := func(key string) error {
			var md map[string][]byte
			if meta != nil {
				var err error
				if md, err = meta.KeyMetadata(ns, key); err != nil {
					return fmt.Errorf("read the metadata of key %q in %s: %w", key, ns, err)
				}
			}
			env, err := policyOf(md)
			if err != nil {
				return fmt.Errorf("decode the key-level endorsement policy of key %q in %s: %w", key, ns, err)
			}
			if env != nil {
				keyPolicies[ns] = append(keyPolicies[ns], env)
			} else {
				req[""] = true
			}
			return nil
		}
		for _, w := range kv.GetWrites() {
			if err := publicKey(w.GetKey()); err != nil {
				return nil, err
			}
		}
		for _, w := range kv.GetMetadataWrites() {
			if err := publicKey(w.GetKey()); err != nil {
				return nil, err
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
			env, err := policyOf(md)
			if err != nil {
				return nil, fmt.Errorf("decode the key-level endorsement policy of private key %x in %s/%s: %w", k.hash, ns, k.coll, err)
			}
			if env != nil {
				keyPolicies[ns] = append(keyPolicies[ns], env)
			} else {
				req[k.coll] = true
			}
		}
	}
	for _, ns := range readOnly {
		// A system namespace gets no call below: no need to note it (most
		// transactions read `_lifecycle`, for the chaincode's sequence).
		if !isSystem(ns) {
			required[ns] = map[string]bool{"": true}
		}
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

// namespaceSets returns the read/write set of a namespace and the hashed
// sets of its collections, in the order of its CollectionHashedRwset: dec's
// when the simulator handed them over, else decoded from nsrw's bytes.
func namespaceSets(nsrw *rwset.NsReadWriteSet, dec *ledger.DecodedNamespace) (*kvrwset.KVRWSet, []*kvrwset.HashedRWSet, error) {
	colls := nsrw.GetCollectionHashedRwset()
	if dec != nil && dec.KV != nil && len(dec.Hashed) == len(colls) {
		return dec.KV, dec.Hashed, nil
	}
	ns := nsrw.GetNamespace()
	kv := &kvrwset.KVRWSet{}
	if err := proto.Unmarshal(nsrw.GetRwset(), kv); err != nil {
		return nil, nil, fmt.Errorf("decode the read/write set of namespace %s: %w", ns, err)
	}
	hashed := make([]*kvrwset.HashedRWSet, len(colls))
	for j, c := range colls {
		hashed[j] = &kvrwset.HashedRWSet{}
		if err := proto.Unmarshal(c.GetHashedRwset(), hashed[j]); err != nil {
			return nil, nil, fmt.Errorf("decode the hashed read/write set of %s/%s: %w", ns, c.GetCollectionName(), err)
		}
	}
	return kv, hashed, nil
}

// decodedResulter is the optional capability of a simulator that hands
// over, with its results, the messages it marshalled the public set from
// (*ledger.Simulator has it): the chaincode interest reads the written keys
// from them rather than decoding the set again.
type decodedResulter interface {
	DecodedResults() (*ledger.SimResults, error)
}

// simResults collects sim's results, with the messages its public set was
// marshalled from when sim can hand them over (nil otherwise).
func simResults(sim Simulator) (*rwset.TxReadWriteSet, *rwset.TxPvtReadWriteSet, []ledger.DecodedNamespace, error) {
	if d, ok := sim.(decodedResulter); ok {
		r, err := d.DecodedResults()
		if err != nil {
			return nil, nil, nil, err
		}
		return r.Public, r.Private, r.Namespaces, nil
	}
	pub, pvt, err := sim.Results()
	return pub, pvt, nil, err
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
