package commitcheck

import (
	"context"
	"fmt"
	"strconv"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/protos"
)

// QSCC is a Remote reached through its qscc system chaincode, as Fabric's
// `peer channel getinfo` and `fetch` reach a peer: a signed proposal per
// question, answered by any Fabric-compatible peer to members of the channel.
type QSCC struct {
	Conn    grpc.ClientConnInterface
	Signer  protos.Signer // must satisfy the channel's Readers policy
	Channel string
}

// Height implements Remote.
func (q QSCC) Height(ctx context.Context) (uint64, error) {
	raw, err := q.call(ctx, "GetChainInfo", []byte(q.Channel))
	if err != nil {
		return 0, err
	}
	info := &cb.BlockchainInfo{}
	if err := proto.Unmarshal(raw, info); err != nil {
		return 0, fmt.Errorf("qscc GetChainInfo answered something that is not a BlockchainInfo: %w", err)
	}
	return info.Height, nil
}

// Block implements Remote.
func (q QSCC) Block(ctx context.Context, n uint64) (*cb.Block, error) {
	raw, err := q.call(ctx, "GetBlockByNumber", []byte(q.Channel), []byte(strconv.FormatUint(n, 10)))
	if err != nil {
		return nil, err
	}
	b, err := protos.UnmarshalBlock(raw)
	if err != nil {
		return nil, fmt.Errorf("qscc GetBlockByNumber %d: %w", n, err)
	}
	return b, nil
}

func (q QSCC) call(ctx context.Context, fn string, args ...[]byte) ([]byte, error) {
	sp, _, err := protos.NewProposal(q.Signer, "", "qscc", append([][]byte{[]byte(fn)}, args...), nil)
	if err != nil {
		return nil, fmt.Errorf("qscc %s: %w", fn, err)
	}
	pr, err := pb.NewEndorserClient(q.Conn).ProcessProposal(ctx, sp)
	if err != nil {
		return nil, fmt.Errorf("qscc %s: %w", fn, err)
	}
	if r := pr.GetResponse(); r.GetStatus() != 200 {
		return nil, fmt.Errorf("qscc %s: status %d: %s", fn, r.GetStatus(), r.GetMessage())
	}
	return pr.GetResponse().GetPayload(), nil
}
