package devnet

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/sampleconfig"
)

func TestCheckOrderers(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 3, 5} {
		if err := CheckOrderers(n); err != nil {
			t.Errorf("CheckOrderers(%d) = %v", n, err)
		}
	}
	for _, n := range []int{-1, 0, 2, 4, 6, 7} {
		err := CheckOrderers(n)
		if err == nil || !strings.Contains(err.Error(), "runs 1, 3 or 5") || !strings.HasPrefix(err.Error(), strconv.Itoa(n)+" orderers") {
			t.Errorf("CheckOrderers(%d) = %v, want an error naming the count and 1, 3 or 5", n, err)
		}
	}
}

func TestDefaultPortsLayout(t *testing.T) {
	t.Parallel()
	cfg := Config{Ports: DefaultPorts(), Orderers: 5}
	want := []OrdererNode{
		{1, "orderer.example.com", "orderer", OrdererPorts{7050, 7053, 9443}},
		{2, "orderer2.example.com", "orderer2", OrdererPorts{8050, 8053, 9446}},
		{3, "orderer3.example.com", "orderer3", OrdererPorts{9050, 9053, 9447}},
		{4, "orderer4.example.com", "orderer4", OrdererPorts{10050, 10053, 9448}},
		{5, "orderer5.example.com", "orderer5", OrdererPorts{11050, 11053, 9449}},
	}
	if got := cfg.OrdererNodes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("OrdererNodes() =\n%+v\nwant\n%+v", got, want)
	}
	for _, n := range []int{1, 3, 5} {
		cfg.Orderers = n
		if got := cfg.OrdererNodes(); !reflect.DeepEqual(got, want[:n]) {
			t.Errorf("%d orderers: OrdererNodes() = %+v", n, got)
		}
		if err := checkPorts(cfg); err != nil {
			t.Errorf("%d orderers on the default ports: %v", n, err)
		}
	}
	// Zero means one orderer.
	if got := (Config{Ports: DefaultPorts()}).OrdererNodes(); !reflect.DeepEqual(got, want[:1]) {
		t.Errorf("Orderers 0: OrdererNodes() = %+v", got)
	}
}

func TestCheckPorts(t *testing.T) {
	t.Parallel()
	p := DefaultPorts()
	p.OtherOrderers = p.OtherOrderers[:1]
	err := checkPorts(Config{Ports: p, Orderers: 3})
	if err == nil || !strings.Contains(err.Error(), "no ports for orderer3.example.com") {
		t.Errorf("3 orderers with ports for 2: %v", err)
	}
	p = DefaultPorts()
	p.OtherOrderers[1].Ops = p.Peer2Ops
	err = checkPorts(Config{Ports: p, Orderers: 3})
	if err == nil || !strings.Contains(err.Error(), "port 9445 is given to both orderer3.example.com operations and peer0.org2.example.com operations") {
		t.Errorf("shared port: %v", err)
	}
}

func TestFreePorts(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 3, 5} {
		p, err := FreePorts(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.OtherOrderers) != n-1 {
			t.Errorf("FreePorts(%d) gives %d other orderers", n, len(p.OtherOrderers))
		}
		cfg := Config{Ports: p, Orderers: n}
		if err := checkPorts(cfg); err != nil {
			t.Errorf("FreePorts(%d): %v", n, err)
		}
		for _, o := range cfg.OrdererNodes() {
			if o.Listen == 0 || o.Admin == 0 || o.Ops == 0 {
				t.Errorf("FreePorts(%d): %s has a zero port: %+v", n, o.Name, o.OrdererPorts)
			}
		}
	}
	if _, err := FreePorts(2); err == nil {
		t.Error("FreePorts(2) succeeded")
	}
}

// TestUpRefusesBeforeTouchingDisk checks that a bad size or missing ports fail
// before the folder is created or anything starts.
func TestUpRefusesBeforeTouchingDisk(t *testing.T) {
	t.Parallel()
	few := DefaultPorts()
	few.OtherOrderers = nil
	for _, tt := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"two orderers", Config{Orderers: 2, Ports: DefaultPorts()}, "2 orderers: the development network runs 1, 3 or 5"},
		{"four orderers", Config{Orderers: 4, Ports: DefaultPorts()}, "4 orderers"},
		{"no ports", Config{Orderers: 3, Ports: few}, "no ports for orderer2.example.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Dir = filepath.Join(t.TempDir(), "net")
			tt.cfg.BinDir = t.TempDir()
			_, err := Up(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Up = %v, want %q", err, tt.wantErr)
			}
			if exists(tt.cfg.Dir) {
				t.Errorf("Up created %s although it refused the configuration", tt.cfg.Dir)
			}
		})
	}
}

// generated lays out a network folder (no processes) of n orderers on ports.
func generated(t *testing.T, n int, ports Ports) Config {
	t.Helper()
	cfg := Config{Dir: t.TempDir(), Ports: ports, Orderers: n}
	if err := generate(cfg); err != nil {
		t.Fatalf("generate %d orderers: %v", n, err)
	}
	return cfg
}

func genesisBundle(t *testing.T, cfg Config) *channelconfig.Bundle {
	t.Helper()
	raw, err := os.ReadFile(cfg.GenesisPath())
	if err != nil {
		t.Fatal(err)
	}
	block, err := protos.UnmarshalBlock(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, err := channelconfig.BundleFromBlock(block)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGenerateSingleOrderer checks that a one-orderer network is laid out as
// before clusters existed: sampleconfig's files as they are, one orderer,
// Fabric's default Raft options.
func TestGenerateSingleOrderer(t *testing.T) {
	t.Parallel()
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := generated(t, 1, ports)
	for _, f := range []string{"configtx.yaml", "crypto-config.yaml"} {
		want, _ := sampleconfig.Files.ReadFile(f)
		got, err := os.ReadFile(cfg.Path(f))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from sampleconfig's (%v)", f, err)
		}
	}
	entries, err := os.ReadDir(cfg.Path("organizations", "ordererOrganizations", "example.com", "orderers"))
	if err != nil || len(entries) != 1 || entries[0].Name() != "orderer.example.com" {
		t.Errorf("orderer crypto folders = %v (%v), want orderer.example.com only", entries, err)
	}
	if n := generatedOrderers(cfg); n != 1 {
		t.Errorf("generatedOrderers = %d, want 1", n)
	}
	oc := genesisBundle(t, cfg).Orderer()
	if len(oc.Consenters) != 1 || oc.Consenters[0].Port != uint32(ports.Orderer) {
		t.Errorf("consenters = %v, want orderer.example.com on %d", oc.Consenters, ports.Orderer)
	}
	if want := []string{"localhost:" + strconv.Itoa(ports.Orderer)}; !slices.Equal(oc.Endpoints, want) {
		t.Errorf("orderer endpoints = %v, want %v", oc.Endpoints, want)
	}
	if o := oc.RaftOptions; o.TickInterval != "500ms" || o.ElectionTick != 10 || o.HeartbeatTick != 1 {
		t.Errorf("Raft options = %v, want configtxgen's defaults", o)
	}
}

func TestGenerateCluster(t *testing.T) {
	t.Parallel()
	free3, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	free5, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		n     int
		ports Ports
	}{
		{"3 on default ports", 3, DefaultPorts()},
		{"3 on free ports", 3, free3},
		{"5 on free ports", 5, free5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := generated(t, tt.n, tt.ports)
			nodes := cfg.OrdererNodes()
			if len(nodes) != tt.n || generatedOrderers(cfg) != tt.n {
				t.Fatalf("%d nodes, %d generated, want %d", len(nodes), generatedOrderers(cfg), tt.n)
			}
			checkClusterCrypto(t, cfg, nodes)
			checkClusterGenesis(t, cfg, nodes)

			// The folder's yaml files describe the cluster on the
			// test-network's ports, and say where they come from.
			ct, err := channelconfig.LoadConfigTx(cfg.Path("configtx.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			raft := ct.Profiles[Profile].Orderer.EtcdRaft
			if len(raft.Consenters) != tt.n || raft.Consenters[tt.n-1].Port != uint32(6050+1000*tt.n) {
				t.Errorf("configtx.yaml consenters = %+v", raft.Consenters)
			}
			raw, _ := os.ReadFile(cfg.Path("configtx.yaml"))
			if !bytes.HasPrefix(raw, []byte("# Written by `weft up --orderers "+strconv.Itoa(tt.n)+"`")) ||
				!bytes.Contains(raw, []byte("# Development timing: a tick every 100ms")) ||
				bytes.Contains(raw, []byte("!!merge")) {
				t.Errorf("configtx.yaml lacks its header or the Options comment, or has !!merge tags:\n%s", raw)
			}
			cc, err := msp.LoadCryptoConfig(cfg.Path("crypto-config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if specs := cc.OrdererOrgs[0].Specs; len(specs) != tt.n || specs[tt.n-1].Hostname != nodes[tt.n-1].Host {
				t.Errorf("crypto-config.yaml orderer specs = %+v", specs)
			}
		})
	}
}

// checkClusterCrypto checks each orderer's TLS certificate: issued by the
// orderer organisation's TLS CA, for the node's names, localhost and 127.0.0.1.
func checkClusterCrypto(t *testing.T, cfg Config, nodes []OrdererNode) {
	t.Helper()
	for _, o := range nodes {
		tlsDir := filepath.Join(cfg.OrdererNodeDir(o), "tls")
		cert := readCert(t, filepath.Join(tlsDir, "server.crt"))
		for _, name := range []string{o.Name, o.Host, "localhost"} {
			if !slices.Contains(cert.DNSNames, name) {
				t.Errorf("%s TLS certificate DNS names %v lack %s", o.Name, cert.DNSNames, name)
			}
		}
		if !slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) }) {
			t.Errorf("%s TLS certificate IP addresses %v lack 127.0.0.1", o.Name, cert.IPAddresses)
		}
		roots := x509.NewCertPool()
		roots.AddCert(readCert(t, filepath.Join(tlsDir, "ca.crt")))
		for _, name := range []string{"localhost", o.Name} {
			if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("%s TLS certificate for %s: %v", o.Name, name, err)
			}
		}
		if _, err := msp.LoadSigningIdentity(filepath.Join(cfg.OrdererNodeDir(o), "msp"), "OrdererMSP"); err != nil {
			t.Errorf("%s MSP: %v", o.Name, err)
		}
	}
}

// checkClusterGenesis checks the channel's ordering service: every node a
// consenter with its port and certificates, every node an endpoint of
// OrdererMSP, and the development Raft timing.
func checkClusterGenesis(t *testing.T, cfg Config, nodes []OrdererNode) {
	t.Helper()
	oc := genesisBundle(t, cfg).Orderer()
	if len(oc.Consenters) != len(nodes) {
		t.Fatalf("%d consenters, want %d", len(oc.Consenters), len(nodes))
	}
	var endpoints []string
	for i, o := range nodes {
		c := oc.Consenters[i]
		crt, err := os.ReadFile(filepath.Join(cfg.OrdererNodeDir(o), "tls", "server.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Host != "localhost" || c.Port != uint32(o.Listen) || !bytes.Equal(c.ServerTlsCert, crt) || !bytes.Equal(c.ClientTlsCert, crt) {
			t.Errorf("consenter %d = %s:%d, want %s on localhost:%d with its TLS certificate", i+1, c.Host, c.Port, o.Name, o.Listen)
		}
		endpoints = append(endpoints, "localhost:"+strconv.Itoa(o.Listen))
	}
	if got := oc.Orgs["OrdererMSP"].OrdererEndpoints; !slices.Equal(got, endpoints) {
		t.Errorf("OrdererMSP endpoints = %v, want %v", got, endpoints)
	}
	if !slices.Equal(oc.Endpoints, endpoints) {
		t.Errorf("orderer endpoints = %v, want %v", oc.Endpoints, endpoints)
	}
	o := oc.RaftOptions
	if o.TickInterval != RaftTickInterval.String() || o.ElectionTick != RaftElectionTick || o.HeartbeatTick != RaftHeartbeatTick ||
		o.MaxInflightBlocks != 5 || o.SnapshotIntervalSize != 16<<20 {
		t.Errorf("Raft options = %v, want %s/%d/%d", o, RaftTickInterval, RaftElectionTick, RaftHeartbeatTick)
	}
	// The peers' anchor ports still follow the configuration.
	for _, org := range cfg.Orgs() {
		want := []string{"localhost:" + strconv.Itoa(org.Port)}
		if got := genesisBundle(t, cfg).Application().Orgs[org.MSPID].AnchorPeers; !slices.Equal(got, want) {
			t.Errorf("%s anchor peers = %v, want %v", org.MSPID, got, want)
		}
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// TestOrdererEnvSingle pins the environment of a lone orderer to what it was
// before clusters: the same variables, the same folders.
func TestOrdererEnvSingle(t *testing.T) {
	t.Parallel()
	cfg := Config{Dir: "/net", Ports: DefaultPorts(), Orderers: 1}
	tls := "/net/organizations/ordererOrganizations/example.com/orderers/orderer.example.com/tls/"
	want := []string{
		"FABRIC_CFG_PATH=/net/config",
		"ORDERER_GENERAL_LISTENADDRESS=127.0.0.1",
		"ORDERER_GENERAL_LISTENPORT=7050",
		"ORDERER_GENERAL_LOCALMSPID=OrdererMSP",
		"ORDERER_GENERAL_LOCALMSPDIR=/net/organizations/ordererOrganizations/example.com/orderers/orderer.example.com/msp",
		"ORDERER_GENERAL_TLS_ENABLED=true",
		"ORDERER_GENERAL_TLS_PRIVATEKEY=" + tls + "server.key",
		"ORDERER_GENERAL_TLS_CERTIFICATE=" + tls + "server.crt",
		"ORDERER_GENERAL_TLS_ROOTCAS=" + tls + "ca.crt",
		"ORDERER_GENERAL_BOOTSTRAPMETHOD=none",
		"ORDERER_CHANNELPARTICIPATION_ENABLED=true",
		"ORDERER_FILELEDGER_LOCATION=/net/orderer",
		"ORDERER_CONSENSUS_WALDIR=/net/orderer/etcdraft/wal",
		"ORDERER_CONSENSUS_SNAPDIR=/net/orderer/etcdraft/snapshot",
		"ORDERER_ADMIN_LISTENADDRESS=127.0.0.1:7053",
		"ORDERER_ADMIN_TLS_ENABLED=true",
		"ORDERER_ADMIN_TLS_PRIVATEKEY=" + tls + "server.key",
		"ORDERER_ADMIN_TLS_CERTIFICATE=" + tls + "server.crt",
		"ORDERER_ADMIN_TLS_ROOTCAS=" + tls + "ca.crt",
		"ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true",
		"ORDERER_ADMIN_TLS_CLIENTROOTCAS=" + tls + "ca.crt",
		"ORDERER_OPERATIONS_LISTENADDRESS=127.0.0.1:9443",
		"ORDERER_GENERAL_PROFILE_ENABLED=" + strconv.FormatBool(os.Getenv("WEFT_PROFILE") == "true"),
		"ORDERER_GENERAL_PROFILE_ADDRESS=127.0.0.1:9543",
	}
	procs := ordererProcesses(cfg)
	if len(procs) != 1 {
		t.Fatalf("%d orderer processes, want 1", len(procs))
	}
	if !slices.Equal(procs[0].Env, want) {
		t.Errorf("env =\n%s\nwant\n%s", strings.Join(procs[0].Env, "\n"), strings.Join(want, "\n"))
	}
	if procs[0].LogPath != "/net/logs/orderer.log" || procs[0].Name != "orderer.example.com" {
		t.Errorf("process %s logs to %s", procs[0].Name, procs[0].LogPath)
	}
}

// TestOrdererEnvCluster checks that no two orderers share a port, a folder or a log.
func TestOrdererEnvCluster(t *testing.T) {
	t.Parallel()
	cfg := Config{Dir: "/net", Ports: DefaultPorts(), Orderers: 5}
	seen := map[string]string{}
	for i, p := range ordererProcesses(cfg) {
		o := cfg.OrdererNodes()[i]
		env := map[string]string{}
		for _, kv := range p.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		dir := "/net/" + o.Host
		want := map[string]string{
			"ORDERER_GENERAL_LISTENPORT":                strconv.Itoa(o.Listen),
			"ORDERER_ADMIN_LISTENADDRESS":               "127.0.0.1:" + strconv.Itoa(o.Admin),
			"ORDERER_OPERATIONS_LISTENADDRESS":          "127.0.0.1:" + strconv.Itoa(o.Ops),
			"ORDERER_FILELEDGER_LOCATION":               dir,
			"ORDERER_CONSENSUS_WALDIR":                  dir + "/etcdraft/wal",
			"ORDERER_GENERAL_LOCALMSPDIR":               cfg.OrdererNodeDir(o) + "/msp",
			"ORDERER_GENERAL_TLS_CERTIFICATE":           cfg.OrdererNodeDir(o) + "/tls/server.crt",
			"ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": cfg.OrdererNodeDir(o) + "/tls/server.crt",
			"ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY":  cfg.OrdererNodeDir(o) + "/tls/server.key",
			"ORDERER_GENERAL_CLUSTER_ROOTCAS":           cfg.OrdererNodeDir(o) + "/tls/ca.crt",
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", o.Name, k, env[k], v)
			}
		}
		for _, v := range []string{env["ORDERER_GENERAL_LISTENPORT"], env["ORDERER_ADMIN_LISTENADDRESS"],
			env["ORDERER_OPERATIONS_LISTENADDRESS"], env["ORDERER_FILELEDGER_LOCATION"], env["ORDERER_CONSENSUS_WALDIR"], p.LogPath} {
			if prev, ok := seen[v]; ok {
				t.Errorf("%s and %s share %s", prev, o.Name, v)
			}
			seen[v] = o.Name
		}
		if p.Name != o.Name || p.LogPath != "/net/logs/"+o.Host+".log" || !slices.Equal(p.Ports, []int{o.Listen, o.Admin}) {
			t.Errorf("process %s: log %s, ports %v", p.Name, p.LogPath, p.Ports)
		}
	}
}

// TestRestartKeepsSize checks that an existing network keeps the size it was
// created with, and that asking for another one is refused with the way out.
func TestRestartKeepsSize(t *testing.T) {
	t.Parallel()
	cfg := generated(t, 3, DefaultPorts())
	if err := os.WriteFile(cfg.Path("channel-artifacts", "setup-done"), []byte("now"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, asked := range []int{0, 3} {
		c := cfg
		c.Orderers = asked
		if n, err := resolveOrderers(c, false); err != nil || n != 3 {
			t.Errorf("resolveOrderers(asked %d) = %d, %v; want 3", asked, n, err)
		}
	}
	c := cfg
	c.Orderers = 1
	c.BinDir = t.TempDir()
	_, err := Up(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "was created with 3 orderer(s), not 1; run weft up with --orderers 3") {
		t.Fatalf("Up with 1 orderer on a network of 3 = %v", err)
	}
	if !exists(cfg.GenesisPath()) {
		t.Error("the refused Up removed the network")
	}
	// A new folder without a size asked for gets one orderer.
	if n, err := resolveOrderers(Config{Dir: t.TempDir()}, true); err != nil || n != 1 {
		t.Errorf("fresh network: %d, %v; want 1", n, err)
	}
}

func TestClusterConfigTxNeedsOrdererOrg(t *testing.T) {
	t.Parallel()
	raw, _ := sampleconfig.Files.ReadFile("configtx.yaml")
	nodes := Config{Ports: DefaultPorts(), Orderers: 3}.OrdererNodes()
	broken := bytes.Replace(raw, []byte("ID: OrdererMSP"), []byte("ID: OtherMSP"), 1)
	if _, err := clusterConfigTx(broken, nodes); err == nil || !strings.Contains(err.Error(), "no organization OrdererMSP") {
		t.Errorf("configtx without OrdererMSP: %v", err)
	}
	raw, _ = sampleconfig.Files.ReadFile("crypto-config.yaml")
	broken = bytes.Replace(raw, []byte("Hostname: orderer"), []byte("Hostname: osn"), 1)
	if _, err := clusterCryptoConfig(broken, nodes); err == nil || !strings.Contains(err.Error(), "Hostname is not orderer") {
		t.Errorf("crypto-config without orderer: %v", err)
	}
}

// TestOrderersJoinThroughParticipation starts the orderer processes of a
// three-node network and joins each to the channel through its participation
// API, as setup does; each keeps its ledger and WAL in its own folder and
// serves its operations endpoint on its own port.
func TestOrderersJoinThroughParticipation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts orderer processes")
	}
	t.Parallel()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/orderer")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build orderer: %v\n%s", err, out)
	}
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	cfg := generated(t, 3, ports)
	cfg.BinDir = bin
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	procs := ordererProcesses(cfg)
	for _, p := range procs {
		t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		if err := p.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	block, err := os.ReadFile(cfg.GenesisPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range cfg.OrdererNodes() {
		info, err := cfg.OrdererAdmin(o).Join(ctx, block)
		if err != nil {
			t.Fatalf("join %s: %v", o.Name, err)
		}
		if info.Name != ChannelID || info.ConsensusRelation != "consenter" {
			t.Errorf("%s joined %+v, want a consenter of %s", o.Name, info, ChannelID)
		}
		for _, d := range []string{filepath.Join(cfg.ordererLedgerDir(o), "chains", ChannelID), filepath.Join(cfg.ordererLedgerDir(o), "etcdraft", "wal", ChannelID)} {
			if !exists(d) {
				t.Errorf("%s has no %s", o.Name, d)
			}
		}
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(o.Ops) + "/healthz")
		if err != nil {
			t.Errorf("%s operations endpoint: %v", o.Name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s /healthz: %s", o.Name, resp.Status)
		}
	}
	for _, o := range cfg.OrdererNodes() {
		if raw, _ := os.ReadFile(cfg.ordererLogPath(o)); len(raw) == 0 {
			t.Errorf("%s wrote nothing to %s", o.Name, cfg.ordererLogPath(o))
		}
	}
}

// TestGenerateBatchSettings checks that Config.BatchSize and BatchTimeout
// reach the genesis block, and that without them configtx.yaml's stay.
func TestGenerateBatchSettings(t *testing.T) {
	t.Parallel()
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	oc := genesisBundle(t, generated(t, 1, ports)).Orderer()
	if oc.MaxMessageCount != 500 || oc.BatchTimeout != 200*time.Millisecond {
		t.Errorf("default blocks of %d transactions cut after %s, want configtx.yaml's 500 and 200ms", oc.MaxMessageCount, oc.BatchTimeout)
	}
	cfg := Config{Dir: t.TempDir(), Ports: ports, Orderers: 1, BatchSize: 10, BatchTimeout: 2 * time.Second}
	if err := generate(cfg); err != nil {
		t.Fatal(err)
	}
	oc = genesisBundle(t, cfg).Orderer()
	if oc.MaxMessageCount != 10 || oc.BatchTimeout != 2*time.Second || oc.PreferredMaxBytes != 2<<20 {
		t.Errorf("blocks of %d transactions (%d bytes preferred) cut after %s, want 10, configtx.yaml's 2 MB and 2s", oc.MaxMessageCount, oc.PreferredMaxBytes, oc.BatchTimeout)
	}
}
