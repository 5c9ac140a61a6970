package validator

import (
	"errors"
	"fmt"
	"sync"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/lifecycle"
	"github.com/weft-ledger/weft/protos"
)

// builtinValidationPlugin is the only validation plugin Weft has: Fabric's
// default ("vscc"), which checks endorsement policies.
const builtinValidationPlugin = lifecycle.DefaultValidationPlugin

// policyCache keeps endorsement policies compiled against one channel
// configuration, keyed by their marshalled pb.ApplicationPolicy. A new bundle
// (a config change) empties it.
type policyCache struct {
	mu     sync.Mutex // guards bundle and m
	bundle *channelconfig.Bundle
	m      map[string]channelconfig.Policy
}

func newPolicyCache() *policyCache { return &policyCache{m: map[string]channelconfig.Policy{}} }

// get compiles (or returns the cached) policy for marshalled pb.ApplicationPolicy raw.
func (c *policyCache) get(bundle *channelconfig.Bundle, raw []byte) (channelconfig.Policy, error) {
	c.mu.Lock()
	if c.bundle != bundle {
		c.bundle, c.m = bundle, map[string]channelconfig.Policy{}
	}
	p, ok := c.m[string(raw)]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := compilePolicy(bundle, raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.bundle == bundle {
		c.m[string(raw)] = p
	}
	c.mu.Unlock()
	return p, nil
}

func compilePolicy(bundle *channelconfig.Bundle, raw []byte) (channelconfig.Policy, error) {
	ap := &pb.ApplicationPolicy{}
	if err := proto.Unmarshal(raw, ap); err != nil {
		return nil, fmt.Errorf("decode endorsement policy (peer.ApplicationPolicy): %w", err)
	}
	switch t := ap.Type.(type) {
	case *pb.ApplicationPolicy_SignaturePolicy:
		return channelconfig.NewSignaturePolicy(t.SignaturePolicy, bundle.MSPs())
	case *pb.ApplicationPolicy_ChannelConfigPolicyReference:
		return bundle.Policy(t.ChannelConfigPolicyReference)
	default:
		return nil, errors.New("endorsement policy is neither a signature policy nor a channel policy reference")
	}
}

func describePolicy(raw []byte) string {
	ap := &pb.ApplicationPolicy{}
	if proto.Unmarshal(raw, ap) == nil {
		if ref := ap.GetChannelConfigPolicyReference(); ref != "" {
			return "channel policy " + ref
		}
	}
	return "signature policy"
}

// memberPolicy returns a pb.ApplicationPolicy requiring n members of mspIDs.
func memberPolicy(n int, mspIDs []string) []byte {
	env := &cb.SignaturePolicyEnvelope{Rule: &cb.SignaturePolicy{Type: &cb.SignaturePolicy_NOutOf_{NOutOf: &cb.SignaturePolicy_NOutOf{N: int32(n)}}}}
	for i, id := range mspIDs {
		env.Identities = append(env.Identities, &mspproto.MSPPrincipal{
			PrincipalClassification: mspproto.MSPPrincipal_ROLE,
			Principal:               protos.Marshal(&mspproto.MSPRole{MspIdentifier: id, Role: mspproto.MSPRole_MEMBER}),
		})
		env.Rule.GetNOutOf().Rules = append(env.Rule.GetNOutOf().Rules, &cb.SignaturePolicy{Type: &cb.SignaturePolicy_SignedBy{SignedBy: int32(i)}})
	}
	return protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: env}})
}

func hasPolicy(bundle *channelconfig.Bundle, path string) bool {
	_, err := bundle.Policy(path)
	return err == nil
}

// blockScope holds what the transactions of one block share: the channel
// configuration, the committed state before the block and the definitions
// read from it.
type blockScope struct {
	bundle *channelconfig.Bundle
	state  StateReader
	mu     sync.Mutex // guards defs
	defs   map[string]*lifecycle.Definition
}

// definition returns the committed definition of namespace ns, nil when none.
func (s *blockScope) definition(ns string) (*lifecycle.Definition, error) {
	s.mu.Lock()
	d, ok := s.defs[ns]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	if ns == lifecycle.Namespace {
		d = lifecycle.LifecycleDefinition()
		if !hasPolicy(s.bundle, lifecycle.LifecycleEndorsementPolicyRef) {
			// Channels without a LifecycleEndorsement policy use a majority of
			// the application organisations' members, as Fabric does.
			orgs := appMSPIDs(s.bundle)
			d.EndorsementPolicy = memberPolicy(len(orgs)/2+1, orgs)
		}
	} else {
		var err error
		d, err = lifecycle.ReadDefinition(lifecycle.DBState{DB: s.state}, ns)
		if errors.Is(err, lifecycle.ErrNotDefined) {
			d = nil
		} else if err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	s.defs[ns] = d
	s.mu.Unlock()
	return d, nil
}

func appMSPIDs(bundle *channelconfig.Bundle) []string {
	app := bundle.Application()
	if app == nil {
		return nil
	}
	return sortedKeys(app.Orgs)
}

// collectionPolicy returns the endorsement policy for writes to collection
// coll of namespace ns, or nil when the chaincode's own policy applies.
func (s *blockScope) collectionPolicy(ns, coll string, def *lifecycle.Definition) ([]byte, error) {
	if mspID, ok := lifecycle.MSPOfImplicitCollection(coll); ok {
		var org *channelconfig.OrgConfig
		if app := s.bundle.Application(); app != nil {
			org = app.Orgs[mspID]
		}
		if org == nil {
			return nil, fmt.Errorf("collection %s of namespace %s belongs to MSP %s, which is not an application organisation of channel %s", coll, ns, mspID, s.bundle.ChannelID())
		}
		ref := "/Channel/Application/" + org.Name + "/Endorsement"
		if hasPolicy(s.bundle, ref) {
			return protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: ref}}), nil
		}
		return memberPolicy(1, []string{mspID}), nil
	}
	for _, c := range def.Collections.GetConfig() {
		sc := c.GetStaticCollectionConfig()
		if sc.GetName() != coll {
			continue
		}
		if sc.EndorsementPolicy != nil {
			return protos.Marshal(sc.EndorsementPolicy), nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf("chaincode %s defines no collection %s", ns, coll)
}

// checkEndorsements decodes the chaincode action and checks, for every
// namespace the transaction writes (and always the invoked chaincode's), that
// the endorsements satisfy the applicable endorsement policies.
func (v *Validator) checkEndorsements(s *blockScope, chdr *cb.ChannelHeader, tx *endorsedTx) (pb.TxValidationCode, string, *txKeys, error) {
	ext := &pb.ChaincodeHeaderExtension{}
	if err := proto.Unmarshal(chdr.Extension, ext); err != nil {
		return pb.TxValidationCode_BAD_HEADER_EXTENSION, fmt.Sprintf("decode peer.ChaincodeHeaderExtension: %v", err), nil, nil
	}
	act := &pb.ChaincodeAction{}
	if err := proto.Unmarshal(tx.prp.Extension, act); err != nil {
		return pb.TxValidationCode_BAD_RESPONSE_PAYLOAD, fmt.Sprintf("decode peer.ChaincodeAction: %v", err), nil, nil
	}
	nss, err := decodeRWSet(act.Results)
	if err != nil {
		return pb.TxValidationCode_BAD_RWSET, err.Error(), nil, nil
	}
	if ext.ChaincodeId == nil {
		return pb.TxValidationCode_INVALID_OTHER_REASON, "nil ChaincodeId in header extension", nil, nil
	}
	if act.ChaincodeId == nil {
		return pb.TxValidationCode_INVALID_OTHER_REASON, "nil ChaincodeId in ChaincodeAction", nil, nil
	}
	cc := ext.ChaincodeId.Name
	switch {
	case cc == "":
		return pb.TxValidationCode_INVALID_CHAINCODE, "invalid chaincode ID: the header extension names no chaincode", nil, nil
	case cc != act.ChaincodeId.Name:
		return pb.TxValidationCode_INVALID_CHAINCODE, fmt.Sprintf("inconsistent chaincode ID: proposal invokes %s, endorsed action is for %s", cc, act.ChaincodeId.Name), nil, nil
	case act.ChaincodeId.Version == "":
		return pb.TxValidationCode_INVALID_CHAINCODE, "invalid chaincode version: the endorsed action names none", nil, nil
	}
	if len(act.Events) > 0 {
		ev := &pb.ChaincodeEvent{}
		if err := proto.Unmarshal(act.Events, ev); err != nil {
			return pb.TxValidationCode_INVALID_OTHER_REASON, fmt.Sprintf("invalid chaincode event: %v", err), nil, nil
		}
		if ev.ChaincodeId != cc {
			return pb.TxValidationCode_INVALID_OTHER_REASON, fmt.Sprintf("chaincode event is from chaincode %q, the action from %q", ev.ChaincodeId, cc), nil, nil
		}
	}
	byNS := map[string]*nsRWSet{}
	written := []string{cc}
	for _, n := range nss {
		if _, dup := byNS[n.ns]; dup {
			return pb.TxValidationCode_ILLEGAL_WRITESET, fmt.Sprintf("duplicate namespace '%s' in the read/write set", n.ns), nil, nil
		}
		byNS[n.ns] = n
		if n.ns != cc && writesTo(n.kv, n.colls) {
			written = append(written, n.ns)
		}
	}
	// One set for every policy below: each endorsement is verified at most
	// once per transaction, however many namespaces and keys need it.
	endorsements := tx.signedEndorsements()
	signed := channelconfig.NewSignatureSet(endorsements)
	// Endorsers count only if their certificates had not expired at the
	// transaction's timestamp (validateTx made sure there is one).
	signed.ValidAt(chdr.GetTimestamp().AsTime())
	for i, sd := range endorsements {
		if v.own.Made(sd) {
			signed.MarkVerified(i)
		}
	}
	for _, ns := range written {
		def, err := s.definition(ns)
		if err != nil {
			return 0, "", nil, fmt.Errorf("read definition of chaincode %s: %w", ns, err)
		}
		if def == nil {
			return pb.TxValidationCode_INVALID_CHAINCODE, fmt.Sprintf("chaincode %s has no committed definition on channel %s", ns, s.bundle.ChannelID()), nil, nil
		}
		if def.ValidationPlugin != builtinValidationPlugin {
			return pb.TxValidationCode_INVALID_OTHER_REASON, fmt.Sprintf("chaincode %s asks for validation plugin %q; this peer has only %q", ns, def.ValidationPlugin, builtinValidationPlugin), nil, nil
		}
		if len(def.EndorsementPolicy) == 0 {
			return pb.TxValidationCode_INVALID_CHAINCODE, fmt.Sprintf("chaincode definition for %s is invalid: it has no endorsement policy", ns), nil, nil
		}
		reason, err := v.checkNamespace(s, ns, def, byNS[ns], signed)
		if err != nil {
			return 0, "", nil, err
		}
		if reason != "" {
			return pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE, reason, nil, nil
		}
	}
	keys := writtenKeys(nss)
	keys.ccName, keys.ccVersion = act.ChaincodeId.Name, act.ChaincodeId.Version
	return pb.TxValidationCode_VALID, "", keys, nil
}

// checkNamespace applies Fabric's v2 rules to the writes of one namespace:
// a written key with a key-level validation parameter needs that policy;
// otherwise public writes need the chaincode's policy and writes to a
// collection its collection policy when it has one (an organisation's implicit
// collection: that organisation's Endorsement policy); the chaincode's policy
// is checked when nothing else was. It returns why the endorsements fall short.
func (v *Validator) checkNamespace(s *blockScope, ns string, def *lifecycle.Definition, rw *nsRWSet, signed *channelconfig.SignatureSet) (string, error) {
	done := map[string]bool{}
	check := func(raw []byte, what string) string {
		if done[string(raw)] {
			return ""
		}
		done[string(raw)] = true
		pol, err := v.policies.get(s.bundle, raw)
		if err != nil {
			return fmt.Sprintf("%s of namespace %s cannot be used: %v", what, ns, err)
		}
		if err := signed.Evaluate(pol); err != nil {
			return fmt.Sprintf("%s (%s) of namespace %s is not satisfied by the %d endorsement(s): %v", what, describePolicy(raw), ns, signed.Len(), err)
		}
		return ""
	}
	ccEP := def.EndorsementPolicy
	// checkKey checks one written key: its own policy if it has one, else
	// fallback. coll is the collection of a key hash, nil for a public key:
	// the key's label is only written out for a key that has a policy.
	checkKey := func(stateNS, key string, coll *collectionWrites, fallback []byte, fallbackWhat string) (string, error) {
		vp, err := s.keyPolicy(stateNS, key)
		if err != nil {
			return "", err
		}
		if vp != nil {
			label := fmt.Sprintf("key %q", key)
			if coll != nil {
				label = fmt.Sprintf("collection %s key hash %x", coll.name, key)
			}
			return check(vp, "key-level endorsement policy of "+label), nil
		}
		return check(fallback, fallbackWhat), nil
	}
	if rw != nil {
		for _, key := range publicWrittenKeys(rw) {
			if r, err := checkKey(ns, key, nil, ccEP, "endorsement policy"); r != "" || err != nil {
				return r, err
			}
		}
		for _, c := range rw.colls {
			hashes := hashedWrittenKeys(c)
			if len(hashes) == 0 {
				continue
			}
			collEP, err := s.collectionPolicy(ns, c.name, def)
			if err != nil {
				return err.Error(), nil
			}
			what := "endorsement policy of collection " + c.name
			if collEP == nil {
				collEP, what = ccEP, "endorsement policy"
			}
			for _, h := range hashes {
				if r, err := checkKey(ledger.HashedNamespace(ns, c.name), h, c, collEP, what); r != "" || err != nil {
					return r, err
				}
			}
		}
	}
	if len(done) == 0 {
		return check(ccEP, "endorsement policy"), nil
	}
	return "", nil
}

// keyPolicy returns the key-level validation parameter of a committed key as
// a marshalled pb.ApplicationPolicy, or nil when the key has none.
func (s *blockScope) keyPolicy(stateNS, key string) ([]byte, error) {
	meta, err := s.metadata(stateNS, key)
	if err != nil {
		return nil, fmt.Errorf("read metadata of key %q in %s: %w", key, stateNS, err)
	}
	if len(meta) == 0 {
		return nil, nil
	}
	md, err := ledger.DecodeMetadata(meta)
	if err != nil {
		return nil, fmt.Errorf("key %q in %s: %w", key, stateNS, err)
	}
	vp := md[validationParameterKey]
	if len(vp) == 0 {
		return nil, nil
	}
	env := &cb.SignaturePolicyEnvelope{}
	if err := proto.Unmarshal(vp, env); err != nil {
		// An undecodable parameter can never be satisfied.
		return protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: "<undecodable key-level policy>"}}), nil
	}
	return protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: env}}), nil
}

// metadata reads the metadata of a committed key, nil when it has none.
func (s *blockScope) metadata(stateNS, key string) ([]byte, error) {
	if mr, ok := s.state.(MetadataReader); ok {
		return mr.GetMetadata(stateNS, key)
	}
	vv, err := s.state.Get(stateNS, key)
	if err != nil || vv == nil {
		return nil, err
	}
	return vv.Metadata, nil
}

// validationParameterKey is the metadata entry holding a key-level endorsement
// policy (a marshalled common.SignaturePolicyEnvelope), as Fabric names it.
const validationParameterKey = "VALIDATION_PARAMETER"

func publicWrittenKeys(rw *nsRWSet) []string {
	var out []string
	for _, w := range rw.kv.GetWrites() {
		out = append(out, w.Key)
	}
	for _, w := range rw.kv.GetMetadataWrites() {
		out = append(out, w.Key)
	}
	return out
}

func hashedWrittenKeys(c *collectionWrites) []string {
	var out []string
	for _, w := range c.hashed.GetHashedWrites() {
		out = append(out, string(w.KeyHash))
	}
	for _, w := range c.hashed.GetMetadataWrites() {
		out = append(out, string(w.KeyHash))
	}
	return out
}

// txKeys are the state keys a valid transaction writes, and those whose
// metadata (and so key-level policy) it replaces, as "stateNS\x00key".
type txKeys struct {
	writes, metadata []string
	// sets is the decoded read/write set, handed on to the ledger (RWSet).
	sets []*nsRWSet
	// ccName and ccVersion are the endorsed action's chaincode ID.
	ccName, ccVersion string
}

func writtenKeys(nss []*nsRWSet) *txKeys {
	k := &txKeys{sets: nss}
	for _, n := range nss {
		for _, key := range publicWrittenKeys(n) {
			k.writes = append(k.writes, n.ns+"\x00"+key)
		}
		for _, w := range n.kv.GetMetadataWrites() {
			k.metadata = append(k.metadata, n.ns+"\x00"+w.Key)
		}
		for _, c := range n.colls {
			hns := ledger.HashedNamespace(n.ns, c.name)
			for _, h := range hashedWrittenKeys(c) {
				k.writes = append(k.writes, hns+"\x00"+h)
			}
			for _, w := range c.hashed.GetMetadataWrites() {
				k.metadata = append(k.metadata, hns+"\x00"+string(w.KeyHash))
			}
		}
	}
	return k
}
