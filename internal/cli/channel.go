package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/client"
)

// queryPeer evaluates a proposal on the CORE_PEER_ADDRESS peer as the CLI identity.
func queryPeer(ctx context.Context, env *Env, inv client.Invocation) ([]byte, error) {
	signer, err := identity(env)
	if err != nil {
		return nil, err
	}
	ep, err := peerEndpoint(env)
	if err != nil {
		return nil, err
	}
	conn, err := client.Dial(ep)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return client.Query(ctx, signer, inv, pb.NewEndorserClient(conn))
}

func runChannelJoin(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "channel join")
	var blockPath string
	aliasString(fs, &blockPath, "genesis block of the channel (required)", "b", "blockpath")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if blockPath == "" {
		return fmt.Errorf("name the genesis block with -b FILE")
	}
	block, err := os.ReadFile(blockPath)
	if err != nil {
		return err
	}
	if _, err := queryPeer(ctx, env, client.Invocation{Chaincode: client.CSCCName, Args: [][]byte{[]byte("JoinChain"), block}}); err != nil {
		return fmt.Errorf("join channel: %w", err)
	}
	fmt.Fprintln(env.Stdout, "Successfully submitted proposal to join channel")
	return nil
}

func runChannelList(ctx context.Context, env *Env, args []string) error {
	if err := newFlags(env, "channel list").Parse(args); err != nil {
		return err
	}
	out, err := queryPeer(ctx, env, client.Invocation{Chaincode: client.CSCCName, Args: [][]byte{[]byte("GetChannels")}})
	if err != nil {
		return err
	}
	resp := &pb.ChannelQueryResponse{}
	if err := proto.Unmarshal(out, resp); err != nil {
		return fmt.Errorf("decode channel list: %w", err)
	}
	fmt.Fprintln(env.Stdout, "Channels peers has joined:")
	for _, c := range resp.Channels {
		fmt.Fprintln(env.Stdout, c.ChannelId)
	}
	return nil
}

func runChannelGetInfo(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "channel getinfo")
	var channel string
	aliasString(fs, &channel, "channel name", "c", "channelID")
	if err := fs.Parse(args); err != nil {
		return err
	}
	out, err := queryPeer(ctx, env, client.Invocation{Chaincode: client.QSCCName, Args: [][]byte{[]byte("GetChainInfo"), []byte(channel)}})
	if err != nil {
		return err
	}
	info := &cb.BlockchainInfo{}
	if err := proto.Unmarshal(out, info); err != nil {
		return fmt.Errorf("decode chain info: %w", err)
	}
	line, err := chainInfoLine(info)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, line)
	return nil
}

// chainInfoLine prints a channel's height and hashes as Fabric's peer CLI
// does: the message as JSON, hashes in base64, empty fields left out.
func chainInfoLine(info *cb.BlockchainInfo) (string, error) {
	out, err := json.Marshal(struct {
		Height            uint64 `json:"height,omitempty"`
		CurrentBlockHash  []byte `json:"currentBlockHash,omitempty"`
		PreviousBlockHash []byte `json:"previousBlockHash,omitempty"`
	}{info.GetHeight(), info.GetCurrentBlockHash(), info.GetPreviousBlockHash()})
	if err != nil {
		return "", fmt.Errorf("encode chain info: %w", err)
	}
	return "Blockchain info: " + string(out), nil
}
