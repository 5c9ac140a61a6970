package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/protos"
)

// The `weft chaincode` commands mirror `peer lifecycle chaincode` (also
// reachable as `weft lifecycle chaincode ...`) and `peer chaincode
// invoke|query` of Fabric v2.5: same flag names and short forms, same
// plain-text and `--output json` answers. Differences, all stated in each
// command's -h:
//   - --connectionProfile is refused (name peers with --peerAddresses);
//   - --tlsHandshakeTimeShift is accepted and has no effect;
//   - the orderer flags are accepted by every command, and ignored by the
//     commands that do not order a transaction, as in Fabric.

// outputFlag is Fabric's -O/--output: "" (plain text) or "json".
type outputFlag struct{ format string }

func addOutputFlag(fs *flag.FlagSet) *outputFlag {
	o := &outputFlag{}
	aliasString(fs, &o.format, "The output format for query results. Default is human-readable plain-text. json is currently the only supported format.", "O", "output")
	return o
}

func (o *outputFlag) json() (bool, error) {
	switch strings.ToLower(o.format) {
	case "":
		return false, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("--output %q is not supported; use --output json or leave it out for plain text", o.format)
}

// printResultJSON prints a lifecycle result as Fabric's CLI does: encoding/json of
// the generated message (its snake_case json tags), tab-indented.
func printResultJSON(w io.Writer, m proto.Message) error {
	b, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		return fmt.Errorf("encode %T as JSON: %w", m, err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// decodeResult unmarshals a lifecycle answer into m, naming its type on error.
func decodeResult(payload []byte, m proto.Message) error {
	if err := proto.Unmarshal(payload, m); err != nil {
		return fmt.Errorf("decode %T: %w", m, err)
	}
	return nil
}

// signerAndPeers loads the CLI's signing identity, then the peers named by
// --peerAddresses or CORE_PEER_ADDRESS (in that order, so a missing identity
// is reported first).
func signerAndPeers(env *Env, p *peerFlags) (protos.Signer, []client.Endpoint, error) {
	signer, err := identity(env)
	if err != nil {
		return nil, nil, err
	}
	peers, err := p.endpoints(env)
	if err != nil {
		return nil, nil, err
	}
	return signer, peers, nil
}

// signerAndPeer is signerAndPeers for a peer-local command, which asks
// exactly one peer.
func signerAndPeer(env *Env, p *peerFlags, command string) (protos.Signer, client.Endpoint, error) {
	signer, err := identity(env)
	if err != nil {
		return nil, client.Endpoint{}, err
	}
	ep, err := p.onePeer(env, command)
	if err != nil {
		return nil, client.Endpoint{}, err
	}
	return signer, ep, nil
}

// queryLifecycle evaluates a _lifecycle function (args) on channel at one
// peer as signer, and decodes its answer into res. Peer-local functions take
// an empty channel.
func queryLifecycle(ctx context.Context, signer protos.Signer, peer client.Endpoint, channel string, args [][]byte, res proto.Message) error {
	payload, err := queryEndpoint(ctx, signer, peer, client.Invocation{Channel: channel, Chaincode: client.LifecycleName, Args: args})
	if err != nil {
		return err
	}
	return decodeResult(payload, res)
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

// queryEndpoint evaluates a proposal on one peer as signer.
func queryEndpoint(ctx context.Context, signer protos.Signer, ep client.Endpoint, inv client.Invocation) ([]byte, error) {
	conn, err := client.Dial(ep)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	out, err := client.Query(ctx, signer, inv, pb.NewEndorserClient(conn))
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", ep.Address, err)
	}
	return out, nil
}

func runCCPackage(_ context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode package OUTPUT.tar.gz")
	var path, lang, label string
	aliasString(fset, &path, "Path to the chaincode: the Go module folder (--lang golang) or the folder holding connection.json (--lang ccaas)", "p", "path")
	fset.StringVar(&lang, "lang", "golang", "Language the chaincode is written in: golang, or ccaas for chaincode-as-a-service")
	fset.StringVar(&lang, "l", "golang", "short for --lang")
	fset.StringVar(&label, "label", "", "The package label contains a human-readable description of the package (required)")
	addConnFlags(fset) // accepted and unused, as in Fabric
	positional, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 || label == "" || path == "" {
		return fmt.Errorf("usage: weft chaincode package OUTPUT.tar.gz --path DIR --lang golang|ccaas --label LABEL")
	}
	output := positional[0]
	var pkg []byte
	switch lang {
	case "golang":
		pkg, err = client.GoSourcePackage(label, path, path)
	case "ccaas":
		pkg, err = client.CCaaSDirPackage(label, path)
	default:
		return fmt.Errorf("--lang %q is not supported; use golang or ccaas", lang)
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(output, pkg, 0o644); err != nil {
		return fmt.Errorf("error writing chaincode package to %s: %w", output, err)
	}
	fmt.Fprintf(env.Stdout, "wrote %s (package ID %s)\n", output, client.PackageID(label, pkg))
	return nil
}

// packageLabel reads the label from a package's metadata.json.
func packageLabel(pkg []byte) (string, error) {
	files, err := client.UntarGz(pkg)
	if err != nil {
		return "", fmt.Errorf("could not parse as a chaincode install package: %w", err)
	}
	raw, ok := files["metadata.json"]
	if !ok {
		return "", fmt.Errorf("could not parse as a chaincode install package: no metadata.json")
	}
	var md struct {
		Label string `json:"label"`
	}
	if err := json.Unmarshal(raw, &md); err != nil || md.Label == "" {
		return "", fmt.Errorf("could not parse as a chaincode install package: metadata.json has no label (%v)", err)
	}
	return md.Label, nil
}

func runCCCalculatePackageID(_ context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode calculatepackageid PACKAGE.tar.gz")
	out := addOutputFlag(fset)
	addConnFlags(fset) // accepted and unused, as in Fabric
	positional, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	asJSON, err := out.json()
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return fmt.Errorf("usage: weft chaincode calculatepackageid PACKAGE.tar.gz [--output json]")
	}
	pkg, err := os.ReadFile(positional[0])
	if err != nil {
		return fmt.Errorf("failed to read chaincode package at '%s': %w", positional[0], err)
	}
	label, err := packageLabel(pkg)
	if err != nil {
		return err
	}
	id := client.PackageID(label, pkg)
	if asJSON {
		b, _ := json.MarshalIndent(struct {
			PackageID string `json:"package_id"`
		}{id}, "", "\t")
		fmt.Fprintf(env.Stdout, "%s\n", b)
		return nil
	}
	fmt.Fprintln(env.Stdout, id)
	return nil
}

func runCCInstall(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode install PACKAGE.tar.gz")
	c := addConnFlags(fset)
	positional, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return fmt.Errorf("usage: weft chaincode install PACKAGE.tar.gz [--peerAddresses HOST:PORT --tlsRootCertFiles CA.crt]...")
	}
	pkg, err := os.ReadFile(positional[0])
	if err != nil {
		return fmt.Errorf("failed to read chaincode package at '%s': %w", positional[0], err)
	}
	signer, peers, err := signerAndPeers(env, c.peers)
	if err != nil {
		return err
	}
	// Fabric installs on one peer per command; Weft installs on each peer named.
	for _, p := range peers {
		out, err := queryEndpoint(ctx, signer, p, client.Invocation{Chaincode: client.LifecycleName, Args: client.InstallArgs(pkg)})
		if err != nil {
			return fmt.Errorf("chaincode install failed: %w", err)
		}
		res, err := client.InstallResult(out)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Chaincode code package identifier: %s\n", res.PackageId)
	}
	return nil
}

func runCCQueryInstalled(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode queryinstalled")
	c := addConnFlags(fset)
	out := addOutputFlag(fset)
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 0 {
		return fmt.Errorf("usage: weft chaincode queryinstalled (the peer is CORE_PEER_ADDRESS or --peerAddresses; unexpected %q)", fset.Args())
	}
	asJSON, err := out.json()
	if err != nil {
		return err
	}
	signer, ep, err := signerAndPeer(env, c.peers, "queryinstalled")
	if err != nil {
		return err
	}
	res := &lb.QueryInstalledChaincodesResult{}
	if err := queryLifecycle(ctx, signer, ep, "", client.QueryInstalledArgs(), res); err != nil {
		return fmt.Errorf("query installed chaincodes: %w", err)
	}
	if asJSON {
		return printResultJSON(env.Stdout, res)
	}
	fmt.Fprintln(env.Stdout, "Installed chaincodes on peer:")
	for _, cc := range res.InstalledChaincodes {
		fmt.Fprintf(env.Stdout, "Package ID: %s, Label: %s\n", cc.PackageId, cc.Label)
	}
	return nil
}

func runCCGetInstalledPackage(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode getinstalledpackage")
	c := addConnFlags(fset)
	var packageID, dir string
	fset.StringVar(&packageID, "package-id", "", "The identifier of the chaincode install package (required)")
	fset.StringVar(&dir, "output-directory", "", "The output directory to use when writing a chaincode install package to disk. Default is the current working directory.")
	positional, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if packageID == "" || len(positional) != 0 {
		return fmt.Errorf("usage: weft chaincode getinstalledpackage --package-id LABEL:HASH [--output-directory DIR]")
	}
	signer, ep, err := signerAndPeer(env, c.peers, "getinstalledpackage")
	if err != nil {
		return err
	}
	res := &lb.GetInstalledChaincodePackageResult{}
	if err := queryLifecycle(ctx, signer, ep, "", client.GetInstalledPackageArgs(packageID), res); err != nil {
		return fmt.Errorf("get installed chaincode package %s: %w", packageID, err)
	}
	if dir == "" {
		if dir, err = os.Getwd(); err != nil {
			return err
		}
	}
	path := filepath.Join(dir, packageID+".tar.gz")
	if err := os.WriteFile(path, res.ChaincodeInstallPackage, 0o644); err != nil {
		return fmt.Errorf("failed to write chaincode package to %s: %w", path, err)
	}
	fmt.Fprintf(env.Stderr, "wrote %s\n", path)
	return nil
}
