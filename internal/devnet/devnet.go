package devnet

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
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
	Orderer, OrdererAdmin, OrdererOps int
	Peer1, Peer1Chaincode, Peer1Ops   int
	Peer2, Peer2Chaincode, Peer2Ops   int
	Chaincode                         int
}

// DefaultPorts returns the test-network's ports.
func DefaultPorts() Ports {
	return Ports{
		Orderer: 7050, OrdererAdmin: 7053, OrdererOps: 9443,
		Peer1: 7051, Peer1Chaincode: 7052, Peer1Ops: 9444,
		Peer2: 9051, Peer2Chaincode: 9052, Peer2Ops: 9445,
		Chaincode: 9999,
	}
}

// Config says where the network lives and which binaries run it.
type Config struct {
	Dir    string // everything the network writes: crypto, ledgers, logs
	BinDir string // folder holding the peer, orderer and basic binaries
	Ports  Ports
	Log    io.Writer // progress messages; nil discards them
	// Timeout bounds starting the processes and setting up the channel.
	Timeout time.Duration
}

// Org is one application organisation of the network.
type Org struct {
	Name, MSPID, Domain, Peer    string
	Port, ChaincodePort, OpsPort int
}

// Network is a running development network.
type Network struct {
	cfg       Config
	Orderer   *Process
	Peers     map[string]*Process // by MSP ID
	Chaincode *Process
	Orgs      []Org
	PackageID string
}

func (c Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// Orgs returns the two application organisations with the configured ports.
func (c Config) Orgs() []Org {
	return []Org{
		{Name: "Org1", MSPID: "Org1MSP", Domain: "org1.example.com", Peer: "peer0.org1.example.com",
			Port: c.Ports.Peer1, ChaincodePort: c.Ports.Peer1Chaincode, OpsPort: c.Ports.Peer1Ops},
		{Name: "Org2", MSPID: "Org2MSP", Domain: "org2.example.com", Peer: "peer0.org2.example.com",
			Port: c.Ports.Peer2, ChaincodePort: c.Ports.Peer2Chaincode, OpsPort: c.Ports.Peer2Ops},
	}
}

// Path joins elements below the network folder.
func (c Config) Path(elem ...string) string {
	return filepath.Join(append([]string{c.Dir}, elem...)...)
}

// OrdererDir is the orderer node's crypto folder.
func (c Config) OrdererDir() string {
	return c.Path("organizations", "ordererOrganizations", "example.com", "orderers", "orderer.example.com")
}

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
	}
	pkgID, err := os.ReadFile(cfg.Path("chaincode", "basic.id"))
	if err != nil {
		return nil, fmt.Errorf("read chaincode package id: %w", err)
	}
	n := &Network{cfg: cfg, Peers: map[string]*Process{}, Orgs: cfg.Orgs(), PackageID: string(pkgID)}
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

// Config returns the network's configuration (with an absolute Dir).
func (n *Network) Config() Config { return n.cfg }

func (n *Network) start(ctx context.Context) error {
	cfg := n.cfg
	n.Orderer = &Process{
		Name:    "orderer.example.com",
		Binary:  filepath.Join(cfg.BinDir, "orderer"),
		Env:     ordererEnv(cfg),
		Dir:     cfg.Dir,
		LogPath: cfg.Path("logs", "orderer.log"),
		Ports:   []int{cfg.Ports.Orderer, cfg.Ports.OrdererAdmin},
	}
	n.Chaincode = &Process{
		Name:   "basic chaincode",
		Binary: filepath.Join(cfg.BinDir, "basic"),
		Env: []string{
			"CHAINCODE_SERVER_ADDRESS=127.0.0.1:" + strconv.Itoa(cfg.Ports.Chaincode),
			"CHAINCODE_ID=" + n.PackageID,
		},
		Dir:     cfg.Dir,
		LogPath: cfg.Path("logs", "basic.log"),
		Ports:   []int{cfg.Ports.Chaincode},
	}
	procs := []*Process{n.Orderer, n.Chaincode}
	for _, o := range n.Orgs {
		p := &Process{
			Name:    o.Peer,
			Binary:  filepath.Join(cfg.BinDir, "peer"),
			Args:    []string{"node", "start"},
			Env:     peerEnv(cfg, o),
			Dir:     cfg.Dir,
			LogPath: cfg.Path("logs", o.Peer+".log"),
			Ports:   []int{o.Port},
		}
		n.Peers[o.MSPID] = p
		procs = append(procs, p)
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

// Stop stops every process of the network, peers first.
func (n *Network) Stop() {
	for _, p := range n.Peers {
		_ = p.Stop(10 * time.Second)
	}
	for _, p := range []*Process{n.Chaincode, n.Orderer} {
		if p != nil {
			_ = p.Stop(10 * time.Second)
		}
	}
}

func ordererEnv(cfg Config) []string {
	od := cfg.OrdererDir()
	tls := filepath.Join(od, "tls")
	return []string{
		"FABRIC_CFG_PATH=" + cfg.Path("config"),
		"ORDERER_GENERAL_LISTENADDRESS=127.0.0.1",
		"ORDERER_GENERAL_LISTENPORT=" + strconv.Itoa(cfg.Ports.Orderer),
		"ORDERER_GENERAL_LOCALMSPID=OrdererMSP",
		"ORDERER_GENERAL_LOCALMSPDIR=" + filepath.Join(od, "msp"),
		"ORDERER_GENERAL_TLS_ENABLED=true",
		"ORDERER_GENERAL_TLS_PRIVATEKEY=" + filepath.Join(tls, "server.key"),
		"ORDERER_GENERAL_TLS_CERTIFICATE=" + filepath.Join(tls, "server.crt"),
		"ORDERER_GENERAL_TLS_ROOTCAS=" + filepath.Join(tls, "ca.crt"),
		"ORDERER_GENERAL_BOOTSTRAPMETHOD=none",
		"ORDERER_CHANNELPARTICIPATION_ENABLED=true",
		"ORDERER_FILELEDGER_LOCATION=" + cfg.Path("orderer"),
		"ORDERER_CONSENSUS_WALDIR=" + cfg.Path("orderer", "etcdraft", "wal"),
		"ORDERER_CONSENSUS_SNAPDIR=" + cfg.Path("orderer", "etcdraft", "snapshot"),
		"ORDERER_ADMIN_LISTENADDRESS=127.0.0.1:" + strconv.Itoa(cfg.Ports.OrdererAdmin),
		"ORDERER_ADMIN_TLS_ENABLED=true",
		"ORDERER_ADMIN_TLS_PRIVATEKEY=" + filepath.Join(tls, "server.key"),
		"ORDERER_ADMIN_TLS_CERTIFICATE=" + filepath.Join(tls, "server.crt"),
		"ORDERER_ADMIN_TLS_ROOTCAS=" + filepath.Join(tls, "ca.crt"),
		"ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true",
		"ORDERER_ADMIN_TLS_CLIENTROOTCAS=" + filepath.Join(tls, "ca.crt"),
		"ORDERER_OPERATIONS_LISTENADDRESS=127.0.0.1:" + strconv.Itoa(cfg.Ports.OrdererOps),
	}
}

func peerEnv(cfg Config, o Org) []string {
	pd := cfg.PeerDir(o)
	tls := filepath.Join(pd, "tls")
	return []string{
		"FABRIC_CFG_PATH=" + cfg.Path("config"),
		"CORE_PEER_ID=" + o.Peer,
		"CORE_PEER_LISTENADDRESS=127.0.0.1:" + strconv.Itoa(o.Port),
		"CORE_PEER_ADDRESS=localhost:" + strconv.Itoa(o.Port),
		"CORE_PEER_CHAINCODELISTENADDRESS=127.0.0.1:" + strconv.Itoa(o.ChaincodePort),
		"CORE_PEER_LOCALMSPID=" + o.MSPID,
		"CORE_PEER_MSPCONFIGPATH=" + filepath.Join(pd, "msp"),
		"CORE_PEER_TLS_ENABLED=true",
		"CORE_PEER_TLS_CERT_FILE=" + filepath.Join(tls, "server.crt"),
		"CORE_PEER_TLS_KEY_FILE=" + filepath.Join(tls, "server.key"),
		"CORE_PEER_TLS_ROOTCERT_FILE=" + filepath.Join(tls, "ca.crt"),
		"CORE_PEER_FILESYSTEMPATH=" + cfg.Path("peers", o.Peer),
		"CORE_OPERATIONS_LISTENADDRESS=127.0.0.1:" + strconv.Itoa(o.OpsPort),
		// pprof on the operations port + 100 (6544 for peer0.org1 by default),
		// when WEFT_PROFILE=true; for performance work only.
		"CORE_PEER_PROFILE_ENABLED=" + strconv.FormatBool(os.Getenv("WEFT_PROFILE") == "true"),
		"CORE_PEER_PROFILE_LISTENADDRESS=127.0.0.1:" + strconv.Itoa(o.OpsPort+100),
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
