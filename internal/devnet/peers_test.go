package devnet

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/peer"
)

func TestCheckPeers(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2} {
		if err := CheckPeers(n); err != nil {
			t.Errorf("CheckPeers(%d) = %v", n, err)
		}
	}
	for _, n := range []int{-1, 0, 3, 4} {
		err := CheckPeers(n)
		if err == nil || !strings.HasPrefix(err.Error(), strconv.Itoa(n)+" peers per organisation") ||
			!strings.Contains(err.Error(), "runs 1 (peer0) or 2 (peer0 and peer1") {
			t.Errorf("CheckPeers(%d) = %v, want an error naming the count and 1 or 2", n, err)
		}
	}
}

// TestPeerLayout pins the peers of a network on the default ports: peer0 of
// each organisation as before, peer1 where deploy/docker-compose.yaml puts
// it, operations ports after the REST gateway's; Orgs stays the peer0s.
func TestPeerLayout(t *testing.T) {
	t.Parallel()
	org1 := Org{Name: "Org1", MSPID: "Org1MSP", Domain: "org1.example.com"}
	org2 := Org{Name: "Org2", MSPID: "Org2MSP", Domain: "org2.example.com"}
	at := func(o Org, peer string, index, port, cc, ops int) Org {
		o.Peer, o.PeerIndex, o.Port, o.ChaincodePort, o.OpsPort = peer, index, port, cc, ops
		return o
	}
	peer0org1 := at(org1, "peer0.org1.example.com", 0, 7051, 7052, 9444)
	peer0org2 := at(org2, "peer0.org2.example.com", 0, 9051, 9052, 9445)
	want := []Org{
		peer0org1,
		at(org1, "peer1.org1.example.com", 1, 8051, 8052, 9451),
		peer0org2,
		at(org2, "peer1.org2.example.com", 1, 10051, 10052, 9452),
	}
	cfg := Config{Ports: DefaultPorts(), Peers: 2}
	if got := cfg.PeerNodes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("PeerNodes() with 2 peers =\n%+v\nwant\n%+v", got, want)
	}
	if got := cfg.Orgs(); !reflect.DeepEqual(got, []Org{peer0org1, peer0org2}) {
		t.Errorf("Orgs() with 2 peers = %+v, want the peer0s", got)
	}
	for _, peers := range []int{0, 1} {
		c := Config{Ports: DefaultPorts(), Peers: peers}
		if got := c.PeerNodes(); !reflect.DeepEqual(got, c.Orgs()) {
			t.Errorf("PeerNodes() with Peers %d = %+v, want Orgs()", peers, got)
		}
	}
	// Every size of ordering service fits beside two peers per organisation.
	for _, orderers := range []int{1, 3, 5} {
		cfg.Orderers = orderers
		if err := checkPorts(cfg); err != nil {
			t.Errorf("%d orderers, 2 peers on the default ports: %v", orderers, err)
		}
	}
	p, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPorts(Config{Ports: p, Orderers: 5, Peers: 2}); err != nil {
		t.Errorf("FreePorts(5) with 2 peers: %v", err)
	}
}

func TestCheckPortsOfPeer1(t *testing.T) {
	t.Parallel()
	p := DefaultPorts()
	p.OtherPeers = p.OtherPeers[:1]
	err := checkPorts(Config{Ports: p, Peers: 2})
	if err == nil || !strings.Contains(err.Error(), "no ports for peer1.org2.example.com: Ports.OtherPeers") {
		t.Errorf("2 peers with ports for peer1.org1 only: %v", err)
	}
	if err := checkPorts(Config{Ports: p, Peers: 1}); err != nil {
		t.Errorf("1 peer needs no OtherPeers: %v", err)
	}
	p = DefaultPorts()
	p.OtherPeers[0].Ops = p.RESTGatewayOps
	err = checkPorts(Config{Ports: p, Peers: 2})
	if err == nil || !strings.Contains(err.Error(), "port 9450 is given to both peer1.org1.example.com operations and the REST gateway operations") {
		t.Errorf("shared port: %v", err)
	}
}

// envOf returns a peer's environment as a map.
func envOf(cfg Config, o Org) map[string]string {
	env := map[string]string{}
	for _, kv := range peerEnv(cfg, o) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// TestPeerGossipEnv: each peer bootstraps gossip from the other peer of its
// organisation (from itself when alone, as Fabric's test-network), publishes
// its own address, and is a static leader (Fabric v2.5's defaults); no two
// peers share a listener, a folder or a log.
func TestPeerGossipEnv(t *testing.T) {
	t.Parallel()
	cfg := Config{Dir: "/net", Ports: DefaultPorts(), Peers: 2}
	bootstrap := map[string]string{
		"peer0.org1.example.com": "localhost:8051",
		"peer1.org1.example.com": "localhost:7051",
		"peer0.org2.example.com": "localhost:10051",
		"peer1.org2.example.com": "localhost:9051",
	}
	seen := map[string]string{}
	for _, o := range cfg.PeerNodes() {
		env := envOf(cfg, o)
		self := "localhost:" + strconv.Itoa(o.Port)
		want := map[string]string{
			"CORE_PEER_ID":                       o.Peer,
			"CORE_PEER_ADDRESS":                  self,
			"CORE_PEER_LISTENADDRESS":            "127.0.0.1:" + strconv.Itoa(o.Port),
			"CORE_PEER_CHAINCODELISTENADDRESS":   "127.0.0.1:" + strconv.Itoa(o.ChaincodePort),
			"CORE_OPERATIONS_LISTENADDRESS":      "127.0.0.1:" + strconv.Itoa(o.OpsPort),
			"CORE_PEER_LOCALMSPID":               o.MSPID,
			"CORE_PEER_MSPCONFIGPATH":            "/net/organizations/peerOrganizations/" + o.Domain + "/peers/" + o.Peer + "/msp",
			"CORE_PEER_TLS_CERT_FILE":            "/net/organizations/peerOrganizations/" + o.Domain + "/peers/" + o.Peer + "/tls/server.crt",
			"CORE_PEER_FILESYSTEMPATH":           "/net/peers/" + o.Peer,
			"FABRIC_CFG_PATH":                    "/net/config/" + o.Peer,
			"CORE_PEER_GOSSIP_BOOTSTRAP":         bootstrap[o.Peer],
			"CORE_PEER_GOSSIP_ENDPOINT":          self,
			"CORE_PEER_GOSSIP_EXTERNALENDPOINT":  self,
			"CORE_PEER_GOSSIP_USELEADERELECTION": "false",
			"CORE_PEER_GOSSIP_ORGLEADER":         "true",
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", o.Peer, k, env[k], v)
			}
		}
		p := peerProcess(cfg, o)
		for _, v := range []string{env["CORE_PEER_LISTENADDRESS"], env["CORE_PEER_CHAINCODELISTENADDRESS"],
			env["CORE_OPERATIONS_LISTENADDRESS"], env["CORE_PEER_PROFILE_LISTENADDRESS"], env["CORE_PEER_FILESYSTEMPATH"], env["FABRIC_CFG_PATH"], p.LogPath} {
			if prev, ok := seen[v]; ok {
				t.Errorf("%s and %s share %s", prev, o.Peer, v)
			}
			seen[v] = o.Peer
		}
		if p.Name != o.Peer || p.LogPath != "/net/logs/"+o.Peer+".log" || !slices.Equal(p.Ports, []int{o.Port}) {
			t.Errorf("process %s: log %s, ports %v", p.Name, p.LogPath, p.Ports)
		}
	}
	// Alone in its organisation, a peer bootstraps from itself.
	one := Config{Dir: "/net", Ports: DefaultPorts()}
	for _, o := range one.PeerNodes() {
		self := "localhost:" + strconv.Itoa(o.Port)
		if env := envOf(one, o); env["CORE_PEER_GOSSIP_BOOTSTRAP"] != self || env["CORE_PEER_GOSSIP_EXTERNALENDPOINT"] != self {
			t.Errorf("%s alone: bootstrap %q, external endpoint %q, want %s", o.Peer,
				env["CORE_PEER_GOSSIP_BOOTSTRAP"], env["CORE_PEER_GOSSIP_EXTERNALENDPOINT"], self)
		}
	}
}

// TestGenerateTwoPeers: the crypto material has peer1 of each organisation
// with a TLS certificate valid for its names, localhost and 127.0.0.1; the
// connection profiles list both peers; every peer gets a core.yaml of its own
// and a CouchDB database prefix of its own; the anchor peers stay the peer0s.
func TestGenerateTwoPeers(t *testing.T) {
	t.Parallel()
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: t.TempDir(), Ports: ports, Orderers: 1, Peers: 2}
	if err := generate(cfg); err != nil {
		t.Fatal(err)
	}
	for _, o := range cfg.PeerNodes() {
		cert := readCert(t, filepath.Join(cfg.PeerDir(o), "tls", "server.crt"))
		for _, name := range []string{o.Peer, strings.TrimSuffix(o.Peer, "."+o.Domain), "localhost"} {
			if !slices.Contains(cert.DNSNames, name) {
				t.Errorf("%s TLS certificate DNS names %v lack %s", o.Peer, cert.DNSNames, name)
			}
		}
		if !slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) }) {
			t.Errorf("%s TLS certificate IP addresses %v lack 127.0.0.1", o.Peer, cert.IPAddresses)
		}
		if _, err := msp.LoadSigningIdentity(filepath.Join(cfg.PeerDir(o), "msp"), o.MSPID); err != nil {
			t.Errorf("%s MSP: %v", o.Peer, err)
		}
	}
	for _, o := range cfg.Orgs() {
		raw, err := os.ReadFile(filepath.Join(cfg.Path("organizations", "peerOrganizations", o.Domain), "connection-"+lower(o.Name)+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var profile struct {
			Organizations map[string]struct {
				Peers []string `json:"peers"`
			} `json:"organizations"`
			Peers map[string]struct {
				URL string `json:"url"`
			} `json:"peers"`
		}
		if err := json.Unmarshal(raw, &profile); err != nil {
			t.Fatal(err)
		}
		peer1 := cfg.PeerNodes()[2*indexOf(cfg.Orgs(), o)+1]
		if got, want := profile.Organizations[o.Name].Peers, []string{o.Peer, peer1.Peer}; !slices.Equal(got, want) {
			t.Errorf("%s profile peers = %v, want %v", o.Name, got, want)
		}
		if got := profile.Peers[peer1.Peer].URL; got != "grpcs://localhost:"+strconv.Itoa(peer1.Port) {
			t.Errorf("%s profile url of %s = %q", o.Name, peer1.Peer, got)
		}
		want := []string{"localhost:" + strconv.Itoa(o.Port)}
		if got := genesisBundle(t, cfg).Application().Orgs[o.MSPID].AnchorPeers; !slices.Equal(got, want) {
			t.Errorf("%s anchor peers = %v, want %v", o.MSPID, got, want)
		}
	}

	cfg.CouchDB = []string{"http://admin:adminpw@127.0.0.1:5984"}
	if err := writePeerConfigs(cfg); err != nil {
		t.Fatal(err)
	}
	states, err := cfg.PeerStates()
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for _, s := range states {
		prefixes = append(prefixes, s.Peer+"="+s.Prefix)
	}
	if want := []string{"peer0.org1.example.com=peer0org1_", "peer1.org1.example.com=peer1org1_",
		"peer0.org2.example.com=peer0org2_", "peer1.org2.example.com=peer1org2_"}; !slices.Equal(prefixes, want) {
		t.Errorf("CouchDB prefixes = %v, want %v", prefixes, want)
	}
	err = CheckCouchDB([]string{"a:1", "b:2"}, 4)
	if err == nil || !strings.Contains(err.Error(), "2 CouchDB URLs for 4 peers") ||
		!strings.Contains(err.Error(), "(peer0.org1, peer1.org1, peer0.org2, peer1.org2)") {
		t.Errorf("2 URLs for 4 peers: %v", err)
	}
}

func indexOf(orgs []Org, o Org) int {
	return slices.IndexFunc(orgs, func(x Org) bool { return x.MSPID == o.MSPID })
}

// TestRestartKeepsPeers: a network remembers how many peers per
// organisation it was created with; another number is refused before
// anything starts, saying how to go on.
func TestRestartKeepsPeers(t *testing.T) {
	t.Parallel()
	for _, created := range []int{1, 2} {
		cfg := Config{Dir: t.TempDir(), Ports: DefaultPorts(), Orderers: 1, Peers: created}
		if got := cfg.PeersCreated(); got != 0 {
			t.Errorf("empty folder: PeersCreated = %d, want 0", got)
		}
		if err := generate(cfg); err != nil {
			t.Fatal(err)
		}
		if err := writePeerConfigs(cfg); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg.Path("channel-artifacts", "setup-done"), []byte("now"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := cfg.PeersCreated(); got != created {
			t.Errorf("PeersCreated = %d, want %d", got, created)
		}
		for _, asked := range []int{0, created} {
			c := cfg
			c.Peers = asked
			if n, err := resolvePeers(c, false); err != nil || n != created {
				t.Errorf("created with %d, asked %d: resolvePeers = %d, %v", created, asked, n, err)
			}
		}
		c := cfg
		c.Peers = 3 - created
		c.BinDir = t.TempDir()
		_, err := Up(context.Background(), c)
		want := "was created with " + strconv.Itoa(created) + " peer(s) per organisation, not " + strconv.Itoa(3-created) +
			"; run weft up with --peers " + strconv.Itoa(created)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Up with %d peers on a network of %d = %v, want %q", 3-created, created, err, want)
		}
		if !exists(cfg.GenesisPath()) {
			t.Error("the refused Up removed the network")
		}
	}
	if n, err := resolvePeers(Config{Dir: t.TempDir(), Peers: 2}, true); err != nil || n != 2 {
		t.Errorf("fresh network asking 2: %d, %v", n, err)
	}
	if n, err := resolvePeers(Config{Dir: t.TempDir()}, true); err != nil || n != 1 {
		t.Errorf("fresh network: %d, %v; want 1", n, err)
	}
	_, err := Up(context.Background(), Config{Dir: filepath.Join(t.TempDir(), "net"), BinDir: t.TempDir(), Ports: DefaultPorts(), Peers: 3})
	if err == nil || !strings.Contains(err.Error(), "3 peers per organisation: the development network runs 1 (peer0) or 2") {
		t.Errorf("Up with 3 peers = %v", err)
	}
}

// TestPeerReadsGossipEnv loads each peer's configuration as its process does
// (its core.yaml and the environment Up gives it): the peer's own loader
// reads the gossip settings devnet means.
func TestPeerReadsGossipEnv(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), Ports: DefaultPorts(), Orderers: 1, Peers: 2}
	if err := generate(cfg); err != nil {
		t.Fatal(err)
	}
	if err := writePeerConfigs(cfg); err != nil {
		t.Fatal(err)
	}
	other := map[string]string{
		"peer0.org1.example.com": "localhost:8051", "peer1.org1.example.com": "localhost:7051",
		"peer0.org2.example.com": "localhost:10051", "peer1.org2.example.com": "localhost:9051",
	}
	for _, o := range cfg.PeerNodes() {
		g := loadPeerConfig(t, cfg, o).Gossip
		self := "localhost:" + strconv.Itoa(o.Port)
		if !slices.Equal(g.Bootstrap, []string{other[o.Peer]}) || g.Endpoint != self || g.ExternalEndpoint != self || g.Leader != peer.LeaderStatic {
			t.Errorf("%s gossips with bootstrap %v, endpoint %q, external endpoint %q, leader %s; want [%s], %s, %s, static",
				o.Peer, g.Bootstrap, g.Endpoint, g.ExternalEndpoint, g.Leader, other[o.Peer], self, self)
		}
	}
}
