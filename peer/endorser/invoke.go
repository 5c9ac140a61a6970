package endorser

import (
	"context"
	"errors"
	"fmt"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/peer/acl"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/protos"
)

// InvokeChaincode runs a chaincode that a chaincode calls (the shim's
// InvokeChaincode); it implements chaincode.ChaincodeInvoker.
//
// As in Fabric:
//   - the caller's signed proposal must satisfy the target channel's
//     peer/ChaincodeToChaincode ACL (by default its Writers policy) to call
//     user chaincode; a system chaincode is allowed and checks the ACL of the
//     function called itself, as it does for a proposal;
//   - on the caller's channel the callee runs in the same transaction and
//     simulator: its reads and writes land in its own namespace of the
//     endorsed read/write set, with a read of its definition's sequence;
//   - on another channel the callee runs on a simulator of that channel
//     whose results are discarded: it can only be queried, and its writes
//     have no effect;
//   - the callee's chaincode event is dropped: a transaction carries only
//     the event of the chaincode the proposal invoked;
//   - the callee's definition's InitRequired is enforced on the simulator
//     the callee runs on (checkInit): a callee not yet initialized for its
//     version is refused.
func (e *Endorser) InvokeChaincode(ctx context.Context, caller *chaincode.TxContext, name, channel string, input *pb.ChaincodeInput) (*pb.Response, error) {
	if caller.ChannelID == "" || caller.Proposal == nil {
		return nil, fmt.Errorf("chaincode %s can be called only from a transaction on a channel", name)
	}
	if channel == "" {
		channel = caller.ChannelID
	}
	ch, err := e.channels.Channel(channel)
	if err != nil {
		return nil, fmt.Errorf("call chaincode %s on channel %s: %w", name, channel, err)
	}
	scc, isSystem := e.system[name]
	if !isSystem {
		// On the caller's channel the proposal's signature was verified when
		// it was received; on another channel the signer is checked afresh by
		// that channel's MSPs.
		set := channelconfig.NewSignatureSet([]protos.SignedData{caller.Proposal.SignedData()})
		if channel == caller.ChannelID {
			set.MarkVerified(0)
		}
		if err := acl.Check(ch.Config, channel, acl.PeerChaincodeToChaincode, set, caller.Proposal.SignatureHeader.Creator); err != nil {
			return nil, fmt.Errorf("chaincode %s may not call chaincode %s (transaction %s): %w", caller.Namespace, name, caller.TxID, err)
		}
	}

	var txc *chaincode.TxContext
	if channel == caller.ChannelID {
		txc = caller.Callee(name)
	} else {
		creator, err := ch.Config.MSPs().DeserializeIdentity(caller.Proposal.SignatureHeader.Creator)
		if err != nil {
			return nil, fmt.Errorf("access denied: the creator of transaction %s is not an identity of channel %s: %w", caller.TxID, channel, err)
		}
		sim := ch.Ledger.NewSimulator(caller.TxID)
		defer sim.Done() // results discarded: a call to another channel is a query
		txc = &chaincode.TxContext{
			ChannelID: channel, TxID: caller.TxID, SignedProposal: caller.SignedProposal, Proposal: caller.Proposal,
			Creator: creator, Simulator: sim, Transient: caller.Transient, Namespace: name,
			History: historyOf(ch.Ledger), Invoker: e, ApplicationCapabilities: appCapabilities(ch.Config),
			Collection: collectionAccess(sim),
		}
	}

	if isSystem {
		resp, _ := scc.Invoke(ctx, txc, input)
		if resp == nil {
			return nil, fmt.Errorf("system chaincode %s returned no response", name)
		}
		return resp, nil
	}
	pkgID, def, err := e.resolve(channel, name, ch.Definitions, ch.Ledger.CommittedState(), txc.Simulator)
	if err != nil {
		return nil, err
	}
	if err := checkInit(name, def, txc.Simulator, input); err != nil {
		return nil, fmt.Errorf("invalid invocation: %w", err)
	}
	if e.runtime == nil {
		return nil, errors.New("this peer runs no user chaincode (no chaincode runtime configured)")
	}
	resp, _, err := e.runtime.Execute(ctx, pkgID, txc, input)
	return resp, err
}

// historyOf returns the channel's history index, or nil when its ledger
// keeps none.
func historyOf(l Ledger) chaincode.HistoryReader {
	if h, ok := l.(chaincode.HistoryReader); ok {
		return h
	}
	return nil
}
