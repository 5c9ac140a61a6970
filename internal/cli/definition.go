package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/protos"
)

// definitionFlags are the flags that describe a chaincode definition.
type definitionFlags struct {
	channel, name, version, packageID, sigPolicy, channelPolicy string
	endorsementPlugin, validationPlugin, collectionsConfig      string
	sequence                                                    int64
	initRequired                                                bool
}

// waitFlags are --waitForEvent and --waitForEventTimeout.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func addWaitFlags(fs *flag.FlagSet, def bool) *waitFlags {
	w := &waitFlags{}
	fs.BoolVar(&w.wait, "waitForEvent", def, "Whether to wait for the event from each peer's deliver filtered service signifying that the transaction has been committed successfully")
	fs.DurationVar(&w.timeout, "waitForEventTimeout", 30*time.Second, "Time to wait for the event from each peer's deliver filtered service signifying that the transaction has been committed successfully")
	return w
}

// ccFlags are -C/--channelID, -n/--name and, when asked, -c/--ctor.
type ccFlags struct{ channel, name, ctor string }

func addCCFlags(fs *flag.FlagSet, ctor bool) *ccFlags {
	f := &ccFlags{}
	aliasString(fs, &f.channel, "The channel on which this command should be executed", "C", "channelID")
	aliasString(fs, &f.name, "Name of the chaincode", "n", "name")
	if ctor {
		aliasString(fs, &f.ctor, "Constructor message for the chaincode in JSON format, e.g. {\"Args\":[\"ReadAsset\",\"asset1\"]}", "c", "ctor")
	}
	return f
}

// addDefinitionFlags adds the flags of approveformyorg: a definition and its --package-id.
func addDefinitionFlags(fs *flag.FlagSet) *definitionFlags {
	d := addDefinitionQueryFlags(fs)
	fs.StringVar(&d.packageID, "package-id", "", "The identifier of the chaincode install package")
	return d
}

// addDefinitionQueryFlags adds the flags that describe a definition without
// a package (checkcommitreadiness, commit).
func addDefinitionQueryFlags(fs *flag.FlagSet) *definitionFlags {
	d := &definitionFlags{}
	aliasString(fs, &d.channel, "The channel on which this command should be executed", "C", "channelID")
	aliasString(fs, &d.name, "Name of the chaincode", "n", "name")
	aliasString(fs, &d.version, "Version of the chaincode", "v", "version")
	fs.Int64Var(&d.sequence, "sequence", 1, "The sequence number of the chaincode definition for the channel")
	fs.StringVar(&d.sigPolicy, "signature-policy", "", "The endorsement policy associated to this chaincode specified as a signature policy, e.g. \"AND('Org1MSP.peer','Org2MSP.peer')\"")
	fs.StringVar(&d.channelPolicy, "channel-config-policy", "", "The endorsement policy associated to this chaincode specified as a channel config policy reference, e.g. /Channel/Application/Endorsement")
	fs.BoolVar(&d.initRequired, "init-required", false, "Whether the chaincode requires invoking 'init'")
	fs.StringVar(&d.collectionsConfig, "collections-config", "", "The fully qualified path to the collection JSON file including the file name")
	aliasString(fs, &d.endorsementPlugin, "The name of the endorsement plugin to be used for this chaincode (default escc, the only one Weft runs)", "E", "endorsement-plugin")
	aliasString(fs, &d.validationPlugin, "The name of the validation plugin to be used for this chaincode (default vscc, the only one Weft runs)", "V", "validation-plugin")
	return d
}

func (d *definitionFlags) definition() (client.Definition, error) {
	if d.channel == "" || d.name == "" || d.version == "" {
		return client.Definition{}, fmt.Errorf("--channelID, --name and --version are required")
	}
	def := client.Definition{
		Name: d.name, Version: d.version, Sequence: d.sequence, PackageID: d.packageID, InitRequired: d.initRequired,
		EndorsementPlugin: d.endorsementPlugin, ValidationPlugin: d.validationPlugin,
	}
	var err error
	if def.EndorsementPolicy, err = applicationPolicy(d.sigPolicy, d.channelPolicy); err != nil {
		return def, err
	}
	if d.collectionsConfig != "" {
		if def.Collections, err = ReadCollectionsConfig(d.collectionsConfig); err != nil {
			return def, fmt.Errorf("invalid collection configuration in file %s: %w", d.collectionsConfig, err)
		}
	}
	return def, nil
}

// applicationPolicy encodes an endorsement policy given as a signature
// policy or as a channel policy reference; nil when neither is given.
func applicationPolicy(sigPolicy, channelPolicy string) ([]byte, error) {
	switch {
	case sigPolicy != "" && channelPolicy != "":
		return nil, fmt.Errorf("give either --signature-policy or --channel-config-policy, not both")
	case sigPolicy != "":
		env, err := channelconfig.ParsePolicyDSL(sigPolicy)
		if err != nil {
			return nil, fmt.Errorf("--signature-policy: %w", err)
		}
		return protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: env}}), nil
	case channelPolicy != "":
		return protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_ChannelConfigPolicyReference{ChannelConfigPolicyReference: channelPolicy}}), nil
	}
	return nil, nil
}

// collectionJSON is one entry of Fabric's collections config file.
type collectionJSON struct {
	Name              string `json:"name"`
	Policy            string `json:"policy"`
	RequiredPeerCount int32  `json:"requiredPeerCount"`
	MaxPeerCount      int32  `json:"maxPeerCount"`
	BlockToLive       uint64 `json:"blockToLive"`
	MemberOnlyRead    bool   `json:"memberOnlyRead"`
	MemberOnlyWrite   bool   `json:"memberOnlyWrite"`
	EndorsementPolicy *struct {
		SignaturePolicy     string `json:"signaturePolicy"`
		ChannelConfigPolicy string `json:"channelConfigPolicy"`
	} `json:"endorsementPolicy"`
}

// ReadCollectionsConfig reads a collections config file (a JSON array in
// Fabric's format) into a CollectionConfigPackage.
func ReadCollectionsConfig(path string) (*pb.CollectionConfigPackage, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list []collectionJSON
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("want a JSON array of collections ({\"name\", \"policy\", \"requiredPeerCount\", \"maxPeerCount\", \"blockToLive\", ...}): %w", err)
	}
	pkg := &pb.CollectionConfigPackage{}
	for i, c := range list {
		if c.Name == "" {
			return nil, fmt.Errorf("collection %d has no name", i)
		}
		if c.Policy == "" {
			return nil, fmt.Errorf("collection %s has no policy (e.g. \"OR('Org1MSP.member','Org2MSP.member')\")", c.Name)
		}
		members, err := channelconfig.ParsePolicyDSL(c.Policy)
		if err != nil {
			return nil, fmt.Errorf("collection %s: policy %q: %w", c.Name, c.Policy, err)
		}
		sc := &pb.StaticCollectionConfig{
			Name:              c.Name,
			MemberOrgsPolicy:  &pb.CollectionPolicyConfig{Payload: &pb.CollectionPolicyConfig_SignaturePolicy{SignaturePolicy: members}},
			RequiredPeerCount: c.RequiredPeerCount,
			MaximumPeerCount:  c.MaxPeerCount,
			BlockToLive:       c.BlockToLive,
			MemberOnlyRead:    c.MemberOnlyRead,
			MemberOnlyWrite:   c.MemberOnlyWrite,
		}
		if ep := c.EndorsementPolicy; ep != nil {
			b, err := applicationPolicy(ep.SignaturePolicy, ep.ChannelConfigPolicy)
			if err != nil {
				return nil, fmt.Errorf("collection %s: endorsementPolicy: %w", c.Name, err)
			}
			if b != nil {
				sc.EndorsementPolicy = &pb.ApplicationPolicy{}
				if err := decodeResult(b, sc.EndorsementPolicy); err != nil {
					return nil, err
				}
			}
		}
		pkg.Config = append(pkg.Config, &pb.CollectionConfig{Payload: &pb.CollectionConfig_StaticCollectionConfig{StaticCollectionConfig: sc}})
	}
	return pkg, nil
}

// submit endorses inv on peers, orders it and, if w.wait, waits until every
// endorsing peer has committed it, printing one line per peer as Fabric does.
func submit(ctx context.Context, env *Env, inv client.Invocation, peers []client.Endpoint, orderer client.Endpoint, w waitFlags) (*client.Result, error) {
	signer, err := identity(env)
	if err != nil {
		return nil, err
	}
	endorsers := map[string]pb.EndorserClient{}
	var watchers []*client.CommitWatcher
	waitCtx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	for _, p := range peers {
		conn, err := client.Dial(p)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		endorsers[p.Address] = pb.NewEndorserClient(conn)
		if w.wait {
			watcher, err := client.WatchCommits(waitCtx, conn, signer, inv.Channel, &ab.SeekPosition{Type: &ab.SeekPosition_Newest{Newest: &ab.SeekNewest{}}})
			if err != nil {
				return nil, fmt.Errorf("peer %s: %w", p.Address, err)
			}
			defer watcher.Close()
			watchers = append(watchers, watcher)
		}
	}
	oconn, err := client.Dial(orderer)
	if err != nil {
		return nil, err
	}
	defer oconn.Close()
	res, err := client.Invoke(ctx, signer, inv, endorsers, oconn, nil)
	if err != nil || !w.wait {
		return res, err
	}
	for i, watcher := range watchers {
		st, err := watcher.Wait(res.TxID)
		if err != nil {
			if waitCtx.Err() != nil {
				return res, fmt.Errorf("timed out after %s (--waitForEventTimeout) waiting for txid [%s] to commit at %s", w.timeout, res.TxID, peers[i].Address)
			}
			return res, fmt.Errorf("peer %s: %w", peers[i].Address, err)
		}
		res.Status = st
		if st.Code != pb.TxValidationCode_VALID {
			return res, fmt.Errorf("transaction %s in block %d: %s at %s: %w", res.TxID, st.Block, st.Code, peers[i].Address, client.ErrNotCommitted)
		}
		fmt.Fprintf(env.Stdout, "txid [%s] committed with status (%s) at %s\n", res.TxID, st.Code, peers[i].Address)
	}
	return res, nil
}

// definitionTx is a parsed approveformyorg or commit: the definition, the
// peers that endorse it, the orderer and how to wait for the commit.
type definitionTx struct {
	channel string
	def     client.Definition
	orderer client.Endpoint
	peers   []client.Endpoint
	wait    waitFlags
}

// parseDefinitionTx parses the flags of `weft chaincode command`; approve
// also takes --package-id and requires it.
func parseDefinitionTx(env *Env, command string, args []string, approve bool) (*definitionTx, error) {
	fset := newFlags(env, "chaincode "+command)
	c := addConnFlags(fset)
	var d *definitionFlags
	if approve {
		d = addDefinitionFlags(fset)
	} else {
		d = addDefinitionQueryFlags(fset)
	}
	w := addWaitFlags(fset, true)
	if err := fset.Parse(args); err != nil {
		return nil, err
	}
	def, err := d.definition()
	if err != nil {
		return nil, err
	}
	if approve && def.PackageID == "" {
		return nil, fmt.Errorf("--package-id is required (see weft chaincode install's output or weft chaincode queryinstalled)")
	}
	oe, peers, err := targets(env, c.orderer, c.peers)
	if err != nil {
		return nil, err
	}
	return &definitionTx{channel: d.channel, def: def, orderer: oe, peers: peers, wait: *w}, nil
}

// submit orders the _lifecycle transaction with args.
func (tx *definitionTx) submit(ctx context.Context, env *Env, args [][]byte) (*client.Result, error) {
	inv := client.Invocation{Channel: tx.channel, Chaincode: client.LifecycleName, Args: args}
	return submit(ctx, env, inv, tx.peers, tx.orderer, tx.wait)
}

func runCCApprove(ctx context.Context, env *Env, args []string) error {
	tx, err := parseDefinitionTx(env, "approveformyorg", args, true)
	if err != nil {
		return err
	}
	if _, err := tx.submit(ctx, env, client.ApproveArgs(tx.def)); err != nil {
		return fmt.Errorf("approve chaincode definition %s sequence %d for my org: %w", tx.def.Name, tx.def.Sequence, err)
	}
	return nil
}

func runCCCommit(ctx context.Context, env *Env, args []string) error {
	tx, err := parseDefinitionTx(env, "commit", args, false)
	if err != nil {
		return err
	}
	res, err := tx.submit(ctx, env, client.CommitArgs(tx.def))
	if err != nil {
		err = fmt.Errorf("commit chaincode definition %s sequence %d: %w", tx.def.Name, tx.def.Sequence, err)
		if res != nil && res.Status.Code == pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE {
			return commitPolicyHint(ctx, env, tx.peers[0], tx.channel, tx.def, err)
		}
		return err
	}
	return nil
}

// commitPolicyHint explains a commit the LifecycleEndorsement policy refused:
// it asks the peer which organisations have not approved the definition.
func commitPolicyHint(ctx context.Context, env *Env, peer client.Endpoint, channel string, def client.Definition, cause error) error {
	hint := "endorse the commit on a peer of every organisation the channel's LifecycleEndorsement policy needs (--peerAddresses)"
	signer, err := identity(env)
	if err != nil {
		return fmt.Errorf("%w; the channel's LifecycleEndorsement policy was not satisfied: %s", cause, hint)
	}
	res := &lb.CheckCommitReadinessResult{}
	if queryLifecycle(ctx, signer, peer, channel, client.CheckCommitReadinessArgs(def), res) == nil {
		var missing []string
		for org, ok := range res.Approvals {
			if !ok {
				missing = append(missing, org)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			hint = fmt.Sprintf("approval missing from %s: have them run weft chaincode approveformyorg for this definition, or %s", strings.Join(missing, ", "), hint)
		}
	}
	return fmt.Errorf("%w; the channel's LifecycleEndorsement policy was not satisfied: %s", cause, hint)
}

func runCCCheckCommitReadiness(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode checkcommitreadiness")
	c := addConnFlags(fset)
	d := addDefinitionQueryFlags(fset)
	out := addOutputFlag(fset)
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
	asJSON, err := out.json()
	if err != nil {
		return err
	}
	signer, peers, err := signerAndPeers(env, c.peers)
	if err != nil {
		return err
	}
	res := &lb.CheckCommitReadinessResult{}
	if err := queryLifecycle(ctx, signer, peers[0], d.channel, client.CheckCommitReadinessArgs(def), res); err != nil {
		return fmt.Errorf("check commit readiness: %w", err)
	}
	if asJSON {
		return printResultJSON(env.Stdout, res)
	}
	fmt.Fprintf(env.Stdout, "Chaincode definition for chaincode '%s', version '%s', sequence '%d' on channel '%s' approval status by org:\n",
		def.Name, def.Version, def.Sequence, d.channel)
	for _, org := range slices.Sorted(maps.Keys(res.Approvals)) {
		fmt.Fprintf(env.Stdout, "%s: %t\n", org, res.Approvals[org])
	}
	return nil
}

func runCCQueryApproved(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode queryapproved")
	c := addConnFlags(fset)
	cf := addCCFlags(fset, false)
	var sequence int64
	fset.Int64Var(&sequence, "sequence", 0, "The sequence number of the chaincode definition for the channel (default: the latest approved)")
	out := addOutputFlag(fset)
	if err := fset.Parse(args); err != nil {
		return err
	}
	if cf.channel == "" || cf.name == "" || fset.NArg() != 0 {
		return fmt.Errorf("usage: weft chaincode queryapproved -C CHANNEL -n NAME [--sequence N] [--output json]")
	}
	asJSON, err := out.json()
	if err != nil {
		return err
	}
	signer, ep, err := signerAndPeer(env, c.peers, "queryapproved")
	if err != nil {
		return err
	}
	res := &lb.QueryApprovedChaincodeDefinitionResult{}
	if err := queryLifecycle(ctx, signer, ep, cf.channel, client.QueryApprovedArgs(cf.name, sequence), res); err != nil {
		return fmt.Errorf("query approved chaincode definition %s: %w", cf.name, err)
	}
	if asJSON {
		return printResultJSON(env.Stdout, res)
	}
	fmt.Fprintf(env.Stdout, "Approved chaincode definition for chaincode '%s' on channel '%s':\n", cf.name, cf.channel)
	fmt.Fprintf(env.Stdout, "sequence: %d, version: %s, init-required: %t, package-id: %s, endorsement plugin: %s, validation plugin: %s\n",
		res.Sequence, res.Version, res.InitRequired, res.GetSource().GetLocalPackage().GetPackageId(), res.EndorsementPlugin, res.ValidationPlugin)
	return nil
}

func runCCQueryCommitted(ctx context.Context, env *Env, args []string) error {
	fset := newFlags(env, "chaincode querycommitted")
	c := addConnFlags(fset)
	cf := addCCFlags(fset, false)
	out := addOutputFlag(fset)
	if err := fset.Parse(args); err != nil {
		return err
	}
	if cf.channel == "" || fset.NArg() != 0 {
		return fmt.Errorf("usage: weft chaincode querycommitted -C CHANNEL [-n NAME] [--output json]")
	}
	asJSON, err := out.json()
	if err != nil {
		return err
	}
	signer, peers, err := signerAndPeers(env, c.peers)
	if err != nil {
		return err
	}
	if cf.name == "" {
		res := &lb.QueryChaincodeDefinitionsResult{}
		if err := queryLifecycle(ctx, signer, peers[0], cf.channel, client.QueryCommittedAllArgs(), res); err != nil {
			return fmt.Errorf("query committed chaincode definitions: %w", err)
		}
		if asJSON {
			return printResultJSON(env.Stdout, res)
		}
		fmt.Fprintf(env.Stdout, "Committed chaincode definitions on channel '%s':\n", cf.channel)
		for _, d := range res.ChaincodeDefinitions {
			fmt.Fprintf(env.Stdout, "Name: %s, Version: %s, Sequence: %d, Endorsement Plugin: %s, Validation Plugin: %s\n",
				d.Name, d.Version, d.Sequence, d.EndorsementPlugin, d.ValidationPlugin)
		}
		return nil
	}
	res := &lb.QueryChaincodeDefinitionResult{}
	if err := queryLifecycle(ctx, signer, peers[0], cf.channel, client.QueryCommittedArgs(cf.name), res); err != nil {
		return fmt.Errorf("query committed chaincode definition %s: %w", cf.name, err)
	}
	if asJSON {
		return printResultJSON(env.Stdout, res)
	}
	var approvals []string
	for _, org := range slices.Sorted(maps.Keys(res.Approvals)) {
		approvals = append(approvals, fmt.Sprintf("%s: %t", org, res.Approvals[org]))
	}
	fmt.Fprintf(env.Stdout, "Committed chaincode definition for chaincode '%s' on channel '%s':\nVersion: %s, Sequence: %d, Endorsement Plugin: %s, Validation Plugin: %s, Approvals: [%s]\n",
		cf.name, cf.channel, res.Version, res.Sequence, res.EndorsementPlugin, res.ValidationPlugin, strings.Join(approvals, ", "))
	return nil
}
