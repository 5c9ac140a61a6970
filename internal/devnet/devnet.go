package devnet

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/weft-ledger/weft/restgateway"
	"github.com/weft-ledger/weft/sampleconfig"
)

// ChannelID and ChaincodeName are the development network's channel and sample chaincode.
const (
	ChannelID      = "mychannel"
	ChaincodeName  = "basic"
	ChaincodeLabel = "basic_1.0"
)

// Ports are the loopback ports of every listener. DefaultPorts are those of
// Fabric's test-network; tests choose free ones.
type Ports struct {
	Orderer, OrdererAdmin, OrdererOps int // orderer.example.com
	Peer1, Peer1Chaincode, Peer1Ops   int
	Peer2, Peer2Chaincode, Peer2Ops   int
	Chaincode                         int
	// RESTGateway is the REST gateway's HTTP port, RESTGatewayOps its
	// operations endpoint; 0 leaves the REST gateway out.
	RESTGateway, RESTGatewayOps int
	// OtherOrderers are the ports of orderer2.example.com, orderer3.example.com, ...
	// in order; a network of N orderers uses the first N-1 (none for one orderer).
	OtherOrderers []OrdererPorts
	// OtherPeers are the ports of peer1.org1.example.com,
	// peer1.org2.example.com, ... in Orgs order; a network of one peer per
	// organisation uses none.
	OtherPeers []PeerPorts
	// OtherOrgs are the ports of peer0.org3.example.com and
	// peer0.org4.example.com, in order; a network of two organisations
	// uses none.
	OtherOrgs []PeerPorts
}

// PeerPorts are the listeners of one peer: Listen serves its gRPC services
// (endorser, deliver, gateway and gossip), Chaincode the chaincode listener,
// Ops the operations endpoint (/healthz, /metrics).
type PeerPorts struct {
	Listen, Chaincode, Ops int
}

// OrdererPorts are the listeners of one orderer: Listen serves Broadcast,
// Deliver and the cluster service, Admin the participation API (osnadmin),
// Ops the operations endpoint (/healthz).
type OrdererPorts struct {
	Listen, Admin, Ops int
}

// DefaultPorts returns the test-network's ports. With a cluster, orderer K
// (2..5) listens on K*1000+6050 with its admin API 3 above, as in Fabric's
// samples; operations ports follow the peers' from 9446 on. With two peers per
// organisation, peer1 of each listens where deploy/docker-compose.yaml puts
// it (8051, 10051, chaincode one above); its operations port follows the REST
// gateway's, as the compose file's 9448 and 9449 are orderer4's and orderer5's
// here. With Config.Organizations 3 or 4, peer0 of Org3 listens on 11051,
// where fabric-samples' addOrg3 puts it, and Org4's two thousand above,
// each peer1 one thousand above its peer0; their operations ports follow
// peer1.org2's.
//
//	node                    listen  admin  operations
//	orderer.example.com     7050    7053   9443
//	peer0.org1.example.com  7051    -      9444  (chaincode 7052)
//	peer0.org2.example.com  9051    -      9445  (chaincode 9052)
//	orderer2.example.com    8050    8053   9446
//	orderer3.example.com    9050    9053   9447
//	orderer4.example.com    10050   10053  9448
//	orderer5.example.com    11050   11053  9449
//	basic chaincode server  9999
//	REST gateway            8080   -      9450
//	peer1.org1.example.com  8051    -      9451  (chaincode 8052)
//	peer1.org2.example.com  10051   -      9452  (chaincode 10052)
//	peer0.org3.example.com  11051   -      9453  (chaincode 11052)
//	peer0.org4.example.com  13051   -      9454  (chaincode 13052)
//	peer1.org3.example.com  12051   -      9455  (chaincode 12052)
//	peer1.org4.example.com  14051   -      9456  (chaincode 14052)
func DefaultPorts() Ports {
	p := Ports{
		Orderer: 7050, OrdererAdmin: 7053, OrdererOps: 9443,
		Peer1: 7051, Peer1Chaincode: 7052, Peer1Ops: 9444,
		Peer2: 9051, Peer2Chaincode: 9052, Peer2Ops: 9445,
		Chaincode:   9999,
		RESTGateway: 8080, RESTGatewayOps: 9450,
		OtherPeers: []PeerPorts{
			{Listen: 8051, Chaincode: 8052, Ops: 9451}, {Listen: 10051, Chaincode: 10052, Ops: 9452},
			{Listen: 12051, Chaincode: 12052, Ops: 9455}, {Listen: 14051, Chaincode: 14052, Ops: 9456},
		},
		OtherOrgs: []PeerPorts{{Listen: 11051, Chaincode: 11052, Ops: 9453}, {Listen: 13051, Chaincode: 13052, Ops: 9454}},
	}
	for k := 2; k <= MaxOrderers; k++ {
		p.OtherOrderers = append(p.OtherOrderers, OrdererPorts{Listen: 6050 + 1000*k, Admin: 6053 + 1000*k, Ops: 9444 + k})
	}
	return p
}

// ordererPorts returns the ports of orderer k (1-based), ok false when Ports has none for it.
func (p Ports) ordererPorts(k int) (OrdererPorts, bool) {
	if k == 1 {
		return OrdererPorts{Listen: p.Orderer, Admin: p.OrdererAdmin, Ops: p.OrdererOps}, true
	}
	if k < 1 || k-2 >= len(p.OtherOrderers) {
		return OrdererPorts{}, false
	}
	return p.OtherOrderers[k-2], true
}

// Config says where the network lives and which binaries run it.
type Config struct {
	Dir    string // everything the network writes: crypto, ledgers, logs
	BinDir string // folder holding the peer, orderer, basic and restgateway binaries
	Ports  Ports
	// Orderers is the size of the ordering service: 1, 3 or 5. Zero means the
	// size the folder's network was created with, or 1 for a new network.
	Orderers int
	// Peers is the number of peers per organisation: 1 (peer0) or 2 (peer0
	// and peer1). Zero means the number the folder's network was created
	// with, or 1 for a new network.
	Peers int
	Log   io.Writer // progress messages; nil discards them
	// Timeout bounds starting the processes and setting up the channel.
	Timeout time.Duration
	// CouchDB, when set, puts the peers' world state in CouchDB: one URL
	// (http://user:password@host:port, or host:port) that every peer
	// shares, each with a database prefix of its own (peer0org1_, ...), or
	// one URL per peer in PeerNodes order. It is written into each peer's
	// core.yaml (PeerConfigDir), so a restart without it keeps the state
	// where it is; empty on a new network means LevelDB.
	CouchDB []string
	// DatabasePrefix goes before each peer's own prefix on CouchDB, so that
	// tests sharing one server stay apart.
	DatabasePrefix string
	// BatchSize and BatchTimeout, when not zero, replace the channel's
	// Orderer.BatchSize.MaxMessageCount and Orderer.BatchTimeout from
	// configtx.yaml in the genesis block of a new network (weft bench
	// --batch-size, --batch-timeout). A restarted network keeps the
	// settings its channel was created with.
	BatchSize    uint32
	BatchTimeout time.Duration
	// Organizations is the number of application organisations, every one
	// a member of the channel: 2 (Org1 and Org2), 3 (and Org3) or 4 (and
	// Org4). Zero means the number the folder's network was created with,
	// or 2 for a new network.
	Organizations int
	// EndorsementPolicy, when set, is the endorsement policy of basic's
	// definition on a new network, in Fabric's signature policy syntax
	// (AND('Org1MSP.peer','Org2MSP.peer','Org3MSP.peer')); empty keeps the
	// channel's default, a majority of the organisations' peers. A
	// restarted network refuses another policy than the one it was created
	// with.
	EndorsementPolicy string
}

// Org is one application organisation of the network, seen through one of
// its peers: Peer names that peer (peer0.org1.example.com, ...) and the ports
// are its listeners. Orgs gives each organisation through its peer0,
// PeerNodes every peer.
type Org struct {
	Name, MSPID, Domain, Peer    string
	Port, ChaincodePort, OpsPort int
	// PeerIndex is the peer's number in its organisation: 0 for peer0.
	PeerIndex int
}

// OrdererNode is one orderer of the ordering service.
type OrdererNode struct {
	Index int    // 1-based; also its Raft consenter id
	Name  string // orderer.example.com, orderer2.example.com, ...
	Host  string // cryptogen host name: orderer, orderer2, ...
	OrdererPorts
}

// Network is a running development network.
type Network struct {
	cfg     Config
	Orderer *Process // orderer.example.com, the first of Orderers
	// RESTGateway is the REST gateway (nil when Ports.RESTGateway is 0).
	RESTGateway *Process
	Orderers    []*Process // in OrdererNodes order
	// Peers holds peer0 of each organisation, by MSP ID.
	Peers map[string]*Process
	// AllPeers holds every peer of the network, by name
	// (peer0.org1.example.com, peer1.org1.example.com, ...).
	AllPeers  map[string]*Process
	Chaincode *Process
	Orgs      []Org // each organisation through its peer0
	// PeerNodes are every peer of the network (Config.PeerNodes).
	PeerNodes []Org
	PackageID string
}

func (c Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// Path joins elements below the network folder.
func (c Config) Path(elem ...string) string {
	return filepath.Join(append([]string{c.Dir}, elem...)...)
}

// OrdererNodes returns the orderers of the network (Config.Orderers of them,
// one when it is zero) with their ports. Nodes Ports has no ports for get zero ports.
func (c Config) OrdererNodes() []OrdererNode {
	n := max(c.Orderers, 1)
	nodes := make([]OrdererNode, 0, n)
	for k := 1; k <= n; k++ {
		host := "orderer"
		if k > 1 {
			host += strconv.Itoa(k)
		}
		p, _ := c.Ports.ordererPorts(k)
		nodes = append(nodes, OrdererNode{Index: k, Name: host + ".example.com", Host: host, OrdererPorts: p})
	}
	return nodes
}

// OrdererDir is the crypto folder of orderer.example.com.
func (c Config) OrdererDir() string {
	return c.OrdererNodeDir(c.OrdererNodes()[0])
}

// OrdererNodeDir is an orderer's crypto folder.
func (c Config) OrdererNodeDir(o OrdererNode) string {
	return c.Path("organizations", "ordererOrganizations", "example.com", "orderers", o.Name)
}

// ordererLedgerDir is where an orderer keeps its ledger, WAL and snapshots:
// <dir>/orderer, <dir>/orderer2, ...
func (c Config) ordererLedgerDir(o OrdererNode) string { return c.Path(o.Host) }

// ordererLogPath is an orderer's log file: logs/orderer.log, logs/orderer2.log, ...
func (c Config) ordererLogPath(o OrdererNode) string { return c.Path("logs", o.Host+".log") }

// OrdererAdminDir is the orderer organisation admin's crypto folder.
func (c Config) OrdererAdminDir() string {
	return c.Path("organizations", "ordererOrganizations", "example.com", "users", "Admin@example.com")
}

// PeerDir is a peer's crypto folder.
func (c Config) PeerDir(o Org) string {
	return c.Path("organizations", "peerOrganizations", o.Domain, "peers", o.Peer)
}

// UserDir is the crypto folder of user (Admin or User1) of an organisation.
func (c Config) UserDir(o Org, user string) string {
	return c.Path("organizations", "peerOrganizations", o.Domain, "users", user+"@"+o.Domain)
}

// GenesisPath is where the channel's genesis block is written.
func (c Config) GenesisPath() string { return c.Path("channel-artifacts", ChannelID+".block") }

// Up starts the network in cfg.Dir, creating it first if the folder holds none.
// It returns once the network is ready to take transactions.
func Up(ctx context.Context, cfg Config) (*Network, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Orderers != 0 {
		if err := CheckOrderers(cfg.Orderers); err != nil {
			return nil, err
		}
	}
	if cfg.Peers != 0 {
		if err := CheckPeers(cfg.Peers); err != nil {
			return nil, err
		}
	}
	if cfg.Organizations != 0 {
		if err := CheckOrgs(cfg.Organizations); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = abs
	// The nodes run with the network folder as working directory, where a
	// relative binary path would no longer resolve.
	if cfg.BinDir, err = filepath.Abs(cfg.BinDir); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	fresh := !exists(cfg.Path("channel-artifacts", "setup-done"))
	if cfg.Orderers, err = resolveOrderers(cfg, fresh); err != nil {
		return nil, err
	}
	if cfg.Peers, err = resolvePeers(cfg, fresh); err != nil {
		return nil, err
	}
	if cfg.Organizations, err = resolveOrgs(cfg, fresh); err != nil {
		return nil, err
	}
	if err := checkPorts(cfg); err != nil {
		return nil, err
	}
	if _, err := definitionPolicy(cfg); err != nil {
		return nil, err
	}
	if !fresh {
		if err := checkPolicy(cfg); err != nil {
			return nil, err
		}
	}
	if err := checkCouchDB(ctx, cfg); err != nil {
		return nil, err
	}
	if fresh {
		if err := os.RemoveAll(cfg.Dir); err != nil {
			return nil, err
		}
		cfg.logf("creating the development network in %s", cfg.Dir)
		if err := generate(cfg); err != nil {
			return nil, fmt.Errorf("generate network material: %w", err)
		}
	} else {
		cfg.logf("restarting the development network in %s", cfg.Dir)
		if err := addRESTGatewayConfig(cfg); err != nil {
			return nil, err
		}
		if err := addRESTToken(cfg); err != nil {
			return nil, err
		}
	}
	if err := writePeerConfigs(cfg); err != nil {
		return nil, fmt.Errorf("write the peers' core.yaml: %w", err)
	}
	if fresh {
		if err := dropStaleDatabases(ctx, cfg); err != nil {
			return nil, err
		}
	}
	pkgID, err := os.ReadFile(cfg.Path("chaincode", "basic.id"))
	if err != nil {
		return nil, fmt.Errorf("read chaincode package id: %w", err)
	}
	n := &Network{cfg: cfg, Peers: map[string]*Process{}, AllPeers: map[string]*Process{},
		Orgs: cfg.Orgs(), PeerNodes: cfg.PeerNodes(), PackageID: string(pkgID)}
	if err := n.start(ctx); err != nil {
		n.Stop()
		return nil, err
	}
	if fresh {
		if err := n.setup(ctx); err != nil {
			n.Stop()
			return nil, fmt.Errorf("set up channel %s: %w", ChannelID, err)
		}
		if err := os.WriteFile(cfg.Path("channel-artifacts", "setup-done"), []byte(time.Now().UTC().Format(time.RFC3339)), 0o644); err != nil {
			n.Stop()
			return nil, err
		}
	}
	return n, nil
}

// cutWhenIdle says whether the orderers cut a block as soon as nothing is on
// its way (Weft.CutWhenIdle, docs/ordering.md): yes when every peer keeps
// its state in LevelDB, where small blocks commit fast; peers on CouchDB
// fall behind with many small blocks, so they get Fabric's full blocks.
// ORDERER_WEFT_CUTWHENIDLE in the environment decides instead when set.
func cutWhenIdle(cfg Config) bool {
	if v := os.Getenv("ORDERER_WEFT_CUTWHENIDLE"); v != "" {
		return v == "true"
	}
	states, err := cfg.PeerStates()
	if err != nil {
		return false
	}
	for _, s := range states {
		if s.Database != "goleveldb" {
			return false
		}
	}
	return true
}

// chaincodeProcs runs the sample chaincode on one P unless GOMAXPROCS is
// set: it needs a tenth of a core at saturation, and each wake-up of an
// idle process with more Ps costs more (about 20% of its CPU per
// transaction at 200 tx/s, docs/benchmarks.md).
func chaincodeProcs() []string {
	if os.Getenv("GOMAXPROCS") != "" {
		return nil
	}
	return []string{"GOMAXPROCS=1"}
}

// Config returns the network's configuration (with an absolute Dir).
func (n *Network) Config() Config { return n.cfg }

func (n *Network) start(ctx context.Context) error {
	cfg := n.cfg
	n.Orderers = ordererProcesses(cfg)
	cut := cutWhenIdle(cfg)
	for _, o := range n.Orderers {
		o.Env = append(o.Env, "ORDERER_WEFT_CUTWHENIDLE="+strconv.FormatBool(cut))
	}
	n.Orderer = n.Orderers[0]
	n.Chaincode = &Process{
		Name:   "basic chaincode",
		Binary: filepath.Join(cfg.BinDir, "basic"),
		Env: append([]string{
			"CHAINCODE_SERVER_ADDRESS=127.0.0.1:" + strconv.Itoa(cfg.Ports.Chaincode),
			"CHAINCODE_ID=" + n.PackageID,
		}, chaincodeProcs()...),
		Dir:     cfg.Dir,
		LogPath: cfg.Path("logs", "basic.log"),
		Ports:   []int{cfg.Ports.Chaincode},
	}
	procs := append(append([]*Process{}, n.Orderers...), n.Chaincode)
	for _, o := range n.PeerNodes {
		p := peerProcess(cfg, o)
		n.AllPeers[o.Peer] = p
		if o.PeerIndex == 0 {
			n.Peers[o.MSPID] = p
		}
		procs = append(procs, p)
	}
	if cfg.Ports.RESTGateway != 0 {
		n.RESTGateway = &Process{
			Name:   "REST gateway",
			Binary: filepath.Join(cfg.BinDir, "restgateway"),
			Args:   []string{"start", "--config", cfg.Path("config", "restgateway.yaml")},
			Env: []string{
				"WEFT_RESTGATEWAY_LISTENADDRESS=localhost:" + strconv.Itoa(cfg.Ports.RESTGateway),
				"WEFT_RESTGATEWAY_PEER_ADDRESS=localhost:" + strconv.Itoa(cfg.Ports.Peer1),
				"WEFT_OPERATIONS_LISTENADDRESS=127.0.0.1:" + strconv.Itoa(cfg.Ports.RESTGatewayOps),
			},
			Dir:     cfg.Dir,
			LogPath: cfg.Path("logs", "restgateway.log"),
			Ports:   []int{cfg.Ports.RESTGateway},
		}
		procs = append(procs, n.RESTGateway)
	}
	for _, p := range procs {
		cfg.logf("starting %s", p.Name)
		if err := p.Start(); err != nil {
			return err
		}
	}
	for _, p := range procs {
		if err := p.WaitReady(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every process of the network, the REST gateway and peers first.
func (n *Network) Stop() {
	if n.RESTGateway != nil {
		_ = n.RESTGateway.Stop(10 * time.Second)
	}
	for _, p := range n.AllPeers {
		_ = p.Stop(10 * time.Second)
	}
	for _, p := range append([]*Process{n.Chaincode}, n.Orderers...) {
		if p != nil {
			_ = p.Stop(10 * time.Second)
		}
	}
}

// ordererProcesses returns one (not yet started) process per orderer.
func ordererProcesses(cfg Config) []*Process {
	var procs []*Process
	for _, o := range cfg.OrdererNodes() {
		procs = append(procs, &Process{
			Name:    o.Name,
			Binary:  filepath.Join(cfg.BinDir, "orderer"),
			Env:     ordererEnv(cfg, o),
			Dir:     cfg.Dir,
			LogPath: cfg.ordererLogPath(o),
			Ports:   []int{o.Listen, o.Admin},
		})
	}
	return procs
}

func ordererEnv(cfg Config, o OrdererNode) []string {
	od := cfg.OrdererNodeDir(o)
	tls := filepath.Join(od, "tls")
	ledger := cfg.ordererLedgerDir(o)
	env := []string{
		"FABRIC_CFG_PATH=" + cfg.Path("config"),
		"ORDERER_GENERAL_LISTENADDRESS=127.0.0.1",
		"ORDERER_GENERAL_LISTENPORT=" + strconv.Itoa(o.Listen),
		"ORDERER_GENERAL_LOCALMSPID=OrdererMSP",
		"ORDERER_GENERAL_LOCALMSPDIR=" + filepath.Join(od, "msp"),
		"ORDERER_GENERAL_TLS_ENABLED=true",
		"ORDERER_GENERAL_TLS_PRIVATEKEY=" + filepath.Join(tls, "server.key"),
		"ORDERER_GENERAL_TLS_CERTIFICATE=" + filepath.Join(tls, "server.crt"),
		"ORDERER_GENERAL_TLS_ROOTCAS=" + filepath.Join(tls, "ca.crt"),
		"ORDERER_GENERAL_BOOTSTRAPMETHOD=none",
		"ORDERER_CHANNELPARTICIPATION_ENABLED=true",
		"ORDERER_FILELEDGER_LOCATION=" + ledger,
		"ORDERER_CONSENSUS_WALDIR=" + filepath.Join(ledger, "etcdraft", "wal"),
		"ORDERER_CONSENSUS_SNAPDIR=" + filepath.Join(ledger, "etcdraft", "snapshot"),
		"ORDERER_ADMIN_LISTENADDRESS=127.0.0.1:" + strconv.Itoa(o.Admin),
		"ORDERER_ADMIN_TLS_ENABLED=true",
		"ORDERER_ADMIN_TLS_PRIVATEKEY=" + filepath.Join(tls, "server.key"),
		"ORDERER_ADMIN_TLS_CERTIFICATE=" + filepath.Join(tls, "server.crt"),
		"ORDERER_ADMIN_TLS_ROOTCAS=" + filepath.Join(tls, "ca.crt"),
		"ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true",
		"ORDERER_ADMIN_TLS_CLIENTROOTCAS=" + filepath.Join(tls, "ca.crt"),
		"ORDERER_OPERATIONS_LISTENADDRESS=127.0.0.1:" + strconv.Itoa(o.Ops),
		// pprof on the operations port + 100 (9543 for orderer.example.com
		// by default), when WEFT_PROFILE=true; for performance work only.
		"ORDERER_GENERAL_PROFILE_ENABLED=" + strconv.FormatBool(os.Getenv("WEFT_PROFILE") == "true"),
		"ORDERER_GENERAL_PROFILE_ADDRESS=127.0.0.1:" + strconv.Itoa(o.Ops+100),
	}
	if cfg.Orderers > 1 {
		// Cluster (Raft) traffic runs on the general listener with mutual TLS,
		// the node's TLS certificate as client certificate, as in Fabric's
		// test-network. Every orderer's certificate comes from tlsca.example.com.
		env = append(env,
			"ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE="+filepath.Join(tls, "server.crt"),
			"ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY="+filepath.Join(tls, "server.key"),
			"ORDERER_GENERAL_CLUSTER_ROOTCAS="+filepath.Join(tls, "ca.crt"),
		)
	}
	return env
}

// RESTTokenPath is the file holding the development network's REST gateway
// token: "Authorization: Bearer <token>" signs as User1@org1.example.com
// (restgateway.auth.tokens of config/restgateway.yaml).
func (c Config) RESTTokenPath() string { return c.Path("restgateway", "token") }

// RESTExamples returns shell commands that call the network's REST gateway
// with curl and its token, as `weft up` prints them: the token read into
// TOKEN, then an evaluate and a submit of basic.
func (c Config) RESTExamples() []string {
	base := fmt.Sprintf("http://localhost:%d/v1/channels/%s/chaincodes/%s", c.Ports.RESTGateway, ChannelID, ChaincodeName)
	headers := `-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json'`
	return []string{
		"TOKEN=$(cat " + shellQuote(c.RESTTokenPath()) + ")",
		"curl -s -X POST " + base + "/evaluate " + headers + ` -d '{"function":"GetAllAssets"}'`,
		"curl -s -X POST " + base + "/submit " + headers + ` -d '{"function":"CreateAsset","args":["asset9","red","5","Tom","100"]}'`,
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// addRESTToken writes a random REST gateway token to RESTTokenPath (mode
// 0600) unless the network has one.
func addRESTToken(cfg Config) error {
	wrote, err := restgateway.WriteNewToken(cfg.RESTTokenPath())
	if err != nil {
		return fmt.Errorf("write the REST gateway token: %w", err)
	}
	if wrote {
		cfg.logf("wrote %s (the REST gateway's token for User1@org1.example.com)", cfg.RESTTokenPath())
	}
	return nil
}

// addRESTGatewayConfig writes sampleconfig's restgateway.yaml into the config
// folder of a network created before the REST gateway's configuration had
// that name (it was gateway.yaml, with the top-level key gateway:), or
// before the REST gateway authenticated its callers: a restgateway.yaml
// without restgateway.auth is kept as restgateway.yaml.before-auth.
func addRESTGatewayConfig(cfg Config) error {
	dst := cfg.Path("config", "restgateway.yaml")
	if exists(dst) {
		v := viper.New()
		v.SetConfigFile(dst)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil || v.IsSet("restgateway.auth") {
			return nil // the REST gateway itself names what is wrong with the file
		}
		if err := os.Rename(dst, dst+".before-auth"); err != nil {
			return err
		}
		cfg.logf("%s has no restgateway.auth (the REST gateway now authenticates every caller): kept it as %s.before-auth and wrote sampleconfig's", dst, dst)
	}
	raw, err := sampleconfig.Files.ReadFile("restgateway.yaml")
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, raw, 0o644); err != nil {
		return err
	}
	cfg.logf("wrote %s (the REST gateway's configuration)", dst)
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
