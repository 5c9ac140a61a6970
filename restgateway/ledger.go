package restgateway

import (
	"context"
	"encoding/hex"
	"net/http"
	"strconv"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/restgateway/blockjson"
)

// query evaluates a function of qscc, the ledger query system chaincode,
// through the peer's Gateway, signed by the request's wallet identity.
func (s *Server) query(r *http.Request, channel, fn string, args ...string) ([]byte, *Error) {
	signer, e := s.signer(r)
	if e != nil {
		return nil, e
	}
	in := [][]byte{[]byte(fn), []byte(channel)}
	for _, a := range args {
		in = append(in, []byte(a))
	}
	sp, txID, err := protos.NewProposal(signer, channel, "qscc", in, nil)
	if err != nil {
		return nil, apiErr(CodeInternal, "build qscc proposal: %v", err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeouts.Evaluate)
	defer cancel()
	resp, err := s.gw.Evaluate(ctx, &gwpb.EvaluateRequest{TransactionId: txID, ChannelId: channel, ProposedTransaction: sp})
	if err != nil {
		return nil, fromRPC(callQuery, channel, "qscc", err)
	}
	if st := resp.GetResult().GetStatus(); st >= 400 {
		code := CodeUpstreamError
		if st == 404 {
			code = CodeNotFound
		}
		return nil, apiErr(code, "qscc %s on channel %s answered %d: %s", fn, channel, st, resp.GetResult().GetMessage())
	}
	return resp.GetResult().GetPayload(), nil
}

// chainInfo is the answer of GET /v1/channels/{channel}.
type chainInfo struct {
	Channel           string `json:"channel"`
	Height            uint64 `json:"height"`
	CurrentBlockHash  string `json:"currentBlockHash"`  // hex
	PreviousBlockHash string `json:"previousBlockHash"` // hex
}

func (s *Server) handleChainInfo(w http.ResponseWriter, r *http.Request) {
	channel, e := pathChannel(r)
	if e != nil {
		writeError(w, e)
		return
	}
	raw, e := s.query(r, channel, "GetChainInfo")
	if e != nil {
		writeError(w, e)
		return
	}
	info := &cb.BlockchainInfo{}
	if err := proto.Unmarshal(raw, info); err != nil {
		writeError(w, apiErr(CodeUpstreamError, "qscc GetChainInfo returned no common.BlockchainInfo: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, chainInfo{
		Channel: channel, Height: info.Height,
		CurrentBlockHash: hex.EncodeToString(info.CurrentBlockHash), PreviousBlockHash: hex.EncodeToString(info.PreviousBlockHash),
	})
}

func (s *Server) handleBlock(w http.ResponseWriter, r *http.Request) {
	channel, e := pathChannel(r)
	if e != nil {
		writeError(w, e)
		return
	}
	num := r.PathValue("number")
	if _, err := strconv.ParseUint(num, 10, 64); err != nil {
		writeError(w, errorf(CodeBadRequest, "number", "block number %q is not a non-negative integer", num))
		return
	}
	raw, e := s.query(r, channel, "GetBlockByNumber", num)
	if e != nil {
		if e.Code == CodeNotFound {
			e.Message = "block " + num + " of channel " + channel + " does not exist: " + e.Message
		}
		writeError(w, e)
		return
	}
	b, err := blockjson.BlockBytes(raw)
	if err != nil {
		writeError(w, apiErr(CodeUpstreamError, "decode block %s of channel %s: %v", num, channel, err))
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) handleTransaction(w http.ResponseWriter, r *http.Request) {
	channel, e := pathChannel(r)
	if e != nil {
		writeError(w, e)
		return
	}
	txID := r.PathValue("txId")
	raw, e := s.query(r, channel, "GetTransactionByID", txID)
	if e != nil {
		if e.Code == CodeNotFound {
			e.Message = "transaction " + txID + " is not in the ledger of channel " + channel + ": " + e.Message
		}
		writeError(w, e)
		return
	}
	pt := &pb.ProcessedTransaction{}
	if err := proto.Unmarshal(raw, pt); err != nil {
		writeError(w, apiErr(CodeUpstreamError, "qscc GetTransactionByID returned no peer.ProcessedTransaction: %v", err))
		return
	}
	// ProcessedTransaction has no block number: the block holding it tells.
	rawBlock, e := s.query(r, channel, "GetBlockByTxID", txID)
	if e != nil {
		writeError(w, e)
		return
	}
	b, err := protos.UnmarshalBlock(rawBlock)
	if err != nil {
		writeError(w, apiErr(CodeUpstreamError, "qscc GetBlockByTxID returned no common.Block: %v", err))
		return
	}
	tx, err := blockjson.ProcessedTransaction(pt, b.GetHeader().GetNumber())
	if err != nil {
		writeError(w, apiErr(CodeUpstreamError, "decode transaction %s: %v", txID, err))
		return
	}
	writeJSON(w, http.StatusOK, tx)
}
