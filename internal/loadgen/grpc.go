package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"

	"github.com/weft-ledger/weft/internal/client"
)

// grpcNetwork reaches the endorsers, the orderer and the first endorser's
// DeliverFiltered over gRPC.
type grpcNetwork struct {
	cfg       Config
	conns     []*grpc.ClientConn
	endorsers []pb.EndorserClient
	orderer   ab.AtomicBroadcastClient
	deliver   pb.DeliverClient
}

func dialNetwork(_ context.Context, cfg Config) (*grpcNetwork, error) {
	if len(cfg.Endorsers) == 0 {
		return nil, errors.New("loadgen: no endorsing peers given")
	}
	n := &grpcNetwork{cfg: cfg}
	dial := func(e client.Endpoint) (*grpc.ClientConn, error) {
		c, err := client.Dial(e)
		if err != nil {
			n.close()
			return nil, err
		}
		n.conns = append(n.conns, c)
		return c, nil
	}
	for i, e := range cfg.Endorsers {
		c, err := dial(e)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			n.deliver = pb.NewDeliverClient(c)
		}
		n.endorsers = append(n.endorsers, pb.NewEndorserClient(c))
	}
	c, err := dial(cfg.Orderer)
	if err != nil {
		return nil, err
	}
	n.orderer = ab.NewAtomicBroadcastClient(c)
	return n, nil
}

func (n *grpcNetwork) close() {
	for _, c := range n.conns {
		c.Close()
	}
}

func (n *grpcNetwork) Endorse(ctx context.Context, sp *pb.SignedProposal) ([]*pb.ProposalResponse, error) {
	responses := make([]*pb.ProposalResponse, len(n.endorsers))
	errs := make([]error, len(n.endorsers))
	endorse := func(i int) {
		r, err := n.endorsers[i].ProcessProposal(ctx, sp)
		if err == nil && r.GetResponse().GetStatus() >= 400 {
			err = fmt.Errorf("endorsement refused by %s: %d %s", n.cfg.Endorsers[i].Address, r.GetResponse().GetStatus(), r.GetResponse().GetMessage())
		}
		responses[i], errs[i] = r, err
	}
	// The last endorser is asked on this goroutine, the others on their own.
	var wg sync.WaitGroup
	for i := range len(n.endorsers) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			endorse(i)
		}()
	}
	endorse(len(n.endorsers) - 1)
	wg.Wait()
	return responses, errors.Join(errs...)
}

func (n *grpcNetwork) Broadcast(ctx context.Context) (broadcastStream, error) {
	return n.orderer.Broadcast(ctx)
}

func (n *grpcNetwork) Commits(ctx context.Context) (func() (*pb.FilteredBlock, error), error) {
	stream, err := n.deliver.DeliverFiltered(ctx)
	if err != nil {
		return nil, fmt.Errorf("DeliverFiltered from %s: %w", n.cfg.Endorsers[0].Address, err)
	}
	seek, err := client.SeekEnvelope(n.cfg.Signer, n.cfg.Channel, client.SeekNewest(), math.MaxUint64)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(seek); err != nil {
		return nil, err
	}
	return func() (*pb.FilteredBlock, error) {
		for {
			resp, err := stream.Recv()
			if err != nil {
				return nil, err
			}
			if st, ok := resp.Type.(*pb.DeliverResponse_Status); ok {
				return nil, fmt.Errorf("DeliverFiltered from %s ended: %s", n.cfg.Endorsers[0].Address, st.Status)
			}
			if fb := resp.GetFilteredBlock(); fb != nil {
				return fb, nil
			}
		}
	}, nil
}
