package peer

import (
	"context"
	"fmt"
	"strconv"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/chaincode"
	"github.com/weft-ledger/weft/protos"
)

// qscc is the ledger query system chaincode, with Fabric's function names and
// argument layout: args[1] is always the channel name.
type qscc struct {
	ledgers func(channelID string) (*ledger.Ledger, error)
	// readers returns the Readers policy of a channel; qscc checks it itself
	// when the proposal names no channel (as Fabric's CLI sends it).
	readers func(channelID string) (channelconfig.Policy, error)
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
	l, err := q.ledgers(channel)
	if err != nil {
		return errorResponse(404, "qscc %s: %v", fn, err), nil
	}
	if txc.ChannelID == "" {
		if txc.Proposal == nil {
			return errorResponse(403, "qscc %s: no signed proposal to check against the Readers policy of %s", fn, channel), nil
		}
		pol, err := q.readers(channel)
		if err != nil {
			return errorResponse(500, "qscc %s: %v", fn, err), nil
		}
		if err := pol.Evaluate([]protos.SignedData{txc.Proposal.SignedData()}); err != nil {
			return errorResponse(403, "qscc %s: access denied by %s of channel %s: %v", fn, readersPolicy, channel, err), nil
		}
	}
	blocks := l.Blocks()
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
		return errorResponse(400, "qscc: unknown function %q (want GetChainInfo, GetBlockByNumber, GetBlockByHash, GetTransactionByID or GetBlockByTxID)", fn), nil
	}
}

func okResponse(payload []byte) *pb.Response {
	return &pb.Response{Status: 200, Payload: payload}
}

func errorResponse(status int32, format string, args ...any) *pb.Response {
	return &pb.Response{Status: status, Message: fmt.Sprintf(format, args...)}
}
