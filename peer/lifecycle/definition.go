package lifecycle

import (
	"errors"
	"fmt"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// Namespace is the name of the lifecycle system chaincode and of its state namespace.
const Namespace = "_lifecycle"

// Channel policies the lifecycle relies on, as Fabric names them.
const (
	DefaultEndorsementPolicyRef   = "/Channel/Application/Endorsement"
	LifecycleEndorsementPolicyRef = "/Channel/Application/LifecycleEndorsement"
)

// Default plugin names Fabric records when a definition names none.
const (
	DefaultEndorsementPlugin = "escc"
	DefaultValidationPlugin  = "vscc"
)

// ErrNotDefined is returned when no chaincode definition is committed under a name.
var ErrNotDefined = errors.New("lifecycle: chaincode is not defined")

// ErrNotApprovedHere means this peer holds no approval of the organisation
// for a chaincode sequence in the organisation's implicit collection: it did
// not approve it, or another peer of the organisation endorsed the approval.
var ErrNotApprovedHere = errors.New("lifecycle: approval not held by this peer")

// ImplicitCollection returns the name of an organisation's implicit private
// data collection: where its approvals live.
func ImplicitCollection(mspID string) string { return "_implicit_org_" + mspID }

// MSPOfImplicitCollection returns the MSP ID of an implicit collection name.
func MSPOfImplicitCollection(coll string) (string, bool) {
	const p = "_implicit_org_"
	if len(coll) > len(p) && coll[:len(p)] == p {
		return coll[len(p):], true
	}
	return "", false
}

// Definition is a committed chaincode definition as the endorser and the
// validator need it.
type Definition struct {
	Name              string
	Version           string
	Sequence          int64
	EndorsementPolicy []byte // marshalled pb.ApplicationPolicy
	ValidationPlugin  string
	EndorsementPlugin string
	InitRequired      bool
	Collections       *pb.CollectionConfigPackage
}

// chaincodeDefinition mirrors what Fabric serializes (field order matters).
type chaincodeDefinition struct {
	Sequence        int64
	EndorsementInfo *lb.ChaincodeEndorsementInfo
	ValidationInfo  *lb.ChaincodeValidationInfo
	Collections     *pb.CollectionConfigPackage
}

func (cd *chaincodeDefinition) record() *record {
	return &record{datatype: typeDefinition, fields: []field{
		{"Sequence", int64Data(cd.Sequence)},
		{"EndorsementInfo", protoData(cd.EndorsementInfo)},
		{"ValidationInfo", protoData(cd.ValidationInfo)},
		{"Collections", protoData(cd.Collections)},
	}}
}

// parameters is the part of a definition an organisation approves.
func (cd *chaincodeDefinition) parameters() *record {
	return &record{datatype: typeParameters, fields: []field{
		{"EndorsementInfo", protoData(cd.EndorsementInfo)},
		{"ValidationInfo", protoData(cd.ValidationInfo)},
		{"Collections", protoData(cd.Collections)},
	}}
}

// sameParameters returns nil when both definitions have equal parameters, or an
// error naming the first difference.
func (cd *chaincodeDefinition) sameParameters(o *chaincodeDefinition) error {
	a, b := cd.EndorsementInfo, o.EndorsementInfo
	av, bv := cd.ValidationInfo, o.ValidationInfo
	switch {
	case a.GetVersion() != b.GetVersion():
		return fmt.Errorf("expected Version '%s' does not match passed Version '%s'", a.GetVersion(), b.GetVersion())
	case a.GetEndorsementPlugin() != b.GetEndorsementPlugin():
		return fmt.Errorf("expected EndorsementPlugin '%s' does not match passed EndorsementPlugin '%s'", a.GetEndorsementPlugin(), b.GetEndorsementPlugin())
	case a.GetInitRequired() != b.GetInitRequired():
		return fmt.Errorf("expected InitRequired '%t' does not match passed InitRequired '%t'", a.GetInitRequired(), b.GetInitRequired())
	case av.GetValidationPlugin() != bv.GetValidationPlugin():
		return fmt.Errorf("expected ValidationPlugin '%s' does not match passed ValidationPlugin '%s'", av.GetValidationPlugin(), bv.GetValidationPlugin())
	case string(av.GetValidationParameter()) != string(bv.GetValidationParameter()):
		return fmt.Errorf("expected ValidationParameter '%x' does not match passed ValidationParameter '%x'", av.GetValidationParameter(), bv.GetValidationParameter())
	case !proto.Equal(emptyIfNil(cd.Collections), emptyIfNil(o.Collections)):
		return fmt.Errorf("collections do not match")
	}
	return nil
}

func emptyIfNil(c *pb.CollectionConfigPackage) *pb.CollectionConfigPackage {
	if c == nil {
		return &pb.CollectionConfigPackage{}
	}
	return c
}

func localPackageRecord(packageID string) *record {
	return &record{datatype: typeLocalPackage, fields: []field{{"PackageID", stringData(packageID)}}}
}

// readDefinition reads the committed definition of name from public state;
// ok is false when none is committed.
func readDefinition(name string, st readState) (*chaincodeDefinition, bool, error) {
	md, ok, err := readMetadata(namespacesPrefix, name, st)
	if err != nil || !ok {
		return nil, false, err
	}
	if md.Datatype != typeDefinition {
		return nil, false, fmt.Errorf("namespace %s holds a %s, not a %s", name, md.Datatype, typeDefinition)
	}
	cd, err := readDefinitionFields(namespacesPrefix, name, st)
	if err != nil {
		return nil, false, err
	}
	return cd, true, nil
}

func readDefinitionFields(prefix, name string, st readState) (*chaincodeDefinition, error) {
	cd := &chaincodeDefinition{
		EndorsementInfo: &lb.ChaincodeEndorsementInfo{},
		ValidationInfo:  &lb.ChaincodeValidationInfo{},
		Collections:     &pb.CollectionConfigPackage{},
	}
	var err error
	if cd.Sequence, err = readInt64(prefix, name, "Sequence", st); err != nil {
		return nil, err
	}
	if err := readParameterFields(prefix, name, st, cd); err != nil {
		return nil, err
	}
	return cd, nil
}

func readParameterFields(prefix, name string, st readState, cd *chaincodeDefinition) error {
	if err := readProto(prefix, name, "EndorsementInfo", st, cd.EndorsementInfo); err != nil {
		return err
	}
	if err := readProto(prefix, name, "ValidationInfo", st, cd.ValidationInfo); err != nil {
		return err
	}
	return readProto(prefix, name, "Collections", st, cd.Collections)
}

// StateReader reads committed or simulated public state. *ledger.Simulator
// satisfies it; DBState adapts a statedb.DB.
type StateReader interface {
	GetState(namespace, key string) ([]byte, error)
}

// PrivateStateReader reads this peer's private data. *ledger.Simulator
// satisfies it; DBState adapts a statedb.DB.
type PrivateStateReader interface {
	GetPrivateData(namespace, collection, key string) ([]byte, error)
}

type nsReader struct {
	ns string
	r  StateReader
}

func (n nsReader) GetState(key string) ([]byte, error) { return n.r.GetState(n.ns, key) }

type privReader struct {
	coll string
	r    PrivateStateReader
}

func (p privReader) GetState(key string) ([]byte, error) {
	return p.r.GetPrivateData(Namespace, p.coll, key)
}

// LifecycleDefinition is the definition Fabric uses for the `_lifecycle`
// namespace itself: validated against the channel's LifecycleEndorsement policy.
func LifecycleDefinition() *Definition {
	return &Definition{
		Name:              Namespace,
		EndorsementPolicy: protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: LifecycleEndorsementPolicyRef}}),
		ValidationPlugin:  DefaultValidationPlugin,
		EndorsementPlugin: DefaultEndorsementPlugin,
	}
}

// ReadDefinition returns the committed definition of chaincode name from
// state, or an error wrapping ErrNotDefined. For "_lifecycle" it returns
// LifecycleDefinition.
func ReadDefinition(state StateReader, name string) (*Definition, error) {
	if name == Namespace {
		return LifecycleDefinition(), nil
	}
	cd, ok, err := readDefinition(name, nsReader{Namespace, state})
	if err != nil {
		return nil, fmt.Errorf("read definition of chaincode %s: %w", name, err)
	}
	if !ok {
		return nil, fmt.Errorf("chaincode %s: %w (no definition committed in %s)", name, ErrNotDefined, Namespace)
	}
	return &Definition{
		Name:              name,
		Version:           cd.EndorsementInfo.GetVersion(),
		Sequence:          cd.Sequence,
		EndorsementPolicy: cd.ValidationInfo.GetValidationParameter(),
		ValidationPlugin:  cd.ValidationInfo.GetValidationPlugin(),
		EndorsementPlugin: cd.EndorsementInfo.GetEndorsementPlugin(),
		InitRequired:      cd.EndorsementInfo.GetInitRequired(),
		Collections:       cd.Collections,
	}, nil
}

// ReadApprovedPackageID returns the package ID organisation mspID approved for
// chaincode name at sequence, read from its implicit collection in private
// state (only the organisation's own peers hold it). It returns "" and no
// error when the organisation approved the definition without a package, and
// an error when it has not approved that sequence.
func ReadApprovedPackageID(state PrivateStateReader, mspID, name string, sequence int64) (string, error) {
	st := privReader{ImplicitCollection(mspID), state}
	priv := fmt.Sprintf("%s#%d", name, sequence)
	md, ok, err := readMetadata(sourcesPrefix, priv, st)
	if err != nil {
		return "", fmt.Errorf("read approved package of chaincode %s sequence %d for %s: %w", name, sequence, mspID, err)
	}
	if !ok {
		return "", fmt.Errorf("chaincode %s sequence %d: not approved by %s on this peer (no %s): %w", name, sequence, mspID, metadataKey(sourcesPrefix, priv), ErrNotApprovedHere)
	}
	if md.Datatype != typeLocalPackage {
		return "", fmt.Errorf("%s holds a %s, not a %s", metadataKey(sourcesPrefix, priv), md.Datatype, typeLocalPackage)
	}
	return readString(sourcesPrefix, priv, "PackageID", st)
}
