package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/weft-ledger/weft/internal/devnet"
)

func runUp(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "up")
	dir := fs.String("dir", "devnet", "folder of the development network")
	bin := fs.String("bin", "", "folder holding the peer, orderer and basic binaries (default: next to weft)")
	orderers := fs.Int("orderers", 1, "size of the ordering service: 1, 3 or 5 orderers (a Raft cluster); "+
		"without the flag an existing network keeps the size it was created with")
	peers := fs.Int("peers", 1, "peers per organisation: 1 (peer0) or 2 (peer0 and peer1, on localhost:8051 and localhost:10051); "+
		"default $"+devnet.PeersEnv+", else 1; without either an existing network keeps the number it was created with")
	orgs := fs.Int("orgs", 2, "application organisations, every one a member of mychannel: 2 (Org1, Org2), 3 (and Org3, peer0 on localhost:11051) "+
		"or 4 (and Org4, peer0 on localhost:13051; with --peers 2 their peer1s on 12051 and 14051); "+
		"without the flag an existing network keeps the number it was created with")
	policy := fs.String("signature-policy", "", "endorsement policy of basic on a new network, e.g. \"AND('Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')\" "+
		"(default: the channel's, a majority of the organisations)")
	couch := fs.String("couchdb", os.Getenv(devnet.CouchDBEnv), "keep the peers' world state in CouchDB 3: a URL such as "+
		"http://admin:adminpw@127.0.0.1:5984 that every peer shares (databases peer0org1_*, peer0org2_*, ...), or one URL per peer, "+
		"comma-separated, in peer order (peer0.org1, peer1.org1, peer0.org2, ...) (default $"+devnet.CouchDBEnv+"); "+
		"without it an existing network keeps its state database, a new one uses LevelDB")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("weft up takes no arguments, got %q", fs.Args())
	}
	cfg := devnet.Config{Dir: *dir, Ports: devnet.DefaultPorts(), Log: env.Stdout}
	if flagSet(fs, "orderers") {
		if err := devnet.CheckOrderers(*orderers); err != nil {
			return fmt.Errorf("--orderers %d: %w", *orderers, err)
		}
		cfg.Orderers = *orderers
	}
	if flagSet(fs, "orgs") {
		if err := devnet.CheckOrgs(*orgs); err != nil {
			return fmt.Errorf("--orgs %d: %w", *orgs, err)
		}
		cfg.Organizations = *orgs
	}
	cfg.EndorsementPolicy = *policy
	switch v := env.Getenv(devnet.PeersEnv); {
	case flagSet(fs, "peers"):
		if err := devnet.CheckPeers(*peers); err != nil {
			return fmt.Errorf("--peers %d: %w", *peers, err)
		}
		cfg.Peers = *peers
	case v != "":
		n, err := strconv.Atoi(v)
		if err == nil {
			err = devnet.CheckPeers(n)
		}
		if err != nil {
			return fmt.Errorf("%s=%s: %w", devnet.PeersEnv, v, err)
		}
		cfg.Peers = n
	}
	if cfg.CouchDB = devnet.ParseCouchDBList(*couch); len(cfg.CouchDB) > 0 {
		// The peers of the network Up will run: those asked for, else the
		// folder's, else one per organisation, of two organisations.
		n := cfg
		if n.Peers == 0 {
			n.Peers = max(cfg.PeersCreated(), 1)
		}
		if n.Organizations == 0 {
			n.Organizations = max(cfg.OrgsCreated(), devnet.MinOrgs)
		}
		if err := devnet.CheckCouchDB(cfg.CouchDB, len(n.PeerNodes())); err != nil {
			return fmt.Errorf("--couchdb: %w", err)
		}
	}
	if *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		*bin = filepath.Dir(exe)
	}
	cfg.BinDir = *bin
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
	var orderers strings.Builder
	for _, o := range cfg.OrdererNodes() {
		fmt.Fprintf(&orderers, "  orderer        %s  localhost:%d (admin localhost:%d)\n", o.Name, o.Listen, o.Admin)
	}
	if nodes := cfg.OrdererNodes(); len(nodes) > 1 {
		fmt.Fprintf(&orderers, "  ordering       Raft cluster of %d: tick %s, election %d ticks, heartbeat %d tick\n",
			len(nodes), devnet.RaftTickInterval, devnet.RaftElectionTick, devnet.RaftHeartbeatTick)
	}
	var peers strings.Builder
	for _, o := range n.PeerNodes {
		fmt.Fprintf(&peers, "  peer           %s  localhost:%d (chaincode %d, operations %d)\n", o.Peer, o.Port, o.ChaincodePort, o.OpsPort)
	}
	fmt.Fprintf(env.Stdout, `network ready
  channel        %s, chaincode %s (package %s)
%s%s%s  crypto         %s
  logs           %s

Talk to it as Org1's User1, as with Fabric's test-network:
  export CORE_PEER_TLS_ENABLED=true CORE_PEER_LOCALMSPID=Org1MSP CORE_PEER_ADDRESS=localhost:%d
  export CORE_PEER_TLS_ROOTCERT_FILE=%s
  export CORE_PEER_MSPCONFIGPATH=%s
  weft chaincode query -C %s -n %s -c '{"Args":["GetAllAssets"]}'
%sPress Ctrl-C to stop.
`, devnet.ChannelID, devnet.ChaincodeName, n.PackageID,
		orderers.String(), peers.String(), stateHelp(cfg), cfg.Path("organizations"), cfg.Path("logs"),
		org1.Port, filepath.Join(cfg.PeerDir(org1), "tls", "ca.crt"), filepath.Join(cfg.UserDir(org1, "User1"), "msp"),
		devnet.ChannelID, devnet.ChaincodeName, restHelp(cfg))
}

// stateHelp says where each peer keeps its world state: on CouchDB, the
// server and the peer's database prefix.
func stateHelp(cfg devnet.Config) string {
	states, err := cfg.PeerStates()
	if err != nil {
		return fmt.Sprintf("  state          unknown: %v\n", err)
	}
	var b strings.Builder
	for _, s := range states {
		if s.Database == "CouchDB" {
			fmt.Fprintf(&b, "  state          %s on CouchDB at %s (databases %s*)\n", s.Peer, s.Address, s.Prefix)
		} else {
			fmt.Fprintf(&b, "  state          %s on LevelDB (%s)\n", s.Peer, cfg.Path("peers", s.Peer))
		}
	}
	return b.String()
}

// restHelp shows how to reach the REST gateway with curl and the network's
// token ("" without a REST gateway).
func restHelp(cfg devnet.Config) string {
	if cfg.Ports.RESTGateway == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nOr over HTTP through the REST gateway, with the network's token (it signs as User1@org1.example.com; API at http://localhost:%d/docs):\n",
		cfg.Ports.RESTGateway)
	for _, line := range cfg.RESTExamples() {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	return b.String()
}

// flagSet reports whether the command line gave flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
