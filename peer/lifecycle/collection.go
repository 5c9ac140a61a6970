package lifecycle

import (
	"errors"
	"fmt"
	"slices"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// Collection is a private data collection of a chaincode as a peer applies
// it: who may hold its values, how far they are pushed at endorsement, how
// long they live and who may read and write them through the chaincode.
type Collection struct {
	Namespace string // the chaincode
	Name      string
	// MemberOrgs are the MSP IDs named by the collection's member
	// organisations policy: their peers store the private values, the
	// others only their hashes.
	MemberOrgs []string
	// RequiredPeerCount and MaximumPeerCount bound the dissemination at
	// endorsement: the endorsement fails unless RequiredPeerCount other
	// member peers acknowledged the data, and it goes to at most
	// MaximumPeerCount.
	RequiredPeerCount int
	MaximumPeerCount  int
	// BlockToLive is the number of blocks after the one that committed a
	// value for which it is kept (0: forever).
	BlockToLive uint64
	// MemberOnlyRead and MemberOnlyWrite refuse chaincode reads and writes
	// of the collection in transactions whose client is not of a member
	// organisation.
	MemberOnlyRead  bool
	MemberOnlyWrite bool
	// Implicit is set for an organisation's implicit collection
	// (_implicit_org_<MSPID>).
	Implicit bool
}

// IsMember reports whether organisation mspID is a member of c.
func (c Collection) IsMember(mspID string) bool { return slices.Contains(c.MemberOrgs, mspID) }

// ImplicitDissemination is how far an implicit collection's data is pushed
// at endorsement: Fabric's
// peer.gossip.pvtData.implicitCollectionDisseminationPolicy (defaults 0
// and 1).
type ImplicitDissemination struct {
	RequiredPeerCount int
	MaxPeerCount      int
}

// DefaultImplicitDissemination is Fabric's default.
var DefaultImplicitDissemination = ImplicitDissemination{RequiredPeerCount: 0, MaxPeerCount: 1}

// ErrNoCollection is wrapped by CollectionOf when the chaincode defines no
// such collection (or is not defined).
var ErrNoCollection = errors.New("no such collection")

// CollectionOf returns collection coll of chaincode ns as committed in state:
// one of the definition's static collections, or an organisation's implicit
// collection (members: that organisation; never expires; member-only read and
// write; disseminated as implicit says). It wraps ErrNoCollection when the
// chaincode is not defined or defines no such collection.
func CollectionOf(state StateReader, ns, coll string, implicit ImplicitDissemination) (Collection, error) {
	if mspID, ok := MSPOfImplicitCollection(coll); ok {
		if ns != Namespace {
			if _, err := ReadDefinition(state, ns); err != nil {
				if errors.Is(err, ErrNotDefined) {
					return Collection{}, fmt.Errorf("collection %s of chaincode %s: %w: %w", coll, ns, ErrNoCollection, err)
				}
				return Collection{}, err
			}
		}
		return Collection{
			Namespace: ns, Name: coll, MemberOrgs: []string{mspID},
			RequiredPeerCount: implicit.RequiredPeerCount, MaximumPeerCount: implicit.MaxPeerCount,
			MemberOnlyRead: true, MemberOnlyWrite: true, Implicit: true,
		}, nil
	}
	def, err := ReadDefinition(state, ns)
	if errors.Is(err, ErrNotDefined) {
		return Collection{}, fmt.Errorf("collection %s of chaincode %s: %w: %w", coll, ns, ErrNoCollection, err)
	}
	if err != nil {
		return Collection{}, err
	}
	return FindCollection(def.Collections, ns, coll)
}

// FindCollection returns collection coll of a collection configuration
// package (a definition's Collections). It wraps ErrNoCollection when the
// package has none of that name.
func FindCollection(pkg *pb.CollectionConfigPackage, ns, coll string) (Collection, error) {
	for _, cfg := range pkg.GetConfig() {
		sc := cfg.GetStaticCollectionConfig()
		if sc == nil || sc.Name != coll {
			continue
		}
		c := Collection{
			Namespace: ns, Name: coll,
			RequiredPeerCount: int(sc.RequiredPeerCount), MaximumPeerCount: int(sc.MaximumPeerCount),
			BlockToLive: sc.BlockToLive, MemberOnlyRead: sc.MemberOnlyRead, MemberOnlyWrite: sc.MemberOnlyWrite,
		}
		for _, p := range sc.GetMemberOrgsPolicy().GetSignaturePolicy().GetIdentities() {
			mspID, err := principalMSP(p)
			if err != nil {
				return Collection{}, fmt.Errorf("collection %s of chaincode %s: member organisations policy: %w", coll, ns, err)
			}
			if !slices.Contains(c.MemberOrgs, mspID) {
				c.MemberOrgs = append(c.MemberOrgs, mspID)
			}
		}
		return c, nil
	}
	return Collection{}, fmt.Errorf("chaincode %s defines no collection %s: %w", ns, coll, ErrNoCollection)
}
