package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/peer/acl"
	"github.com/weft-ledger/weft/protos"
)

// Function names, as Fabric's CLI and SDKs send them in args[0].
const (
	FuncInstallChaincode                   = "InstallChaincode"
	FuncQueryInstalledChaincode            = "QueryInstalledChaincode"
	FuncQueryInstalledChaincodes           = "QueryInstalledChaincodes"
	FuncGetInstalledChaincodePackage       = "GetInstalledChaincodePackage"
	FuncApproveChaincodeDefinitionForMyOrg = "ApproveChaincodeDefinitionForMyOrg"
	FuncQueryApprovedChaincodeDefinition   = "QueryApprovedChaincodeDefinition"
	FuncCheckCommitReadiness               = "CheckCommitReadiness"
	FuncCommitChaincodeDefinition          = "CommitChaincodeDefinition"
	FuncQueryChaincodeDefinition           = "QueryChaincodeDefinition"
	FuncQueryChaincodeDefinitions          = "QueryChaincodeDefinitions"
)

// ChannelWritersPolicy is the ACL Fabric applies by default to the channel-wide
// lifecycle functions (CheckCommitReadiness, Commit, QueryChaincodeDefinition(s)).
const ChannelWritersPolicy = "/Channel/Application/Writers"

// errNotFound marks results Fabric reports with status 404.
var errNotFound = errors.New("not found")

// Invocation is one call of `_lifecycle`: who calls, on which channel, with
// which simulator.
type Invocation struct {
	ChannelID string // "" for peer-local functions (install and installed-package queries)
	TxID      string
	// Creator is the serialized identity that signed the proposal.
	Creator []byte
	// SignedData is the proposal's signature, evaluated against channel ACL policies.
	SignedData []protos.SignedData
	// Simulator records reads and writes; nil when ChannelID is "".
	Simulator TxSimulator
}

// Call runs one `_lifecycle` function. args[0] is the function name (one of
// functions, in functions.go) and args[1] the marshalled lb.<Function>Args; a
// successful response carries the marshalled lb.<Function>Result.
func (l *Lifecycle) Call(ctx context.Context, inv *Invocation, input *pb.ChaincodeInput) *pb.Response {
	args := input.GetArgs()
	if len(args) == 0 {
		return errResponse(500, "lifecycle scc must be invoked with arguments")
	}
	if len(args) != 2 {
		return errResponse(500, fmt.Sprintf("lifecycle scc operations require exactly two arguments but received %d", len(args)))
	}
	fn := string(args[0])
	out, err := l.dispatch(ctx, inv, fn, args[1])
	if err != nil {
		var acl aclError
		switch {
		case errors.As(err, &acl):
			return errResponse(500, fmt.Sprintf("Failed to authorize invocation due to failed ACL check: %s", err))
		case errors.Is(err, errNotFound), errors.Is(err, ErrPackageNotFound):
			return errResponse(404, err.Error())
		default:
			return errResponse(500, fmt.Sprintf("failed to invoke backing implementation of '%s': %s", fn, err))
		}
	}
	return &pb.Response{Status: 200, Payload: protos.Marshal(out)}
}

func errResponse(status int32, msg string) *pb.Response {
	return &pb.Response{Status: status, Message: msg}
}

type aclError struct{ err error }

func (e aclError) Error() string { return e.err.Error() }
func (e aclError) Unwrap() error { return e.err }

func decode(raw []byte, fn string, m proto.Message) error {
	if err := proto.Unmarshal(raw, m); err != nil {
		return fmt.Errorf("failed to decode input arg to '%s': %w", fn, err)
	}
	return nil
}

// checkLocalAdmin enforces Fabric's default ACL for the peer-local functions
// and this organisation's approvals: the creator must be an admin of the
// peer's own MSP.
func (l *Lifecycle) checkLocalAdmin(fn string, inv *Invocation) error {
	id, err := l.localMSP.DeserializeIdentity(inv.Creator)
	if err != nil {
		return aclError{fmt.Errorf("%s/%s is restricted to admins of the peer's MSP %s: %w", Namespace, fn, l.localMSP.ID(), err)}
	}
	if err := l.localMSP.Validate(id); err != nil {
		return aclError{fmt.Errorf("%s/%s is restricted to admins of the peer's MSP %s: %w", Namespace, fn, l.localMSP.ID(), err)}
	}
	admin := &mspproto.MSPPrincipal{
		PrincipalClassification: mspproto.MSPPrincipal_ROLE,
		Principal:               protos.Marshal(&mspproto.MSPRole{MspIdentifier: l.localMSP.ID(), Role: mspproto.MSPRole_ADMIN}),
	}
	if err := l.localMSP.SatisfiesPrincipal(id, admin); err != nil {
		return aclError{fmt.Errorf("%s/%s is restricted to admins of the peer's MSP %s, and %s is not one: %w", Namespace, fn, l.localMSP.ID(), id, err)}
	}
	return nil
}

// aclSource is an optional ChannelConfig capability: the channel's ACLs.
type aclSource interface {
	ACLPolicy(resource string) (string, bool)
}

// checkChannelACL evaluates the policy the channel's ACLs give to
// _lifecycle/<fn> (Fabric's default: the channel's Writers) against the
// proposal's signature.
func checkChannelACL(fn string, inv *Invocation, cc ChannelConfig) error {
	resource := Namespace + "/" + fn
	policy := ChannelWritersPolicy
	if acls, ok := cc.(aclSource); ok {
		if p, ok := acls.ACLPolicy(resource); ok && p != "" {
			policy = p
		}
	}
	if err := cc.CheckPolicy(policy, inv.SignedData); err != nil {
		return aclError{fmt.Errorf("%s on channel %s requires policy %s, which %s does not satisfy: %w", resource, inv.ChannelID, policy, acl.Describe(inv.Creator), err)}
	}
	return nil
}

var (
	chaincodeNameRegexp    = regexp.MustCompile(`^[a-zA-Z0-9]+([-_][a-zA-Z0-9]+)*$`)
	chaincodeVersionRegexp = regexp.MustCompile(`^[A-Za-z0-9_.+-]+$`)
	collectionNameRegexp   = regexp.MustCompile(`^[A-Za-z0-9-]+([A-Za-z0-9_-]+)*$`)
	systemChaincodeNames   = map[string]bool{"cscc": true, "escc": true, "lscc": true, "qscc": true, "vscc": true}
)

// validateInput checks a definition's name, version and collections, and that
// it keeps the collections of the committed definition. Its reads (the
// committed metadata, and the legacy lscc entry when nothing is committed)
// are the ones Fabric records.
func validateInput(name, version string, colls *pb.CollectionConfigPackage, cc ChannelConfig, sim TxSimulator) error {
	if !chaincodeNameRegexp.MatchString(name) {
		return fmt.Errorf("invalid chaincode name '%s'. Names can only consist of alphanumerics, '_', and '-' and can only begin with alphanumerics", name)
	}
	if systemChaincodeNames[name] {
		return fmt.Errorf("chaincode name '%s' is the name of a system chaincode", name)
	}
	if !chaincodeVersionRegexp.MatchString(version) {
		return fmt.Errorf("invalid chaincode version '%s'. Versions can only consist of alphanumerics, '_', '-', '+', and '.'", version)
	}
	static, err := staticCollections(colls)
	if err != nil {
		return err
	}
	if err := validateCollections(static, cc.OrgMSPIDs()); err != nil {
		return err
	}
	committed, ok, err := readDefinition(name, publicState{sim})
	if err != nil {
		return fmt.Errorf("could not retrieve committed definition for chaincode '%s': %w", name, err)
	}
	if !ok {
		// Fabric then looks for a legacy (lscc) deployment; the read is part of the
		// read set other peers compare, so it is made even though Weft deploys none.
		if _, err := sim.GetState("lscc", name); err != nil {
			return fmt.Errorf("could not retrieve legacy definition for chaincode '%s': %w", name, err)
		}
		return nil
	}
	return keepsCommittedCollections(static, committed.Collections)
}

func staticCollections(p *pb.CollectionConfigPackage) ([]*pb.StaticCollectionConfig, error) {
	var out []*pb.StaticCollectionConfig
	for _, c := range p.GetConfig() {
		s := c.GetStaticCollectionConfig()
		if s == nil {
			return nil, fmt.Errorf("collection configuration is empty or of an unknown type")
		}
		out = append(out, s)
	}
	return out, nil
}

func validateCollections(colls []*pb.StaticCollectionConfig, orgs []string) error {
	member := map[string]bool{}
	for _, o := range orgs {
		member[o] = true
	}
	seen := map[string]bool{}
	for _, c := range colls {
		if !collectionNameRegexp.MatchString(c.Name) {
			return fmt.Errorf("invalid collection name '%s'. Names can only consist of alphanumerics, '_', and '-' and cannot begin with '_'", c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("collection-name: %s -- found duplicate in collection configuration", c.Name)
		}
		seen[c.Name] = true
		if c.MaximumPeerCount < c.RequiredPeerCount {
			return fmt.Errorf("collection-name: %s -- maximum peer count (%d) cannot be less than the required peer count (%d)", c.Name, c.MaximumPeerCount, c.RequiredPeerCount)
		}
		if c.RequiredPeerCount < 0 {
			return fmt.Errorf("collection-name: %s -- requiredPeerCount (%d) cannot be less than zero", c.Name, c.RequiredPeerCount)
		}
		sp := c.GetMemberOrgsPolicy().GetSignaturePolicy()
		if sp == nil {
			return fmt.Errorf("collection member org policy is empty for collection '%s'", c.Name)
		}
		if err := onlyORs(sp.Rule); err != nil {
			return fmt.Errorf("collection-name: %s -- error in member org policy: %w", c.Name, err)
		}
		for _, p := range sp.Identities {
			mspID, err := principalMSP(p)
			if err != nil {
				return fmt.Errorf("collection-name: %s -- %w", c.Name, err)
			}
			if !member[mspID] {
				return fmt.Errorf("collection-name: %s -- collection member '%s' is not part of the channel", c.Name, mspID)
			}
		}
	}
	return nil
}

func onlyORs(r *cb.SignaturePolicy) error {
	n := r.GetNOutOf()
	if n == nil {
		return nil
	}
	if n.N != 1 {
		return fmt.Errorf("signature policy is not an OR concatenation, NOutOf %d", n.N)
	}
	for _, sub := range n.Rules {
		if err := onlyORs(sub); err != nil {
			return err
		}
	}
	return nil
}

func principalMSP(p *mspproto.MSPPrincipal) (string, error) {
	switch p.PrincipalClassification {
	case mspproto.MSPPrincipal_ROLE:
		r := &mspproto.MSPRole{}
		if err := proto.Unmarshal(p.Principal, r); err != nil {
			return "", fmt.Errorf("cannot unmarshal identity bytes into MSPRole: %w", err)
		}
		return r.MspIdentifier, nil
	case mspproto.MSPPrincipal_ORGANIZATION_UNIT:
		ou := &mspproto.OrganizationUnit{}
		if err := proto.Unmarshal(p.Principal, ou); err != nil {
			return "", fmt.Errorf("cannot unmarshal identity bytes into OrganizationUnit: %w", err)
		}
		return ou.MspIdentifier, nil
	case mspproto.MSPPrincipal_IDENTITY:
		id := &mspproto.SerializedIdentity{}
		if err := proto.Unmarshal(p.Principal, id); err != nil {
			return "", fmt.Errorf("contains an identity that is not a serialized identity: %w", err)
		}
		return id.Mspid, nil
	}
	return "", fmt.Errorf("principal type %v is not supported", p.PrincipalClassification)
}

func keepsCommittedCollections(proposed []*pb.StaticCollectionConfig, committed *pb.CollectionConfigPackage) error {
	if len(committed.GetConfig()) == 0 {
		return nil
	}
	if len(proposed) == 0 {
		return fmt.Errorf("the proposed collection config does not contain previously defined collections")
	}
	byName := map[string]*pb.StaticCollectionConfig{}
	for _, c := range proposed {
		byName[c.Name] = c
	}
	for _, cc := range committed.Config {
		old := cc.GetStaticCollectionConfig()
		if old == nil {
			return fmt.Errorf("unknown collection configuration type")
		}
		n, ok := byName[old.Name]
		if !ok {
			return fmt.Errorf("existing collection [%s] missing in the proposed collection configuration", old.Name)
		}
		if n.BlockToLive != old.BlockToLive {
			return fmt.Errorf("the BlockToLive in an existing collection [%s] modified. Existing value [%d]", old.Name, old.BlockToLive)
		}
	}
	return nil
}
