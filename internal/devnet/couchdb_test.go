package devnet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/internal/couchtest"
	"github.com/weft-ledger/weft/internal/eventually"
	"github.com/weft-ledger/weft/internal/testlog"
	"github.com/weft-ledger/weft/peer"
)

// loadPeerConfig loads a peer's configuration as its process does: its
// core.yaml with the environment the network starts it with.
func loadPeerConfig(t *testing.T, cfg Config, o Org) peer.Config {
	t.Helper()
	dir := ""
	for _, kv := range peerEnv(cfg, o) {
		k, v, _ := strings.Cut(kv, "=")
		if k == "FABRIC_CFG_PATH" {
			dir = v
			continue
		}
		t.Setenv(k, v)
	}
	pc, err := peer.LoadConfig(dir)
	if err != nil {
		t.Fatalf("%s: %v", o.Peer, err)
	}
	return pc
}

// Each peer gets a core.yaml of its own; --couchdb writes its ledger
// section (the credentials of the URL into username and password, a
// database prefix per peer on a shared server, one server per peer when
// there are two URLs), and a restart without --couchdb keeps it.
func TestPeerConfigsOnCouchDB(t *testing.T) {
	cfg := generated(t, 1, DefaultPorts())
	if err := writePeerConfigs(cfg); err != nil {
		t.Fatal(err)
	}
	for _, o := range cfg.Orgs() {
		if pc := loadPeerConfig(t, cfg, o); pc.Ledger.UsesCouchDB() || pc.ID != o.Peer {
			t.Fatalf("%s without --couchdb: %+v", o.Peer, pc.Ledger)
		}
	}

	cfg.CouchDB = []string{"http://admin:adminpw@127.0.0.1:5984"}
	if err := writePeerConfigs(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.CouchDB = nil // a restart without --couchdb
	if err := writePeerConfigs(cfg); err != nil {
		t.Fatal(err)
	}
	for _, o := range cfg.Orgs() {
		c := loadPeerConfig(t, cfg, o).Ledger.CouchDB
		want := peerPrefix(o)
		if c.Address != "http://127.0.0.1:5984" || c.Username != "admin" || c.Password != "adminpw" || c.DatabasePrefix != want {
			t.Errorf("%s on a shared CouchDB: %+v, want the address without credentials and prefix %s", o.Peer, c, want)
		}
		path := filepath.Join(cfg.PeerConfigDir(o), "core.yaml")
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600 (it holds the password)", path, st.Mode(), err)
		}
		raw, _ := os.ReadFile(path)
		if !strings.Contains(string(raw), "# Weft's own key: prepended to every database name") {
			t.Errorf("%s lost sampleconfig's comments:\n%s", path, raw)
		}
	}
	if got := []string{peerPrefix(cfg.Orgs()[0]), peerPrefix(cfg.Orgs()[1])}; got[0] != "peer0org1_" || got[1] != "peer0org2_" {
		t.Errorf("prefixes %q", got)
	}
	states, err := cfg.PeerStates()
	if err != nil || len(states) != 2 || states[1] != (PeerState{Peer: "peer0.org2.example.com", Database: "CouchDB", Address: "http://127.0.0.1:5984", Prefix: "peer0org2_"}) {
		t.Errorf("PeerStates = %+v, %v", states, err)
	}

	cfg.CouchDB = []string{"couch1:5984", "https://couch2:6984"}
	cfg.DatabasePrefix = "t1_"
	if err := writePeerConfigs(cfg); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"http://couch1:5984", "https://couch2:6984"} {
		o := cfg.Orgs()[i]
		c := loadPeerConfig(t, cfg, o).Ledger.CouchDB
		if c.Address != want || c.Username != "" || c.Password != "" || c.DatabasePrefix != "t1_"+peerPrefix(o) {
			t.Errorf("%s with a CouchDB of its own: %+v, want %s", o.Peer, c, want)
		}
	}
}

func TestCheckCouchDB(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		urls []string
		want string
	}{
		{[]string{"http://a:5984", "http://b:5984", "http://c:5984"}, "3 CouchDB URLs for 2 peers: give one"},
		{[]string{"ftp://a:5984"}, `CouchDB "ftp://a:5984" is not an http(s) URL`},
		{[]string{"http://admin:secret@a:5984/db"}, `"http://admin:xxxxx@a:5984/db" is not`},
	} {
		err := CheckCouchDB(tt.urls, 2)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckCouchDB(%q) = %v, want %q", tt.urls, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("CheckCouchDB repeats the password: %v", err)
		}
	}
	if got := ParseCouchDBList(" http://a:1 , ,b:2"); len(got) != 2 || got[0] != "http://a:1" || got[1] != "b:2" {
		t.Errorf("ParseCouchDBList = %q", got)
	}
	if err := CheckCouchDB([]string{"a:1", "http://b:2"}, 2); err != nil {
		t.Error(err)
	}
}

// A CouchDB that does not answer is named before anything is created or
// started.
func TestUpRefusesUnreachableCouchDB(t *testing.T) {
	t.Parallel()
	lis := freeLoopbackAddr(t)
	cfg := Config{Dir: filepath.Join(t.TempDir(), "net"), BinDir: t.TempDir(), Ports: DefaultPorts(), CouchDB: []string{"http://" + lis}}
	_, err := Up(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "CouchDB at http://"+lis+" does not answer") {
		t.Fatalf("Up with CouchDB unreachable = %v", err)
	}
	if exists(cfg.Dir) {
		t.Errorf("Up created %s", cfg.Dir)
	}
}

// TestUpOnCouchDB runs the development network on one CouchDB-compatible
// server, each peer's databases under its own prefix: a network created on
// LevelDB moves there when restarted with --couchdb (its state rebuilt from
// the blocks), restarted without the flag it stays there, and a new network
// in another folder with the same prefixes (join, basic deployed, InitLedger
// committed) starts from clean databases instead of refusing the old ones.
func TestUpOnCouchDB(t *testing.T) {
	url := couchtest.URL(t)
	if testing.Short() {
		t.Skip("builds and starts a whole network")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/peer", "./cmd/orderer", "./samples/basic")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	prefix := couchtest.Prefix(t)
	ports := func() Ports {
		p, err := FreePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		p.RESTGateway = 0
		return p
	}
	// The restart keeps the first network's ports: they are in its channel
	// configuration.
	first, firstPorts := filepath.Join(t.TempDir(), "net"), ports()
	for _, step := range []struct {
		name, dir string
		ports     Ports
		couch     []string
	}{
		{"new network on LevelDB", first, firstPorts, nil},
		{"restart with --couchdb", first, firstPorts, []string{url}},
		{"restart without --couchdb", first, firstPorts, nil},
		{"new network, same prefixes", filepath.Join(t.TempDir(), "net"), ports(), []string{url}},
	} {
		progress := &testlog.Buffer{}
		cfg := Config{Dir: step.dir, BinDir: bin, Ports: step.ports, Timeout: 3 * time.Minute, CouchDB: step.couch, DatabasePrefix: prefix, Log: progress}
		n, err := Up(context.Background(), cfg)
		if err != nil {
			for _, o := range cfg.Orgs() {
				raw, _ := os.ReadFile(cfg.Path("logs", o.Peer+".log"))
				t.Logf("%s log:\n%s", o.Peer, raw)
			}
			t.Fatalf("%s: Up on CouchDB: %v", step.name, err)
		}
		if step.name == "new network on LevelDB" {
			n.Stop()
			continue
		}
		for _, o := range cfg.Orgs() {
			// basic's database holds InitLedger's assets, in the move from
			// LevelDB too: the peer replays the blocks into CouchDB as it
			// opens the channel, which may be after its port answers.
			basic := prefix + peerPrefix(o) + ChannelID + "_" + ChaincodeName
			if err := eventually.Wait(time.Minute, func(ctx context.Context) error {
				dbs, err := couchtest.Databases(ctx, url, prefix+peerPrefix(o))
				if err == nil && !slices.Contains(dbs, basic) {
					err = fmt.Errorf("no database %s among %q", basic, dbs)
				}
				return err
			}); err != nil {
				raw, _ := os.ReadFile(cfg.Path("logs", o.Peer+".log"))
				t.Errorf("%s: %s on CouchDB: %v; its log:\n%s", step.name, o.Peer, err, raw)
			}
			log, _ := os.ReadFile(cfg.Path("logs", o.Peer+".log"))
			if strings.Count(string(log), "state database connected") == 0 {
				t.Errorf("%s: %s did not log its CouchDB connection", step.name, o.Peer)
			}
		}
		cleared := strings.Contains(progress.String(), "database(s) with prefix "+prefix+"peer0org1_ from CouchDB at "+url)
		if want := step.name == "new network, same prefixes"; cleared != want {
			t.Errorf("%s: cleared the databases of an earlier network: %t, want %t\n%s", step.name, cleared, want, progress)
		}
		if states, err := cfg.PeerStates(); err != nil || states[0].Database != "CouchDB" || states[0].Address != url {
			t.Errorf("%s: PeerStates = %+v, %v", step.name, states, err)
		}
		n.Stop()
	}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	p, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(p.Chaincode)
}
