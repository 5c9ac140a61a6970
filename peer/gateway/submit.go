package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Submit sends the signed transaction to one of the channel's orderers, trying
// them in random order until one accepts it. A client error from an orderer
// (status 4xx) is final; other failures move on to the next orderer.
func (s *Server) Submit(ctx context.Context, req *gwpb.SubmitRequest) (*gwpb.SubmitResponse, error) {
	env := req.GetPreparedTransaction()
	if env == nil {
		return nil, status.Error(codes.InvalidArgument, "a prepared transaction is required")
	}
	if len(env.Signature) == 0 {
		return nil, status.Error(codes.InvalidArgument, "prepared transaction must be signed")
	}
	ch, err := s.channel(req.GetChannelId())
	if err != nil {
		return nil, err
	}
	if len(ch.Orderers) == 0 {
		return nil, status.Errorf(codes.Unavailable, "channel %s has no orderer endpoints in its config", req.GetChannelId())
	}
	log := s.log.With("channel", req.GetChannelId(), "txid", req.GetTransactionId())
	var details []*gwpb.ErrorDetail
	for _, i := range rand.Perm(len(ch.Orderers)) {
		o := ch.Orderers[i]
		resp, err := s.broadcast(ctx, o, env)
		if err != nil {
			if ctx.Err() != nil {
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			log.Warn("broadcast to orderer failed", "orderer", o.Address, "err", err.Error())
			details = append(details, &gwpb.ErrorDetail{Address: o.Address, MspId: o.MSPID, Message: err.Error()})
			continue
		}
		if resp.Status == cb.Status_SUCCESS {
			log.Debug("transaction accepted by orderer", "orderer", o.Address)
			return &gwpb.SubmitResponse{}, nil
		}
		msg := fmt.Sprintf("received unsuccessful response from orderer: status=%s, info=%s", resp.Status, resp.Info)
		log.Warn("orderer rejected transaction", "orderer", o.Address, "status", resp.Status.String(), "info", resp.Info)
		detail := &gwpb.ErrorDetail{Address: o.Address, MspId: o.MSPID, Message: msg}
		if resp.Status >= 400 && resp.Status < 500 {
			return nil, rpcError(codes.Aborted, msg, detail)
		}
		details = append(details, detail)
	}
	return nil, rpcError(codes.Unavailable, "no orderers could successfully process transaction", details...)
}

func (s *Server) broadcast(ctx context.Context, o Orderer, env *cb.Envelope) (*ab.BroadcastResponse, error) {
	conn, err := s.conns.get(o.Address, o.TLSRoots)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.BroadcastTimeout)
	defer cancel()
	stream, err := ab.NewAtomicBroadcastClient(conn).Broadcast(ctx)
	if err != nil {
		return nil, fmt.Errorf("open broadcast stream to %s: %w", o.Address, err)
	}
	if err := stream.Send(env); err != nil {
		return nil, fmt.Errorf("send to %s: %w", o.Address, err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", o.Address, err)
	}
	_ = stream.CloseSend()
	return resp, nil
}
