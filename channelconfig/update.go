package channelconfig

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// ErrConfigUpdate is wrapped by every error ProposeConfigUpdate and
// ValidateConfigEnvelope return. Errors about signatures additionally wrap
// ErrPolicyNotSatisfied.
var ErrConfigUpdate = errors.New("config update refused")

// Element kinds, as they appear in error messages.
const (
	kindGroup  = "group"
	kindValue  = "value"
	kindPolicy = "policy"
)

// element is one group, value or policy of a config tree, by absolute path.
type element struct {
	kind   string
	path   string // e.g. /Channel/Orderer/ConsensusType
	scope  string // group path relative mod_policies resolve against
	group  *cb.ConfigGroup
	value  *cb.ConfigValue
	policy *cb.ConfigPolicy
}

func (e element) key() string { return e.kind + " " + e.path }

func (e element) version() uint64 {
	switch {
	case e.group != nil:
		return e.group.Version
	case e.value != nil:
		return e.value.Version
	default:
		return e.policy.GetVersion()
	}
}

func (e element) modPolicy() string {
	switch {
	case e.group != nil:
		return e.group.ModPolicy
	case e.value != nil:
		return e.value.ModPolicy
	default:
		return e.policy.GetModPolicy()
	}
}

func (e element) String() string { return e.kind + " " + e.path }

// flatten maps every element of the tree rooted at root (the /Channel group)
// by key. Element names must be valid config IDs, as Fabric requires.
func flatten(root *cb.ConfigGroup) (map[string]element, error) {
	out := map[string]element{}
	if root == nil {
		return out, nil
	}
	err := flattenGroup(out, "/"+ChannelGroupKey, root)
	return out, err
}

func flattenGroup(out map[string]element, path string, g *cb.ConfigGroup) error {
	e := element{kind: kindGroup, path: path, scope: path, group: g}
	out[e.key()] = e
	for name, sub := range g.Groups {
		if err := validateConfigID(name); err != nil {
			return fmt.Errorf("group %s/%s: %w", path, name, err)
		}
		if sub == nil {
			return fmt.Errorf("group %s/%s is empty", path, name)
		}
		if err := flattenGroup(out, path+"/"+name, sub); err != nil {
			return err
		}
	}
	for name, v := range g.Values {
		if err := validateConfigID(name); err != nil {
			return fmt.Errorf("value %s/%s: %w", path, name, err)
		}
		if v == nil {
			return fmt.Errorf("value %s/%s is empty", path, name)
		}
		e := element{kind: kindValue, path: path + "/" + name, scope: path, value: v}
		out[e.key()] = e
	}
	for name, p := range g.Policies {
		if err := validateConfigID(name); err != nil {
			return fmt.Errorf("policy %s/%s: %w", path, name, err)
		}
		if p == nil {
			return fmt.Errorf("policy %s/%s is empty", path, name)
		}
		e := element{kind: kindPolicy, path: path + "/" + name, scope: path, policy: p}
		out[e.key()] = e
	}
	return nil
}

// validateConfigID applies Fabric's rule for config element names: 1 to 249
// characters of [a-zA-Z0-9.-], and not "." or "..".
func validateConfigID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("name is empty")
	case len(id) > 249:
		return fmt.Errorf("name is longer than 249 characters")
	case id == "." || id == "..":
		return fmt.Errorf("name %q is not allowed", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("name %q has characters other than letters, digits, '.' and '-'", id)
		}
	}
	return nil
}

// ProposeConfigUpdate checks a CONFIG_UPDATE envelope against this config the
// way Fabric's configtx validator does and returns the ConfigEnvelope of the
// resulting config (sequence+1, LastUpdate env), ready to be wrapped in a
// CONFIG envelope signed by the orderer.
//
// Every element of the read set must be at its current version. Every element
// of the write set whose version differs from the read set is a change: an
// existing element must be written at its current version+1 and its current
// mod_policy (relative to its group; the group itself for a group) must be
// satisfied by the ConfigUpdateEnvelope's signatures; a new element must be
// written at version 0 and is admitted through its modified parent group. A
// modified group's children are exactly those it lists: omitted ones are
// deleted. The resulting config must parse as a Bundle and be a valid
// successor of this one (same consensus type and organization MSP IDs, valid
// Raft consenters, at most one consenter added and one removed).
//
// An update whose only changes are new elements under groups it does not
// modify changes nothing: its new elements are not admitted, and no policy
// judged them. It is refused, so that no one can have the orderer cut a
// config block that changes nothing. (Fabric's validator accepts it; a
// committer, ValidateConfigEnvelope, accepts such a block as Fabric does.)
//
// Errors wrap ErrConfigUpdate and name the element, the versions and the
// policy and signers concerned.
func (b *Bundle) ProposeConfigUpdate(env *cb.Envelope) (*cb.ConfigEnvelope, error) {
	cfg, _, err := b.propose(env)
	if err != nil {
		return nil, err
	}
	if proto.Equal(cfg.ChannelGroup, b.config.ChannelGroup) {
		return nil, fmt.Errorf("%w: channel %s: the update changes nothing: every element it writes is new and under a group it does not modify; "+
			"a new element is added by writing its parent group at the parent's version+1, under the parent's mod_policy", ErrConfigUpdate, b.channelID)
	}
	return &cb.ConfigEnvelope{Config: cfg, LastUpdate: env}, nil
}

// ValidateConfigEnvelope checks that ce is the config that follows this one:
// its sequence is this one's plus one and its LastUpdate, proposed against
// this config, produces exactly its config. It returns the new Bundle. A
// committer uses it on each config block after the first.
func (b *Bundle) ValidateConfigEnvelope(ce *cb.ConfigEnvelope) (*Bundle, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: channel %s: %s", ErrConfigUpdate, b.channelID, fmt.Sprintf(format, args...))
	}
	if ce.GetConfig() == nil {
		return nil, fail("config envelope has no config")
	}
	if got, want := ce.Config.Sequence, b.config.Sequence+1; got != want {
		return nil, fail("config envelope has sequence %d, the next config must have sequence %d", got, want)
	}
	if ce.LastUpdate == nil {
		return nil, fail("config envelope has no last_update to derive it from")
	}
	cfg, nb, err := b.propose(ce.LastUpdate)
	if err != nil {
		return nil, err
	}
	if !proto.Equal(cfg.ChannelGroup, ce.Config.ChannelGroup) {
		return nil, fail("config envelope's config is not the result of its last_update")
	}
	return nb, nil
}

// ConfigUpdateSignedData returns what each signature of a ConfigUpdateEnvelope
// signs, as Fabric defines it: Data is the signature header followed by the
// marshalled ConfigUpdate, Identity the header's creator.
func ConfigUpdateSignedData(cue *cb.ConfigUpdateEnvelope) ([]protos.SignedData, error) {
	out := make([]protos.SignedData, 0, len(cue.GetSignatures()))
	for i, s := range cue.GetSignatures() {
		shdr := &cb.SignatureHeader{}
		if err := proto.Unmarshal(s.GetSignatureHeader(), shdr); err != nil {
			return nil, fmt.Errorf("signature %d: decode signature header: %w", i, err)
		}
		data := make([]byte, 0, len(s.SignatureHeader)+len(cue.ConfigUpdate))
		data = append(append(data, s.SignatureHeader...), cue.ConfigUpdate...)
		out = append(out, protos.SignedData{Data: data, Identity: shdr.Creator, Signature: s.Signature})
	}
	return out, nil
}

// propose is ProposeConfigUpdate returning the new config and its bundle.
func (b *Bundle) propose(env *cb.Envelope) (*cb.Config, *Bundle, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: channel %s: %s", ErrConfigUpdate, b.channelID, fmt.Sprintf(format, args...))
	}
	cue, err := configUpdateEnvelopeOf(env)
	if err != nil {
		return nil, nil, fail("%v", err)
	}
	update := &cb.ConfigUpdate{}
	if err := proto.Unmarshal(cue.ConfigUpdate, update); err != nil {
		return nil, nil, fail("decode ConfigUpdate: %v", err)
	}
	if update.ChannelId != b.channelID {
		return nil, nil, fail("the ConfigUpdate is for channel %q; compute it for channel %s", update.ChannelId, b.channelID)
	}
	current, err := flatten(b.config.ChannelGroup)
	if err != nil {
		return nil, nil, fail("current config: %v", err)
	}
	readSet, err := flatten(update.ReadSet)
	if err != nil {
		return nil, nil, fail("read set: %v", err)
	}
	writeSet, err := flatten(update.WriteSet)
	if err != nil {
		return nil, nil, fail("write set: %v", err)
	}
	for _, k := range sortedKeys(readSet) {
		r := readSet[k]
		cur, ok := current[k]
		if !ok {
			return nil, nil, fail("read set has %s, which the current config does not contain; fetch the latest config block and compute the update again", r)
		}
		if cur.version() != r.version() {
			return nil, nil, fail("read set has %s at version %d, but it is at version %d: the config changed since the update was computed; fetch the latest config block and compute the update again",
				r, r.version(), cur.version())
		}
	}
	// The delta set: written elements whose version differs from the read set's.
	var delta []element
	for _, k := range sortedKeys(writeSet) {
		w := writeSet[k]
		if r, ok := readSet[k]; ok && r.version() == w.version() {
			continue
		}
		delta = append(delta, w)
	}
	if len(delta) == 0 {
		return nil, nil, fail("the update changes nothing: every element of its write set has the version of its read set")
	}
	signed, err := ConfigUpdateSignedData(cue)
	if err != nil {
		return nil, nil, fail("%v", err)
	}
	sigs := NewSignatureSet(signed)
	for _, w := range delta {
		if err := validateModPolicy(w.modPolicy()); err != nil {
			return nil, nil, fail("%s in the write set has an invalid mod_policy: %v", w, err)
		}
		cur, ok := current[w.key()]
		if !ok {
			if w.version() != 0 {
				return nil, nil, fail("%s does not exist yet, so the write set must create it at version 0, not %d", w, w.version())
			}
			continue
		}
		if want := cur.version() + 1; w.version() != want {
			return nil, nil, fail("%s is at version %d; the write set must set it to version %d to change it, not %d", w, cur.version(), want, w.version())
		}
		polPath := modPolicyPath(cur)
		pol, perr := b.Policy(polPath)
		if perr != nil {
			return nil, nil, fail("%s has mod_policy %q, but the channel has no policy %s", w, cur.modPolicy(), polPath)
		}
		if err := sigs.Evaluate(pol); err != nil {
			return nil, nil, fmt.Errorf("%w: channel %s: changing %s requires its mod_policy %q (%s), which the update's signatures [%s] do not satisfy: %w",
				ErrConfigUpdate, b.channelID, w, cur.modPolicy(), polPath, describeSigners(signed), err)
		}
	}
	merged := make(map[string]element, len(current)+len(delta))
	for k, e := range current {
		merged[k] = e
	}
	for _, w := range delta {
		merged[w.key()] = w
	}
	_, fixModPolicies := merged[kindValue+" /Channel/Orderer/Capabilities"]
	root, err := rebuild("/"+ChannelGroupKey, merged, fixModPolicies)
	if err != nil {
		return nil, nil, fail("%v", err)
	}
	cfg := &cb.Config{Sequence: b.config.Sequence + 1, ChannelGroup: root}
	nb, err := NewBundle(b.channelID, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the updated config would be invalid: %w", ErrConfigUpdate, err)
	}
	if err := b.validateSuccessor(nb); err != nil {
		return nil, nil, fail("%v", err)
	}
	return cfg, nb, nil
}

// configUpdateEnvelopeOf decodes the ConfigUpdateEnvelope of a CONFIG_UPDATE envelope.
func configUpdateEnvelopeOf(env *cb.Envelope) (*cb.ConfigUpdateEnvelope, error) {
	if env == nil || len(env.Payload) == 0 {
		return nil, fmt.Errorf("envelope has no payload")
	}
	payload := &cb.Payload{}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	chdr := &cb.ChannelHeader{}
	if payload.Header == nil {
		return nil, fmt.Errorf("payload has no header")
	}
	if err := proto.Unmarshal(payload.Header.ChannelHeader, chdr); err != nil {
		return nil, fmt.Errorf("decode channel header: %w", err)
	}
	if t := cb.HeaderType(chdr.Type); t != cb.HeaderType_CONFIG_UPDATE {
		return nil, fmt.Errorf("envelope is of type %s, not CONFIG_UPDATE", t)
	}
	cue := &cb.ConfigUpdateEnvelope{}
	if err := proto.Unmarshal(payload.Data, cue); err != nil {
		return nil, fmt.Errorf("decode ConfigUpdateEnvelope: %w", err)
	}
	if len(cue.ConfigUpdate) == 0 {
		return nil, fmt.Errorf("ConfigUpdateEnvelope has no config_update")
	}
	return cue, nil
}

// validateModPolicy requires a mod_policy made of valid path elements.
func validateModPolicy(mp string) error {
	if mp == "" {
		return fmt.Errorf("mod_policy is not set")
	}
	for i, part := range strings.Split(strings.TrimPrefix(mp, "/"), "/") {
		if err := validateConfigID(part); err != nil {
			return fmt.Errorf("path element %d of %q: %w", i, mp, err)
		}
	}
	return nil
}

// modPolicyPath resolves an element's mod_policy as Fabric does: an absolute
// one as is; a relative one under the element's group (the group itself for a
// group element).
func modPolicyPath(e element) string {
	mp := e.modPolicy()
	if strings.HasPrefix(mp, "/") {
		return mp
	}
	return e.scope + "/" + mp
}

// rebuild assembles the group at path from merged elements: a group has
// exactly the children its own entry lists.
func rebuild(path string, merged map[string]element, fixModPolicies bool) (*cb.ConfigGroup, error) {
	e, ok := merged[kindGroup+" "+path]
	if !ok {
		return nil, fmt.Errorf("group %s is missing from the updated config", path)
	}
	src := e.group
	g := &cb.ConfigGroup{
		Version:   src.Version,
		ModPolicy: src.ModPolicy,
		Groups:    make(map[string]*cb.ConfigGroup, len(src.Groups)),
		Values:    make(map[string]*cb.ConfigValue, len(src.Values)),
		Policies:  make(map[string]*cb.ConfigPolicy, len(src.Policies)),
	}
	for name := range src.Groups {
		sub, err := rebuild(path+"/"+name, merged, fixModPolicies)
		if err != nil {
			return nil, err
		}
		g.Groups[name] = sub
	}
	for name := range src.Values {
		v, ok := merged[kindValue+" "+path+"/"+name]
		if !ok {
			return nil, fmt.Errorf("value %s/%s is missing from the updated config", path, name)
		}
		g.Values[name] = proto.Clone(v.value).(*cb.ConfigValue)
	}
	for name := range src.Policies {
		p, ok := merged[kindPolicy+" "+path+"/"+name]
		if !ok {
			return nil, fmt.Errorf("policy %s/%s is missing from the updated config", path, name)
		}
		g.Policies[name] = proto.Clone(p.policy).(*cb.ConfigPolicy)
	}
	// Fabric upgrades the empty mod_policies left by v1.0 channel creation to
	// Admins once the orderer has capabilities.
	if fixModPolicies {
		if g.ModPolicy == "" {
			g.ModPolicy = AdminsPolicyKey
		}
		for _, v := range g.Values {
			if v.ModPolicy == "" {
				v.ModPolicy = AdminsPolicyKey
			}
		}
		for _, p := range g.Policies {
			if p.ModPolicy == "" {
				p.ModPolicy = AdminsPolicyKey
			}
		}
	}
	return g, nil
}

func describeSigners(signed []protos.SignedData) string {
	if len(signed) == 0 {
		return "none"
	}
	names := make([]string, len(signed))
	for i, sd := range signed {
		names[i] = describeSerialized(sd.Identity)
	}
	return strings.Join(names, ", ")
}

// validateSuccessor checks what Fabric checks of a new config beyond its
// parsing: sections and organization MSP IDs stay, the consensus type does
// not change, and the Raft consenters are valid with at most one added and one
// removed.
func (b *Bundle) validateSuccessor(nb *Bundle) error {
	if oc := b.orderer; oc != nil {
		noc := nb.orderer
		if noc == nil {
			return fmt.Errorf("the update removes the Orderer group; a channel's config must keep it")
		}
		if oc.ConsensusType != noc.ConsensusType {
			return fmt.Errorf("/Channel/Orderer/ConsensusType: the update changes the consensus type from %q to %q; consensus type migration is not supported", oc.ConsensusType, noc.ConsensusType)
		}
		if err := sameMSPIDs("/Channel/Orderer", b.config.ChannelGroup.Groups[OrdererGroupKey], nb.config.ChannelGroup.Groups[OrdererGroupKey]); err != nil {
			return err
		}
		if noc.ConsensusType == "etcdraft" {
			if err := validateRaftMetadata(noc, nb); err != nil {
				return fmt.Errorf("/Channel/Orderer/ConsensusType: %w", err)
			}
			added, removed := ConsenterChanges(oc.Consenters, noc.Consenters)
			if len(added) > 1 || len(removed) > 1 {
				return fmt.Errorf("/Channel/Orderer/ConsensusType: the update adds %d and removes %d consenters; change one consenter at a time (add or remove one, or replace one)", len(added), len(removed))
			}
		}
	}
	if b.application != nil {
		if nb.application == nil {
			return fmt.Errorf("the update removes the Application group; a channel's config must keep it")
		}
		if err := sameMSPIDs("/Channel/Application", b.config.ChannelGroup.Groups[ApplicationGroupKey], nb.config.ChannelGroup.Groups[ApplicationGroupKey]); err != nil {
			return err
		}
	}
	return nil
}

// sameMSPIDs requires that every organization of the group at path (keyed
// by its config group name, as Fabric keys them) keeps its MSP ID.
func sameMSPIDs(path string, old, updated *cb.ConfigGroup) error {
	for name, og := range old.GetGroups() {
		ng, ok := updated.GetGroups()[name]
		if !ok {
			continue
		}
		oc, err := mspConfigOf(og, path+"/"+name)
		if err != nil || oc == nil {
			continue
		}
		nc, err := mspConfigOf(ng, path+"/"+name)
		if err != nil || nc == nil {
			continue
		}
		if oc.Name != nc.Name {
			return fmt.Errorf("%s/%s: the update changes the organization's MSP ID from %s to %s; an organization keeps its MSP ID", path, name, oc.Name, nc.Name)
		}
	}
	return nil
}

// validateRaftMetadata applies Fabric's checks of etcdraft metadata: options
// set and consistent, at least one consenter, each consenter's TLS
// certificates issued by a TLS CA of an orderer organization (expiry is
// ignored), and no certificate used by two consenters.
func validateRaftMetadata(oc *OrdererConfig, nb *Bundle) error {
	o := oc.RaftOptions
	if o == nil {
		return fmt.Errorf("etcdraft options are missing")
	}
	if o.HeartbeatTick == 0 || o.ElectionTick == 0 || o.MaxInflightBlocks == 0 {
		return fmt.Errorf("etcdraft options: none of HeartbeatTick (%d), ElectionTick (%d) and MaxInflightBlocks (%d) may be zero", o.HeartbeatTick, o.ElectionTick, o.MaxInflightBlocks)
	}
	if o.ElectionTick <= o.HeartbeatTick {
		return fmt.Errorf("etcdraft options: ElectionTick (%d) must be greater than HeartbeatTick (%d)", o.ElectionTick, o.HeartbeatTick)
	}
	if d, err := time.ParseDuration(o.TickInterval); err != nil || d <= 0 {
		return fmt.Errorf("etcdraft options: TickInterval %q is not a positive duration", o.TickInterval)
	}
	if len(oc.Consenters) == 0 {
		return fmt.Errorf("the consenter set is empty; a channel needs at least one consenter")
	}
	opts, err := ordererTLSVerifyOptions(oc, nb)
	if err != nil {
		return err
	}
	seen := map[string]int{}
	for i, c := range oc.Consenters {
		if c == nil {
			return fmt.Errorf("consenter %d is empty", i)
		}
		name := fmt.Sprintf("consenter %d (%s:%d)", i, c.Host, c.Port)
		for _, tc := range []struct {
			kind string
			pem  []byte
		}{{"client", c.ClientTlsCert}, {"server", c.ServerTlsCert}} {
			if err := verifyTLSCert(tc.pem, opts); err != nil {
				return fmt.Errorf("%s: TLS %s certificate: %w", name, tc.kind, err)
			}
		}
		for _, cert := range [][]byte{c.ServerTlsCert, c.ClientTlsCert} {
			if j, dup := seen[string(cert)]; dup && j != i {
				return fmt.Errorf("%s uses the same TLS certificate as consenter %d; each consenter needs its own", name, j)
			}
		}
		seen[string(c.ServerTlsCert)] = i
		seen[string(c.ClientTlsCert)] = i
	}
	return nil
}

func ordererTLSVerifyOptions(oc *OrdererConfig, nb *Bundle) (x509.VerifyOptions, error) {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, id := range sortedKeys(oc.Orgs) {
		m, ok := nb.msps.MSP(id)
		if !ok {
			continue
		}
		conf := m.Config()
		for _, set := range []struct {
			pool  *x509.CertPool
			certs [][]byte
		}{{roots, conf.TlsRootCerts}, {inter, conf.TlsIntermediateCerts}} {
			for _, raw := range set.certs {
				cert, err := parsePEMCert(raw)
				if err != nil {
					return x509.VerifyOptions{}, fmt.Errorf("orderer organization %s: TLS CA certificate: %w", id, err)
				}
				set.pool.AddCert(cert)
			}
		}
	}
	return x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}, nil
}

func parsePEMCert(raw []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(raw)
	if blk == nil {
		return nil, fmt.Errorf("no PEM data")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return cert, nil
}

// verifyTLSCert checks a consenter certificate against the orderer
// organizations' TLS CAs, ignoring expiry as Fabric does.
func verifyTLSCert(raw []byte, opts x509.VerifyOptions) error {
	cert, err := parsePEMCert(raw)
	if err != nil {
		return err
	}
	if _, err := cert.Verify(opts); err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return nil
		}
		return fmt.Errorf("certificate %q (serial %d) is not issued by a TLS CA of the channel's orderer organizations: %w", cert.Subject.CommonName, cert.SerialNumber, err)
	}
	return nil
}

// ConsenterChanges compares two consenter lists: added are the consenters of
// updated that old does not have (same host, port and certificates), removed
// those of old that updated no longer has. Replacing a consenter's
// certificate or endpoint shows as one added and one removed.
func ConsenterChanges(old, updated []*etcdraft.Consenter) (added, removed []*etcdraft.Consenter) {
	contains := func(list []*etcdraft.Consenter, c *etcdraft.Consenter) bool {
		for _, x := range list {
			if sameConsenter(x, c) {
				return true
			}
		}
		return false
	}
	for _, c := range updated {
		if !contains(old, c) {
			added = append(added, c)
		}
	}
	for _, c := range old {
		if !contains(updated, c) {
			removed = append(removed, c)
		}
	}
	return added, removed
}

func sameConsenter(a, b *etcdraft.Consenter) bool {
	return a.GetHost() == b.GetHost() && a.GetPort() == b.GetPort() &&
		bytes.Equal(a.GetClientTlsCert(), b.GetClientTlsCert()) && bytes.Equal(a.GetServerTlsCert(), b.GetServerTlsCert())
}

// ConfigTxEnvelope wraps a ConfigEnvelope into the CONFIG envelope an orderer
// orders: channel header of type CONFIG for the channel, signed by signer
// (the orderer's identity).
func ConfigTxEnvelope(channelID string, ce *cb.ConfigEnvelope, signer protos.Signer) (*cb.Envelope, error) {
	if ce.GetConfig() == nil {
		return nil, fmt.Errorf("channel %s: config envelope has no config", channelID)
	}
	env, err := protos.NewSignedEnvelope(cb.HeaderType_CONFIG, channelID, signer, ce)
	if err != nil {
		return nil, fmt.Errorf("channel %s: sign CONFIG envelope: %w", channelID, err)
	}
	return env, nil
}
