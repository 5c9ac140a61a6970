package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/discovery"
	"github.com/weft-ledger/weft/discovery/discoverytest"
	"github.com/weft-ledger/weft/internal/testnet"
)

// TestDiscoverCommand runs weft discover against a discovery server on
// loopback TLS and checks the JSON against the channel.
func TestDiscoverCommand(t *testing.T) {
	n := testnet.SampleNet(t)
	policy, _ := proto.Marshal(&pb.ApplicationPolicy{Type: &pb.ApplicationPolicy_SignaturePolicy{
		SignaturePolicy: channelconfig.MustParsePolicyDSL("OR('Org1MSP.peer', 'Org2MSP.peer')")}})
	addr := discoverytest.Serve(t, n, "peer0.org1.example.com", discovery.Config{
		Channels: &discoverytest.Channels{
			Bundles:     map[string]*channelconfig.Bundle{testnet.Channel: n.Bundle},
			Definitions: map[string]*discovery.Definition{"basic": {Name: "basic", Sequence: 1, EndorsementPolicy: policy}},
		},
		Membership: &discoverytest.Membership{Channel: []discovery.Peer{
			discoverytest.Peer(t, n.Signer(t, "peer0.org1.example.com"), "peer0.org1.example.com:7051", testnet.Channel, 4, map[string]string{"basic": "1"}),
			discoverytest.Peer(t, n.Signer(t, "peer0.org2.example.com"), "peer0.org2.example.com:9051", testnet.Channel, 3, nil),
		}},
	})
	user := n.Path("peerOrganizations", "org1.example.com", "users", "User1@org1.example.com", "msp")
	global := []string{
		"--peerTLSCA", n.TLS(t, "peer0.org1.example.com").CA,
		"--userCert", filepath.Join(user, "signcerts", "User1@org1.example.com-cert.pem"),
		"--userKey", filepath.Join(user, "keystore", "priv_sk"),
		"--MSP", "Org1MSP",
	}
	// The peer's TLS certificate names peer0.org1.example.com and 127.0.0.1.
	server := "127.0.0.1:" + addr[strings.LastIndex(addr, ":")+1:]
	run := func(args ...string) (string, error) {
		env, out, _ := testEnv(nil)
		err := Run(context.Background(), env, append([]string{"discover"}, args...))
		return out.String(), err
	}

	out, err := run(append(global, "peers", "--server", server, "--channel", testnet.Channel)...)
	if err != nil {
		t.Fatal(err)
	}
	var peers []struct {
		MSPID        string
		LedgerHeight uint64
		Endpoint     string
		Identity     string
		Chaincodes   []string
	}
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(peers) != 2 || peers[0].MSPID != "Org1MSP" || peers[0].LedgerHeight != 4 || peers[0].Endpoint != "peer0.org1.example.com:7051" ||
		len(peers[0].Chaincodes) != 1 || peers[0].Chaincodes[0] != "basic" || !strings.HasPrefix(peers[0].Identity, "-----BEGIN CERTIFICATE-----") ||
		peers[1].MSPID != "Org2MSP" || peers[1].Chaincodes != nil {
		t.Fatalf("peers output:\n%s", out)
	}
	if !strings.Contains(out, "\n\t{\n\t\t\"MSPID\"") {
		t.Errorf("output is not tab-indented as Fabric's:\n%s", out)
	}

	// saveConfig, then the config command from the file; flags after the command word work too.
	conf := filepath.Join(t.TempDir(), "conf.yaml")
	if _, err := run(append([]string{"--configFile", conf, "saveConfig"}, global...)...); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(conf)
	if err != nil || !strings.Contains(string(raw), "signerconfig:") || !strings.Contains(string(raw), "peercacertpath: /") {
		t.Fatalf("saved config %s: %v", raw, err)
	}
	out, err = run("--configFile", conf, "config", "--server", server, "--channel", testnet.Channel)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Msps     map[string]struct{ Name string } `json:"msps"`
		Orderers map[string]struct {
			Endpoint []struct {
				Host string `json:"host"`
				Port uint32 `json:"port"`
			} `json:"endpoint"`
		} `json:"orderers"`
	}
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if cfg.Msps["Org1MSP"].Name != "Org1MSP" || cfg.Msps["OrdererMSP"].Name != "OrdererMSP" || len(cfg.Orderers["OrdererMSP"].Endpoint) == 0 {
		t.Fatalf("config output:\n%s", out)
	}
	want := n.Bundle.Orderer().Endpoints[0]
	if e := cfg.Orderers["OrdererMSP"].Endpoint[0]; !strings.HasPrefix(want, e.Host+":") {
		t.Errorf("orderer endpoint %v, channel has %s", e, want)
	}

	out, err = run(append(global, "endorsers", "--server", server, "--channel", testnet.Channel, "--chaincode", "basic")...)
	if err != nil {
		t.Fatal(err)
	}
	var descs []struct {
		Chaincode         string
		EndorsersByGroups map[string][]struct{ MSPID, Endpoint string }
		Layouts           []struct {
			QuantitiesByGroup map[string]int `json:"quantities_by_group"`
		}
	}
	if err := json.Unmarshal([]byte(out), &descs); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	// OR of both organisations, but only Org1's peer has basic.
	if len(descs) != 1 || descs[0].Chaincode != "basic" || len(descs[0].Layouts) != 1 || len(descs[0].EndorsersByGroups) != 1 {
		t.Fatalf("endorsers output:\n%s", out)
	}
	for g, eps := range descs[0].EndorsersByGroups {
		if len(eps) != 1 || eps[0].Endpoint != "peer0.org1.example.com:7051" || descs[0].Layouts[0].QuantitiesByGroup[g] != 1 {
			t.Errorf("endorsers output:\n%s", out)
		}
	}

	for _, c := range []struct {
		args []string
		err  string
	}{
		{append(global, "config", "--server", server), "no channel specified"},
		{append(global, "peers"), "no server specified"},
		{append(global, "endorsers", "--server", server, "--channel", testnet.Channel, "--chaincode", "basic", "--collection", "other:c1"), "a collection specified chaincode other"},
		{append(global, "endorsers", "--server", server, "--channel", testnet.Channel, "--chaincode", "nosuch"), "No metadata was found for chaincode nosuch"},
		{append(global, "peers", "--server", server), "access denied"}, // local peers: not an admin (and no local MSP)
		{[]string{"peers", "--server", server, "--channel", testnet.Channel}, "empty string that is mandatory"},
		{append(global, "frobnicate"), "unknown discover command"},
	} {
		if _, err := run(c.args...); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("discover %v: %v, want an error containing %q", c.args, err, c.err)
		}
	}
}

func TestSplitDiscoverCommand(t *testing.T) {
	cmd, rest := splitCommand([]string{"--MSP", "Org1MSP", "--configFile=c.yaml", "peers", "--server", "x:1"})
	if cmd != "peers" || strings.Join(rest, " ") != "--MSP Org1MSP --configFile=c.yaml --server x:1" {
		t.Errorf("got %q %q", cmd, rest)
	}
}
