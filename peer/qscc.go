package peer

import (
	"context"
	"fmt"
	"strconv"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/peer/acl"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/protos"
)

// qscc is the ledger query system chaincode, with Fabric's function names and
// argument layout: args[1] is always the channel name.
type qscc struct {
	blocks func(channelID string) (*committedBlocks, error) // the fully committed view
	// configs returns the current configuration of a channel, whose ACLs
	// (qscc/<function>) qscc checks itself, as Fabric's does, whether or not
	// the proposal names a channel (Fabric's CLI sends none).
	configs func(channelID string) (acl.Config, error)
}

// qsccResources are the ACL resources of qscc's functions.
var qsccResources = map[string]string{
	"GetChainInfo":       acl.QSCCGetChainInfo,
	"GetBlockByNumber":   acl.QSCCGetBlockByNumber,
	"GetBlockByHash":     acl.QSCCGetBlockByHash,
	"GetTransactionByID": acl.QSCCGetTransactionByID,
	"GetBlockByTxID":     acl.QSCCGetBlockByTxID,
}

func (q *qscc) Name() string { return "qscc" }

func (q *qscc) Invoke(_ context.Context, txc *chaincode.TxContext, input *pb.ChaincodeInput) (*pb.Response, *pb.ChaincodeEvent) {
	args := input.GetArgs()
	if len(args) < 2 {
		return errorResponse(400, "qscc: want a function name and a channel name, got %d arguments", len(args)), nil
	}
	fn, channel := string(args[0]), string(args[1])
	if txc.ChannelID != "" && txc.ChannelID != channel {
		return errorResponse(400, "qscc %s: proposal is for channel %s but asks about channel %s", fn, txc.ChannelID, channel), nil
	}
	blocks, err := q.blocks(channel)
	if err != nil {
		return errorResponse(404, "qscc %s: %v", fn, err), nil
	}
	resource, known := qsccResources[fn]
	if !known {
		return errorResponse(400, "qscc: unknown function %q (want GetChainInfo, GetBlockByNumber, GetBlockByHash, GetTransactionByID or GetBlockByTxID)", fn), nil
	}
	if err := checkSCCACL(q.configs, txc, channel, resource); err != nil {
		return errorResponse(403, "qscc %s: %v", fn, err), nil
	}
	arg := func() ([]byte, bool) {
		if len(args) < 3 || len(args[2]) == 0 {
			return nil, false
		}
		return args[2], true
	}
	switch fn {
	case "GetChainInfo":
		return okResponse(protos.Marshal(blocks.Info())), nil
	case "GetBlockByNumber":
		a, ok := arg()
		if !ok {
			return errorResponse(400, "qscc GetBlockByNumber: missing block number"), nil
		}
		n, err := strconv.ParseUint(string(a), 10, 64)
		if err != nil {
			return errorResponse(400, "qscc GetBlockByNumber: block number %q is not a number", a), nil
		}
		b, err := blocks.Block(n)
		if err != nil {
			return errorResponse(404, "qscc GetBlockByNumber %d on %s: %v", n, channel, err), nil
		}
		return okResponse(protos.Marshal(b)), nil
	case "GetBlockByHash":
		a, ok := arg()
		if !ok {
			return errorResponse(400, "qscc GetBlockByHash: missing block hash"), nil
		}
		b, err := blocks.BlockByHash(a)
		if err != nil {
			return errorResponse(404, "qscc GetBlockByHash %x on %s: %v", a, channel, err), nil
		}
		return okResponse(protos.Marshal(b)), nil
	case "GetTransactionByID":
		a, ok := arg()
		if !ok {
			return errorResponse(400, "qscc GetTransactionByID: missing transaction ID"), nil
		}
		tx, err := blocks.TxByID(string(a))
		if err != nil {
			return errorResponse(404, "qscc GetTransactionByID %s on %s: %v", a, channel, err), nil
		}
		return okResponse(protos.Marshal(tx)), nil
	case "GetBlockByTxID":
		a, ok := arg()
		if !ok {
			return errorResponse(400, "qscc GetBlockByTxID: missing transaction ID"), nil
		}
		b, err := blocks.BlockByTxID(string(a))
		if err != nil {
			return errorResponse(404, "qscc GetBlockByTxID %s on %s: %v", a, channel, err), nil
		}
		return okResponse(protos.Marshal(b)), nil
	default:
		return errorResponse(400, "qscc: unknown function %q", fn), nil
	}
}

// checkSCCACL checks a system chaincode call against the ACL resource of the
// channel it is about. On that channel's own proposal the endorser has
// verified the signature with the channel's MSPs; otherwise the policy
// verifies it.
func checkSCCACL(configs func(string) (acl.Config, error), txc *chaincode.TxContext, channel, resource string) error {
	if txc.Proposal == nil {
		return fmt.Errorf("no signed proposal to check against the ACL %s of channel %s", resource, channel)
	}
	cfg, err := configs(channel)
	if err != nil {
		return fmt.Errorf("ACL %s: %w", resource, err)
	}
	set := channelconfig.NewSignatureSet([]protos.SignedData{txc.Proposal.SignedData()})
	if txc.ChannelID == channel && txc.Creator != nil {
		set.MarkVerified(0)
	}
	return acl.Check(cfg, channel, resource, set, txc.Proposal.SignatureHeader.Creator)
}

func okResponse(payload []byte) *pb.Response {
	return &pb.Response{Status: 200, Payload: payload}
}

func errorResponse(status int32, format string, args ...any) *pb.Response {
	return &pb.Response{Status: status, Message: fmt.Sprintf(format, args...)}
}
