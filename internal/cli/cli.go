package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one leaf of the command tree.
type command struct {
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

// Env is what a command may use of the outside world.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

var commands = map[string]command{
	"up":                             {"start the development network (generates it first if needed)", runUp},
	"bench":                          {"drive CreateAsset load through a network and print throughput, latency and CPU", runBench},
	"crypto generate":                {"write cryptogen-style MSP and TLS material from crypto-config.yaml", runCryptoGenerate},
	"genesis":                        {"write a channel genesis block from configtx.yaml", runGenesis},
	"channel join":                   {"join the peer to a channel with its genesis block", runChannelJoin},
	"channel list":                   {"list the channels the peer has joined", runChannelList},
	"channel getinfo":                {"print a channel's height and current block hash", runChannelGetInfo},
	"channel fetch":                  {"fetch a block (newest, oldest, config or a number) from the orderer", runChannelFetch},
	"channel signconfigtx":           {"add the identity's signature to a config update envelope file, in place", runChannelSignConfigTx},
	"channel update":                 {"sign a config update envelope and submit it to the orderer", runChannelUpdate},
	"channel consenter add":          {"add an etcdraft consenter to a channel through a config update", runConsenterAdd},
	"channel consenter remove":       {"remove an etcdraft consenter from a channel through a config update", runConsenterRemove},
	"configtxlator proto_decode":     {"convert a protobuf message to configtxlator's JSON", runProtoDecode},
	"configtxlator proto_encode":     {"convert configtxlator's JSON to a protobuf message", runProtoEncode},
	"configtxlator compute_update":   {"compute the ConfigUpdate between two common.Config messages", runComputeUpdate},
	"osnadmin channel join":          {"join an orderer to a channel (participation API)", runOSNJoin},
	"osnadmin channel list":          {"list an orderer's channels (participation API)", runOSNList},
	"osnadmin channel remove":        {"remove an orderer from a channel (participation API)", runOSNRemove},
	"chaincode package":              {"write a chaincode package (.tar.gz) for a Go source folder or a ccaas address", runCCPackage},
	"chaincode calculatepackageid":   {"print the package ID of a chaincode package file", runCCCalculatePackageID},
	"chaincode install":              {"install a chaincode package on the peer(s)", runCCInstall},
	"chaincode queryinstalled":       {"list the chaincode packages installed on the peer", runCCQueryInstalled},
	"chaincode getinstalledpackage":  {"download an installed chaincode package from the peer", runCCGetInstalledPackage},
	"chaincode approveformyorg":      {"approve a chaincode definition for the peer's organisation", runCCApprove},
	"chaincode queryapproved":        {"show the definition the peer's organisation approved", runCCQueryApproved},
	"chaincode checkcommitreadiness": {"show which organisations approved a chaincode definition", runCCCheckCommitReadiness},
	"chaincode commit":               {"commit a chaincode definition to a channel", runCCCommit},
	"chaincode querycommitted":       {"show the committed chaincode definition(s) of a channel", runCCQueryCommitted},
	"chaincode invoke":               {"submit a transaction", runCCInvoke},
	"chaincode query":                {"evaluate a transaction on one peer", runCCQuery},
	"discover":                       {"ask a peer's service discovery: peers, config, endorsers (Fabric's discover CLI)", runDiscover},
}

// lifecycleCommands are the `weft chaincode` commands Fabric spells
// `peer lifecycle chaincode ...`; `weft lifecycle chaincode ...` runs them
// too, so tutorials translate word for word.
var lifecycleCommands = []string{"package", "calculatepackageid", "install", "queryinstalled", "getinstalledpackage",
	"approveformyorg", "queryapproved", "checkcommitreadiness", "commit", "querycommitted"}

// lookup returns the command named name, including the `lifecycle chaincode` aliases.
func lookup(name string) (command, bool) {
	if rest, ok := strings.CutPrefix(name, "lifecycle chaincode "); ok {
		for _, c := range lifecycleCommands {
			if c == rest {
				return commands["chaincode "+c], true
			}
		}
		return command{}, false
	}
	c, ok := commands[name]
	return c, ok
}

// Main runs the weft command line and returns the process exit code.
func Main(args []string) int {
	env := &Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, env, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(env.Stderr, "Error:", err)
		return 1
	}
	return 0
}

// Run finds the longest command matching args and runs it.
func Run(ctx context.Context, env *Env, args []string) error {
	for n := min(3, len(args)); n > 0; n-- {
		if c, ok := lookup(strings.Join(args[:n], " ")); ok {
			return c.run(ctx, env, args[n:])
		}
	}
	if n := len(args); n > 0 && (args[n-1] == "-h" || args[n-1] == "--help" || args[n-1] == "help") {
		usage(env.Stdout)
		return flag.ErrHelp // asked for: exit 0
	}
	usage(env.Stderr)
	if len(args) == 0 {
		return errors.New("no command given")
	}
	return fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: weft COMMAND [flags]  (weft COMMAND -h for the flags of one command)")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-31s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "  (weft lifecycle chaincode COMMAND is the same as weft chaincode COMMAND, as Fabric spells it)")
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(env *Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("weft "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

// aliasString defines one string flag, default "", under each of names
// (e.g. "C" and "channelID"); every name sets *p.
func aliasString(fs *flag.FlagSet, p *string, usage string, names ...string) {
	for _, n := range names {
		fs.StringVar(p, n, "", usage)
	}
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
