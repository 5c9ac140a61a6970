package gateway

import (
	"context"
	"errors"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/ledger"
	"github.com/weft-ledger/weft/peer/acl"
	"github.com/weft-ledger/weft/protos"
)

// CommitStatus waits until the transaction is committed on the channel and
// returns its validation code and block number.
func (s *Server) CommitStatus(ctx context.Context, signed *gwpb.SignedCommitStatusRequest) (*gwpb.CommitStatusResponse, error) {
	req := &gwpb.CommitStatusRequest{}
	if len(signed.GetRequest()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "a commit status request is required")
	}
	if err := proto.Unmarshal(signed.GetRequest(), req); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid commit status request: %v", err)
	}
	if req.TransactionId == "" {
		return nil, status.Error(codes.InvalidArgument, "commit status request names no transaction_id")
	}
	ch, err := s.channel(req.ChannelId)
	if err != nil {
		return nil, err
	}
	if err := checkSignedRequest(ch, req.ChannelId, acl.GatewayCommitStatus, signed.GetRequest(), req.Identity, signed.GetSignature()); err != nil {
		return nil, err
	}
	// Register before looking in the ledger so a commit in between is not missed.
	wait, cancel := s.cfg.Notifier.WaitForTx(req.ChannelId, req.TransactionId)
	defer cancel()
	b, err := ch.Ledger.BlockByTxID(req.TransactionId)
	switch {
	case err == nil:
		if st, ok := txStatusInBlock(b, req.TransactionId); ok {
			return &gwpb.CommitStatusResponse{Result: st.Code, BlockNumber: st.BlockNumber}, nil
		}
	case errors.Is(err, ledger.ErrTxNotFound), errors.Is(err, ledger.ErrBlockNotFound):
		// not committed yet: wait below
	default:
		return nil, status.Errorf(codes.Unavailable, "look up transaction %s in the ledger of channel %s: %v", req.TransactionId, req.ChannelId, err)
	}
	select {
	case st, ok := <-wait:
		if !ok {
			return nil, status.Error(codes.Unavailable, "gateway is shutting down")
		}
		return &gwpb.CommitStatusResponse{Result: st.Code, BlockNumber: st.BlockNumber}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// txStatusInBlock finds txID's validation code in b.
func txStatusInBlock(b *cb.Block, txID string) (TxStatus, bool) {
	flags := protos.TxFilter(b)
	for i, raw := range b.GetData().GetData() {
		if envelopeTxID(raw) == txID {
			return TxStatus{TxID: txID, BlockNumber: b.GetHeader().GetNumber(), Code: pb.TxValidationCode(flags[i])}, true
		}
	}
	return TxStatus{}, false
}

// ChaincodeEvents streams, block by block, the events the chaincode emitted in
// valid transactions, from the requested start position on, including blocks
// committed while the stream is open. Blocks without matching events are
// skipped.
func (s *Server) ChaincodeEvents(signed *gwpb.SignedChaincodeEventsRequest, stream gwpb.Gateway_ChaincodeEventsServer) error {
	req := &gwpb.ChaincodeEventsRequest{}
	if len(signed.GetRequest()) == 0 {
		return status.Error(codes.InvalidArgument, "a chaincode events request is required")
	}
	if err := proto.Unmarshal(signed.GetRequest(), req); err != nil {
		return status.Errorf(codes.InvalidArgument, "invalid chaincode events request: %v", err)
	}
	if req.ChaincodeId == "" {
		return status.Error(codes.InvalidArgument, "chaincode events request names no chaincode_id")
	}
	ch, err := s.channel(req.ChannelId)
	if err != nil {
		return err
	}
	if err := checkSignedRequest(ch, req.ChannelId, acl.GatewayChaincodeEvents, signed.GetRequest(), req.Identity, signed.GetSignature()); err != nil {
		return err
	}
	requester := protos.SignedData{Data: signed.GetRequest(), Identity: req.Identity, Signature: signed.GetSignature()}
	sequence := configSequence(ch.Config)
	ctx := stream.Context()
	sub := s.cfg.Notifier.SubscribeBlocks(req.ChannelId)
	defer sub.Close()

	next, err := eventsStartBlock(ch.Ledger, req)
	if err != nil {
		return err
	}
	skipThrough := ""
	if req.AfterTransactionId != "" {
		if b, err := ch.Ledger.BlockByTxID(req.AfterTransactionId); err == nil && b.GetHeader().GetNumber() == next {
			skipThrough = req.AfterTransactionId
		}
	}
	s.log.Debug("chaincode events stream opened", "channel", req.ChannelId, "chaincode", req.ChaincodeId, "start_block", next)
	for {
		for next < ch.Ledger.Height() {
			b, err := ch.Ledger.Block(next)
			if err != nil {
				return status.Errorf(codes.Aborted, "read block %d of channel %s: %v", next, req.ChannelId, err)
			}
			// A config block changes who may read events: the stream goes on
			// only if the requester satisfies the config it carries (a
			// Weft addition; Fabric's gateway checks once).
			if bundle := newerConfig(b, sequence); bundle != nil {
				if err := authorize(BundleACL(bundle), req.ChannelId, acl.GatewayChaincodeEvents, requester); err != nil {
					s.log.Warn("chaincode events stream stopped at a config block", "channel", req.ChannelId, "block", next, "reason", err.Error())
					return status.Errorf(codes.PermissionDenied, "config sequence %d of block %d: %v", bundle.Sequence(), next, err)
				}
				sequence = bundle.Sequence()
			}
			events := chaincodeEvents(b, req.ChaincodeId, skipThrough)
			skipThrough = ""
			if len(events) > 0 {
				if err := stream.Send(&gwpb.ChaincodeEventsResponse{Events: events, BlockNumber: next}); err != nil {
					return err
				}
			}
			next++
		}
		select {
		case <-sub.Committed():
		case <-sub.Done():
			return status.Error(codes.Unavailable, "gateway is shutting down")
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// eventsStartBlock resolves the start of a chaincode events stream: the block
// holding after_transaction_id when it is known, else start_position (next
// commit when unset).
func eventsStartBlock(ledger BlockReader, req *gwpb.ChaincodeEventsRequest) (uint64, error) {
	if req.AfterTransactionId != "" {
		if b, err := ledger.BlockByTxID(req.AfterTransactionId); err == nil {
			return b.GetHeader().GetNumber(), nil
		}
	}
	switch t := req.GetStartPosition().GetType().(type) {
	case nil, *ab.SeekPosition_NextCommit:
		return ledger.Height(), nil
	case *ab.SeekPosition_Specified:
		return t.Specified.GetNumber(), nil
	case *ab.SeekPosition_Oldest:
		return 0, nil
	case *ab.SeekPosition_Newest:
		if h := ledger.Height(); h > 0 {
			return h - 1, nil
		}
		return 0, nil
	default:
		return 0, status.Errorf(codes.InvalidArgument, "invalid start position type: %T", t)
	}
}

// chaincodeEvents returns the events of chaincode from b's valid endorser
// transactions, in transaction order. When skipThrough is set, transactions up
// to and including that one are ignored.
func chaincodeEvents(b *cb.Block, chaincode, skipThrough string) []*pb.ChaincodeEvent {
	flags := protos.TxFilter(b)
	skipping := skipThrough != ""
	var out []*pb.ChaincodeEvent
	for i, raw := range b.GetData().GetData() {
		env, err := protos.UnmarshalEnvelope(raw)
		if err != nil {
			continue
		}
		if skipping {
			if env.ChannelHeader.TxId == skipThrough {
				skipping = false
			}
			continue
		}
		if pb.TxValidationCode(flags[i]) != pb.TxValidationCode_VALID {
			continue
		}
		if cb.HeaderType(env.ChannelHeader.Type) != cb.HeaderType_ENDORSER_TRANSACTION {
			continue
		}
		tx, err := protos.ParseEndorserTx(env)
		if err != nil || len(tx.ChaincodeAction.Events) == 0 {
			continue
		}
		ev := &pb.ChaincodeEvent{}
		if err := proto.Unmarshal(tx.ChaincodeAction.Events, ev); err != nil || ev.ChaincodeId != chaincode {
			continue
		}
		out = append(out, ev)
	}
	return out
}
