package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/internal/devnet"
)

// TestUpOrderersFlag checks that weft up refuses an ordering service size
// other than 1, 3 or 5 with a clear error, before creating anything.
func TestUpOrderersFlag(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"0", "2", "4", "6", "-3"} {
		dir := filepath.Join(t.TempDir(), "devnet")
		env, _, _ := testEnv(nil)
		err := Run(context.Background(), env, []string{"up", "--dir", dir, "--bin", t.TempDir(), "--orderers", n})
		if err == nil || !strings.Contains(err.Error(), "--orderers "+n+": ") || !strings.Contains(err.Error(), "runs 1, 3 or 5") {
			t.Errorf("--orderers %s: %v", n, err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("--orderers %s created %s", n, dir)
		}
	}
	env, _, _ := testEnv(nil)
	if err := Run(context.Background(), env, []string{"up", "--orderers", "three"}); err == nil || !strings.Contains(err.Error(), "invalid value") {
		t.Errorf("--orderers three: %v", err)
	}
	if err := Run(context.Background(), env, []string{"up", "extra"}); err == nil || !strings.Contains(err.Error(), "takes no arguments") {
		t.Errorf("weft up extra: %v", err)
	}
}

// TestRESTHelpCarriesTheToken: the curl examples `weft up` prints read the
// network's token and send it with a JSON content type.
func TestRESTHelpCarriesTheToken(t *testing.T) {
	cfg := devnet.Config{Dir: "/tmp/my devnet", Ports: devnet.DefaultPorts()}
	help := restHelp(cfg)
	for _, want := range []string{
		`TOKEN=$(cat '/tmp/my devnet/restgateway/token')`,
		`curl -s -X POST http://localhost:8080/v1/channels/mychannel/chaincodes/basic/evaluate -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"function":"GetAllAssets"}'`,
		`/submit -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json'`,
		"User1@org1.example.com", "http://localhost:8080/docs",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("weft up's REST help lacks %q:\n%s", want, help)
		}
	}
	cfg.Ports.RESTGateway = 0
	if restHelp(cfg) != "" {
		t.Error("REST help printed without a REST gateway")
	}
}

// TestUpCouchDBFlag: --couchdb (or WEFT_COUCHDB) takes one URL or one per
// peer, refused before anything is created otherwise.
func TestUpCouchDBFlag(t *testing.T) {
	for _, tt := range []struct{ flag, env, want string }{
		{"http://a:5984,http://b:5984,http://c:5984", "", "--couchdb: 3 CouchDB URLs for 2 peers"},
		{"", "ftp://a:5984", `--couchdb: CouchDB "ftp://a:5984" is not an http(s) URL`},
	} {
		t.Setenv(devnet.CouchDBEnv, tt.env)
		dir := filepath.Join(t.TempDir(), "devnet")
		env, _, _ := testEnv(nil)
		args := []string{"up", "--dir", dir, "--bin", t.TempDir()}
		if tt.flag != "" {
			args = append(args, "--couchdb", tt.flag)
		}
		err := Run(context.Background(), env, args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("weft up %q (%s=%q) = %v, want %q", tt.flag, devnet.CouchDBEnv, tt.env, err, tt.want)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("refused --couchdb created %s", dir)
		}
	}
}

// TestStateHelpNamesCouchDB: `weft up` says where each peer keeps its state.
func TestStateHelpNamesCouchDB(t *testing.T) {
	t.Parallel()
	cfg := devnet.Config{Dir: t.TempDir(), Ports: devnet.DefaultPorts()}
	for i, o := range cfg.Orgs() {
		ledger := "ledger:\n  state:\n    stateDatabase: goleveldb\n"
		if i == 0 {
			ledger = "ledger:\n  state:\n    stateDatabase: CouchDB\n    couchDBConfig:\n      couchDBAddress: http://127.0.0.1:5984\n      databasePrefix: peer0org1_\n"
		}
		if err := os.MkdirAll(cfg.PeerConfigDir(o), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cfg.PeerConfigDir(o), "core.yaml"), []byte(ledger), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	help := stateHelp(cfg)
	for _, want := range []string{
		"state          peer0.org1.example.com on CouchDB at http://127.0.0.1:5984 (databases peer0org1_*)",
		"state          peer0.org2.example.com on LevelDB (" + cfg.Path("peers", "peer0.org2.example.com") + ")",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("stateHelp lacks %q:\n%s", want, help)
		}
	}
}

// TestUpPeersFlag checks that weft up refuses a number of peers per
// organisation other than 1 or 2, from --peers or WEFT_PEERS, with a clear
// error before creating anything; the flag wins over the variable.
func TestUpPeersFlag(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		flag, env, want string
	}{
		{"3", "", "--peers 3: 3 peers per organisation: the development network runs 1 (peer0) or 2"},
		{"0", "", "--peers 0: 0 peers per organisation"},
		{"", "4", "WEFT_PEERS=4: 4 peers per organisation"},
		{"", "two", `WEFT_PEERS=two: strconv.Atoi: parsing "two": invalid syntax`},
		{"5", "2", "--peers 5: "},
	} {
		dir := filepath.Join(t.TempDir(), "devnet")
		env, _, _ := testEnv(map[string]string{devnet.PeersEnv: tt.env})
		args := []string{"up", "--dir", dir, "--bin", t.TempDir()}
		if tt.flag != "" {
			args = append(args, "--peers", tt.flag)
		}
		err := Run(context.Background(), env, args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--peers %q, %s=%q: %v, want %q", tt.flag, devnet.PeersEnv, tt.env, err, tt.want)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("--peers %q, %s=%q created %s", tt.flag, devnet.PeersEnv, tt.env, dir)
		}
	}
	// Four CouchDB URLs are one per peer of a network of two peers per
	// organisation, too many for one of one.
	env, _, _ := testEnv(nil)
	urls := "http://a:1,http://b:1,http://c:1,http://d:1"
	err := Run(context.Background(), env, []string{"up", "--dir", filepath.Join(t.TempDir(), "devnet"), "--bin", t.TempDir(), "--couchdb", urls})
	if err == nil || !strings.Contains(err.Error(), "--couchdb: 4 CouchDB URLs for 2 peers") {
		t.Errorf("4 CouchDB URLs, 1 peer per organisation: %v", err)
	}
}

// TestPrintReadyListsEveryPeer: `weft up` prints each peer it started with
// its ports.
func TestPrintReadyListsEveryPeer(t *testing.T) {
	t.Parallel()
	cfg := devnet.Config{Ports: devnet.DefaultPorts(), Peers: 2}
	env, out, _ := testEnv(nil)
	printReady(env, &devnet.Network{Orgs: cfg.Orgs(), PeerNodes: cfg.PeerNodes()})
	for _, want := range []string{
		"peer           peer0.org1.example.com  localhost:7051 (chaincode 7052, operations 9444)\n",
		"peer           peer1.org1.example.com  localhost:8051 (chaincode 8052, operations 9451)\n",
		"peer           peer0.org2.example.com  localhost:9051 (chaincode 9052, operations 9445)\n",
		"peer           peer1.org2.example.com  localhost:10051 (chaincode 10052, operations 9452)\n",
		"CORE_PEER_ADDRESS=localhost:7051",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("weft up's output lacks %q:\n%s", want, out)
		}
	}
}

// TestUpOrgsFlag: weft up refuses a number of organisations other than 2, 3
// or 4, and an endorsement policy naming an organisation the network lacks,
// before creating anything; --orgs counts in the CouchDB URLs a network needs.
func TestUpOrgsFlag(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--orgs", "1"}, "--orgs 1: 1 organisations: the development network runs 2"},
		{[]string{"--orgs", "5"}, "--orgs 5: 5 organisations"},
		{[]string{"--orgs", "3", "--couchdb", "http://a:1,http://b:1"}, "--couchdb: 2 CouchDB URLs for 3 peers"},
		{[]string{"--orgs", "3", "--peers", "2", "--couchdb", "http://a:1,http://b:1,http://c:1"}, "--couchdb: 3 CouchDB URLs for 6 peers"},
		{[]string{"--signature-policy", "AND('Org1MSP.peer','Org3MSP.peer')"}, "names Org3MSP, which is not an organisation of this network (Org1MSP, Org2MSP)"},
		{[]string{"--orgs", "3", "--signature-policy", "AND('Org1MSP.peer'"}, `endorsement policy "AND('Org1MSP.peer'"`},
	} {
		dir := filepath.Join(t.TempDir(), "devnet")
		env, _, _ := testEnv(nil)
		err := Run(context.Background(), env, append([]string{"up", "--dir", dir, "--bin", t.TempDir()}, tt.args...))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("weft up %q: %v, want %q", tt.args, err, tt.want)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("weft up %q created %s", tt.args, dir)
		}
	}
}

// TestPrintReadyListsEveryOrganisation: with --orgs 4 `weft up` prints the
// peer0 of Org3 and Org4 on their ports.
func TestPrintReadyListsEveryOrganisation(t *testing.T) {
	t.Parallel()
	cfg := devnet.Config{Ports: devnet.DefaultPorts(), Organizations: 4}
	env, out, _ := testEnv(nil)
	printReady(env, &devnet.Network{Orgs: cfg.Orgs(), PeerNodes: cfg.PeerNodes()})
	for _, want := range []string{
		"peer           peer0.org3.example.com  localhost:11051 (chaincode 11052, operations 9453)\n",
		"peer           peer0.org4.example.com  localhost:13051 (chaincode 13052, operations 9454)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("weft up's output lacks %q:\n%s", want, out)
		}
	}
}
