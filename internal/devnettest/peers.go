package devnettest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
)

// PeerNode returns the peer called name (peer1.org1.example.com, ...) of
// the network, failing the test when it runs no such peer.
func PeerNode(t testing.TB, n *devnet.Network, name string) devnet.Org {
	t.Helper()
	for _, o := range n.PeerNodes {
		if o.Peer == name {
			return o
		}
	}
	t.Fatalf("the network runs no peer %s (Options.Peers: 2 runs peer1 of each organisation)", name)
	return devnet.Org{}
}

// Height asks peer (through qscc GetChainInfo, as User1 of its
// organisation) for its ledger height on the network's channel.
func Height(ctx context.Context, n *devnet.Network, peer devnet.Org) (uint64, error) {
	user, err := n.Config().Signer(peer, "User1")
	if err != nil {
		return 0, err
	}
	conn, err := wclient.Dial(n.Config().PeerEndpoint(peer))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	inv := wclient.Invocation{Chaincode: wclient.QSCCName, Args: [][]byte{[]byte("GetChainInfo"), []byte(devnet.ChannelID)}}
	raw, err := wclient.Query(ctx, user, inv, pb.NewEndorserClient(conn))
	if err != nil {
		return 0, fmt.Errorf("GetChainInfo on %s: %w", peer.Peer, err)
	}
	info := &cb.BlockchainInfo{}
	if err := proto.Unmarshal(raw, info); err != nil {
		return 0, fmt.Errorf("GetChainInfo on %s returned no BlockchainInfo: %w", peer.Peer, err)
	}
	return info.Height, nil
}

// RestartPeer stops the peer called name and starts it again, returning
// once it listens.
func RestartPeer(ctx context.Context, n *devnet.Network, name string) error {
	p, ok := n.AllPeers[name]
	if !ok {
		return fmt.Errorf("the network runs no peer %s", name)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		return err
	}
	return StartPeer(ctx, n, name)
}

// StartPeer starts the (stopped) peer called name, returning once it
// listens.
func StartPeer(ctx context.Context, n *devnet.Network, name string) error {
	p, ok := n.AllPeers[name]
	if !ok {
		return fmt.Errorf("the network runs no peer %s", name)
	}
	if err := p.Start(); err != nil {
		return err
	}
	return p.WaitReady(ctx)
}

// OverrideOrderer makes peer reach orderer.example.com at to instead of
// the address the channel configuration gives, by writing
// peer.deliveryclient.addressOverrides into the peer's own core.yaml
// (devnet.Config.PeerConfigDir), trusting the orderer's TLS CA. to must be
// a name the orderer's TLS certificate is valid for (localhost:<port>).
// The peer reads it when it next starts (StartPeer, RestartPeer); devnet
// keeps the file across restarts.
func OverrideOrderer(n *devnet.Network, peer devnet.Org, to string) error {
	cfg := n.Config()
	path := filepath.Join(cfg.PeerConfigDir(peer), "core.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	override := &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Content: []*yaml.Node{
		scalar("from"), scalar(cfg.OrdererEndpoint().Address),
		scalar("to"), scalar(to),
		scalar("caCertsFile"), scalar(filepath.Join(cfg.OrdererDir(), "tls", "ca.crt")),
	}}}}
	if err := setNode(&doc, []string{"peer", "deliveryclient", "addressOverrides"}, override); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// setNode puts val at the mapping path of doc, adding missing mappings.
func setNode(doc *yaml.Node, path []string, val *yaml.Node) error {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("not a YAML mapping")
	}
	node := doc.Content[0]
	for i, key := range path {
		var next *yaml.Node
		for m := 0; m+1 < len(node.Content); m += 2 {
			if node.Content[m].Value == key {
				next = node.Content[m+1]
				if i == len(path)-1 {
					node.Content[m+1] = val
					return nil
				}
				break
			}
		}
		if i == len(path)-1 {
			node.Content = append(node.Content, scalar(key), val)
			return nil
		}
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode}
			node.Content = append(node.Content, scalar(key), next)
		}
		if next.Kind != yaml.MappingNode {
			return fmt.Errorf("%s is not a mapping", key)
		}
		node = next
	}
	return nil
}
