package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/protos"
)

func runCCPackage(_ context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode package")
	path := fset.String("path", "", "Go source folder (--lang golang) or folder holding connection.json (--lang ccaas)")
	lang := fset.String("lang", "golang", "golang or ccaas")
	label := fset.String("label", "", "package label, e.g. basic_1.0 (required)")
	positional, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 || *label == "" || *path == "" {
		return fmt.Errorf("usage: weft chaincode package OUTPUT.tar.gz --path DIR --lang golang|ccaas --label LABEL")
	}
	output := positional[0]
	files := map[string][]byte{}
	var md map[string]string
	switch *lang {
	case "golang":
		err := filepath.WalkDir(*path, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(*path, p)
			if err != nil {
				return err
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files["src/"+filepath.ToSlash(rel)] = raw
			return nil
		})
		if err != nil {
			return fmt.Errorf("read chaincode source %s: %w", *path, err)
		}
		md = map[string]string{"path": *path, "type": "golang", "label": *label}
	case "ccaas":
		raw, err := os.ReadFile(filepath.Join(*path, "connection.json"))
		if err != nil {
			return fmt.Errorf("a ccaas package needs %s: %w", filepath.Join(*path, "connection.json"), err)
		}
		files["connection.json"] = raw
		md = map[string]string{"type": "ccaas", "label": *label}
	default:
		return fmt.Errorf("--lang %q is not supported; use golang or ccaas", *lang)
	}
	code, err := client.TarGz(files)
	if err != nil {
		return err
	}
	mdj, err := json.Marshal(md)
	if err != nil {
		return err
	}
	pkg, err := client.TarGz(map[string][]byte{"metadata.json": mdj, "code.tar.gz": code})
	if err != nil {
		return err
	}
	if err := os.WriteFile(output, pkg, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote %s (package ID %s)\n", output, client.PackageID(*label, pkg))
	return nil
}

// parseInterspersed parses flags that may come after positional arguments, as
// Fabric's CLI accepts them (`peer lifecycle chaincode package OUT --path DIR`);
// the flag package alone stops at the first positional argument.
func parseInterspersed(fset *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fset.Parse(args); err != nil {
			return nil, err
		}
		if fset.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fset.Arg(0))
		args = fset.Args()[1:]
	}
}

func runCCInstall(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode install")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 1 {
		return fmt.Errorf("usage: weft chaincode install PACKAGE.tar.gz")
	}
	pkg, err := os.ReadFile(fset.Arg(0))
	if err != nil {
		return err
	}
	out, err := queryPeer(ctx, env, client.Invocation{Chaincode: client.LifecycleName, Args: client.InstallArgs(pkg)})
	if err != nil {
		return fmt.Errorf("install chaincode: %w", err)
	}
	res, err := client.InstallResult(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Chaincode code package identifier: %s\n", res.PackageId)
	return nil
}

// definitionFlags are the flags of approveformyorg and commit.
type definitionFlags struct {
	channel, name, version, packageID, sigPolicy, channelPolicy string
	sequence                                                    int64
	initRequired, waitForEvent                                  bool
}

// ccFlags are -C/--channelID, -n/--name and, when asked, -c/--ctor.
type ccFlags struct{ channel, name, ctor string }

func addCCFlags(fs *flag.FlagSet, ctor bool) *ccFlags {
	f := &ccFlags{}
	aliasString(fs, &f.channel, "channel name", "C", "channelID")
	aliasString(fs, &f.name, "chaincode name", "n", "name")
	if ctor {
		aliasString(fs, &f.ctor, "function and arguments as JSON", "c", "ctor")
	}
	return f
}

// addDefinitionFlags adds the flags of approveformyorg and commit.
func addDefinitionFlags(fs *flag.FlagSet) *definitionFlags {
	d := addDefinitionQueryFlags(fs)
	fs.StringVar(&d.packageID, "package-id", "", "package ID of the installed package to approve")
	fs.BoolVar(&d.waitForEvent, "waitForEvent", true, "wait for the transaction to commit")
	return d
}

// addDefinitionQueryFlags adds the flags that describe a definition without
// submitting it (checkcommitreadiness): no --package-id, no --waitForEvent.
func addDefinitionQueryFlags(fs *flag.FlagSet) *definitionFlags {
	d := &definitionFlags{}
	aliasString(fs, &d.channel, "channel name", "C", "channelID")
	aliasString(fs, &d.name, "chaincode name", "n", "name")
	aliasString(fs, &d.version, "chaincode version", "v", "version")
	fs.Int64Var(&d.sequence, "sequence", 1, "definition sequence number")
	fs.StringVar(&d.sigPolicy, "signature-policy", "", "endorsement policy, e.g. \"AND('Org1MSP.peer','Org2MSP.peer')\"")
	fs.StringVar(&d.channelPolicy, "channel-config-policy", "", "endorsement policy as a channel policy path, e.g. /Channel/Application/Endorsement")
	fs.BoolVar(&d.initRequired, "init-required", false, "whether Init must be invoked first")
	return d
}

func (d *definitionFlags) definition() (client.Definition, error) {
	if d.channel == "" || d.name == "" || d.version == "" {
		return client.Definition{}, fmt.Errorf("--channelID, --name and --version are required")
	}
	def := client.Definition{Name: d.name, Version: d.version, Sequence: d.sequence, PackageID: d.packageID, InitRequired: d.initRequired}
	switch {
	case d.sigPolicy != "" && d.channelPolicy != "":
		return def, fmt.Errorf("give either --signature-policy or --channel-config-policy, not both")
	case d.sigPolicy != "":
		env, err := channelconfig.ParsePolicyDSL(d.sigPolicy)
		if err != nil {
			return def, fmt.Errorf("--signature-policy: %w", err)
		}
		def.EndorsementPolicy = protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: env}})
	case d.channelPolicy != "":
		def.EndorsementPolicy = protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: d.channelPolicy}})
	}
	return def, nil
}

// submit endorses inv on peers, orders it and, if wait, waits for its commit on the first peer.
func submit(ctx context.Context, env *Env, inv client.Invocation, peers []client.Endpoint, orderer client.Endpoint, wait bool) (*client.Result, error) {
	signer, err := identity(env)
	if err != nil {
		return nil, err
	}
	endorsers := map[string]pb.EndorserClient{}
	var first *grpc.ClientConn
	for _, p := range peers {
		conn, err := client.Dial(p)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		if first == nil {
			first = conn
		}
		endorsers[p.Address] = pb.NewEndorserClient(conn)
	}
	oconn, err := client.Dial(orderer)
	if err != nil {
		return nil, err
	}
	defer oconn.Close()
	var watcher *client.CommitWatcher
	if wait {
		watcher, err = client.WatchCommits(ctx, first, signer, inv.Channel, &ab.SeekPosition{Type: &ab.SeekPosition_Newest{Newest: &ab.SeekNewest{}}})
		if err != nil {
			return nil, err
		}
		defer watcher.Close()
	}
	return client.Invoke(ctx, signer, inv, endorsers, oconn, watcher)
}

func runCCApprove(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode approveformyorg")
	o := addOrdererFlags(fset)
	d := addDefinitionFlags(fset)
	if err := fset.Parse(args); err != nil {
		return err
	}
	def, err := d.definition()
	if err != nil {
		return err
	}
	if def.PackageID == "" {
		return fmt.Errorf("--package-id is required (see weft chaincode install's output)")
	}
	oe, err := o.endpoint()
	if err != nil {
		return err
	}
	pe, err := peerEndpoint(env)
	if err != nil {
		return err
	}
	res, err := submit(ctx, env, client.Invocation{Channel: d.channel, Chaincode: client.LifecycleName, Args: client.ApproveArgs(def)}, []client.Endpoint{pe}, oe, d.waitForEvent)
	if err != nil {
		return fmt.Errorf("approve chaincode definition: %w", err)
	}
	fmt.Fprintf(env.Stdout, "txid [%s] committed with status (%s)\n", res.TxID, res.Status.Code)
	return nil
}

func runCCCommit(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode commit")
	o := addOrdererFlags(fset)
	d := addDefinitionFlags(fset)
	p := addPeerFlags(fset)
	if err := fset.Parse(args); err != nil {
		return err
	}
	def, err := d.definition()
	if err != nil {
		return err
	}
	oe, peers, err := targets(env, o, p)
	if err != nil {
		return err
	}
	res, err := submit(ctx, env, client.Invocation{Channel: d.channel, Chaincode: client.LifecycleName, Args: client.CommitArgs(def)}, peers, oe, d.waitForEvent)
	if err != nil {
		return fmt.Errorf("commit chaincode definition: %w", err)
	}
	fmt.Fprintf(env.Stdout, "txid [%s] committed with status (%s)\n", res.TxID, res.Status.Code)
	return nil
}

func runCCQueryCommitted(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode querycommitted")
	cf := addCCFlags(fset, false)
	if err := fset.Parse(args); err != nil {
		return err
	}
	if cf.name == "" {
		return fmt.Errorf("--name is required")
	}
	out, err := queryPeer(ctx, env, client.Invocation{Channel: cf.channel, Chaincode: client.LifecycleName, Args: client.QueryCommittedArgs(cf.name)})
	if err != nil {
		return err
	}
	res := &lb.QueryChaincodeDefinitionResult{}
	if err := proto.Unmarshal(out, res); err != nil {
		return fmt.Errorf("decode QueryChaincodeDefinitionResult: %w", err)
	}
	var approvals []string
	for org, ok := range res.Approvals {
		approvals = append(approvals, fmt.Sprintf("%s: %t", org, ok))
	}
	fmt.Fprintf(env.Stdout, "Committed chaincode definition for chaincode '%s' on channel '%s':\nVersion: %s, Sequence: %d, Endorsement Plugin: %s, Validation Plugin: %s, Approvals: [%s]\n",
		cf.name, cf.channel, res.Version, res.Sequence, res.EndorsementPlugin, res.ValidationPlugin, strings.Join(approvals, ", "))
	return nil
}

func runCCQueryInstalled(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode queryinstalled")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 0 {
		return fmt.Errorf("usage: weft chaincode queryinstalled (the peer is CORE_PEER_ADDRESS; unexpected %q)", fset.Args())
	}
	out, err := queryPeer(ctx, env, client.Invocation{Chaincode: client.LifecycleName, Args: client.QueryInstalledArgs()})
	if err != nil {
		return fmt.Errorf("query installed chaincodes: %w", err)
	}
	res := &lb.QueryInstalledChaincodesResult{}
	if err := proto.Unmarshal(out, res); err != nil {
		return fmt.Errorf("decode QueryInstalledChaincodesResult: %w", err)
	}
	fmt.Fprintln(env.Stdout, "Installed chaincodes on peer:")
	for _, cc := range res.InstalledChaincodes {
		fmt.Fprintf(env.Stdout, "Package ID: %s, Label: %s\n", cc.PackageId, cc.Label)
	}
	return nil
}

func runCCCheckCommitReadiness(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode checkcommitreadiness")
	d := addDefinitionQueryFlags(fset)
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q; weft chaincode checkcommitreadiness takes only flags", fset.Args())
	}
	def, err := d.definition()
	if err != nil {
		return err
	}
	out, err := queryPeer(ctx, env, client.Invocation{Channel: d.channel, Chaincode: client.LifecycleName, Args: client.CheckCommitReadinessArgs(def)})
	if err != nil {
		return fmt.Errorf("check commit readiness: %w", err)
	}
	res := &lb.CheckCommitReadinessResult{}
	if err := proto.Unmarshal(out, res); err != nil {
		return fmt.Errorf("decode CheckCommitReadinessResult: %w", err)
	}
	orgs := make([]string, 0, len(res.Approvals))
	for org := range res.Approvals {
		orgs = append(orgs, org)
	}
	sort.Strings(orgs)
	fmt.Fprintf(env.Stdout, "Chaincode definition for chaincode '%s', version '%s', sequence '%d' on channel '%s' approval status by org:\n",
		def.Name, def.Version, def.Sequence, d.channel)
	for _, org := range orgs {
		fmt.Fprintf(env.Stdout, "%s: %t\n", org, res.Approvals[org])
	}
	return nil
}

// ctorArgs parses Fabric's -c '{"function":"f","Args":["a"]}' or '{"Args":["f","a"]}'.
func ctorArgs(raw string) ([][]byte, error) {
	var c struct {
		Function string   `json:"function"`
		Args     []string `json:"Args"`
	}
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return nil, fmt.Errorf("-c must be JSON like {\"function\":\"ReadAsset\",\"Args\":[\"asset1\"]}: %w", err)
	}
	var out [][]byte
	if c.Function != "" {
		out = append(out, []byte(c.Function))
	}
	for _, a := range c.Args {
		out = append(out, []byte(a))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-c names no function")
	}
	return out, nil
}

func runCCInvoke(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode invoke")
	o := addOrdererFlags(fset)
	p := addPeerFlags(fset)
	cf := addCCFlags(fset, true)
	wait := fset.Bool("waitForEvent", false, "wait for the transaction to commit")
	if err := fset.Parse(args); err != nil {
		return err
	}
	cargs, err := ctorArgs(cf.ctor)
	if err != nil {
		return err
	}
	oe, peers, err := targets(env, o, p)
	if err != nil {
		return err
	}
	res, err := submit(ctx, env, client.Invocation{Channel: cf.channel, Chaincode: cf.name, Args: cargs}, peers, oe, *wait)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Chaincode invoke successful. result: status:200 payload:%q txid:%s\n", res.Payload, res.TxID)
	return nil
}

func runCCQuery(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode query")
	cf := addCCFlags(fset, true)
	if err := fset.Parse(args); err != nil {
		return err
	}
	cargs, err := ctorArgs(cf.ctor)
	if err != nil {
		return err
	}
	out, err := queryPeer(ctx, env, client.Invocation{Channel: cf.channel, Chaincode: cf.name, Args: cargs})
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, string(out))
	return nil
}
