package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/orderer"
	"github.com/weft-ledger/weft/protos"
)

// soloOrderer is one real orderer, in process, joined to the sample network's
// mychannel as its only etcdraft consenter.
type soloOrderer struct {
	tn   *testnet.Net
	node *orderer.Node
	// vars select the orderer organization's admin as the CLI identity.
	vars map[string]string
	// flags name the orderer as Fabric's CLI does: -o ... --tls --cafile ...
	flags []string
}

func startSoloOrderer(t *testing.T) *soloOrderer {
	t.Helper()
	tn := testnet.SampleNet(t)
	host := "orderer.example.com"
	tlsFiles := tn.TLS(t, host)
	var cfg orderer.Config
	cfg.General.ListenAddress = "127.0.0.1"
	cfg.General.TLS = orderer.TLSConfig{Enabled: true, Certificate: tlsFiles.Cert, PrivateKey: tlsFiles.Key, RootCAs: []string{tlsFiles.CA}}
	cfg.General.LocalMSPDir = filepath.Join(tn.NodeDir(t, host), "msp")
	cfg.General.LocalMSPID = "OrdererMSP"
	cfg.FileLedger.Location = filepath.Join(t.TempDir(), "ledger")
	cfg.Admin.ListenAddress = "127.0.0.1:0"
	cfg.Admin.TLS = cfg.General.TLS
	cfg.Admin.TLS.ClientAuthRequired = true
	cfg.Admin.TLS.ClientRootCAs = []string{tlsFiles.CA}
	cfg.ChannelParticipation.Enabled = true
	node, err := orderer.New(cfg, tn.Signer(t, host), orderer.WithTickInterval(10*time.Millisecond), orderer.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	node.Start()
	t.Cleanup(node.Stop)

	adminTLS := tn.Path("ordererOrganizations", "example.com", "users", "Admin@example.com", "tls")
	admin := client.OSNAdmin{Endpoint: client.Endpoint{Address: node.AdminAddr(), TLS: true, RootCertFile: tlsFiles.CA,
		ClientCertFile: filepath.Join(adminTLS, "client.crt"), ClientKeyFile: filepath.Join(adminTLS, "client.key")}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.Join(ctx, protos.Marshal(tn.Genesis())); err != nil {
		t.Fatalf("join mychannel: %v", err)
	}
	return &soloOrderer{
		tn:   tn,
		node: node,
		vars: map[string]string{
			"CORE_PEER_LOCALMSPID":    "OrdererMSP",
			"CORE_PEER_MSPCONFIGPATH": tn.Path("ordererOrganizations", "example.com", "users", "Admin@example.com", "msp"),
		},
		flags: []string{"-o", node.Addr(), "--tls", "--cafile", tlsFiles.CA},
	}
}

func (s *soloOrderer) args(a ...string) []string { return append(a, s.flags...) }

func readBlockFile(t *testing.T, path string) *cb.Block {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := protos.UnmarshalBlock(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestChannelUpdateAgainstOrderer runs Fabric's config update steps against
// a real orderer: fetch the config block, change BatchSize through the JSON,
// compute, wrap, sign and submit the update, and fetch the new config block.
func TestChannelUpdateAgainstOrderer(t *testing.T) {
	t.Parallel()
	o := startSoloOrderer(t)
	dir := t.TempDir()

	cfgFile := filepath.Join(dir, "config_block.pb")
	if out := run(t, o.vars, o.args("channel", "fetch", "config", cfgFile, "-c", testnet.Channel)...); out != "Received block: 0\n" {
		t.Fatalf("fetch config printed %q", out)
	}
	if b := readBlockFile(t, cfgFile); !proto.Equal(b, o.tn.Genesis()) {
		t.Fatal("fetch config did not return the genesis block")
	}

	update := computeBatchSizeUpdate(t, dir, o.tn.Genesis(), 7)
	updJSON := filepath.Join(dir, "update.json")
	run(t, nil, "configtxlator", "proto_decode", "--type", "common.ConfigUpdate", "--input", update, "--output", updJSON)
	envFile := wrapUpdateJSON(t, dir, updJSON)
	run(t, o.vars, "channel", "signconfigtx", "-f", envFile)

	if err := runErr(t, o.vars, o.args("channel", "update", "-f", envFile, "-c", "otherchannel")...); !strings.Contains(err.Error(), "for channel mychannel, not otherchannel") {
		t.Fatalf("update with the wrong channel: %v", err)
	}
	// Org1's admin alone does not satisfy /Channel/Orderer/Admins: the orderer says so.
	org1 := map[string]string{"CORE_PEER_LOCALMSPID": "Org1MSP", "CORE_PEER_MSPCONFIGPATH": o.tn.Path("peerOrganizations", "org1.example.com", "users", "Admin@org1.example.com", "msp")}
	unsigned := wrapUpdateJSON(t, t.TempDir(), updJSON)
	if err := runErr(t, org1, o.args("channel", "update", "-f", unsigned, "-c", testnet.Channel)...); !strings.Contains(err.Error(), "orderer refused") || !strings.Contains(err.Error(), "Admins") {
		t.Fatalf("update signed by Org1 only: %v", err)
	}

	if out := run(t, o.vars, o.args("channel", "update", "-f", envFile, "-c", testnet.Channel)...); out != "Successfully submitted channel update\n" {
		t.Fatalf("update printed %q", out)
	}

	// The new config block is the channel's last config, and block 1.
	newCfg := filepath.Join(dir, "new_config.block")
	eventually.NoError(t, 15*time.Second, "the new config block", func(context.Context) error {
		if out := run(t, o.vars, o.args("channel", "fetch", "config", newCfg, "-c", testnet.Channel)...); out != "Received block: 1\n" {
			return fmt.Errorf("fetch config printed %q", out)
		}
		return nil
	})
	b, err := channelconfig.BundleFromBlock(readBlockFile(t, newCfg))
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Orderer().MaxMessageCount; got != 7 {
		t.Fatalf("BatchSize.MaxMessageCount after the update = %d, want 7", got)
	}

	// newest, oldest and a number; a block not yet written is an error.
	for target, want := range map[string]string{"newest": "Received block: 1\n", "oldest": "Received block: 0\n", "1": "Received block: 1\n"} {
		if out := run(t, o.vars, o.args("channel", "fetch", target, filepath.Join(dir, target+".block"), "-c", testnet.Channel)...); out != want {
			t.Errorf("fetch %s printed %q, want %q", target, out, want)
		}
	}
	if err := runErr(t, o.vars, o.args("channel", "fetch", "9", filepath.Join(dir, "9.block"), "-c", testnet.Channel)...); !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Fatalf("fetch of an unwritten block: %v", err)
	}
}

// TestConsenterAddRemoveAgainstOrderer checks the consenter commands against
// a one-node cluster, where every change is refused: adding a node that is
// not running would leave 1 of 2 consenters reachable, below quorum.
func TestConsenterAddRemoveAgainstOrderer(t *testing.T) {
	t.Parallel()
	o := startSoloOrderer(t)
	// A certificate of the orderer organization's TLS CA that no consenter uses.
	newCert := o.tn.Path("ordererOrganizations", "example.com", "users", "Admin@example.com", "tls", "client.crt")

	err := runErr(t, o.vars, o.args("channel", "consenter", "add", "-c", testnet.Channel, "--host", "127.0.0.1", "--port", "7150",
		"--client-tls-cert", newCert, "--server-tls-cert", newCert, "--timeout", "5s")...)
	for _, want := range []string{"add consenter 127.0.0.1:7150 on channel mychannel", "BAD_REQUEST", "quorum"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("consenter add to a one-node cluster: %v; want it to mention %q", err, want)
		}
	}

	err = runErr(t, o.vars, o.args("channel", "consenter", "add", "-c", testnet.Channel, "--host", "localhost", "--port", "7050", "--client-tls-cert", newCert)...)
	if !strings.Contains(err.Error(), "localhost:7050 is already a consenter of channel mychannel") {
		t.Errorf("adding an existing consenter: %v", err)
	}
	err = runErr(t, o.vars, o.args("channel", "consenter", "remove", "-c", testnet.Channel, "--host", "localhost", "--port", "9999")...)
	if !strings.Contains(err.Error(), "localhost:9999 is not a consenter of channel mychannel (consenters: localhost:7050)") {
		t.Errorf("removing an unknown consenter: %v", err)
	}
	err = runErr(t, o.vars, o.args("channel", "consenter", "remove", "-c", testnet.Channel, "--host", "localhost", "--port", "7050")...)
	if !strings.Contains(err.Error(), "BAD_REQUEST") || !strings.Contains(err.Error(), "consenter set is empty") {
		t.Errorf("removing the only consenter: %v", err)
	}
	err = runErr(t, o.vars, o.args("channel", "consenter", "add", "-c", testnet.Channel, "--host", "h", "--port", "1", "--client-tls-cert", o.tn.TLS(t, "peer0.org1.example.com").Key)...)
	if !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("a key given as certificate: %v", err)
	}

	// Nothing changed: the channel's config is still the genesis block.
	cfgFile := filepath.Join(t.TempDir(), "config.block")
	if out := run(t, o.vars, o.args("channel", "fetch", "config", cfgFile, "-c", testnet.Channel)...); out != "Received block: 0\n" {
		t.Fatalf("fetch config after the refusals printed %q", out)
	}
}

// pairCluster is a two-node ordering cluster in process, with the crypto
// material of a third orderer that is never started.
type pairCluster struct {
	orgs  string
	ports [3]int
	nodes [2]*orderer.Node
	vars  map[string]string
}

func (c *pairCluster) tlsDir(i int) string {
	name := "orderer"
	if i > 0 {
		name = "orderer" + strconv.Itoa(i+1)
	}
	return filepath.Join(c.orgs, "ordererOrganizations", "example.com", "orderers", name+".example.com", "tls")
}

func startPairCluster(t *testing.T) *pairCluster {
	t.Helper()
	dir := t.TempDir()
	c := &pairCluster{orgs: filepath.Join(dir, "organizations")}
	writeFile(t, filepath.Join(dir, "crypto-config.yaml"), []byte(`OrdererOrgs:
  - Name: Orderer
    Domain: example.com
    EnableNodeOUs: true
    Specs:
      - {Hostname: orderer, SANS: [localhost, 127.0.0.1]}
      - {Hostname: orderer2, SANS: [localhost, 127.0.0.1]}
      - {Hostname: orderer3, SANS: [localhost, 127.0.0.1]}
PeerOrgs:
  - Name: Org1
    Domain: org1.example.com
    EnableNodeOUs: true
    Template: {Count: 1}
    Users: {Count: 1}
`))
	cc, err := msp.LoadCryptoConfig(filepath.Join(dir, "crypto-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := msp.GenerateCrypto(cc, c.orgs); err != nil {
		t.Fatal(err)
	}
	for i := range c.ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var consenters string
	for i := range 2 {
		crt := filepath.Join(c.tlsDir(i), "server.crt")
		consenters += fmt.Sprintf("          - {Host: 127.0.0.1, Port: %d, ClientTLSCert: %s, ServerTLSCert: %s}\n", c.ports[i], crt, crt)
	}
	sig := func(rule string) string { return `{Type: Signature, Rule: "` + rule + `"}` }
	meta := func(rule string) string { return `{Type: ImplicitMeta, Rule: "` + rule + `"}` }
	writeFile(t, filepath.Join(dir, "configtx.yaml"), []byte(`Organizations:
  - &OrdererOrg
    Name: OrdererOrg
    ID: OrdererMSP
    MSPDir: organizations/ordererOrganizations/example.com/msp
    Policies:
      Readers: `+sig("OR('OrdererMSP.member')")+`
      Writers: `+sig("OR('OrdererMSP.member')")+`
      Admins: `+sig("OR('OrdererMSP.admin')")+`
    OrdererEndpoints: [127.0.0.1:`+strconv.Itoa(c.ports[0])+`]
  - &Org1
    Name: Org1MSP
    ID: Org1MSP
    MSPDir: organizations/peerOrganizations/org1.example.com/msp
    Policies:
      Readers: `+sig("OR('Org1MSP.member')")+`
      Writers: `+sig("OR('Org1MSP.member')")+`
      Admins: `+sig("OR('Org1MSP.admin')")+`
      Endorsement: `+sig("OR('Org1MSP.peer')")+`
Profiles:
  Pair:
    Policies: {Readers: `+meta("ANY Readers")+`, Writers: `+meta("ANY Writers")+`, Admins: `+meta("MAJORITY Admins")+`}
    Capabilities: {V2_0: true}
    Orderer:
      OrdererType: etcdraft
      BatchTimeout: 100ms
      BatchSize: {MaxMessageCount: 10, AbsoluteMaxBytes: 10 MB, PreferredMaxBytes: 2 MB}
      EtcdRaft:
        Consenters:
`+consenters+`        Options: {TickInterval: 50ms, ElectionTick: 10, HeartbeatTick: 1, MaxInflightBlocks: 5, SnapshotIntervalSize: 16 MB}
      Organizations: [*OrdererOrg]
      Capabilities: {V2_0: true}
      Policies: {Readers: `+meta("ANY Readers")+`, Writers: `+meta("ANY Writers")+`, Admins: `+meta("MAJORITY Admins")+`, BlockValidation: `+meta("ANY Writers")+`}
    Application:
      Organizations: [*Org1]
      Capabilities: {V2_5: true}
      Policies: {Readers: `+meta("ANY Readers")+`, Writers: `+meta("ANY Writers")+`, Admins: `+meta("MAJORITY Admins")+`, LifecycleEndorsement: `+meta("MAJORITY Endorsement")+`, Endorsement: `+meta("MAJORITY Endorsement")+`}
`))
	ctx, err := channelconfig.LoadConfigTx(filepath.Join(dir, "configtx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := channelconfig.GenesisBlock(ctx, "Pair", testnet.Channel)
	if err != nil {
		t.Fatal(err)
	}
	adminDir := filepath.Join(c.orgs, "ordererOrganizations", "example.com", "users", "Admin@example.com")
	for i := range c.nodes {
		tlsDir := c.tlsDir(i)
		var cfg orderer.Config
		cfg.General.ListenAddress = "127.0.0.1"
		cfg.General.ListenPort = c.ports[i]
		cfg.General.TLS = orderer.TLSConfig{Enabled: true, Certificate: filepath.Join(tlsDir, "server.crt"), PrivateKey: filepath.Join(tlsDir, "server.key"), RootCAs: []string{filepath.Join(tlsDir, "ca.crt")}}
		cfg.General.Cluster.RootCAs = []string{filepath.Join(tlsDir, "ca.crt")}
		cfg.General.LocalMSPDir = filepath.Join(filepath.Dir(tlsDir), "msp")
		cfg.General.LocalMSPID = "OrdererMSP"
		cfg.FileLedger.Location = filepath.Join(dir, "ledger", strconv.Itoa(i))
		cfg.Admin.ListenAddress = "127.0.0.1:0"
		cfg.Admin.TLS = cfg.General.TLS
		cfg.Admin.TLS.ClientAuthRequired = true
		cfg.Admin.TLS.ClientRootCAs = []string{filepath.Join(tlsDir, "ca.crt")}
		cfg.ChannelParticipation.Enabled = true
		signer, err := msp.LoadSigningIdentity(cfg.General.LocalMSPDir, "OrdererMSP")
		if err != nil {
			t.Fatal(err)
		}
		node, err := orderer.New(cfg, signer, orderer.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		node.Start()
		t.Cleanup(node.Stop)
		c.nodes[i] = node
		admin := client.OSNAdmin{Endpoint: client.Endpoint{Address: node.AdminAddr(), TLS: true, RootCertFile: filepath.Join(tlsDir, "ca.crt"),
			ClientCertFile: filepath.Join(adminDir, "tls", "client.crt"), ClientKeyFile: filepath.Join(adminDir, "tls", "client.key")}}
		jctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = admin.Join(jctx, protos.Marshal(genesis))
		cancel()
		if err != nil {
			t.Fatalf("join orderer %d: %v", i+1, err)
		}
	}
	c.vars = map[string]string{"CORE_PEER_LOCALMSPID": "OrdererMSP", "CORE_PEER_MSPCONFIGPATH": filepath.Join(adminDir, "msp")}
	return c
}

// consenterCmd runs a consenter command at orderer 1, retrying (20 s at
// most) while the cluster has no leader yet, its nodes have not heard from
// each other yet, or it still applies a change.
func (c *pairCluster) consenterCmd(t *testing.T, args ...string) string {
	t.Helper()
	args = append(args, "-o", c.nodes[0].Addr(), "--tls", "--cafile", filepath.Join(c.tlsDir(0), "ca.crt"), "-c", testnet.Channel, "--timeout", "15s")
	var out string
	eventually.NoError(t, 20*time.Second, "weft "+strings.Join(args, " "), func(ctx context.Context) error {
		env, stdout, _ := testEnv(c.vars)
		err := Run(ctx, env, args)
		if err == nil {
			out = stdout.String()
			return nil
		}
		if retry := strings.Contains(err.Error(), "SERVICE_UNAVAILABLE") || strings.Contains(err.Error(), "still being applied") || strings.Contains(err.Error(), "back first"); !retry {
			t.Fatalf("weft %s: %v", strings.Join(args, " "), err)
		}
		return err
	})
	return out
}

// TestConsenterAddRemoveSucceedOnPair adds a third consenter to a running
// two-node cluster (2 of 3 reachable keeps quorum) and removes it again.
func TestConsenterAddRemoveSucceedOnPair(t *testing.T) {
	t.Parallel()
	c := startPairCluster(t)
	third := filepath.Join(c.tlsDir(2), "server.crt")
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(c.ports[i]) }

	out := c.consenterCmd(t, "channel", "consenter", "add", "--host", "127.0.0.1", "--port", strconv.Itoa(c.ports[2]), "--client-tls-cert", third, "--server-tls-cert", third)
	want := fmt.Sprintf("Config block 1: consenters of channel mychannel are now %s, %s, %s\n", addr(0), addr(1), addr(2))
	if !strings.Contains(out, want) || !strings.Contains(out, "weft osnadmin channel join") {
		t.Fatalf("consenter add printed:\n%s\nwant the line %q and the join hint", out, want)
	}

	// One change at a time: an update that removes the third consenter and
	// adds a fourth is refused by the orderer, and `weft channel update` shows why.
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.block")
	caFile := filepath.Join(c.tlsDir(0), "ca.crt")
	run(t, c.vars, "channel", "fetch", "config", cfgFile, "-c", testnet.Channel, "-o", c.nodes[0].Addr(), "--tls", "--cafile", caFile)
	cfg, _, err := channelconfig.ConfigFromBlock(readBlockFile(t, cfgFile))
	if err != nil {
		t.Fatal(err)
	}
	fourthPEM, err := os.ReadFile(filepath.Join(c.orgs, "ordererOrganizations", "example.com", "users", "Admin@example.com", "tls", "client.crt"))
	if err != nil {
		t.Fatal(err)
	}
	swapped, err := editConsenters(cfg, func(cs []*etcdraft.Consenter) ([]*etcdraft.Consenter, error) {
		return append(cs[:2:2], &etcdraft.Consenter{Host: "127.0.0.1", Port: 1, ClientTlsCert: fourthPEM, ServerTlsCert: fourthPEM}), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	upd, err := client.ComputeUpdate(testnet.Channel, cfg, swapped)
	if err != nil {
		t.Fatal(err)
	}
	updFile := writeFile(t, filepath.Join(dir, "swap.pb"), protos.Marshal(&cb.Envelope{Payload: protos.Marshal(&cb.Payload{
		Header: &cb.Header{ChannelHeader: protos.Marshal(&cb.ChannelHeader{Type: int32(cb.HeaderType_CONFIG_UPDATE), ChannelId: testnet.Channel})},
		Data:   protos.Marshal(&cb.ConfigUpdateEnvelope{ConfigUpdate: protos.Marshal(upd)}),
	})}))
	err = runErr(t, c.vars, "channel", "update", "-f", updFile, "-c", testnet.Channel, "-o", c.nodes[0].Addr(), "--tls", "--cafile", caFile)
	for _, want := range []string{"BAD_REQUEST", "2 consenters change at once", "one consenter per config update"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("swapping two consenters in one update: %v; want it to mention %q", err, want)
		}
	}

	out = c.consenterCmd(t, "channel", "consenter", "remove", "--host", "127.0.0.1", "--port", strconv.Itoa(c.ports[2]))
	if want := fmt.Sprintf("Config block 2: consenters of channel mychannel are now %s, %s\n", addr(0), addr(1)); !strings.Contains(out, want) {
		t.Fatalf("consenter remove printed:\n%s\nwant the line %q", out, want)
	}
}
