package compose

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// couchDBPeers are the peers of the compose network with the CouchDB
// service the variant gives each.
var couchDBPeers = map[string]string{
	"peer0.org1.example.com": "couchdb0",
	"peer1.org1.example.com": "couchdb1",
	"peer0.org2.example.com": "couchdb2",
	"peer1.org2.example.com": "couchdb3",
}

// TestComposeCouchDBVariantValidates checks deploy/docker-compose.couchdb.yaml
// on top of deploy/docker-compose.yaml with `docker-compose config`, as a
// fresh checkout has them: couchdb:3 cannot be pulled on the machines that
// run these tests, so the variant is validated, not run. Each peer gets a
// CouchDB of its own through Fabric's CORE_LEDGER_STATE_* variables, and no
// CouchDB publishes a port: only its peer reaches it, on the compose network.
func TestComposeCouchDBVariantValidates(t *testing.T) {
	var compose []string
	if _, err := exec.LookPath("docker-compose"); err == nil {
		compose = []string{"docker-compose"}
	} else if _, err := exec.LookPath("docker"); err == nil && exec.Command("docker", "compose", "version").Run() == nil {
		compose = []string{"docker", "compose"}
	} else {
		t.Skip("neither docker-compose nor the docker compose plugin is installed: " +
			"cannot check that deploy/docker-compose.couchdb.yaml validates (Debian: apt-get install docker-compose)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	deploy := filepath.Join(t.TempDir(), "deploy")
	copyTree(t, filepath.Join(root, "deploy"), deploy, "build")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEFT_") && !strings.HasPrefix(kv, "COMPOSE_") {
			env = append(env, kv)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	files := []string{"-f", filepath.Join(deploy, "docker-compose.yaml"), "-f", filepath.Join(deploy, "docker-compose.couchdb.yaml")}
	run := func(extra ...string) []byte {
		t.Helper()
		args := append(append(append([]string{}, compose[1:]...), files...), extra...)
		cmd := exec.CommandContext(ctx, compose[0], args...)
		cmd.Dir = filepath.Dir(deploy)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", strings.Join(compose, " "), strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	run("config", "-q")

	var merged struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Ports       []any             `yaml:"ports"`
			DependsOn   any               `yaml:"depends_on"`
			Volumes     []any             `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(run("config"), &merged); err != nil {
		t.Fatal(err)
	}
	for peer, couch := range couchDBPeers {
		p, ok := merged.Services[peer]
		if !ok {
			t.Fatalf("the merged file has no service %s", peer)
		}
		for k, want := range map[string]string{
			"CORE_LEDGER_STATE_STATEDATABASE":                "CouchDB",
			"CORE_LEDGER_STATE_COUCHDBCONFIG_COUCHDBADDRESS": couch + ":5984",
			"CORE_LEDGER_STATE_COUCHDBCONFIG_USERNAME":       "admin",
			"CORE_PEER_ID": peer, // the base file's settings stay
		} {
			if got := p.Environment[k]; got != want {
				t.Errorf("%s: %s = %q, want %q", peer, k, got, want)
			}
		}
		if p.Environment["CORE_LEDGER_STATE_COUCHDBCONFIG_PASSWORD"] == "" {
			t.Errorf("%s has no CouchDB password", peer)
		}
		if deps, _ := yaml.Marshal(p.DependsOn); !strings.Contains(string(deps), couch) {
			t.Errorf("%s does not depend on %s: %s", peer, couch, deps)
		}
		c, ok := merged.Services[couch]
		if !ok {
			t.Fatalf("the merged file has no service %s", couch)
		}
		if c.Image != "couchdb:3" {
			t.Errorf("%s runs image %q, want couchdb:3", couch, c.Image)
		}
		if len(c.Ports) != 0 {
			t.Errorf("%s publishes ports %v: CouchDB must be reachable on the compose network only", couch, c.Ports)
		}
		if c.Environment["COUCHDB_USER"] != p.Environment["CORE_LEDGER_STATE_COUCHDBCONFIG_USERNAME"] ||
			c.Environment["COUCHDB_PASSWORD"] != p.Environment["CORE_LEDGER_STATE_COUCHDBCONFIG_PASSWORD"] {
			t.Errorf("%s's admin credentials differ from those %s uses", couch, peer)
		}
		if len(c.Volumes) == 0 {
			t.Errorf("%s keeps its data in no volume", couch)
		}
	}
	// The base file alone still has no CouchDB.
	files = files[:2]
	if out := run("config"); strings.Contains(string(out), "couchdb") {
		t.Error("deploy/docker-compose.yaml alone mentions couchdb")
	}
}
