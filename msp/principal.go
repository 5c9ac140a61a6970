package msp

import (
	"bytes"
	"fmt"
	"sort"
	"unicode/utf8"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// SatisfiesPrincipal reports (nil) whether id, an identity of this MSP,
// satisfies principal p, with Fabric's semantics:
//   - ROLE MEMBER: a valid identity of the MSP named in the role;
//   - ROLE ADMIN: listed in the MSP's admin certificates, or valid and carrying
//     the admin node OU when NodeOUs are enabled;
//   - ROLE CLIENT / PEER / ORDERER: valid and carrying that node OU (NodeOUs required);
//   - IDENTITY: the same certificate as the serialized principal, and valid;
//   - ORGANIZATION_UNIT: valid and carrying that OU issued by the named certifiers chain;
//   - COMBINED: every sub-principal; ANONYMITY: X.509 identities are nominal.
//
// Errors wrap ErrPrincipalNotSatisfied or ErrInvalidIdentity and name the identity.
func (m *MSP) SatisfiesPrincipal(id *Identity, p *mspproto.MSPPrincipal) error {
	if id == nil || id.Cert == nil {
		return fmt.Errorf("%w: nil identity", ErrInvalidIdentity)
	}
	if p == nil {
		return fmt.Errorf("%w: nil principal", ErrPrincipalNotSatisfied)
	}
	switch p.PrincipalClassification {
	case mspproto.MSPPrincipal_ROLE:
		role := &mspproto.MSPRole{}
		if mspID, r, ok := decodeRole(p.Principal); ok {
			role.MspIdentifier, role.Role = string(mspID), r
		} else if err := proto.Unmarshal(p.Principal, role); err != nil {
			return fmt.Errorf("decode MSPRole principal: %w", err)
		}
		return m.satisfiesRole(id, role)
	case mspproto.MSPPrincipal_IDENTITY:
		want, err := ParseSerializedIdentity(p.Principal)
		if err != nil {
			return fmt.Errorf("decode IDENTITY principal: %w", err)
		}
		if want.MSPID != m.name {
			return fmt.Errorf("%w: identity %s is not the principal identity %s", ErrPrincipalNotSatisfied, id, want)
		}
		v, err := m.validate(id)
		if err != nil {
			return err
		}
		wantNorm := want.Cert.Raw
		if wv, err := m.validate(want); err == nil {
			wantNorm = wv.normalised
		}
		if !bytes.Equal(v.normalised, wantNorm) && !bytes.Equal(id.Cert.Raw, want.Cert.Raw) {
			return fmt.Errorf("%w: identity %s is not the principal identity %s", ErrPrincipalNotSatisfied, id, want)
		}
		return nil
	case mspproto.MSPPrincipal_ORGANIZATION_UNIT:
		ou := &mspproto.OrganizationUnit{}
		if err := proto.Unmarshal(p.Principal, ou); err != nil {
			return fmt.Errorf("decode OrganizationUnit principal: %w", err)
		}
		if ou.MspIdentifier != m.name {
			return fmt.Errorf("%w: identity %s is not of MSP %s named by OU principal %q", ErrPrincipalNotSatisfied, id, ou.MspIdentifier, ou.OrganizationalUnitIdentifier)
		}
		v, err := m.validate(id)
		if err != nil {
			return err
		}
		for _, have := range v.ous {
			if have.name == ou.OrganizationalUnitIdentifier && bytes.Equal(have.certifiers, ou.CertifiersIdentifier) {
				return nil
			}
		}
		return fmt.Errorf("%w: identity %s does not carry OU %q issued by the principal's CA chain (its OUs: %s)",
			ErrPrincipalNotSatisfied, id, ou.OrganizationalUnitIdentifier, ouNames(v.ous))
	case mspproto.MSPPrincipal_COMBINED:
		cp := &mspproto.CombinedPrincipal{}
		if err := proto.Unmarshal(p.Principal, cp); err != nil {
			return fmt.Errorf("decode CombinedPrincipal: %w", err)
		}
		if len(cp.Principals) == 0 {
			return fmt.Errorf("%w: combined principal is empty", ErrPrincipalNotSatisfied)
		}
		for _, sub := range cp.Principals {
			if err := m.SatisfiesPrincipal(id, sub); err != nil {
				return err
			}
		}
		return nil
	case mspproto.MSPPrincipal_ANONYMITY:
		an := &mspproto.MSPIdentityAnonymity{}
		if err := proto.Unmarshal(p.Principal, an); err != nil {
			return fmt.Errorf("decode MSPIdentityAnonymity principal: %w", err)
		}
		if an.AnonymityType != mspproto.MSPIdentityAnonymity_NOMINAL {
			return fmt.Errorf("%w: identity %s is an X.509 (nominal) identity, the principal requires %s", ErrPrincipalNotSatisfied, id, an.AnonymityType)
		}
		return nil
	default:
		return fmt.Errorf("%w: unsupported principal classification %s", ErrPrincipalNotSatisfied, p.PrincipalClassification)
	}
}

func (m *MSP) satisfiesRole(id *Identity, role *mspproto.MSPRole) error {
	if role.MspIdentifier != m.name {
		return fmt.Errorf("%w: identity %s is not a %s of %s: it belongs to MSP %s",
			ErrPrincipalNotSatisfied, id, roleName(role.Role), role.MspIdentifier, m.name)
	}
	if m.hasRole(id, role.Role) {
		return nil
	}
	// Only a mismatch is explained, so the checks below repeat hasRole's
	// branches to say which one failed.
	switch role.Role {
	case mspproto.MSPRole_MEMBER:
		_, err := m.validate(id)
		return err
	case mspproto.MSPRole_ADMIN:
		if !m.nodeOUs {
			return fmt.Errorf("%w: identity %s is not an admin of %s: it is not in the MSP's admin certificates", ErrPrincipalNotSatisfied, id, m.name)
		}
		return m.hasNodeOU(id, mspproto.MSPRole_ADMIN)
	case mspproto.MSPRole_CLIENT, mspproto.MSPRole_PEER, mspproto.MSPRole_ORDERER:
		if !m.nodeOUs {
			return fmt.Errorf("%w: identity %s cannot be checked for role %s: MSP %s has NodeOUs disabled",
				ErrPrincipalNotSatisfied, id, roleName(role.Role), m.name)
		}
		return m.hasNodeOU(id, role.Role)
	default:
		return fmt.Errorf("%w: unsupported MSP role %s", ErrPrincipalNotSatisfied, role.Role)
	}
}

// hasRole reports whether id, of this MSP, holds role: a valid member; an
// admin by the admin certificates or, with NodeOUs, by the admin OU; a client,
// peer or orderer by its node OU.
func (m *MSP) hasRole(id *Identity, role mspproto.MSPRole_MSPRoleType) bool {
	switch role {
	case mspproto.MSPRole_MEMBER:
		_, err := m.validate(id)
		return err == nil
	case mspproto.MSPRole_ADMIN:
		if len(m.admins) > 0 {
			if m.admins[string(id.Cert.Raw)] {
				return true
			}
			if v, err := m.validate(id); err == nil && m.admins[string(v.normalised)] {
				return true
			}
		}
		return m.nodeOUs && m.carriesNodeOU(id, role)
	case mspproto.MSPRole_CLIENT, mspproto.MSPRole_PEER, mspproto.MSPRole_ORDERER:
		return m.nodeOUs && m.carriesNodeOU(id, role)
	default:
		return false
	}
}

// carriesNodeOU reports whether id is valid and carries role's node OU.
func (m *MSP) carriesNodeOU(id *Identity, role mspproto.MSPRole_MSPRoleType) bool {
	v, err := m.validate(id)
	if err != nil {
		return false
	}
	nou := m.nodeOU[role]
	if nou == nil {
		return false
	}
	for _, ou := range v.ous {
		if ou.name == nou.name && (len(nou.certifiers) == 0 || bytes.Equal(ou.certifiers, nou.certifiers)) {
			return true
		}
	}
	return false
}

// hasNodeOU explains why id does not carry role's node OU (nil when it does).
func (m *MSP) hasNodeOU(id *Identity, role mspproto.MSPRole_MSPRoleType) error {
	v, err := m.validate(id)
	if err != nil {
		return err
	}
	if m.carriesNodeOU(id, role) {
		return nil
	}
	nou := m.nodeOU[role]
	if nou == nil {
		return fmt.Errorf("%w: identity %s is not a %s of %s: the MSP defines no %s OU",
			ErrPrincipalNotSatisfied, id, roleName(role), m.name, roleName(role))
	}
	return fmt.Errorf("%w: identity %s is not a %s of %s: it lacks OU %q (its OUs: %s)",
		ErrPrincipalNotSatisfied, id, roleName(role), m.name, nou.name, ouNames(v.ous))
}

// satisfies is SatisfiesPrincipal(id, p) == nil without building the error
// that explains a mismatch: policies try an identity against principals it
// does not satisfy (an admin principal before a client one) for every
// signature, and only the final verdict needs explaining. A role principal,
// the common kind, is read in place.
func (m *MSP) satisfies(id *Identity, p *mspproto.MSPPrincipal) bool {
	if id != nil && id.Cert != nil && p != nil && p.PrincipalClassification == mspproto.MSPPrincipal_ROLE {
		if mspID, role, ok := decodeRole(p.Principal); ok {
			return string(mspID) == m.name && m.hasRole(id, role)
		}
	}
	return m.SatisfiesPrincipal(id, p) == nil
}

// decodeRole reads an MSPRole in place: its msp_identifier (field 1) and role
// (field 2), the last of each winning as in proto.Unmarshal. It gives up (ok
// false) on anything else — another field, another wire type, a malformed
// varint or length, an identifier that is not UTF-8 — and the caller then
// decodes with proto.Unmarshal, so both always agree (FuzzDecodeRole).
func decodeRole(b []byte) (mspID []byte, role mspproto.MSPRole_MSPRoleType, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, 0, false
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 || !utf8.Valid(v) {
				return nil, 0, false
			}
			mspID, b = v, b[n:]
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, 0, false
			}
			role, b = mspproto.MSPRole_MSPRoleType(int32(v)), b[n:]
		default:
			return nil, 0, false
		}
	}
	return mspID, role, true
}

func roleName(r mspproto.MSPRole_MSPRoleType) string {
	switch r {
	case mspproto.MSPRole_MEMBER:
		return "member"
	case mspproto.MSPRole_ADMIN:
		return "admin"
	case mspproto.MSPRole_CLIENT:
		return "client"
	case mspproto.MSPRole_PEER:
		return "peer"
	case mspproto.MSPRole_ORDERER:
		return "orderer"
	default:
		return r.String()
	}
}

// Manager holds the MSPs of one channel. Its MSPs never change and it is safe
// for concurrent use; it remembers the identities it has deserialized and
// validated (bounded), so each certificate is parsed once, not per signature.
type Manager struct {
	msps  map[string]*MSP
	ids   []string
	cache *identityCache
}

// NewManager returns a manager over msps (later duplicates of an ID win).
func NewManager(msps ...*MSP) *Manager {
	mgr := &Manager{msps: make(map[string]*MSP, len(msps)), cache: newIdentityCache()}
	for _, m := range msps {
		if m == nil {
			continue
		}
		mgr.msps[m.ID()] = m
	}
	for id := range mgr.msps {
		mgr.ids = append(mgr.ids, id)
	}
	sort.Strings(mgr.ids)
	return mgr
}

// MSP returns the MSP with the given ID.
func (m *Manager) MSP(mspID string) (*MSP, bool) {
	x, ok := m.msps[mspID]
	return x, ok
}

// IDs returns the channel's MSP IDs, sorted.
func (m *Manager) IDs() []string { return append([]string(nil), m.ids...) }

// DeserializeIdentity parses a serialized identity, finds its MSP by mspid and
// validates it there. The returned identity's Cert is the certificate
// normalised as Fabric's MSP holds it (its CA's ECDSA signature in low-S
// form), so every encoding of one certificate — a flipped-S twin, other PEM
// whitespace — yields the same Cert.Raw: compare identities on MSPID and
// Cert.Raw. Serialized stays the bytes given. Valid identities are cached by
// their serialized bytes: the returned Identity may be shared with other
// callers and must not be modified.
func (m *Manager) DeserializeIdentity(serialized []byte) (*Identity, error) {
	if id, ok := m.cache.get(serialized); ok {
		return id, nil
	}
	id, err := ParseSerializedIdentity(serialized)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidIdentity, err)
	}
	x, ok := m.msps[id.MSPID]
	if !ok {
		return nil, fmt.Errorf("%w: identity %s names MSP %s, which is not one of the channel's MSPs %v",
			ErrUnknownMSP, id, id.MSPID, m.ids)
	}
	v, err := x.validate(id)
	if err != nil {
		return nil, err
	}
	id = shareable(id, v.cert)
	m.cache.put(id)
	return id, nil
}

// Satisfies reports whether id satisfies p, as SatisfiesPrincipal(id, p) ==
// nil does, without building the error that explains a mismatch: for policy
// evaluation, which tries each signer against principals it may not satisfy
// and explains only its final verdict.
func (m *Manager) Satisfies(id *Identity, p *mspproto.MSPPrincipal) bool {
	if id == nil {
		return false
	}
	x, ok := m.msps[id.MSPID]
	return ok && x.satisfies(id, p)
}

// SatisfiesPrincipal checks p against id through the MSP id belongs to.
func (m *Manager) SatisfiesPrincipal(id *Identity, p *mspproto.MSPPrincipal) error {
	if id == nil {
		return fmt.Errorf("%w: nil identity", ErrInvalidIdentity)
	}
	x, ok := m.msps[id.MSPID]
	if !ok {
		return fmt.Errorf("%w: identity %s names MSP %s, which is not one of the channel's MSPs %v",
			ErrUnknownMSP, id, id.MSPID, m.ids)
	}
	return x.SatisfiesPrincipal(id, p)
}
