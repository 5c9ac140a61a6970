package lifecycle

import (
	"context"
	"fmt"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"
)

// scope says where a `_lifecycle` function runs and who may call it.
type scope int

const (
	// peerLocal functions (install, the installed packages) need no channel;
	// the creator must be an admin of the peer's MSP.
	peerLocal scope = iota
	// orgOnChannel functions work on this organisation's approval on a
	// channel; the creator must be an admin of the peer's MSP.
	orgOnChannel
	// channelWide functions work on the channel's definitions; the proposal
	// must satisfy the channel's ACL for _lifecycle/<function> (Fabric's
	// default: ChannelWritersPolicy).
	channelWide
)

// call is one invocation as a function's handler sees it.
type call struct {
	*Invocation
	cc ChannelConfig // the channel's configuration; nil for peer-local functions
}

// function is one `_lifecycle` function: its scope, and run, which decodes
// args[1], checks the caller against the scope, then does the work.
type function struct {
	scope scope
	run   func(l *Lifecycle, c call, fn string, raw []byte) (proto.Message, error)
}

// functions maps the names Fabric's CLI and SDKs send in args[0] to the
// functions; each handler is named after its Fabric function.
var functions = map[string]function{
	FuncInstallChaincode:                   handle(peerLocal, (*Lifecycle).installChaincode),
	FuncQueryInstalledChaincode:            handle(peerLocal, (*Lifecycle).queryInstalledChaincode),
	FuncQueryInstalledChaincodes:           handle(peerLocal, (*Lifecycle).queryInstalledChaincodes),
	FuncGetInstalledChaincodePackage:       handle(peerLocal, (*Lifecycle).getInstalledChaincodePackage),
	FuncApproveChaincodeDefinitionForMyOrg: handle(orgOnChannel, (*Lifecycle).approveChaincodeDefinitionForMyOrg),
	FuncQueryApprovedChaincodeDefinition:   handle(orgOnChannel, (*Lifecycle).queryApprovedChaincodeDefinition),
	FuncCheckCommitReadiness:               handle(channelWide, (*Lifecycle).checkCommitReadiness),
	FuncCommitChaincodeDefinition:          handle(channelWide, (*Lifecycle).commitChaincodeDefinition),
	FuncQueryChaincodeDefinition:           handle(channelWide, (*Lifecycle).queryChaincodeDefinition),
	FuncQueryChaincodeDefinitions:          handle(channelWide, (*Lifecycle).queryChaincodeDefinitions),
}

// handle makes a function of a handler taking lb.<Function>Args (A, a
// pointer to T) and returning lb.<Function>Result (R). The arguments are
// decoded before the caller is checked, as Fabric does.
func handle[T any, A interface {
	*T
	proto.Message
}, R proto.Message](s scope, h func(*Lifecycle, call, A) (R, error)) function {
	return function{scope: s, run: func(l *Lifecycle, c call, fn string, raw []byte) (proto.Message, error) {
		in := A(new(T))
		if err := decode(raw, fn, in); err != nil {
			return nil, err
		}
		if err := l.authorize(s, fn, c); err != nil {
			return nil, err
		}
		out, err := h(l, c, in)
		if err != nil {
			return nil, err
		}
		return out, nil
	}}
}

// authorize checks the caller of fn against the ACL of its scope.
func (l *Lifecycle) authorize(s scope, fn string, c call) error {
	if s == channelWide {
		return checkChannelACL(fn, c.Invocation, c.cc)
	}
	return l.checkLocalAdmin(fn, c.Invocation)
}

// dispatch runs function fn with its marshalled arguments raw.
func (l *Lifecycle) dispatch(ctx context.Context, inv *Invocation, fn string, raw []byte) (proto.Message, error) {
	f, known := functions[fn]
	if known && f.scope == peerLocal {
		return f.run(l, call{Invocation: inv}, fn, raw)
	}
	// Everything else works on a channel.
	if inv.ChannelID == "" || inv.Simulator == nil {
		if known {
			return nil, fmt.Errorf("function %s needs a channel: send the proposal on a channel the peer has joined", fn)
		}
		return nil, fmt.Errorf("unknown function '%s' of %s", fn, Namespace)
	}
	cc, err := l.channels.ChannelConfig(inv.ChannelID)
	if err != nil {
		return nil, fmt.Errorf("could not get channel config for channel '%s': %w", inv.ChannelID, err)
	}
	if !known {
		return nil, fmt.Errorf("unknown function '%s' of %s", fn, Namespace)
	}
	return f.run(l, call{Invocation: inv, cc: cc}, fn, raw)
}

func (l *Lifecycle) installChaincode(_ call, in *lb.InstallChaincodeArgs) (*lb.InstallChaincodeResult, error) {
	p, err := l.install(in.ChaincodeInstallPackage)
	if err != nil {
		return nil, err
	}
	return &lb.InstallChaincodeResult{PackageId: p.PackageID, Label: p.Label}, nil
}

func (l *Lifecycle) queryInstalledChaincode(_ call, in *lb.QueryInstalledChaincodeArgs) (*lb.QueryInstalledChaincodeResult, error) {
	list, err := l.store.list()
	if err != nil {
		return nil, err
	}
	for _, p := range list {
		if p.PackageID == in.PackageId {
			refs, err := l.references()
			if err != nil {
				return nil, err
			}
			return &lb.QueryInstalledChaincodeResult{PackageId: p.PackageID, Label: p.Label, References: refs.installedResult(p.PackageID)}, nil
		}
	}
	return nil, fmt.Errorf("could not find chaincode with package id '%s'", in.PackageId)
}

func (l *Lifecycle) queryInstalledChaincodes(_ call, _ *lb.QueryInstalledChaincodesArgs) (*lb.QueryInstalledChaincodesResult, error) {
	list, err := l.store.list()
	if err != nil {
		return nil, err
	}
	refs, err := l.references()
	if err != nil {
		return nil, err
	}
	res := &lb.QueryInstalledChaincodesResult{}
	for _, p := range list {
		res.InstalledChaincodes = append(res.InstalledChaincodes, &lb.QueryInstalledChaincodesResult_InstalledChaincode{
			PackageId: p.PackageID, Label: p.Label, References: refs.installedListResult(p.PackageID)})
	}
	return res, nil
}

func (l *Lifecycle) getInstalledChaincodePackage(_ call, in *lb.GetInstalledChaincodePackageArgs) (*lb.GetInstalledChaincodePackageResult, error) {
	b, err := l.store.load(in.PackageId)
	if err != nil {
		return nil, fmt.Errorf("could not load cc install package: %w", err)
	}
	return &lb.GetInstalledChaincodePackageResult{ChaincodeInstallPackage: b}, nil
}

func (l *Lifecycle) approveChaincodeDefinitionForMyOrg(c call, in *lb.ApproveChaincodeDefinitionForMyOrgArgs) (*lb.ApproveChaincodeDefinitionForMyOrgResult, error) {
	if err := validateInput(in.Name, in.Version, in.Collections, c.cc, c.Simulator); err != nil {
		return nil, fmt.Errorf("error validating chaincode definition: %w", err)
	}
	var packageID string
	if lp, ok := in.GetSource().GetType().(*lb.ChaincodeSource_LocalPackage); ok {
		packageID = lp.LocalPackage.GetPackageId()
	}
	cd := &chaincodeDefinition{
		Sequence:        in.Sequence,
		EndorsementInfo: &lb.ChaincodeEndorsementInfo{Version: in.Version, EndorsementPlugin: in.EndorsementPlugin, InitRequired: in.InitRequired},
		ValidationInfo:  &lb.ChaincodeValidationInfo{ValidationPlugin: in.ValidationPlugin, ValidationParameter: in.ValidationParameter},
		Collections:     &pb.CollectionConfigPackage{Config: in.GetCollections().GetConfig()},
	}
	if err := l.approveForOrg(c.ChannelID, in.Name, c.cc, cd, packageID, c.Simulator); err != nil {
		return nil, err
	}
	l.log.Info("endorsed chaincode approval", "channel", c.ChannelID, "chaincode", in.Name, "sequence", in.Sequence, "package_id", packageID)
	return &lb.ApproveChaincodeDefinitionForMyOrgResult{}, nil
}

func (l *Lifecycle) queryApprovedChaincodeDefinition(c call, in *lb.QueryApprovedChaincodeDefinitionArgs) (*lb.QueryApprovedChaincodeDefinitionResult, error) {
	name, sequence, sim := in.Name, in.Sequence, c.Simulator
	org := orgState{sim, ImplicitCollection(l.localMSP.ID())}
	requested := sequence
	if requested == 0 {
		current, err := readInt64(namespacesPrefix, name, "Sequence", publicState{sim})
		if err != nil {
			return nil, fmt.Errorf("could not get current sequence: %w", err)
		}
		requested = current
		_, ok, err := readMetadata(namespacesPrefix, fmt.Sprintf("%s#%d", name, current+1), org)
		if err != nil {
			return nil, fmt.Errorf("could not deserialize namespace metadata for next sequence %d: %w", current+1, err)
		}
		if ok {
			requested = current + 1
		}
	}
	priv := fmt.Sprintf("%s#%d", name, requested)
	notFound := fmt.Errorf("could not fetch approved chaincode definition (name: '%s', sequence: '%d') on channel '%s'", name, sequence, c.ChannelID)
	md, ok, err := readMetadata(namespacesPrefix, priv, org)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound
	}
	if md.Datatype != typeParameters {
		return nil, fmt.Errorf("not a chaincode parameters type: %s", md.Datatype)
	}
	cd := &chaincodeDefinition{EndorsementInfo: &lb.ChaincodeEndorsementInfo{}, ValidationInfo: &lb.ChaincodeValidationInfo{}, Collections: &pb.CollectionConfigPackage{}}
	if err := readParameterFields(namespacesPrefix, priv, org, cd); err != nil {
		return nil, err
	}
	smd, ok, err := readMetadata(sourcesPrefix, priv, org)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound
	}
	if smd.Datatype != typeLocalPackage {
		return nil, fmt.Errorf("not a chaincode local package type: %s", smd.Datatype)
	}
	id, err := readString(sourcesPrefix, priv, "PackageID", org)
	if err != nil {
		return nil, err
	}
	src := &lb.ChaincodeSource{Type: &lb.ChaincodeSource_Unavailable_{Unavailable: &lb.ChaincodeSource_Unavailable{}}}
	if id != "" {
		src = &lb.ChaincodeSource{Type: &lb.ChaincodeSource_LocalPackage{LocalPackage: &lb.ChaincodeSource_Local{PackageId: id}}}
	}
	return &lb.QueryApprovedChaincodeDefinitionResult{
		Sequence: requested, Version: cd.EndorsementInfo.Version, EndorsementPlugin: cd.EndorsementInfo.EndorsementPlugin,
		ValidationPlugin: cd.ValidationInfo.ValidationPlugin, ValidationParameter: cd.ValidationInfo.ValidationParameter,
		InitRequired: cd.EndorsementInfo.InitRequired, Collections: cd.Collections, Source: src,
	}, nil
}

func (l *Lifecycle) checkCommitReadiness(c call, in *lb.CheckCommitReadinessArgs) (*lb.CheckCommitReadinessResult, error) {
	cd := &chaincodeDefinition{
		Sequence:        in.Sequence,
		EndorsementInfo: &lb.ChaincodeEndorsementInfo{Version: in.Version, EndorsementPlugin: in.EndorsementPlugin, InitRequired: in.InitRequired},
		ValidationInfo:  &lb.ChaincodeValidationInfo{ValidationPlugin: in.ValidationPlugin, ValidationParameter: in.ValidationParameter},
		Collections:     in.Collections,
	}
	approvals, err := commitReadiness(c.ChannelID, in.Name, c.cc, cd, c.Simulator)
	if err != nil {
		return nil, err
	}
	return &lb.CheckCommitReadinessResult{Approvals: approvals}, nil
}

func (l *Lifecycle) commitChaincodeDefinition(c call, in *lb.CommitChaincodeDefinitionArgs) (*lb.CommitChaincodeDefinitionResult, error) {
	if err := validateInput(in.Name, in.Version, in.Collections, c.cc, c.Simulator); err != nil {
		return nil, fmt.Errorf("error validating chaincode definition: %w", err)
	}
	cd := &chaincodeDefinition{
		Sequence:        in.Sequence,
		EndorsementInfo: &lb.ChaincodeEndorsementInfo{Version: in.Version, EndorsementPlugin: in.EndorsementPlugin, InitRequired: in.InitRequired},
		ValidationInfo:  &lb.ChaincodeValidationInfo{ValidationPlugin: in.ValidationPlugin, ValidationParameter: in.ValidationParameter},
		Collections:     in.Collections,
	}
	if _, err := l.commit(c.ChannelID, in.Name, c.cc, cd, c.Simulator); err != nil {
		return nil, err
	}
	l.log.Info("endorsed chaincode commit", "channel", c.ChannelID, "chaincode", in.Name, "sequence", in.Sequence)
	return &lb.CommitChaincodeDefinitionResult{}, nil
}

func (l *Lifecycle) queryChaincodeDefinition(c call, in *lb.QueryChaincodeDefinitionArgs) (*lb.QueryChaincodeDefinitionResult, error) {
	cd, ok, err := readDefinition(in.Name, publicState{c.Simulator})
	if err != nil {
		return nil, fmt.Errorf("could not fetch metadata for namespace %s: %w", in.Name, err)
	}
	if !ok {
		return nil, fmt.Errorf("namespace %s is not defined: %w", in.Name, errNotFound)
	}
	approvals, err := orgApprovals(in.Name, cd, c.cc.OrgMSPIDs(), c.Simulator)
	if err != nil {
		return nil, err
	}
	return &lb.QueryChaincodeDefinitionResult{
		Sequence: cd.Sequence, Version: cd.EndorsementInfo.Version, EndorsementPlugin: cd.EndorsementInfo.EndorsementPlugin,
		ValidationPlugin: cd.ValidationInfo.ValidationPlugin, ValidationParameter: cd.ValidationInfo.ValidationParameter,
		InitRequired: cd.EndorsementInfo.InitRequired, Collections: cd.Collections, Approvals: approvals,
	}, nil
}

func (l *Lifecycle) queryChaincodeDefinitions(c call, _ *lb.QueryChaincodeDefinitionsArgs) (*lb.QueryChaincodeDefinitionsResult, error) {
	it, err := c.Simulator.GetStateRange(Namespace, definitionsStart, definitionsEnd)
	if err != nil {
		return nil, fmt.Errorf("could not query namespace metadata: %w", err)
	}
	names, err := definitionNames(it)
	if err != nil {
		return nil, err
	}
	res := &lb.QueryChaincodeDefinitionsResult{ChaincodeDefinitions: []*lb.QueryChaincodeDefinitionsResult_ChaincodeDefinition{}}
	for _, name := range names {
		cd, ok, err := readDefinition(name, publicState{c.Simulator})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		res.ChaincodeDefinitions = append(res.ChaincodeDefinitions, &lb.QueryChaincodeDefinitionsResult_ChaincodeDefinition{
			Name: name, Sequence: cd.Sequence, Version: cd.EndorsementInfo.Version, EndorsementPlugin: cd.EndorsementInfo.EndorsementPlugin,
			ValidationPlugin: cd.ValidationInfo.ValidationPlugin, ValidationParameter: cd.ValidationInfo.ValidationParameter,
			InitRequired: cd.EndorsementInfo.InitRequired, Collections: cd.Collections,
		})
	}
	return res, nil
}
