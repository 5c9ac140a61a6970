package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/protos"
)

// ErrNotCommitted is returned by WaitForCommit when the transaction ended with a
// validation code other than VALID.
var ErrNotCommitted = errors.New("transaction was not committed as valid")

// Endorse sends one signed proposal to every endorser and returns their responses.
// A response with a status of 400 or more is an error naming the endorser.
func Endorse(ctx context.Context, sp *pb.SignedProposal, endorsers map[string]pb.EndorserClient) ([]*pb.ProposalResponse, error) {
	var out []*pb.ProposalResponse
	for name, e := range endorsers {
		r, err := e.ProcessProposal(ctx, sp)
		if err != nil {
			return nil, fmt.Errorf("endorse on %s: %w", name, err)
		}
		if st := r.GetResponse().GetStatus(); st >= 400 {
			return nil, fmt.Errorf("endorse on %s: chaincode response %d: %s", name, st, r.GetResponse().GetMessage())
		}
		out = append(out, r)
	}
	return out, nil
}

// Broadcast sends one envelope to the ordering service and waits for its answer.
func Broadcast(ctx context.Context, conn grpc.ClientConnInterface, env *cb.Envelope) error {
	stream, err := ab.NewAtomicBroadcastClient(conn).Broadcast(ctx)
	if err != nil {
		return fmt.Errorf("open broadcast stream: %w", err)
	}
	if err := stream.Send(env); err != nil {
		return fmt.Errorf("send to orderer: %w", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("receive orderer answer: %w", err)
	}
	_ = stream.CloseSend()
	if resp.Status != cb.Status_SUCCESS {
		return fmt.Errorf("orderer refused the transaction: %s: %s", resp.Status, resp.Info)
	}
	return nil
}

// SeekEnvelope builds a signed DELIVER_SEEK_INFO request from start to stop
// (math.MaxUint64 for "forever") with BLOCK_UNTIL_READY.
func SeekEnvelope(signer protos.Signer, channel string, start *ab.SeekPosition, stop uint64) (*cb.Envelope, error) {
	seek := &ab.SeekInfo{
		Start:    start,
		Stop:     &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: stop}}},
		Behavior: ab.SeekInfo_BLOCK_UNTIL_READY,
	}
	return protos.NewSignedEnvelope(cb.HeaderType_DELIVER_SEEK_INFO, channel, signer, seek)
}

// SeekNewest is the seek position of the newest block.
func SeekNewest() *ab.SeekPosition {
	return &ab.SeekPosition{Type: &ab.SeekPosition_Newest{Newest: &ab.SeekNewest{}}}
}

// SeekFrom is the seek position of block n.
func SeekFrom(n uint64) *ab.SeekPosition {
	return &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: n}}}
}

// CommitWatcher follows a peer's filtered blocks and reports the validation
// code of transactions. Open it before submitting so that no block is missed.
type CommitWatcher struct {
	stream pb.Deliver_DeliverFilteredClient
	cancel context.CancelFunc
	seen   map[string]TxStatus
}

// TxStatus is where and how a transaction ended.
type TxStatus struct {
	Code  pb.TxValidationCode
	Block uint64
}

// WatchCommits starts a DeliverFiltered stream at start on the peer.
func WatchCommits(ctx context.Context, conn grpc.ClientConnInterface, signer protos.Signer, channel string, start *ab.SeekPosition) (*CommitWatcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := pb.NewDeliverClient(conn).DeliverFiltered(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open DeliverFiltered: %w", err)
	}
	env, err := SeekEnvelope(signer, channel, start, math.MaxUint64)
	if err != nil {
		cancel()
		return nil, err
	}
	if err := stream.Send(env); err != nil {
		cancel()
		return nil, fmt.Errorf("send seek request: %w", err)
	}
	return &CommitWatcher{stream: stream, cancel: cancel, seen: map[string]TxStatus{}}, nil
}

// Wait returns the status of txID once a block containing it arrives.
func (w *CommitWatcher) Wait(txID string) (TxStatus, error) {
	for {
		if st, ok := w.seen[txID]; ok {
			return st, nil
		}
		resp, err := w.stream.Recv()
		if err == io.EOF {
			return TxStatus{}, fmt.Errorf("peer closed the block stream before transaction %s committed", txID)
		}
		if err != nil {
			return TxStatus{}, fmt.Errorf("waiting for transaction %s: %w", txID, err)
		}
		switch r := resp.Type.(type) {
		case *pb.DeliverResponse_FilteredBlock:
			for _, ftx := range r.FilteredBlock.FilteredTransactions {
				w.seen[ftx.Txid] = TxStatus{Code: ftx.TxValidationCode, Block: r.FilteredBlock.Number}
			}
		case *pb.DeliverResponse_Status:
			return TxStatus{}, fmt.Errorf("peer ended the block stream with status %s", r.Status)
		}
	}
}

// Close stops the stream.
func (w *CommitWatcher) Close() { w.cancel() }

// Invocation is one transaction to endorse, order and commit.
type Invocation struct {
	Channel   string
	Chaincode string
	Args      [][]byte
	Transient map[string][]byte
	// IsInit marks the invocation as the chaincode's initialisation
	// (`peer chaincode invoke --isInit`): the chaincode's Init runs.
	IsInit bool
}

// Result is what Invoke learned about a transaction.
type Result struct {
	TxID    string
	Payload []byte // the chaincode's response payload
	Status  TxStatus
}

// Invoke endorses inv on every endorser, submits it to the orderer and waits for
// its commit on watcher (which must watch a peer of the channel).
func Invoke(ctx context.Context, signer protos.Signer, inv Invocation, endorsers map[string]pb.EndorserClient, orderer grpc.ClientConnInterface, watcher *CommitWatcher) (*Result, error) {
	sp, txID, err := NewProposal(signer, inv)
	if err != nil {
		return nil, err
	}
	responses, err := Endorse(ctx, sp, endorsers)
	if err != nil {
		return nil, err
	}
	prop, err := protos.ParseProposal(sp)
	if err != nil {
		return nil, err
	}
	payload, err := protos.NewTransaction(prop, responses)
	if err != nil {
		return nil, err
	}
	env, err := protos.SignEnvelope(payload, signer)
	if err != nil {
		return nil, err
	}
	if err := Broadcast(ctx, orderer, env); err != nil {
		return nil, err
	}
	res := &Result{TxID: txID, Payload: responses[0].GetResponse().GetPayload()}
	if watcher == nil {
		return res, nil
	}
	st, err := watcher.Wait(txID)
	if err != nil {
		return res, err
	}
	res.Status = st
	if st.Code != pb.TxValidationCode_VALID {
		return res, fmt.Errorf("transaction %s in block %d: %s: %w", txID, st.Block, st.Code, ErrNotCommitted)
	}
	return res, nil
}

// Query evaluates a proposal on one endorser and returns the chaincode's payload.
func Query(ctx context.Context, signer protos.Signer, inv Invocation, endorser pb.EndorserClient) ([]byte, error) {
	sp, _, err := NewProposal(signer, inv)
	if err != nil {
		return nil, err
	}
	r, err := endorser.ProcessProposal(ctx, sp)
	if err != nil {
		return nil, err
	}
	if st := r.GetResponse().GetStatus(); st >= 400 {
		return nil, fmt.Errorf("chaincode %s answered %d: %s", inv.Chaincode, st, r.GetResponse().GetMessage())
	}
	return r.GetResponse().GetPayload(), nil
}

// NewProposal builds and signs the proposal of inv and returns it with its
// transaction ID. Without IsInit it is exactly protos.NewProposal's; with it,
// the ChaincodeInput carries is_init as Fabric's CLI sets it for --isInit.
func NewProposal(signer protos.Signer, inv Invocation) (*pb.SignedProposal, string, error) {
	if !inv.IsInit {
		return protos.NewProposal(signer, inv.Channel, inv.Chaincode, inv.Args, inv.Transient)
	}
	shdr, err := protos.NewSignatureHeader(signer)
	if err != nil {
		return nil, "", err
	}
	txID := protos.ComputeTxID(shdr.Nonce, shdr.Creator)
	chdr := protos.NewChannelHeader(cb.HeaderType_ENDORSER_TRANSACTION, inv.Channel, txID)
	chdr.Extension = protos.Marshal(&pb.ChaincodeHeaderExtension{ChaincodeId: &pb.ChaincodeID{Name: inv.Chaincode}})
	cis := &pb.ChaincodeInvocationSpec{ChaincodeSpec: &pb.ChaincodeSpec{
		Type:        pb.ChaincodeSpec_GOLANG,
		ChaincodeId: &pb.ChaincodeID{Name: inv.Chaincode},
		Input:       &pb.ChaincodeInput{Args: inv.Args, IsInit: true},
	}}
	prop := &pb.Proposal{
		Header:  protos.Marshal(&cb.Header{ChannelHeader: protos.Marshal(chdr), SignatureHeader: protos.Marshal(shdr)}),
		Payload: protos.Marshal(&pb.ChaincodeProposalPayload{Input: protos.Marshal(cis), TransientMap: inv.Transient}),
	}
	raw := protos.Marshal(prop)
	sig, err := signer.Sign(raw)
	if err != nil {
		return nil, "", fmt.Errorf("sign proposal: %w", err)
	}
	return &pb.SignedProposal{ProposalBytes: raw, Signature: sig}, txID, nil
}
