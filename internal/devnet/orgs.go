package devnet

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/protos"
)

// MinOrgs and MaxOrgs bound the number of application organisations the
// development network runs: Org1 and Org2 as Fabric's test-network, plus
// Org3 and Org4 to measure what each organisation of an AND endorsement
// policy costs.
const (
	MinOrgs = 2
	MaxOrgs = 4
)

// CheckOrgs reports whether n is a number of application organisations the
// development network runs: 2, 3 or 4.
func CheckOrgs(n int) error {
	if n >= MinOrgs && n <= MaxOrgs {
		return nil
	}
	return fmt.Errorf("%d organisations: the development network runs %d (Org1 and Org2, as Fabric's test-network), 3 (with Org3) or %d (with Org3 and Org4)",
		n, MinOrgs, MaxOrgs)
}

// Orgs returns the application organisations (Config.Organizations of
// them, two when it is zero), each through its peer0 with the configured
// ports (PeerNodes gives every peer). An organisation Ports has no ports for
// gets zero ports.
func (c Config) Orgs() []Org {
	n := max(c.Organizations, MinOrgs)
	orgs := make([]Org, 0, n)
	for i := range n {
		name := "Org" + strconv.Itoa(i+1)
		domain := lower(name) + ".example.com"
		o := Org{Name: name, MSPID: name + "MSP", Domain: domain, Peer: "peer0." + domain}
		if p, ok := c.Ports.peer0Ports(i); ok {
			o.Port, o.ChaincodePort, o.OpsPort = p.Listen, p.Chaincode, p.Ops
		}
		orgs = append(orgs, o)
	}
	return orgs
}

// peer0Ports returns the ports of peer0 of the organisation at index i of
// Orgs, ok false when Ports has none for it.
func (p Ports) peer0Ports(i int) (PeerPorts, bool) {
	switch {
	case i == 0:
		return PeerPorts{Listen: p.Peer1, Chaincode: p.Peer1Chaincode, Ops: p.Peer1Ops}, true
	case i == 1:
		return PeerPorts{Listen: p.Peer2, Chaincode: p.Peer2Chaincode, Ops: p.Peer2Ops}, true
	case i >= 2 && i-2 < len(p.OtherOrgs):
		return p.OtherOrgs[i-2], true
	}
	return PeerPorts{}, false
}

// OrgsCreated returns the number of application organisations of the
// network in c.Dir (those with crypto material, Org1 onwards), 0 when the
// folder holds no network yet.
func (c Config) OrgsCreated() int {
	if !exists(c.Path("channel-artifacts", "setup-done")) {
		return 0
	}
	probe := c
	probe.Organizations = MaxOrgs
	n := 0
	for _, o := range probe.Orgs() {
		if !exists(c.Path("organizations", "peerOrganizations", o.Domain)) {
			break
		}
		n++
	}
	return n
}

// resolveOrgs returns the number of organisations to run: the one asked
// for, else the one the folder's network was created with, else 2. Another
// number than the folder's is an error: the channel's members are fixed in
// its genesis block.
func resolveOrgs(cfg Config, fresh bool) (int, error) {
	if fresh {
		return max(cfg.Organizations, MinOrgs), nil
	}
	have := max(cfg.OrgsCreated(), MinOrgs)
	if cfg.Organizations != 0 && cfg.Organizations != have {
		return 0, fmt.Errorf("the development network in %s was created with %d organisations, not %d; "+
			"run weft up with --orgs %d, or remove the folder (make clean) to create a network of %d",
			cfg.Dir, have, cfg.Organizations, have, cfg.Organizations)
	}
	return have, nil
}

// AllOrgsPolicy returns the signature policy that needs an endorsement
// from a peer of every organisation of c (AND('Org1MSP.peer',
// 'Org2MSP.peer', ...)), for Config.EndorsementPolicy.
func (c Config) AllOrgsPolicy() string {
	var ps []string
	for _, o := range c.Orgs() {
		ps = append(ps, "'"+o.MSPID+".peer'")
	}
	return "AND(" + strings.Join(ps, ",") + ")"
}

// definitionPolicy returns the endorsement policy of basic's definition as
// _lifecycle takes it (a marshalled ApplicationPolicy), nil for the
// channel's default (/Channel/Application/Endorsement). Every organisation
// the policy names must be one of the network's, or no transaction could
// ever satisfy it.
func definitionPolicy(cfg Config) ([]byte, error) {
	if cfg.EndorsementPolicy == "" {
		return nil, nil
	}
	env, err := channelconfig.ParsePolicyDSL(cfg.EndorsementPolicy)
	if err != nil {
		return nil, fmt.Errorf("endorsement policy %q: %w", cfg.EndorsementPolicy, err)
	}
	members := map[string]bool{}
	var ids []string
	for _, o := range cfg.Orgs() {
		members[o.MSPID] = true
		ids = append(ids, o.MSPID)
	}
	for _, p := range env.Identities {
		if p.PrincipalClassification != mspproto.MSPPrincipal_ROLE {
			continue
		}
		var role mspproto.MSPRole
		if err := proto.Unmarshal(p.Principal, &role); err != nil {
			return nil, fmt.Errorf("endorsement policy %q: %w", cfg.EndorsementPolicy, err)
		}
		if !members[role.MspIdentifier] {
			return nil, fmt.Errorf("endorsement policy %q names %s, which is not an organisation of this network (%s); "+
				"name only those, or run a network with more organisations (--orgs)",
				cfg.EndorsementPolicy, role.MspIdentifier, strings.Join(ids, ", "))
		}
	}
	return protos.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{SignaturePolicy: env}}), nil
}

// policyRecord is where a network keeps the endorsement policy basic was
// defined with ("" for the channel's default), so that a restart can tell
// whether it is asked for another.
func (c Config) policyRecord() string {
	return c.Path("channel-artifacts", ChaincodeName+"-endorsement-policy")
}

// checkPolicy refuses, on a restart, an endorsement policy other than the
// one basic was defined with: Up defines basic once, on a new network.
func checkPolicy(cfg Config) error {
	if cfg.EndorsementPolicy == "" {
		return nil
	}
	raw, err := os.ReadFile(cfg.policyRecord())
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if have := string(raw); have != cfg.EndorsementPolicy {
		if have == "" {
			have = "the channel's default (MAJORITY Endorsement)"
		}
		return fmt.Errorf("basic on the development network in %s is defined with the endorsement policy %s, not %q; "+
			"run weft up without one, or remove the folder (make clean) to create a network with it",
			cfg.Dir, have, cfg.EndorsementPolicy)
	}
	return nil
}

// writeOrgFiles rewrites the network's crypto-config.yaml and configtx.yaml
// (sampleconfig's, Org1 and Org2) for every organisation of cfg.
func writeOrgFiles(cfg Config) error {
	orgs := cfg.Orgs()
	for _, f := range []struct {
		name string
		edit func([]byte, []Org) ([]byte, error)
	}{{"crypto-config.yaml", orgsCryptoConfig}, {"configtx.yaml", orgsConfigTx}} {
		raw, err := os.ReadFile(cfg.Path(f.name))
		if err != nil {
			return err
		}
		out, err := f.edit(raw, orgs)
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.Path(f.name), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// orgNames lists the organisations after Org2, for the files' headers.
func orgNames(orgs []Org, name func(Org) string) string {
	var names []string
	for _, o := range orgs[MinOrgs:] {
		names = append(names, name(o))
	}
	return strings.Join(names, " and ")
}

// renamer replaces Org2's names with another organisation's in a copy of
// Org2's entry.
func renamer(o Org) *strings.Replacer {
	return strings.NewReplacer("Org2", o.Name, "org2", lower(o.Name))
}

// renameScalars applies r to every scalar below n.
func renameScalars(n *yaml.Node, r *strings.Replacer) {
	if n.Kind == yaml.ScalarNode {
		n.Value = r.Replace(n.Value)
	}
	for _, c := range n.Content {
		renameScalars(c, r)
	}
}

// orgsCryptoConfig adds Org3 onwards to sampleconfig's crypto-config.yaml,
// each a copy of Org2's entry under its own names: two peers and one user,
// TLS certificates valid for localhost and 127.0.0.1.
func orgsCryptoConfig(raw []byte, orgs []Org) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("crypto-config.yaml: %w", err)
	}
	peerOrgs := mapValue(root(&doc), "PeerOrgs")
	if peerOrgs == nil || peerOrgs.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("crypto-config.yaml: no PeerOrgs")
	}
	var org2 *yaml.Node
	for _, o := range peerOrgs.Content {
		if d := mapValue(o, "Domain"); d != nil && d.Value == "org2.example.com" {
			org2 = o
		}
	}
	if org2 == nil {
		return nil, fmt.Errorf("crypto-config.yaml: PeerOrgs has no Org2 (domain org2.example.com) to copy for %s", orgNames(orgs, func(o Org) string { return o.Name }))
	}
	for _, o := range orgs[MinOrgs:] {
		c := cloneNode(org2)
		c.HeadComment = ""
		renameScalars(c, renamer(o))
		peerOrgs.Content = append(peerOrgs.Content, c)
	}
	header := fmt.Sprintf("# Written by `weft up --orgs %d` from Weft's sampleconfig/crypto-config.yaml,\n"+
		"# with %s laid out as Org2.\n#\n", len(orgs), orgNames(orgs, func(o Org) string { return o.Name + " (" + o.Domain + ")" }))
	return encodeYAML(&doc, header)
}

// orgsConfigTx makes sampleconfig's configtx.yaml describe a channel of
// every organisation in orgs: Org3 onwards are copies of Org2's entry (its
// policies, its MSP folder's layout) under their own names, with their peer0
// as anchor peer on the test-network port DefaultPorts gives it, and
// members of the ChannelUsingRaft profile's Application. The channel's
// policies stay those of Fabric's test-network (MAJORITY Admins, MAJORITY
// Endorsement, MAJORITY LifecycleEndorsement), now over every organisation.
func orgsConfigTx(raw []byte, orgs []Org) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("configtx.yaml: %w", err)
	}
	top := root(&doc)
	list := mapValue(top, "Organizations")
	var org2 *yaml.Node
	if list != nil {
		for _, o := range list.Content {
			if id := mapValue(o, "ID"); id != nil && id.Value == "Org2MSP" {
				org2 = deref(o)
			}
		}
	}
	if org2 == nil {
		return nil, fmt.Errorf("configtx.yaml: Organizations has no Org2MSP to copy")
	}
	members := mapValue(mapValue(mapValue(mapValue(top, "Profiles"), Profile), "Application"), "Organizations")
	if members == nil || members.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("configtx.yaml: profile %s has no Application.Organizations", Profile)
	}
	def := DefaultPorts()
	var anchors []string
	for i, o := range orgs {
		if i < MinOrgs {
			continue
		}
		c := cloneNode(org2)
		renameScalars(c, renamer(o))
		c.Anchor = o.Name
		p, _ := def.peer0Ports(i)
		if aps := mapValue(c, "AnchorPeers"); aps != nil {
			for _, ap := range aps.Content {
				if port := mapValue(ap, "Port"); port != nil {
					port.Value = strconv.Itoa(p.Listen)
				}
			}
		}
		anchors = append(anchors, fmt.Sprintf("%s (anchor peer localhost:%d)", o.MSPID, p.Listen))
		list.Content = append(list.Content, c)
		members.Content = append(members.Content, &yaml.Node{Kind: yaml.AliasNode, Value: o.Name, Alias: c})
	}
	header := fmt.Sprintf("# Written by `weft up --orgs %d` from Weft's sampleconfig/configtx.yaml: the\n"+
		"# channel has %d member organisations, the ones after Org2MSP laid out as it is:\n"+
		"# %s.\n"+
		"# The channel's policies are the test-network's (MAJORITY Admins, Endorsement\n"+
		"# and LifecycleEndorsement) over all of them. Ports are the test-network's;\n"+
		"# weft up moves them when it runs on others.\n#\n",
		len(orgs), len(orgs), strings.Join(anchors, ", "))
	return encodeYAML(&doc, header)
}
