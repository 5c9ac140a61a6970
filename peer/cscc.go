package peer

import (
	"context"
	"fmt"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer/acl"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/protos"
)

// cscc is the configuration system chaincode, with Fabric's names and
// arguments: JoinChain (admins of the peer's organisation), GetChannels
// (members of the peer's organisation), GetConfigBlock and GetChannelConfig
// (the channel's ACLs cscc/GetConfigBlock and cscc/GetChannelConfig, by
// default its Readers; args[1] is the channel).
type cscc struct {
	node *Node
}

func (c *cscc) Name() string { return "cscc" }

const csccFunctions = "JoinChain, GetChannels, GetConfigBlock or GetChannelConfig"

func (c *cscc) Invoke(_ context.Context, txc *chaincode.TxContext, input *pb.ChaincodeInput) (*pb.Response, *pb.ChaincodeEvent) {
	args := input.GetArgs()
	if len(args) == 0 {
		return errorResponse(400, "cscc: no function given (want %s)", csccFunctions), nil
	}
	switch fn := string(args[0]); fn {
	case "JoinChain":
		if len(args) < 2 || len(args[1]) == 0 {
			return errorResponse(400, "cscc JoinChain: missing the channel's genesis block"), nil
		}
		if err := c.checkAdmin(txc); err != nil {
			return errorResponse(403, "cscc JoinChain: %v", err), nil
		}
		id, err := c.node.joinChannel(args[1])
		if err != nil {
			return errorResponse(500, "cscc JoinChain: %v", err), nil
		}
		c.node.log.Info("joined channel", "channel", id)
		return okResponse(nil), nil
	case "GetChannels":
		if err := c.checkMember(txc); err != nil {
			return errorResponse(403, "cscc GetChannels: %v", err), nil
		}
		resp := &pb.ChannelQueryResponse{}
		for _, id := range c.node.channelIDs() {
			resp.Channels = append(resp.Channels, &pb.ChannelInfo{ChannelId: id})
		}
		return okResponse(protos.Marshal(resp)), nil
	case "GetConfigBlock", "GetChannelConfig":
		if len(args) < 2 || len(args[1]) == 0 {
			return errorResponse(400, "cscc %s: missing the channel name", fn), nil
		}
		channel := string(args[1])
		ch, err := c.node.channel(channel)
		if err != nil {
			return errorResponse(404, "cscc %s: %v", fn, err), nil
		}
		resource := acl.CSCCGetConfigBlock
		if fn == "GetChannelConfig" {
			resource = acl.CSCCGetChannelConfig
		}
		if err := checkSCCACL(c.node.channelConfig, txc, channel, resource); err != nil {
			return errorResponse(403, "cscc %s: %v", fn, err), nil
		}
		if fn == "GetChannelConfig" {
			return okResponse(protos.Marshal(ch.bundle.Load().Config())), nil
		}
		b, err := ch.configBlock()
		if err != nil {
			return errorResponse(500, "cscc GetConfigBlock on %s: %v", channel, err), nil
		}
		return okResponse(protos.Marshal(b)), nil
	default:
		return errorResponse(400, "cscc: unknown function %q (want %s)", fn, csccFunctions), nil
	}
}

// localIdentity returns the proposal's creator as an identity of the peer's
// own MSP, validated.
func (c *cscc) localIdentity(txc *chaincode.TxContext) (*msp.Identity, error) {
	local := c.node.localMSP
	if txc.Creator != nil && txc.ChannelID == "" {
		return txc.Creator, nil // checked by the endorser with the local MSP
	}
	if txc.Proposal == nil {
		return nil, errNoCreator
	}
	id, err := local.DeserializeIdentity(txc.Proposal.SignatureHeader.Creator)
	if err != nil {
		return nil, fmt.Errorf("the creator is not an identity of this peer's MSP %s: %w", local.ID(), err)
	}
	if err := local.Validate(id); err != nil {
		return nil, fmt.Errorf("the creator %s is not valid in this peer's MSP %s: %w", id, local.ID(), err)
	}
	return id, nil
}

// checkAdmin requires the proposal's creator to be an admin of the peer's MSP
// (Fabric's cscc/JoinChain).
func (c *cscc) checkAdmin(txc *chaincode.TxContext) error {
	local := c.node.localMSP
	id := txc.Creator
	if id == nil {
		if txc.Proposal == nil {
			return errNoCreator
		}
		var err error
		if id, err = local.DeserializeIdentity(txc.Proposal.SignatureHeader.Creator); err != nil {
			return err
		}
	}
	admin := &mspproto.MSPPrincipal{
		PrincipalClassification: mspproto.MSPPrincipal_ROLE,
		Principal:               protos.Marshal(&mspproto.MSPRole{MspIdentifier: local.ID(), Role: mspproto.MSPRole_ADMIN}),
	}
	return local.SatisfiesPrincipal(id, admin)
}

// checkMember requires the proposal's creator to be a member of the peer's
// MSP (Fabric's cscc/GetChannels): on a channel, another organisation's
// member may not list the channels this peer has joined.
func (c *cscc) checkMember(txc *chaincode.TxContext) error {
	_, err := c.localIdentity(txc)
	return err
}
