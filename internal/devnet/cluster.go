package devnet

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxOrderers is the largest ordering service the development network runs.
const MaxOrderers = 5

// Raft timing of a development cluster (written to the EtcdRaft Options of
// configtx.yaml when there is more than one orderer). A follower that hears
// nothing from the leader for ElectionTick ticks (1 s, randomised by etcd raft
// up to 2 s) campaigns; the leader heartbeats every tick. A new leader is thus
// in place about one second after the old one dies, against about five with
// Fabric's defaults (500ms, 10, 1).
const (
	RaftTickInterval  = 100 * time.Millisecond
	RaftElectionTick  = 10
	RaftHeartbeatTick = 1
)

// CheckOrderers reports whether n is a size the development network runs:
// 1, 3 or 5 orderers.
func CheckOrderers(n int) error {
	switch n {
	case 1, 3, 5:
		return nil
	}
	return fmt.Errorf("%d orderers: the development network runs 1, 3 or 5 "+
		"(a Raft cluster of 3 keeps ordering with one node down, 5 with two; an even size adds no tolerance)", n)
}

// resolveOrderers returns the size of the network to run: the one asked for,
// else the one the folder holds, else 1. A folder created with another size is
// an error: its crypto material and genesis block name other consenters.
func resolveOrderers(cfg Config, fresh bool) (int, error) {
	if fresh {
		return max(cfg.Orderers, 1), nil
	}
	have := generatedOrderers(cfg)
	if have == 0 {
		return 0, fmt.Errorf("%s holds a development network without orderer crypto material (%s); "+
			"remove the folder (make clean) and run weft up again", cfg.Dir, cfg.OrdererDir())
	}
	if cfg.Orderers != 0 && cfg.Orderers != have {
		return 0, fmt.Errorf("the development network in %s was created with %d orderer(s), not %d; "+
			"run weft up with --orderers %d, or remove the folder (make clean) to create a network of %d",
			cfg.Dir, have, cfg.Orderers, have, cfg.Orderers)
	}
	return have, nil
}

// generatedOrderers counts the orderers whose crypto material the folder holds.
func generatedOrderers(cfg Config) int {
	probe := cfg
	probe.Orderers = MaxOrderers
	n := 0
	for _, o := range probe.OrdererNodes() {
		if !exists(cfg.OrdererNodeDir(o)) {
			break
		}
		n++
	}
	return n
}

// checkPorts makes sure every node has its ports and no two listeners share one.
func checkPorts(cfg Config) error {
	type listener struct {
		port int
		who  string
	}
	var all []listener
	for _, o := range cfg.OrdererNodes() {
		if _, ok := cfg.Ports.ordererPorts(o.Index); !ok {
			return fmt.Errorf("no ports for %s: Ports.OtherOrderers has %d entries, %d orderers need %d",
				o.Name, len(cfg.Ports.OtherOrderers), cfg.Orderers, cfg.Orderers-1)
		}
		if o.Listen == 0 || o.Admin == 0 {
			return fmt.Errorf("%s needs a listen and an admin port (Ports gives %d and %d)", o.Name, o.Listen, o.Admin)
		}
		all = append(all, listener{o.Listen, o.Name}, listener{o.Admin, o.Name + " admin"}, listener{o.Ops, o.Name + " operations"})
	}
	for i, o := range cfg.Orgs() {
		if i >= MinOrgs && (o.Port == 0 || o.ChaincodePort == 0 || o.OpsPort == 0) {
			return fmt.Errorf("no ports for %s: Ports.OtherOrgs needs a listen, chaincode and operations port for peer0 of Org3 onwards, in order (it has %d entries)",
				o.Peer, len(cfg.Ports.OtherOrgs))
		}
	}
	for _, o := range cfg.PeerNodes() {
		if o.PeerIndex > 0 && (o.Port == 0 || o.ChaincodePort == 0 || o.OpsPort == 0) {
			return fmt.Errorf("no ports for %s: Ports.OtherPeers needs a listen, chaincode and operations port for peer1 of each organisation, in Orgs order (it has %d entries)",
				o.Peer, len(cfg.Ports.OtherPeers))
		}
		all = append(all, listener{o.Port, o.Peer}, listener{o.ChaincodePort, o.Peer + " chaincode"}, listener{o.OpsPort, o.Peer + " operations"})
	}
	all = append(all, listener{cfg.Ports.Chaincode, "the basic chaincode server"},
		listener{cfg.Ports.RESTGateway, "the REST gateway"}, listener{cfg.Ports.RESTGatewayOps, "the REST gateway operations"})
	owner := map[int]string{}
	for _, l := range all {
		if l.port == 0 {
			continue
		}
		if prev, ok := owner[l.port]; ok {
			return fmt.Errorf("port %d is given to both %s and %s; give each listener its own port (devnet.Ports)", l.port, prev, l.who)
		}
		owner[l.port] = l.who
	}
	return nil
}

// FreePorts returns distinct free loopback ports for a network of the given
// number of orderers, up to MaxOrgs organisations and up to MaxPeers peers
// per organisation, as the kernel hands them out (for tests).
func FreePorts(orderers int) (Ports, error) {
	if err := CheckOrderers(orderers); err != nil {
		return Ports{}, err
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var err error
	next := func() int {
		if err != nil {
			return 0
		}
		var l net.Listener
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			err = fmt.Errorf("no free loopback port: %w", err)
			return 0
		}
		ls = append(ls, l)
		return l.Addr().(*net.TCPAddr).Port
	}
	p := Ports{
		Orderer: next(), OrdererAdmin: next(), OrdererOps: next(),
		Peer1: next(), Peer1Chaincode: next(), Peer1Ops: next(),
		Peer2: next(), Peer2Chaincode: next(), Peer2Ops: next(),
		Chaincode:   next(),
		RESTGateway: next(), RESTGatewayOps: next(),
	}
	for k := 2; k <= orderers; k++ {
		p.OtherOrderers = append(p.OtherOrderers, OrdererPorts{Listen: next(), Admin: next(), Ops: next()})
	}
	for range MaxOrgs - MinOrgs { // peer0 of Org3 onwards
		p.OtherOrgs = append(p.OtherOrgs, PeerPorts{Listen: next(), Chaincode: next(), Ops: next()})
	}
	for range MaxOrgs { // peer1 of each organisation
		p.OtherPeers = append(p.OtherPeers, PeerPorts{Listen: next(), Chaincode: next(), Ops: next()})
	}
	return p, err
}

// defaultAddress is an orderer's endpoint as the yaml files write it: the
// test-network's port, which remapPorts moves to the configured one.
func defaultAddress(o OrdererNode) string {
	p, _ := DefaultPorts().ordererPorts(o.Index)
	return "localhost:" + strconv.Itoa(p.Listen)
}

// clusterCryptoConfig adds orderer2..N to sampleconfig's crypto-config.yaml:
// specs like orderer's, so their TLS certificates are valid for their FQDN,
// short name, localhost and 127.0.0.1.
func clusterCryptoConfig(raw []byte, nodes []OrdererNode) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("crypto-config.yaml: %w", err)
	}
	orgs := mapValue(root(&doc), "OrdererOrgs")
	if orgs == nil || orgs.Kind != yaml.SequenceNode || len(orgs.Content) == 0 {
		return nil, fmt.Errorf("crypto-config.yaml: no OrdererOrgs")
	}
	specs := mapValue(orgs.Content[0], "Specs")
	if specs == nil || specs.Kind != yaml.SequenceNode || len(specs.Content) != 1 {
		return nil, fmt.Errorf("crypto-config.yaml: OrdererOrgs[0].Specs must hold the single spec of orderer")
	}
	first := specs.Content[0]
	if h := mapValue(first, "Hostname"); h == nil || h.Value != nodes[0].Host {
		return nil, fmt.Errorf("crypto-config.yaml: OrdererOrgs[0].Specs[0].Hostname is not %s", nodes[0].Host)
	}
	for _, o := range nodes[1:] {
		spec := cloneNode(first)
		mapValue(spec, "Hostname").Value = o.Host
		specs.Content = append(specs.Content, spec)
	}
	header := fmt.Sprintf("# Written by `weft up --orderers %d` from Weft's sampleconfig/crypto-config.yaml,\n"+
		"# with a spec for each orderer of the Raft cluster (%s to %s).\n#\n",
		len(nodes), nodes[0].Host, nodes[len(nodes)-1].Host)
	return encodeYAML(&doc, header)
}

// clusterConfigTx makes sampleconfig's configtx.yaml describe an ordering
// service of every node in nodes: the orderer organisation's OrdererEndpoints
// and the Orderer Addresses list them all, the ChannelUsingRaft profile names
// each as a consenter, and its EtcdRaft Options carry the development timing.
func clusterConfigTx(raw []byte, nodes []OrdererNode) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("configtx.yaml: %w", err)
	}
	top := root(&doc)
	var addrs []string
	for _, o := range nodes {
		addrs = append(addrs, defaultAddress(o))
	}
	addrNode, err := encodeNode(addrs)
	if err != nil {
		return nil, err
	}

	var ordererOrg *yaml.Node
	if orgs := mapValue(top, "Organizations"); orgs != nil {
		for _, org := range orgs.Content {
			if id := mapValue(deref(org), "ID"); id != nil && id.Value == "OrdererMSP" {
				ordererOrg = deref(org)
			}
		}
	}
	if ordererOrg == nil || mapValue(ordererOrg, "OrdererEndpoints") == nil {
		return nil, fmt.Errorf("configtx.yaml: no organization OrdererMSP with OrdererEndpoints")
	}
	setMapValue(ordererOrg, "OrdererEndpoints", addrNode)

	defaults := mapValue(top, "Orderer")
	if defaults == nil || mapValue(defaults, "Addresses") == nil {
		return nil, fmt.Errorf("configtx.yaml: the Orderer section has no Addresses")
	}
	setMapValue(defaults, "Addresses", cloneNode(addrNode))

	raft := mapValue(mapValue(mapValue(mapValue(top, "Profiles"), Profile), "Orderer"), "EtcdRaft")
	if raft == nil || mapValue(raft, "Consenters") == nil {
		return nil, fmt.Errorf("configtx.yaml: profile %s has no Orderer.EtcdRaft.Consenters", Profile)
	}
	type consenter struct {
		Host          string `yaml:"Host"`
		Port          int    `yaml:"Port"`
		ClientTLSCert string `yaml:"ClientTLSCert"`
		ServerTLSCert string `yaml:"ServerTLSCert"`
	}
	var consenters []consenter
	for _, o := range nodes {
		p, _ := DefaultPorts().ordererPorts(o.Index)
		cert := "organizations/ordererOrganizations/example.com/orderers/" + o.Name + "/tls/server.crt"
		consenters = append(consenters, consenter{Host: "localhost", Port: p.Listen, ClientTLSCert: cert, ServerTLSCert: cert})
	}
	cn, err := encodeNode(consenters)
	if err != nil {
		return nil, err
	}
	setMapValue(raft, "Consenters", cn)
	opts, err := encodeNode(struct {
		TickInterval         string `yaml:"TickInterval"`
		ElectionTick         int    `yaml:"ElectionTick"`
		HeartbeatTick        int    `yaml:"HeartbeatTick"`
		MaxInflightBlocks    int    `yaml:"MaxInflightBlocks"`
		SnapshotIntervalSize string `yaml:"SnapshotIntervalSize"`
	}{RaftTickInterval.String(), RaftElectionTick, RaftHeartbeatTick, 5, "16 MB"})
	if err != nil {
		return nil, err
	}
	setMapValue(raft, "Options", opts)
	election := time.Duration(RaftElectionTick) * RaftTickInterval
	mapKey(raft, "Options").HeadComment = fmt.Sprintf(
		"Development timing: a tick every %s, a heartbeat from the leader every %d tick(s);\n"+
			"a follower that misses heartbeats for %d ticks (%s, randomised up to %s) campaigns,\n"+
			"so a new leader is elected about one second after a crash (Fabric's defaults,\n"+
			"500ms/10/1, take about five).",
		RaftTickInterval, RaftHeartbeatTick, RaftElectionTick, election, 2*election)

	header := fmt.Sprintf("# Written by `weft up --orderers %d` from Weft's sampleconfig/configtx.yaml: the\n"+
		"# ordering service is a Raft cluster of %d orderers (%s to %s),\n"+
		"# listed in OrdererEndpoints, Addresses and the consenters of %s, with EtcdRaft\n"+
		"# Options for a fast failover. Ports are the test-network's; weft up moves them\n"+
		"# when it runs on others.\n#\n",
		len(nodes), len(nodes), nodes[0].Name, nodes[len(nodes)-1].Name, Profile)
	return encodeYAML(&doc, header)
}

// writeClusterFiles rewrites the devnet's crypto-config.yaml and configtx.yaml
// (copied from sampleconfig, single orderer) for a cluster of nodes.
func writeClusterFiles(cfg Config, nodes []OrdererNode) error {
	for _, f := range []struct {
		name string
		edit func([]byte, []OrdererNode) ([]byte, error)
	}{{"crypto-config.yaml", clusterCryptoConfig}, {"configtx.yaml", clusterConfigTx}} {
		raw, err := os.ReadFile(cfg.Path(f.name))
		if err != nil {
			return err
		}
		out, err := f.edit(raw, nodes)
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.Path(f.name), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func root(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return doc
}

// deref follows an alias (*OrdererOrg) to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// mapKey returns the key node of key in mapping m, or nil.
func mapKey(m *yaml.Node, key string) *yaml.Node {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

// mapValue returns the value of key in mapping m (aliases followed), or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return deref(m.Content[i+1])
		}
	}
	return nil
}

// setMapValue replaces the value of key in mapping m, appending the key when absent.
func setMapValue(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func cloneNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = nil
	for _, x := range n.Content {
		c.Content = append(c.Content, cloneNode(x))
	}
	return &c
}

func encodeNode(v any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return &n, nil
}

// encodeYAML writes doc back as YAML with two-space indentation after header.
func encodeYAML(doc *yaml.Node, header string) ([]byte, error) {
	untagMerges(doc)
	var b bytes.Buffer
	b.WriteString(header)
	e := yaml.NewEncoder(&b)
	e.SetIndent(2)
	if err := e.Encode(doc); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return spaceSections(b.Bytes()), nil
}

// spaceSections puts back the blank line before each top-level key that the
// YAML encoder drops.
func spaceSections(raw []byte) []byte {
	lines := bytes.SplitAfter(raw, []byte("\n"))
	var out bytes.Buffer
	seenKey := false
	for _, l := range lines {
		if len(l) > 0 && l[0] != ' ' && l[0] != '#' && l[0] != '\n' && l[0] != '-' {
			if seenKey {
				out.WriteByte('\n')
			}
			seenKey = true
		}
		out.Write(l)
	}
	return out.Bytes()
}

// untagMerges drops the explicit !!merge tag yaml.v3 would otherwise print on
// every "<<" key.
func untagMerges(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!merge" {
		n.Tag = ""
	}
	for _, c := range n.Content {
		untagMerges(c)
	}
}
