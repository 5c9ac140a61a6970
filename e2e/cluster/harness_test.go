package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/sampleconfig"
)

const (
	channelID = "mychannel"
	// Raft timing of every test channel: an election timeout of about one second.
	tickInterval  = 100 * time.Millisecond
	electionTick  = 10
	heartbeatTick = 1
	// electionTimeout is the longest a follower waits before campaigning
	// (etcd raft randomises it in [ElectionTick, 2*ElectionTick) ticks).
	electionTimeout = 2 * electionTick * tickInterval

	listenPort = 7050
	adminPort  = 7053
	opsPort    = 8443
)

// options shape one test network.
type options struct {
	Nodes int // orderer namespaces and identities (default 3)
	// Consenters are nodes 1..Consenters: in the genesis block, started and
	// joined by start (default Nodes). The others wait for a membership test.
	Consenters      int
	BatchTimeout    time.Duration // default 100ms
	MaxMessageCount uint32        // default 10, so load makes many blocks
	// SnapshotIntervalSize goes into the channel's etcdraft Options ("16 KB");
	// empty keeps the configtx default.
	SnapshotIntervalSize string
	// SnapshotIntervalBlocks sets the orderers' Consensus.SnapshotIntervalBlocks
	// (0 keeps orderer.yaml's value).
	SnapshotIntervalBlocks int
}

// network is one ordering cluster of real orderer processes, each in its own
// network namespace.
type network struct {
	t       testing.TB
	opts    options
	dir     string
	fab     *fabric
	nodes   []*node
	genesis []byte
	user    *msp.SigningIdentity // Org1's User1: broadcasts and reads blocks
	tlsCA   string               // TLS CA of the orderer organisation (PEM file)

	closeOnce sync.Once
	mu        sync.Mutex
	conns     map[uint64]*grpc.ClientConn
	drops     map[uint64]map[uint64]bool
}

// node is one orderer process.
type node struct {
	id      uint64
	name    string // orderer1.example.com
	ns, ip  string
	dataDir string
	logPath string
	env     []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool // SIGSTOPped
}

// start creates the crypto material, the genesis block, the namespaces and
// the orderer processes of a new network, joins every orderer to the channel
// and registers its removal with t.Cleanup.
func start(t testing.TB, o options) *network {
	t.Helper()
	requireNetns(t)
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Consenters == 0 || o.Consenters > o.Nodes {
		o.Consenters = o.Nodes
	}
	if o.BatchTimeout == 0 {
		o.BatchTimeout = 100 * time.Millisecond
	}
	if o.MaxMessageCount == 0 {
		o.MaxMessageCount = 10
	}
	n := &network{t: t, opts: o, dir: t.TempDir(), conns: map[uint64]*grpc.ClientConn{}, drops: map[uint64]map[uint64]bool{}}
	fab, err := newFabric(o.Nodes)
	if err != nil {
		t.Fatalf("create network namespaces: %v", err)
	}
	n.fab = fab
	t.Cleanup(n.close)
	for i := 1; i <= o.Nodes; i++ {
		id := uint64(i)
		n.nodes = append(n.nodes, &node{
			id: id, name: fmt.Sprintf("orderer%d.example.com", i), ns: fab.ns(id), ip: fab.nodeIP(id),
			dataDir: filepath.Join(n.dir, "nodes", fmt.Sprintf("orderer%d", i)),
			logPath: filepath.Join(n.dir, "logs", fmt.Sprintf("orderer%d.log", i)),
		})
	}
	if err := n.generate(); err != nil {
		t.Fatalf("generate crypto material and genesis block: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	consenters := n.nodes[:o.Consenters]
	for _, nd := range consenters {
		if err := n.startProcess(nd); err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range consenters {
		if err := n.waitReady(ctx, nd); err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range consenters {
		if _, err := n.admin(nd).Join(ctx, n.genesis); err != nil {
			t.Fatalf("join %s to %s through the participation API: %v (log %s)", nd.name, channelID, err, nd.logPath)
		}
	}
	return n
}

func (n *network) node(id uint64) *node {
	if id < 1 || int(id) > len(n.nodes) {
		n.t.Fatalf("no orderer with id %d in a network of %d", id, len(n.nodes))
	}
	return n.nodes[id-1]
}

// ids returns every node id.
func (n *network) ids() []uint64 {
	var out []uint64
	for _, nd := range n.nodes {
		out = append(out, nd.id)
	}
	return out
}

func (n *network) ordererDir(nd *node) string {
	return filepath.Join(n.dir, "organizations", "ordererOrganizations", "example.com", "orderers", nd.name)
}

// generate writes crypto-config.yaml and configtx.yaml for this network, the
// crypto material (every orderer's TLS certificate is valid for its address)
// and the channel's genesis block.
func (n *network) generate() error {
	var cc strings.Builder
	cc.WriteString("OrdererOrgs:\n  - Name: Orderer\n    Domain: example.com\n    EnableNodeOUs: true\n    Specs:\n")
	for _, nd := range n.nodes {
		fmt.Fprintf(&cc, "      - Hostname: %s\n        SANS: [%s]\n", strings.TrimSuffix(nd.name, ".example.com"), nd.ip)
	}
	cc.WriteString("PeerOrgs:\n  - Name: Org1\n    Domain: org1.example.com\n    EnableNodeOUs: true\n    Template: {Count: 1}\n    Users: {Count: 1}\n")
	if err := os.WriteFile(filepath.Join(n.dir, "crypto-config.yaml"), []byte(cc.String()), 0o644); err != nil {
		return err
	}
	cryptoCfg, err := msp.LoadCryptoConfig(filepath.Join(n.dir, "crypto-config.yaml"))
	if err != nil {
		return err
	}
	if err := msp.GenerateCrypto(cryptoCfg, filepath.Join(n.dir, "organizations")); err != nil {
		return err
	}

	var endpoints, consenters strings.Builder
	for _, nd := range n.nodes[:n.opts.Consenters] {
		fmt.Fprintf(&endpoints, "      - %s:%d\n", nd.ip, listenPort)
		tls := filepath.Join("organizations", "ordererOrganizations", "example.com", "orderers", nd.name, "tls", "server.crt")
		fmt.Fprintf(&consenters, "          - {Host: %s, Port: %d, ClientTLSCert: %s, ServerTLSCert: %s}\n", nd.ip, listenPort, tls, tls)
	}
	snap := ""
	if n.opts.SnapshotIntervalSize != "" {
		snap = "\n          SnapshotIntervalSize: " + n.opts.SnapshotIntervalSize
	}
	configtx := fmt.Sprintf(`Organizations:
  - &OrdererOrg
    Name: OrdererOrg
    ID: OrdererMSP
    MSPDir: organizations/ordererOrganizations/example.com/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
      Writers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
      Admins: {Type: Signature, Rule: "OR('OrdererMSP.admin')"}
    OrdererEndpoints:
%[1]s
  - &Org1
    Name: Org1MSP
    ID: Org1MSP
    MSPDir: organizations/peerOrganizations/org1.example.com/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('Org1MSP.admin', 'Org1MSP.peer', 'Org1MSP.client')"}
      Writers: {Type: Signature, Rule: "OR('Org1MSP.admin', 'Org1MSP.client')"}
      Admins: {Type: Signature, Rule: "OR('Org1MSP.admin')"}
      Endorsement: {Type: Signature, Rule: "OR('Org1MSP.peer')"}

Profiles:
  Cluster:
    Policies:
      Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
      Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
      Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
    Capabilities: {V2_0: true}
    Orderer:
      OrdererType: etcdraft
      Addresses:
%[1]s
      BatchTimeout: %[2]s
      BatchSize: {MaxMessageCount: %[3]d, AbsoluteMaxBytes: 10 MB, PreferredMaxBytes: 2 MB}
      EtcdRaft:
        Consenters:
%[4]s        Options:
          TickInterval: %[5]s
          ElectionTick: %[6]d
          HeartbeatTick: %[7]d%[8]s
      Organizations: [*OrdererOrg]
      Policies:
        Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
        Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
        Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
        BlockValidation: {Type: ImplicitMeta, Rule: "ANY Writers"}
      Capabilities: {V2_0: true}
    Application:
      Organizations: [*Org1]
      Policies:
        Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
        Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
        Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
        LifecycleEndorsement: {Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}
        Endorsement: {Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}
      Capabilities: {V2_5: true}
`, strings.TrimRight(endpoints.String(), "\n"), n.opts.BatchTimeout, n.opts.MaxMessageCount, consenters.String(),
		tickInterval, electionTick, heartbeatTick, snap)
	if err := os.WriteFile(filepath.Join(n.dir, "configtx.yaml"), []byte(configtx), 0o644); err != nil {
		return err
	}
	ctx, err := channelconfig.LoadConfigTx(filepath.Join(n.dir, "configtx.yaml"))
	if err != nil {
		return err
	}
	genesis, err := channelconfig.GenesisBlock(ctx, "Cluster", channelID)
	if err != nil {
		return err
	}
	n.genesis = protos.Marshal(genesis)
	if err := os.WriteFile(filepath.Join(n.dir, channelID+".block"), n.genesis, 0o644); err != nil {
		return err
	}

	// orderer.yaml from the sample configuration; the environment overrides the rest.
	cfgDir := filepath.Join(n.dir, "config")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return err
	}
	raw, err := fs.ReadFile(sampleconfig.Files, "orderer.yaml")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "orderer.yaml"), raw, 0o644); err != nil {
		return err
	}
	org1 := filepath.Join(n.dir, "organizations", "peerOrganizations", "org1.example.com")
	if n.user, err = msp.LoadSigningIdentity(filepath.Join(org1, "users", "User1@org1.example.com", "msp"), "Org1MSP"); err != nil {
		return err
	}
	n.tlsCA = filepath.Join(n.dir, "organizations", "ordererOrganizations", "example.com", "tlsca", "tlsca.example.com-cert.pem")
	for _, nd := range n.nodes {
		nd.env = n.ordererEnv(nd, cfgDir)
	}
	return nil
}

// ordererEnv configures one orderer through ORDERER_* variables, as the
// development network does, listening on the node's own address.
func (n *network) ordererEnv(nd *node, cfgDir string) []string {
	od := n.ordererDir(nd)
	tls := filepath.Join(od, "tls")
	env := []string{
		"FABRIC_CFG_PATH=" + cfgDir,
		"FABRIC_LOGGING_SPEC=info",
		"ORDERER_GENERAL_LISTENADDRESS=" + nd.ip,
		"ORDERER_GENERAL_LISTENPORT=" + strconv.Itoa(listenPort),
		"ORDERER_GENERAL_LOCALMSPID=OrdererMSP",
		"ORDERER_GENERAL_LOCALMSPDIR=" + filepath.Join(od, "msp"),
		"ORDERER_GENERAL_TLS_ENABLED=true",
		"ORDERER_GENERAL_TLS_PRIVATEKEY=" + filepath.Join(tls, "server.key"),
		"ORDERER_GENERAL_TLS_CERTIFICATE=" + filepath.Join(tls, "server.crt"),
		"ORDERER_GENERAL_TLS_ROOTCAS=" + filepath.Join(tls, "ca.crt"),
		// Fabric's names for the intra-cluster client certificate (the
		// consenter's ClientTLSCert is the node's server certificate).
		"ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE=" + filepath.Join(tls, "server.crt"),
		"ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY=" + filepath.Join(tls, "server.key"),
		"ORDERER_GENERAL_CLUSTER_ROOTCAS=" + filepath.Join(tls, "ca.crt"),
		"ORDERER_GENERAL_BOOTSTRAPMETHOD=none",
		"ORDERER_CHANNELPARTICIPATION_ENABLED=true",
		"ORDERER_FILELEDGER_LOCATION=" + filepath.Join(nd.dataDir, "ledger"),
		"ORDERER_CONSENSUS_WALDIR=" + filepath.Join(nd.dataDir, "etcdraft", "wal"),
		"ORDERER_CONSENSUS_SNAPDIR=" + filepath.Join(nd.dataDir, "etcdraft", "snapshot"),
		"ORDERER_ADMIN_LISTENADDRESS=" + nd.ip + ":" + strconv.Itoa(adminPort),
		"ORDERER_ADMIN_TLS_ENABLED=true",
		"ORDERER_ADMIN_TLS_PRIVATEKEY=" + filepath.Join(tls, "server.key"),
		"ORDERER_ADMIN_TLS_CERTIFICATE=" + filepath.Join(tls, "server.crt"),
		"ORDERER_ADMIN_TLS_ROOTCAS=" + filepath.Join(tls, "ca.crt"),
		"ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true",
		"ORDERER_ADMIN_TLS_CLIENTROOTCAS=" + filepath.Join(tls, "ca.crt"),
		"ORDERER_OPERATIONS_LISTENADDRESS=" + nd.ip + ":" + strconv.Itoa(opsPort),
	}
	if n.opts.SnapshotIntervalBlocks > 0 {
		env = append(env, "ORDERER_CONSENSUS_SNAPSHOTINTERVALBLOCKS="+strconv.Itoa(n.opts.SnapshotIntervalBlocks))
	}
	return env
}

// admin is the participation API client of a node, as the orderer
// organisation's Admin.
func (n *network) admin(nd *node) client.OSNAdmin {
	adminTLS := filepath.Join(n.dir, "organizations", "ordererOrganizations", "example.com", "users", "Admin@example.com", "tls")
	return client.OSNAdmin{Endpoint: client.Endpoint{
		Address:        fmt.Sprintf("%s:%d", nd.ip, adminPort),
		TLS:            true,
		RootCertFile:   n.tlsCA,
		ClientCertFile: filepath.Join(adminTLS, "client.crt"),
		ClientKeyFile:  filepath.Join(adminTLS, "client.key"),
	}}
}

// addr is the node's gRPC address (Broadcast, Deliver, cluster).
func (nd *node) addr() string { return fmt.Sprintf("%s:%d", nd.ip, listenPort) }

// startProcess runs the orderer inside its namespace with `ip netns exec`.
func (n *network) startProcess(nd *node) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil && !closed(nd.done) {
		return fmt.Errorf("%s is already running (pid %d)", nd.name, nd.cmd.Process.Pid)
	}
	if err := os.MkdirAll(filepath.Dir(nd.logPath), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "==== harness: starting %s at %s ====\n", nd.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command("ip", "netns", "exec", nd.ns, ordererBin)
	cmd.Env = append(os.Environ(), nd.env...)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// ip execs the orderer, so the pid is the orderer's; it dies with the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s in namespace %s: %w", nd.name, nd.ns, err)
	}
	done := make(chan struct{})
	nd.cmd, nd.done, nd.stopped = cmd, done, false
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	return nil
}

func closed(c chan struct{}) bool {
	if c == nil {
		return true
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// running reports whether the node's process is alive (stopped or not).
func (nd *node) running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.cmd != nil && !closed(nd.done)
}

// serving reports whether the node runs and is not SIGSTOPped.
func (nd *node) serving() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.cmd != nil && !closed(nd.done) && !nd.stopped
}

// waitReady waits until the node accepts connections on its gRPC and admin ports.
func (n *network) waitReady(ctx context.Context, nd *node) error {
	nd.mu.Lock()
	done := nd.done
	nd.mu.Unlock()
	for _, port := range []int{listenPort, adminPort} {
		addr := fmt.Sprintf("%s:%d", nd.ip, port)
		for {
			d := net.Dialer{Timeout: 300 * time.Millisecond}
			if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
				c.Close()
				break
			}
			select {
			case <-done:
				return fmt.Errorf("%s exited before listening on %s; log tail:\n%s", nd.name, addr, tail(nd.logPath, 3000))
			case <-ctx.Done():
				return fmt.Errorf("%s did not listen on %s in time; log tail:\n%s", nd.name, addr, tail(nd.logPath, 3000))
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// signal sends sig to the node's process.
func (nd *node) signal(sig syscall.Signal) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil || closed(nd.done) {
		return fmt.Errorf("%s is not running", nd.name)
	}
	if err := syscall.Kill(nd.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("send %v to %s (pid %d): %w", sig, nd.name, nd.cmd.Process.Pid, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		nd.stopped = true
	case syscall.SIGCONT:
		nd.stopped = false
	}
	return nil
}

func (nd *node) wait(timeout time.Duration) error {
	nd.mu.Lock()
	done := nd.done
	nd.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit within %v", nd.name, timeout)
	}
}

// Kill crashes the node with SIGKILL and waits until it is gone.
func (n *network) Kill(id uint64) {
	n.t.Helper()
	nd := n.node(id)
	if err := nd.signal(syscall.SIGKILL); err != nil {
		n.t.Fatal(err)
	}
	if err := nd.wait(10 * time.Second); err != nil {
		n.t.Fatal(err)
	}
	n.logEvent(nd, "SIGKILL")
}

// KillAll SIGKILLs the nodes at once (all signals first, then the waits).
func (n *network) KillAll(ids ...uint64) {
	n.t.Helper()
	for _, id := range ids {
		if err := n.node(id).signal(syscall.SIGKILL); err != nil {
			n.t.Fatal(err)
		}
	}
	for _, id := range ids {
		if err := n.node(id).wait(10 * time.Second); err != nil {
			n.t.Fatal(err)
		}
		n.logEvent(n.node(id), "SIGKILL (all at once)")
	}
}

// Terminate stops the node gracefully with SIGTERM.
func (n *network) Terminate(id uint64) {
	n.t.Helper()
	nd := n.node(id)
	if err := nd.signal(syscall.SIGTERM); err != nil {
		n.t.Fatal(err)
	}
	if err := nd.wait(20 * time.Second); err != nil {
		n.t.Fatal(err)
	}
}

// Stop freezes the node with SIGSTOP.
func (n *network) Stop(id uint64) {
	n.t.Helper()
	nd := n.node(id)
	if err := nd.signal(syscall.SIGSTOP); err != nil {
		n.t.Fatal(err)
	}
	n.logEvent(nd, "SIGSTOP")
}

// Cont resumes a node frozen by Stop.
func (n *network) Cont(id uint64) {
	n.t.Helper()
	nd := n.node(id)
	if err := nd.signal(syscall.SIGCONT); err != nil {
		n.t.Fatal(err)
	}
	n.logEvent(nd, "SIGCONT")
}

// StartNode starts a node that is down and waits until it listens.
func (n *network) StartNode(id uint64) {
	n.t.Helper()
	nd := n.node(id)
	if err := n.startProcess(nd); err != nil {
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.waitReady(ctx, nd); err != nil {
		n.t.Fatal(err)
	}
}

// Restart kills the node (SIGKILL) if it runs and starts it again.
func (n *network) Restart(id uint64) {
	n.t.Helper()
	if n.node(id).running() {
		n.Kill(id)
	}
	n.StartNode(id)
}

// Partition cuts every node of a off from every node of b (both directions),
// on top of earlier partitions. Clients in the root namespace still reach all.
func (n *network) Partition(a, b []uint64) {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, x := range a {
		for _, y := range b {
			if x == y {
				n.t.Fatalf("partition: node %d is on both sides", x)
			}
			for _, p := range [][2]uint64{{x, y}, {y, x}} {
				if n.drops[p[0]] == nil {
					n.drops[p[0]] = map[uint64]bool{}
				}
				n.drops[p[0]][p[1]] = true
			}
		}
	}
	if err := n.fab.applyDrops(n.drops); err != nil {
		n.t.Fatal(err)
	}
	for _, nd := range n.nodes {
		n.logEvent(nd, fmt.Sprintf("partition %v | %v", a, b))
	}
}

// Heal removes every partition.
func (n *network) Heal() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drops = map[uint64]map[uint64]bool{}
	if err := n.fab.applyDrops(n.drops); err != nil {
		n.t.Fatal(err)
	}
	for _, nd := range n.nodes {
		n.logEvent(nd, "heal")
	}
}

// logEvent writes a harness line into the node's log, so a failure's log
// shows where each fault was injected.
func (n *network) logEvent(nd *node, what string) {
	if f, err := os.OpenFile(nd.logPath, os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(f, "==== harness: %s at %s ====\n", what, time.Now().Format(time.RFC3339Nano))
		f.Close()
	}
}

// close kills every node, removes the namespaces and, when the test failed,
// prints the tail of every node's log.
func (n *network) close() {
	n.closeOnce.Do(n.doClose)
}

func (n *network) doClose() {
	n.mu.Lock()
	for _, c := range n.conns {
		c.Close()
	}
	n.conns = map[uint64]*grpc.ClientConn{}
	n.mu.Unlock()
	for _, nd := range n.nodes {
		if nd.running() {
			nd.signal(syscall.SIGKILL)
			nd.wait(10 * time.Second)
		}
	}
	if n.t.Failed() {
		for _, nd := range n.nodes {
			n.t.Logf("==== %s (%s, %s) log tail ====\n%s", nd.name, nd.ns, nd.ip, tail(nd.logPath, 6000))
		}
	}
	if n.fab != nil {
		if err := n.fab.destroy(); err != nil {
			n.t.Errorf("remove the network namespaces of %s: %v", n.fab.prefix, err)
		}
	}
}

// tail returns the end of a node's log, without the "deliver refused" lines
// the harness's own polling causes (it says how many it left out).
func tail(path string, max int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var keep []string
	omitted := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, `msg="deliver refused"`) {
			omitted++
			continue
		}
		keep = append(keep, line)
	}
	out := strings.Join(keep, "\n")
	if len(out) > max {
		out = out[len(out)-max:]
	}
	if omitted > 0 {
		out += fmt.Sprintf("\n(%d \"deliver refused\" lines left out)", omitted)
	}
	return out
}

// conn returns the shared gRPC connection to a node. It reconnects quickly
// after the node restarts.
func (n *network) conn(id uint64) (*grpc.ClientConn, error) {
	if id < 1 || int(id) > len(n.nodes) {
		return nil, fmt.Errorf("no orderer with id %d in a network of %d", id, len(n.nodes))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.conns[id]; ok {
		return c, nil
	}
	ep := client.Endpoint{Address: n.nodes[id-1].addr(), TLS: true, RootCertFile: n.tlsCA}
	tc, err := ep.TLSConfig()
	if err != nil {
		return nil, err
	}
	c, err := grpc.NewClient(ep.Address,
		grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 300 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}),
		// Calls wait for the connection (bounded by their context) instead of
		// failing at once while it reconnects after a fault.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(client.MaxMessageSize), grpc.WaitForReady(true)))
	if err != nil {
		return nil, err
	}
	n.conns[id] = c
	return c, nil
}

// newTx returns a signed ENDORSER_TRANSACTION envelope of Org1's User1 with
// a body of size bytes, and its TxID.
func (n *network) newTx(size int) (*cb.Envelope, string, error) {
	body := bytes.Repeat([]byte{'x'}, size)
	env, err := protos.NewSignedEnvelope(cb.HeaderType_ENDORSER_TRANSACTION, channelID, n.user, &cb.Envelope{Payload: body})
	if err != nil {
		return nil, "", err
	}
	ch, err := protos.EnvelopeChannelHeader(protos.Marshal(env))
	if err != nil {
		return nil, "", err
	}
	return env, ch.TxId, nil
}

// Broadcast sends one envelope to one orderer and returns its answer. A
// transport failure is returned as err (status 0).
func (n *network) Broadcast(ctx context.Context, id uint64, env *cb.Envelope) (cb.Status, string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := n.conn(id)
	if err != nil {
		return 0, "", err
	}
	s, err := ab.NewAtomicBroadcastClient(conn).Broadcast(ctx)
	if err != nil {
		return 0, "", err
	}
	if err := s.Send(env); err != nil {
		return 0, "", err
	}
	r, err := s.Recv()
	if err != nil {
		return 0, "", err
	}
	s.CloseSend()
	return r.Status, r.Info, nil
}

// deliver reads blocks from..to (inclusive; math.MaxUint64 for "newest") of a node.
func (n *network) deliver(ctx context.Context, id uint64, start, stop *ab.SeekPosition, each func(*cb.Block) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := n.conn(id)
	if err != nil {
		return err
	}
	s, err := ab.NewAtomicBroadcastClient(conn).Deliver(ctx)
	if err != nil {
		return err
	}
	req, err := protos.NewSignedEnvelope(cb.HeaderType_DELIVER_SEEK_INFO, channelID, n.user, &ab.SeekInfo{
		Start: start, Stop: stop, Behavior: ab.SeekInfo_BLOCK_UNTIL_READY,
	})
	if err != nil {
		return err
	}
	if err := s.Send(req); err != nil {
		return err
	}
	for {
		r, err := s.Recv()
		if err != nil {
			return err
		}
		switch x := r.Type.(type) {
		case *ab.DeliverResponse_Block:
			if err := each(x.Block); err != nil {
				return err
			}
		case *ab.DeliverResponse_Status:
			if x.Status == cb.Status_SUCCESS {
				return nil
			}
			return fmt.Errorf("deliver from node %d: status %v", id, x.Status)
		}
	}
}

func specified(num uint64) *ab.SeekPosition {
	return &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: num}}}
}

// Height returns the node's block height, asking it for its newest block.
func (n *network) Height(ctx context.Context, id uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var h uint64
	newest := &ab.SeekPosition{Type: &ab.SeekPosition_Newest{Newest: &ab.SeekNewest{}}}
	err := n.deliver(ctx, id, newest, newest, func(b *cb.Block) error {
		h = b.GetHeader().GetNumber() + 1
		return nil
	})
	return h, err
}

// Blocks reads blocks from..to (inclusive) of a node.
func (n *network) Blocks(ctx context.Context, id uint64, from, to uint64) ([]*cb.Block, error) {
	var out []*cb.Block
	err := n.deliver(ctx, id, specified(from), specified(to), func(b *cb.Block) error {
		out = append(out, b)
		return nil
	})
	return out, err
}

// waitHeights waits until every node in ids reports the same height of at
// least min and returns it.
func (n *network) waitHeights(ids []uint64, min uint64, timeout time.Duration) (uint64, error) {
	var height uint64
	err := eventually.Wait(timeout, func(ctx context.Context) error {
		last := map[uint64]string{}
		var hs []uint64
		for _, id := range ids {
			h, err := n.Height(ctx, id)
			if err != nil {
				last[id] = err.Error()
				continue
			}
			last[id] = strconv.FormatUint(h, 10)
			hs = append(hs, h)
		}
		if len(hs) == len(ids) && hs[0] >= min {
			same := true
			for _, h := range hs {
				same = same && h == hs[0]
			}
			if same {
				height = hs[0]
				return nil
			}
		}
		return fmt.Errorf("%v", last)
	})
	if err != nil {
		return 0, fmt.Errorf("nodes %v did not reach one height ≥ %d within %v: %v", ids, min, timeout, err)
	}
	return height, nil
}

// waitHeight waits until a node's height is at least min.
func (n *network) waitHeight(id uint64, min uint64, timeout time.Duration) error {
	err := eventually.Wait(timeout, func(ctx context.Context) error {
		h, err := n.Height(ctx, id)
		if err == nil && h < min {
			err = fmt.Errorf("height %d", h)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s did not reach height %d within %v (%v)", n.node(id).name, min, timeout, err)
	}
	return nil
}

// checkChains waits until the nodes agree on a height, reads every block of
// each and fails the test unless the chains are identical block for block
// (number, previous hash, data hash, header hash). It returns the chain.
func (n *network) checkChains(t testing.TB, ids ...uint64) []*cb.Block {
	t.Helper()
	if len(ids) == 0 {
		ids = n.ids()
	}
	// Acknowledged envelopes are in the Raft log before they are in a block:
	// wait until the heights agree and stay put for a while.
	quiet := max(time.Second, 5*n.opts.BatchTimeout)
	var h uint64
	for deadline := time.Now().Add(90 * time.Second); ; {
		var err error
		if h, err = n.waitHeights(ids, 1, time.Until(deadline)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(quiet) // the settling period is the condition itself
		if again, err := n.waitHeights(ids, 1, time.Until(deadline)); err == nil && again == h {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ref []*cb.Block
	for _, id := range ids {
		blocks, err := n.Blocks(ctx, id, 0, h-1)
		if err != nil {
			t.Fatalf("read blocks 0..%d of %s: %v", h-1, n.node(id).name, err)
		}
		if uint64(len(blocks)) != h {
			t.Fatalf("%s returned %d blocks, want %d", n.node(id).name, len(blocks), h)
		}
		var prev []byte
		for i, b := range blocks {
			hd := b.GetHeader()
			if hd.GetNumber() != uint64(i) {
				t.Fatalf("%s: block at position %d has number %d", n.node(id).name, i, hd.GetNumber())
			}
			if i > 0 && !bytes.Equal(hd.GetPreviousHash(), prev) {
				t.Fatalf("%s: block %d's previous hash does not match block %d's header hash", n.node(id).name, i, i-1)
			}
			if !bytes.Equal(hd.GetDataHash(), protos.BlockDataHash(b.GetData())) {
				t.Fatalf("%s: block %d's data hash does not match its data", n.node(id).name, i)
			}
			prev = protos.BlockHeaderHash(hd)
		}
		if ref == nil {
			ref = blocks
			continue
		}
		for i := range blocks {
			if !bytes.Equal(protos.BlockHeaderHash(blocks[i].GetHeader()), protos.BlockHeaderHash(ref[i].GetHeader())) {
				t.Fatalf("chains diverge at block %d: %s has header hash %x (%d txs), %s has %x (%d txs)", i,
					n.node(ids[0]).name, protos.BlockHeaderHash(ref[i].GetHeader()), len(ref[i].GetData().GetData()),
					n.node(id).name, protos.BlockHeaderHash(blocks[i].GetHeader()), len(blocks[i].GetData().GetData()))
			}
		}
	}
	t.Logf("chains of %v identical: %d blocks", ids, h)
	return ref
}

// txIDs returns the TxIDs of the endorser transactions of the chain, in order.
func txIDs(t testing.TB, chain []*cb.Block) []string {
	t.Helper()
	out, err := endorserTxIDs(chain)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func endorserTxIDs(chain []*cb.Block) ([]string, error) {
	var out []string
	for _, b := range chain {
		for i, raw := range b.GetData().GetData() {
			ch, err := protos.EnvelopeChannelHeader(raw)
			if err != nil {
				return nil, fmt.Errorf("block %d tx %d: %v", b.GetHeader().GetNumber(), i, err)
			}
			if ch.Type == int32(cb.HeaderType_ENDORSER_TRANSACTION) {
				out = append(out, ch.TxId)
			}
		}
	}
	return out, nil
}

// checkExactlyOnce fails the test unless every acknowledged TxID is in the
// chain exactly once and no TxID is in it twice.
func checkExactlyOnce(t testing.TB, acked map[string]ack, chain []*cb.Block) {
	t.Helper()
	count := map[string]int{}
	for _, id := range txIDs(t, chain) {
		count[id]++
	}
	var dup, lost []string
	for id, c := range count {
		if c > 1 {
			dup = append(dup, fmt.Sprintf("%s ×%d", id, c))
		}
	}
	for id, a := range acked {
		if count[id] == 0 {
			lost = append(lost, fmt.Sprintf("%s (acked by %d at %s)", id, a.Node, a.At.Format("15:04:05.000")))
		}
	}
	sort.Strings(lost)
	if len(dup) > 0 {
		t.Errorf("%d transactions ordered more than once: %v", len(dup), head(dup, 10))
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged transactions are missing from the chain: %v", len(lost), len(acked), head(lost, 10))
	}
	if len(dup) == 0 && len(lost) == 0 {
		t.Logf("exactly once: %d acknowledged transactions, %d transactions in %d blocks", len(acked), len(count), len(chain))
	}
}

func head(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... %d more", len(s)-n))
	}
	return s
}

var leaderLine = regexp.MustCompile(`^time=(\S+) .*msg="(became raft leader|lost raft leadership)".*`)
var termField = regexp.MustCompile(` term=(\d+)`)

// leadership is a node's latest leadership event in its log.
type leadership struct {
	leader bool
	term   uint64
	at     time.Time
}

// lastLeadership scans a node's log for its latest "became raft leader" or
// "lost raft leadership" line since the node last started.
func lastLeadership(nd *node) (leadership, bool) {
	f, err := os.Open(nd.logPath)
	if err != nil {
		return leadership{}, false
	}
	defer f.Close()
	var last leadership
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "==== harness: starting") {
			last, found = leadership{}, false
			continue
		}
		m := leaderLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, _ := time.Parse(time.RFC3339Nano, m[1])
		l := leadership{leader: m[2] == "became raft leader", at: at}
		if tm := termField.FindStringSubmatch(line); tm != nil {
			l.term, _ = strconv.ParseUint(tm[1], 10, 64)
		}
		last, found = l, true
	}
	return last, found
}

// snapshotLine is what raftchain logs when a node catches up from a snapshot.
var snapshotLine = regexp.MustCompile(`msg="(installed raft snapshot|pulling blocks from other orderers)"`)

// countLog counts the lines of a node's log, since it last started, that match re.
func countLog(nd *node, re *regexp.Regexp) int {
	raw, err := os.ReadFile(nd.logPath)
	if err != nil {
		return 0
	}
	if i := bytes.LastIndex(raw, []byte("==== harness: starting")); i >= 0 {
		raw = raw[i:]
	}
	return len(re.FindAll(raw, -1))
}

// Leader waits until one serving node (not in exclude) claims leadership at
// a term no other serving node claims higher, and returns it with the time
// its log says it became leader.
func (n *network) Leader(timeout time.Duration, exclude ...uint64) (uint64, time.Time, error) {
	var best uint64
	var bestL leadership
	err := eventually.Wait(timeout, func(context.Context) error {
		best, bestL = 0, leadership{}
		claims := 0
		for _, nd := range n.nodes {
			if !nd.serving() || contains(exclude, nd.id) {
				continue
			}
			l, ok := lastLeadership(nd)
			if !ok || !l.leader {
				continue
			}
			claims++
			if l.term > bestL.term || best == 0 {
				best, bestL = nd.id, l
			}
		}
		if best != 0 && claims == 1 {
			return nil
		}
		return fmt.Errorf("%d claim leadership", claims)
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("no single leader among the serving nodes (excluding %v) within %v (%v)", exclude, timeout, err)
	}
	return best, bestL.at, nil
}

func contains(s []uint64, x uint64) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func others(all []uint64, not ...uint64) []uint64 {
	var out []uint64
	for _, v := range all {
		if !contains(not, v) {
			out = append(out, v)
		}
	}
	return out
}

// median and max of durations.
func stats(ds []time.Duration) (median, worst time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)-1]
}
