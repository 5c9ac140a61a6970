package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/weft-ledger/weft/internal/devnet"
)

func runUp(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "up")
	dir := fs.String("dir", "devnet", "folder of the development network")
	bin := fs.String("bin", "", "folder holding the peer, orderer and basic binaries (default: next to weft)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		*bin = filepath.Dir(exe)
	}
	cfg := devnet.Config{Dir: *dir, BinDir: *bin, Ports: devnet.DefaultPorts(), Log: env.Stdout}
	n, err := devnet.Up(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Stop()
	printReady(env, n)
	<-ctx.Done()
	fmt.Fprintln(env.Stdout, "stopping the development network")
	return nil
}

func printReady(env *Env, n *devnet.Network) {
	cfg := n.Config()
	org1 := n.Orgs[0]
	fmt.Fprintf(env.Stdout, `network ready
  channel        %s, chaincode %s (package %s)
  orderer        orderer.example.com  localhost:%d (admin localhost:%d)
  peer           %s  localhost:%d
  peer           %s  localhost:%d
  crypto         %s
  logs           %s

Talk to it as Org1's User1, as with Fabric's test-network:
  export CORE_PEER_TLS_ENABLED=true CORE_PEER_LOCALMSPID=Org1MSP CORE_PEER_ADDRESS=localhost:%d
  export CORE_PEER_TLS_ROOTCERT_FILE=%s
  export CORE_PEER_MSPCONFIGPATH=%s
  weft chaincode query -C %s -n %s -c '{"Args":["GetAllAssets"]}'
Press Ctrl-C to stop.
`, devnet.ChannelID, devnet.ChaincodeName, n.PackageID,
		cfg.Ports.Orderer, cfg.Ports.OrdererAdmin,
		n.Orgs[0].Peer, n.Orgs[0].Port, n.Orgs[1].Peer, n.Orgs[1].Port,
		cfg.Path("organizations"), cfg.Path("logs"),
		org1.Port, filepath.Join(cfg.PeerDir(org1), "tls", "ca.crt"), filepath.Join(cfg.UserDir(org1, "User1"), "msp"),
		devnet.ChannelID, devnet.ChaincodeName)
}
