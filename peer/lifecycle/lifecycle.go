package lifecycle

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/statedb"
)

// TxSimulator is what `_lifecycle` needs from a transaction simulator
// (satisfied by *ledger.Simulator).
type TxSimulator interface {
	GetState(ns, key string) ([]byte, error)
	SetState(ns, key string, value []byte) error
	DeleteState(ns, key string) error
	GetStateRange(ns, start, end string) (statedb.Iterator, error)
	GetPrivateDataHash(ns, coll, key string) ([]byte, error)
	PutPrivateData(ns, coll, key string, value []byte) error
	GetPrivateData(ns, coll, key string) ([]byte, error)
}

// ChannelConfig is what `_lifecycle` needs from a channel's configuration.
// BundleChannel adapts a *channelconfig.Bundle.
type ChannelConfig interface {
	// OrgMSPIDs returns the MSP IDs of the channel's application organisations.
	OrgMSPIDs() []string
	// HasPolicy reports whether the channel defines the policy at the absolute path.
	HasPolicy(path string) bool
	// CheckPolicy evaluates the policy at path against signed data.
	CheckPolicy(path string, signed []protos.SignedData) error
}

// Channels returns the current configuration of a channel the peer has joined.
type Channels interface {
	ChannelConfig(channelID string) (ChannelConfig, error)
}

// LocalMSP is the peer's own MSP (satisfied by *msp.MSP).
type LocalMSP interface {
	ID() string
	DeserializeIdentity(serialized []byte) (*msp.Identity, error)
	Validate(id *msp.Identity) error
	SatisfiesPrincipal(id *msp.Identity, p *mspproto.MSPPrincipal) error
}

// Config holds the dependencies of a Lifecycle.
type Config struct {
	PackageDir string   // where installed packages are kept
	LocalMSP   LocalMSP // the peer's MSP: its ID names "my org"; its admins may install and approve
	Channels   Channels
	// Joined lists the joined channels and their committed state, from which
	// the installed-package queries report References. Optional: without it
	// no package has References.
	Joined JoinedChannels
	Logger *slog.Logger // optional
	// PackageLimits bound the packages InstallChaincode accepts
	// (peer.limits.chaincodePackage); zero fields take ccpackage's defaults.
	PackageLimits ccpackage.Limits
	// Indexes gives the joined channels' state databases that keep
	// indexes, where SyncIndexes creates the CouchDB indexes of installed
	// packages. Optional: when nil, Joined is used if it implements
	// IndexCreators; without either (or without Joined) no index is
	// created.
	Indexes IndexCreators
	// Installed, when set, is called after each package is installed (the
	// node then advertises the chaincodes it can now run).
	Installed func(packageID string)
}

// Lifecycle is the `_lifecycle` system chaincode of one peer.
type Lifecycle struct {
	store     *packageStore
	localMSP  LocalMSP
	channels  Channels
	joined    JoinedChannels // nil: no References
	log       *slog.Logger
	limits    ccpackage.Limits
	indexes   IndexCreators          // nil: no indexes created
	installed func(packageID string) // Config.Installed
	created   createdIndexes
}

// New returns the lifecycle chaincode of a peer.
func New(cfg Config) (*Lifecycle, error) {
	if cfg.PackageDir == "" {
		return nil, errors.New("lifecycle: Config.PackageDir is empty; give the folder for installed chaincode packages")
	}
	if cfg.LocalMSP == nil {
		return nil, errors.New("lifecycle: Config.LocalMSP is nil")
	}
	if cfg.Channels == nil {
		return nil, errors.New("lifecycle: Config.Channels is nil")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Indexes == nil {
		cfg.Indexes, _ = cfg.Joined.(IndexCreators)
	}
	return &Lifecycle{
		store:     &packageStore{dir: cfg.PackageDir},
		localMSP:  cfg.LocalMSP,
		channels:  cfg.Channels,
		joined:    cfg.Joined,
		log:       log.With("component", "lifecycle"),
		limits:    cfg.PackageLimits,
		indexes:   cfg.Indexes,
		installed: cfg.Installed,
	}, nil
}

// Name returns "_lifecycle".
func (l *Lifecycle) Name() string { return Namespace }

// ChaincodeDefinition returns the definition of chaincode name committed on
// channel, read from state; the error wraps ErrNotDefined when there is none.
func (l *Lifecycle) ChaincodeDefinition(channel string, state StateReader, name string) (*Definition, error) {
	d, err := ReadDefinition(state, name)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", channel, err)
	}
	return d, nil
}

// ApprovedPackageID returns the package ID this peer's organisation approved
// for chaincode name at sequence on channel, so the runtime knows which
// installed package to run.
func (l *Lifecycle) ApprovedPackageID(channel string, state PrivateStateReader, name string, sequence int64) (string, error) {
	id, err := ReadApprovedPackageID(state, l.localMSP.ID(), name, sequence)
	if errors.Is(err, ErrNotApprovedHere) {
		if hs, ok := state.(PrivateHashReader); ok {
			if found, ok, herr := l.approvedByHash(hs, name, sequence); herr != nil {
				err = herr
			} else if ok {
				return found, nil
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("channel %s: %w", channel, err)
	}
	return id, nil
}

// PrivateHashReader reads the committed hashes of private values, which every
// peer of a channel holds.
type PrivateHashReader interface {
	GetPrivateDataHash(namespace, collection, key string) ([]byte, error)
}

// approvedByHash finds the installed package this organisation approved for
// chaincode name at sequence from the hashes of the approval in its implicit
// collection, as Fabric does: another peer of the organisation may have
// endorsed the approval and holds its values, while this peer holds only the
// hashes. ok is false when no installed package matches.
func (l *Lifecycle) approvedByHash(hs PrivateHashReader, name string, sequence int64) (string, bool, error) {
	installed, err := l.store.list()
	if err != nil {
		return "", false, err
	}
	st := hashReader{coll: ImplicitCollection(l.localMSP.ID()), r: hs}
	priv := fmt.Sprintf("%s#%d", name, sequence)
	for _, p := range installed {
		match, err := isSerialized(sourcesPrefix, priv, localPackageRecord(p.PackageID), st)
		if err != nil {
			return "", false, err
		}
		if match {
			return p.PackageID, true, nil
		}
	}
	return "", false, nil
}

// hashReader reads the hashes of this organisation's implicit collection.
type hashReader struct {
	coll string
	r    PrivateHashReader
}

func (h hashReader) GetStateHash(key string) ([]byte, error) {
	return h.r.GetPrivateDataHash(Namespace, h.coll, key)
}
func (h hashReader) Collection() string { return h.coll }

// InstalledPackage returns the bytes of an installed package.
func (l *Lifecycle) InstalledPackage(packageID string) ([]byte, error) {
	return l.store.load(packageID)
}

// install saves a package and returns its ID and label.
func (l *Lifecycle) install(pkg []byte) (*InstalledPackage, error) {
	md, err := ParsePackageWithin(l.limits, pkg)
	if err != nil {
		return nil, fmt.Errorf("could not parse as a chaincode install package: %w", err)
	}
	id, err := l.store.save(md.Label, pkg)
	if err != nil {
		return nil, err
	}
	l.log.Info("installed chaincode package", "package_id", id, "type", md.Type)
	// Definitions committed before the package was installed get its
	// indexes now.
	l.syncAllIndexes()
	if l.installed != nil {
		l.installed(id)
	}
	return &InstalledPackage{PackageID: id, Label: md.Label}, nil
}

// states of one invocation

type publicState struct{ sim TxSimulator }

func (p publicState) GetState(key string) ([]byte, error) { return p.sim.GetState(Namespace, key) }
func (p publicState) PutState(key string, v []byte) error { return p.sim.SetState(Namespace, key, v) }
func (p publicState) DelState(key string) error           { return p.sim.DeleteState(Namespace, key) }

type orgState struct {
	sim  TxSimulator
	coll string
}

func (o orgState) GetState(key string) ([]byte, error) {
	return o.sim.GetPrivateData(Namespace, o.coll, key)
}

func (o orgState) PutState(key string, v []byte) error {
	return o.sim.PutPrivateData(Namespace, o.coll, key, v)
}

func (o orgState) DelState(key string) error {
	return fmt.Errorf("deleting %s from private collection %s is not supported", key, o.coll)
}

type opaqueState struct {
	sim  TxSimulator
	coll string
}

func (o opaqueState) GetStateHash(key string) ([]byte, error) {
	return o.sim.GetPrivateDataHash(Namespace, o.coll, key)
}
func (o opaqueState) Collection() string { return o.coll }

// setDefaults fills empty plugin names and the endorsement policy with the
// channel's defaults, as Fabric does before approving or committing.
func setDefaults(channelID string, cc ChannelConfig, cd *chaincodeDefinition) error {
	if cd.EndorsementInfo.EndorsementPlugin == "" {
		cd.EndorsementInfo.EndorsementPlugin = DefaultEndorsementPlugin
	}
	if cd.ValidationInfo.ValidationPlugin == "" {
		cd.ValidationInfo.ValidationPlugin = DefaultValidationPlugin
	}
	if len(cd.ValidationInfo.ValidationParameter) == 0 {
		if !cc.HasPolicy(DefaultEndorsementPolicyRef) {
			return fmt.Errorf("policy '%s' must be defined for channel '%s' before chaincode operations can be attempted", DefaultEndorsementPolicyRef, channelID)
		}
		cd.ValidationInfo.ValidationParameter = protos.Marshal(&pb.ApplicationPolicy{
			Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: DefaultEndorsementPolicyRef},
		})
	}
	return nil
}

// approveForOrg records cd and packageID as this org's approval in its
// implicit collection.
func (l *Lifecycle) approveForOrg(channelID, name string, cc ChannelConfig, cd *chaincodeDefinition, packageID string, sim TxSimulator) error {
	pub := publicState{sim}
	org := orgState{sim, ImplicitCollection(l.localMSP.ID())}
	current, err := readInt64(namespacesPrefix, name, "Sequence", pub)
	if err != nil {
		return fmt.Errorf("could not get current sequence: %w", err)
	}
	requested := cd.Sequence
	switch {
	case requested == 0 && current == 0:
		return fmt.Errorf("requested sequence is 0, but first definable sequence number is 1")
	case requested < current:
		return fmt.Errorf("currently defined sequence %d is larger than requested sequence %d", current, requested)
	case requested > current+1:
		return fmt.Errorf("requested sequence %d is larger than the next available sequence number %d", requested, current+1)
	}
	if err := setDefaults(channelID, cc, cd); err != nil {
		return fmt.Errorf("could not set defaults for chaincode definition in channel %s: %w", channelID, err)
	}
	priv := fmt.Sprintf("%s#%d", name, requested)
	if requested == current {
		committed, ok, err := readDefinition(name, pub)
		if err != nil {
			return fmt.Errorf("could not fetch current definition: %w", err)
		}
		if !ok {
			return fmt.Errorf("missing metadata for currently committed sequence number (%d)", current)
		}
		if err := committed.sameParameters(cd); err != nil {
			return fmt.Errorf("attempted to redefine the current committed sequence (%d) for namespace %s with different parameters: %w", current, name, err)
		}
		same, err := sameApproval(priv, packageID, cd, org)
		if err != nil {
			return err
		}
		if same {
			return fmt.Errorf("attempted to redefine the current committed sequence (%d) for namespace %s", current, name)
		}
	} else {
		same, err := sameApproval(priv, packageID, cd, org)
		if err != nil {
			return err
		}
		if same {
			return fmt.Errorf("attempted to redefine uncommitted sequence (%d) for namespace %s with unchanged content", requested, name)
		}
	}
	if err := serialize(namespacesPrefix, priv, cd.parameters(), org); err != nil {
		return fmt.Errorf("could not serialize chaincode parameters to state: %w", err)
	}
	if err := serialize(sourcesPrefix, priv, localPackageRecord(packageID), org); err != nil {
		return fmt.Errorf("could not serialize chaincode package info to state: %w", err)
	}
	return nil
}

// sameApproval reports whether this org already approved exactly cd with packageID.
func sameApproval(priv, packageID string, cd *chaincodeDefinition, org readState) (bool, error) {
	md, ok, err := readMetadata(namespacesPrefix, priv, org)
	if err != nil || !ok {
		return false, err
	}
	if md.Datatype != typeParameters {
		return false, fmt.Errorf("%s holds a %s, not a %s", metadataKey(namespacesPrefix, priv), md.Datatype, typeParameters)
	}
	approved := &chaincodeDefinition{EndorsementInfo: &lb.ChaincodeEndorsementInfo{}, ValidationInfo: &lb.ChaincodeValidationInfo{}, Collections: &pb.CollectionConfigPackage{}}
	if err := readParameterFields(namespacesPrefix, priv, org, approved); err != nil {
		return false, err
	}
	if approved.sameParameters(cd) != nil {
		return false, nil
	}
	smd, ok, err := readMetadata(sourcesPrefix, priv, org)
	if err != nil || !ok {
		return false, err
	}
	if smd.Datatype != typeLocalPackage {
		return false, fmt.Errorf("%s holds a %s, not a %s", metadataKey(sourcesPrefix, priv), smd.Datatype, typeLocalPackage)
	}
	id, err := readString(sourcesPrefix, priv, "PackageID", org)
	if err != nil {
		return false, err
	}
	return id == packageID, nil
}

// commitReadiness checks the sequence and returns which organisations
// approved cd, comparing hashes in each org's implicit collection.
func commitReadiness(channelID, name string, cc ChannelConfig, cd *chaincodeDefinition, sim TxSimulator) (map[string]bool, error) {
	current, err := readInt64(namespacesPrefix, name, "Sequence", publicState{sim})
	if err != nil {
		return nil, fmt.Errorf("could not get current sequence: %w", err)
	}
	if cd.Sequence != current+1 {
		return nil, fmt.Errorf("requested sequence is %d, but new definition must be sequence %d", cd.Sequence, current+1)
	}
	if err := setDefaults(channelID, cc, cd); err != nil {
		return nil, fmt.Errorf("could not set defaults for chaincode definition in channel %s: %w", channelID, err)
	}
	return orgApprovals(name, cd, cc.OrgMSPIDs(), sim)
}

func orgApprovals(name string, cd *chaincodeDefinition, orgs []string, sim TxSimulator) (map[string]bool, error) {
	priv := fmt.Sprintf("%s#%d", name, cd.Sequence)
	out := make(map[string]bool, len(orgs))
	for _, mspID := range orgs {
		ok, err := isSerialized(namespacesPrefix, priv, cd.parameters(), opaqueState{sim, ImplicitCollection(mspID)})
		if err != nil {
			return nil, fmt.Errorf("serialization check failed for key %s: %w", priv, err)
		}
		out[mspID] = ok
	}
	return out, nil
}

// missingApprovals lists, sorted, the organisations that have not approved.
func missingApprovals(approvals map[string]bool) []string {
	var out []string
	for org, ok := range approvals {
		if !ok {
			out = append(out, org)
		}
	}
	sort.Strings(out)
	return out
}

// commit checks readiness and writes cd as the committed definition of name.
// Like Fabric it refuses only when this peer's own organisation has not
// approved: whether enough organisations approved is decided by the
// LifecycleEndorsement policy when the transaction is validated.
func (l *Lifecycle) commit(channelID, name string, cc ChannelConfig, cd *chaincodeDefinition, sim TxSimulator) (map[string]bool, error) {
	myOrg := l.localMSP.ID()
	member := false
	for _, id := range cc.OrgMSPIDs() {
		member = member || id == myOrg
	}
	if !member {
		return nil, fmt.Errorf("this peer's organisation %s is not an application organisation of channel %s", myOrg, channelID)
	}
	approvals, err := commitReadiness(channelID, name, cc, cd, sim)
	if err != nil {
		return nil, err
	}
	if err := serialize(namespacesPrefix, name, cd.record(), publicState{sim}); err != nil {
		return nil, fmt.Errorf("could not serialize chaincode definition: %w", err)
	}
	if !approvals[myOrg] {
		return nil, fmt.Errorf("chaincode %s: approval missing from %s (this peer's organisation; missing approvals: %v): chaincode definition not agreed to by this org (%s)",
			name, myOrg, missingApprovals(approvals), myOrg)
	}
	if missing := missingApprovals(approvals); len(missing) > 0 {
		l.log.Warn("endorsing chaincode commit without every organisation's approval; the LifecycleEndorsement policy decides at validation",
			"channel", channelID, "chaincode", name, "sequence", cd.Sequence, "missing_approvals", missing)
	}
	return approvals, nil
}

// CommittedState reads both the public and this peer's private state
// (*ledger.Simulator and DBState satisfy it).
type CommittedState interface {
	StateReader
	PrivateStateReader
}

// ChaincodePackage returns the committed definition of chaincode name and the
// package this peer's organisation approved for that definition's sequence:
// what the peer must run to endorse for it.
func (l *Lifecycle) ChaincodePackage(channel string, state CommittedState, name string) (*Definition, string, error) {
	d, err := l.ChaincodeDefinition(channel, state, name)
	if err != nil {
		return nil, "", err
	}
	id, err := l.ApprovedPackageID(channel, state, name, d.Sequence)
	if err != nil {
		return nil, "", err
	}
	if id == "" {
		return nil, "", fmt.Errorf("channel %s: %s approved chaincode %s sequence %d without a package; approve it again with the package ID to run it on this peer", channel, l.localMSP.ID(), name, d.Sequence)
	}
	return d, id, nil
}
