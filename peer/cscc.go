package peer

import (
	"context"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/protos"
)

// cscc is the configuration system chaincode: JoinChain and GetChannels, with
// Fabric's names and arguments. Only admins of the peer's own organisation may
// join a channel.
type cscc struct {
	node *Node
}

func (c *cscc) Name() string { return "cscc" }

func (c *cscc) Invoke(_ context.Context, txc *chaincode.TxContext, input *pb.ChaincodeInput) (*pb.Response, *pb.ChaincodeEvent) {
	args := input.GetArgs()
	if len(args) == 0 {
		return errorResponse(400, "cscc: no function given (want JoinChain or GetChannels)"), nil
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
		resp := &pb.ChannelQueryResponse{}
		for _, id := range c.node.channelIDs() {
			resp.Channels = append(resp.Channels, &pb.ChannelInfo{ChannelId: id})
		}
		return okResponse(protos.Marshal(resp)), nil
	default:
		return errorResponse(400, "cscc: unknown function %q (want JoinChain or GetChannels)", fn), nil
	}
}

// checkAdmin requires the proposal's creator to be an admin of the peer's MSP.
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
