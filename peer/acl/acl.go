// Package acl decides the peer's channel access control lists: which channel
// policy guards each resource Fabric names (peer/Propose, qscc/GetChainInfo,
// event/Block, ...) and whether a signed request satisfies it.
//
// The policy of a resource is the one the channel config's ACLs value
// (/Channel/Application/ACLs) assigns it, read from the config in force, so a
// config update that changes an ACL takes effect with the block that carries
// it; when the ACLs do not name the resource, Fabric v2.5's default applies
// (Defaults). A refusal is a *DeniedError naming the channel, the resource,
// the policy and the identity that failed it, and why.
//
// The peer-local resources Fabric keeps out of channel ACLs (installing
// chaincode, joining channels, listing them, this organisation's approvals)
// are not here: their checks use the peer's own MSP. `_lifecycle`'s channel
// functions are checked by peer/lifecycle with the same rule.
package acl

import (
	"fmt"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// The channel resources of Fabric v2.5 (core/aclmgmt/resources) that Weft serves.
const (
	PeerPropose              = "peer/Propose"              // a proposal to user chaincode
	PeerChaincodeToChaincode = "peer/ChaincodeToChaincode" // user chaincode called by chaincode

	QSCCGetChainInfo       = "qscc/GetChainInfo"
	QSCCGetBlockByNumber   = "qscc/GetBlockByNumber"
	QSCCGetBlockByHash     = "qscc/GetBlockByHash"
	QSCCGetTransactionByID = "qscc/GetTransactionByID"
	QSCCGetBlockByTxID     = "qscc/GetBlockByTxID"

	CSCCGetConfigBlock   = "cscc/GetConfigBlock"
	CSCCGetChannelConfig = "cscc/GetChannelConfig"

	EventBlock         = "event/Block"         // Deliver and DeliverWithPrivateData
	EventFilteredBlock = "event/FilteredBlock" // DeliverFiltered

	GatewayCommitStatus    = "gateway/CommitStatus"
	GatewayChaincodeEvents = "gateway/ChaincodeEvents"
)

// The channel policies Fabric's defaults refer to.
const (
	ChannelReaders = "/Channel/Application/Readers"
	ChannelWriters = "/Channel/Application/Writers"
)

// Defaults are Fabric v2.5's default policies of the channel resources
// (core/aclmgmt's default provider), applied when the channel's ACLs do not
// name a resource. The `_lifecycle` entries are peer/lifecycle's; lscc is
// listed for completeness (Weft has no lscc: its functions are refused).
var Defaults = map[string]string{
	PeerPropose:              ChannelWriters,
	PeerChaincodeToChaincode: ChannelWriters,

	QSCCGetChainInfo:       ChannelReaders,
	QSCCGetBlockByNumber:   ChannelReaders,
	QSCCGetBlockByHash:     ChannelReaders,
	QSCCGetTransactionByID: ChannelReaders,
	QSCCGetBlockByTxID:     ChannelReaders,

	CSCCGetConfigBlock:   ChannelReaders,
	CSCCGetChannelConfig: ChannelReaders,

	EventBlock:         ChannelReaders,
	EventFilteredBlock: ChannelReaders,

	GatewayCommitStatus:    ChannelReaders,
	GatewayChaincodeEvents: ChannelReaders,

	"_lifecycle/CommitChaincodeDefinition": ChannelWriters,
	"_lifecycle/QueryChaincodeDefinition":  ChannelWriters,
	"_lifecycle/QueryChaincodeDefinitions": ChannelWriters,
	"_lifecycle/CheckCommitReadiness":      ChannelWriters,

	"lscc/ChaincodeExists":           ChannelReaders,
	"lscc/GetDeploymentSpec":         ChannelReaders,
	"lscc/GetChaincodeData":          ChannelReaders,
	"lscc/GetInstantiatedChaincodes": ChannelReaders,
	"lscc/GetCollectionsConfig":      ChannelReaders,
}

// Config is a channel configuration; *channelconfig.Bundle satisfies it.
type Config interface {
	// ACLPolicyRef returns the absolute policy path the channel's ACLs
	// assign to resource, false when they assign none.
	ACLPolicyRef(resource string) (string, bool)
	Policy(path string) (channelconfig.Policy, error)
}

// PolicyPath returns the path of the policy guarding resource on the channel
// of cfg: its ACLs' entry, else the default.
func PolicyPath(cfg Config, resource string) (string, error) {
	if ref, ok := cfg.ACLPolicyRef(resource); ok {
		return ref, nil
	}
	if def, ok := Defaults[resource]; ok {
		return def, nil
	}
	return "", fmt.Errorf("resource %s has no policy: the channel's ACLs do not name it and Fabric defines no default for it", resource)
}

// Policy returns the policy guarding resource and its path. The error names
// the resource and the path when the channel has no such policy.
func Policy(cfg Config, resource string) (string, channelconfig.Policy, error) {
	path, err := PolicyPath(cfg, resource)
	if err != nil {
		return "", nil, err
	}
	pol, err := cfg.Policy(path)
	if err != nil {
		return path, nil, fmt.Errorf("resource %s is guarded by policy %s, which the channel does not define: %w", resource, path, err)
	}
	return path, pol, nil
}

// DeniedError is a request refused by a channel ACL.
type DeniedError struct {
	Channel  string
	Resource string // e.g. qscc/GetChainInfo
	Policy   string // e.g. /Channel/Application/Readers
	Identity string // the requester, as msp.Identity names it
	Err      error  // the policy's verdict, or why the policy could not be found
}

func (e *DeniedError) Error() string {
	if e.Policy == "" {
		return fmt.Sprintf("access denied: %s on channel %s for %s: %v", e.Resource, e.Channel, e.Identity, e.Err)
	}
	return fmt.Sprintf("access denied: %s on channel %s requires policy %s, which %s does not satisfy: %v",
		e.Resource, e.Channel, e.Policy, e.Identity, e.Err)
}

func (e *DeniedError) Unwrap() error { return e.Err }

// Check evaluates set (one signer's signed request: a proposal or an
// envelope) against the policy guarding resource on channel. The error is a
// *DeniedError.
func Check(cfg Config, channel, resource string, set *channelconfig.SignatureSet, signer []byte) error {
	path, pol, err := Policy(cfg, resource)
	if err == nil {
		err = set.Evaluate(pol)
	}
	if err != nil {
		return &DeniedError{Channel: channel, Resource: resource, Policy: path, Identity: Describe(signer), Err: err}
	}
	return nil
}

// CheckSigned is Check over one signed request whose signature has not been
// verified yet.
func CheckSigned(cfg Config, channel, resource string, sd protos.SignedData) error {
	return Check(cfg, channel, resource, channelconfig.NewSignatureSet([]protos.SignedData{sd}), sd.Identity)
}

// Denied wraps a policy verdict into a *DeniedError, for callers that
// evaluate the policy themselves.
func Denied(channel, resource, policy string, signer []byte, err error) error {
	return &DeniedError{Channel: channel, Resource: resource, Policy: policy, Identity: Describe(signer), Err: err}
}

// Describe names a serialized identity for an error: its subject and MSP, or
// why it cannot be read.
func Describe(serialized []byte) string {
	id, err := msp.ParseSerializedIdentity(serialized)
	if err != nil {
		return fmt.Sprintf("an unreadable identity (%v)", err)
	}
	return id.String()
}
