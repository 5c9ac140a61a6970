package lifecycle

import (
	"context"
	"fmt"
	"sort"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/protos"
)

var _ chaincode.SystemChaincode = (*Lifecycle)(nil)

// Invoke runs `_lifecycle` as a system chaincode of the peer.
func (l *Lifecycle) Invoke(ctx context.Context, txc *chaincode.TxContext, input *pb.ChaincodeInput) (*pb.Response, *pb.ChaincodeEvent) {
	inv := &Invocation{ChannelID: txc.ChannelID, TxID: txc.TxID}
	switch {
	case txc.Creator != nil:
		inv.Creator = txc.Creator.Serialized
	case txc.Proposal != nil:
		inv.Creator = txc.Proposal.SignatureHeader.GetCreator()
	}
	if txc.Proposal != nil {
		inv.SignedData = []protos.SignedData{txc.Proposal.SignedData()}
	}
	if txc.Simulator != nil {
		sim, ok := txc.Simulator.(TxSimulator)
		if !ok {
			return errResponse(500, fmt.Sprintf("%s needs a simulator that reads private data; %T does not", Namespace, txc.Simulator)), nil
		}
		inv.Simulator = sim
	}
	return l.Call(ctx, inv, input), nil
}

// BundleChannel adapts a channel configuration bundle to ChannelConfig.
type BundleChannel struct{ Bundle *channelconfig.Bundle }

// OrgMSPIDs returns the application organisations' MSP IDs, sorted.
func (b BundleChannel) OrgMSPIDs() []string {
	app := b.Bundle.Application()
	if app == nil {
		return nil
	}
	out := make([]string, 0, len(app.Orgs))
	for id := range app.Orgs {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// HasPolicy reports whether the channel defines the policy at path.
func (b BundleChannel) HasPolicy(path string) bool {
	_, err := b.Bundle.Policy(path)
	return err == nil
}

// CheckPolicy evaluates the policy at path against signed.
func (b BundleChannel) CheckPolicy(path string, signed []protos.SignedData) error {
	p, err := b.Bundle.Policy(path)
	if err != nil {
		return err
	}
	return p.Evaluate(signed)
}

// ACLPolicy returns the policy the channel's ACLs assign to resource, if
// any, as an absolute path (a relative reference names a policy of
// /Channel/Application, as in Fabric).
func (b BundleChannel) ACLPolicy(resource string) (string, bool) {
	return b.Bundle.ACLPolicyRef(resource)
}
