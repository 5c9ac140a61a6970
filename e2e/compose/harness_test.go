package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/msp"
)

const (
	channelID = "mychannel"
	imageTag  = "e2e"
)

// peerNode is a peer service of deploy/docker-compose.yaml; portVar is the
// variable publishing its port on the host.
type peerNode struct {
	service, mspID, domain, portVar string
}

var peerNodes = []peerNode{
	{"peer0.org1.example.com", "Org1MSP", "org1.example.com", "WEFT_PEER0_ORG1_PORT"},
	{"peer1.org1.example.com", "Org1MSP", "org1.example.com", "WEFT_PEER1_ORG1_PORT"},
	{"peer0.org2.example.com", "Org2MSP", "org2.example.com", "WEFT_PEER0_ORG2_PORT"},
	{"peer1.org2.example.com", "Org2MSP", "org2.example.com", "WEFT_PEER1_ORG2_PORT"},
}

// ordererNode is an orderer service; adminVar publishes its participation
// API, opsVar its operations endpoint (/metrics).
type ordererNode struct {
	service, adminVar, opsVar string
}

var ordererNodes = []ordererNode{
	{"orderer.example.com", "WEFT_ORDERER_ADMIN_PORT", "WEFT_ORDERER_OPS_PORT"},
	{"orderer2.example.com", "WEFT_ORDERER2_ADMIN_PORT", "WEFT_ORDERER2_OPS_PORT"},
	{"orderer3.example.com", "WEFT_ORDERER3_ADMIN_PORT", "WEFT_ORDERER3_OPS_PORT"},
}

// stack is one docker-compose project of deploy/docker-compose.yaml.
type stack struct {
	t       *testing.T
	root    string   // repository root
	dir     string   // the generated network folder (WEFT_NETWORK_DIR)
	project string   // compose project name
	compose []string // docker-compose, or docker compose
	ports   map[string]int
}

// composeCommand finds docker-compose (or the compose plugin of docker) and
// checks that the Docker daemon answers; the test fails saying what is missing.
func composeCommand(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("docker is not installed: this test runs deploy/docker-compose.yaml on the local Docker engine; " +
			"install Docker (Debian: apt-get install docker.io) and start its daemon")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("the Docker daemon does not answer (docker info: %v): %s; start it (e.g. service docker start) and run the test again",
			err, strings.TrimSpace(string(out)))
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	if exec.CommandContext(ctx, "docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	t.Fatal("neither docker-compose nor the docker compose plugin is installed: this test runs deploy/docker-compose.yaml; " +
		"install one (Debian: apt-get install docker-compose)")
	return nil
}

// hostPorts gives every WEFT_*_PORT variable of the compose file a free
// loopback port, so the test runs beside `weft up` or another network.
func hostPorts(t *testing.T, composeFile string) map[string]int {
	t.Helper()
	raw, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{(WEFT_[A-Z0-9_]+_PORT):-`).FindAllStringSubmatch(string(raw), -1) {
		vars[m[1]] = true
	}
	var names []string
	for v := range vars {
		names = append(names, v)
	}
	sort.Strings(names)
	ports := map[string]int{}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for _, v := range names {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("no free loopback port for %s: %v", v, err)
		}
		ls = append(ls, l)
		ports[v] = l.Addr().(*net.TCPAddr).Port
	}
	var want []string
	for _, p := range peerNodes {
		want = append(want, p.portVar)
	}
	for _, o := range ordererNodes {
		want = append(want, o.adminVar, o.opsVar)
	}
	for _, v := range append(want, "WEFT_RESTGATEWAY_PORT") {
		if ports[v] == 0 {
			t.Fatalf("deploy/docker-compose.yaml publishes no port through ${%s}; the test and the compose file disagree", v)
		}
	}
	return ports
}

func (s *stack) env() []string {
	env := append(os.Environ(), "WEFT_NETWORK_DIR="+s.dir, "WEFT_IMAGE_TAG="+imageTag)
	for k, v := range s.ports {
		env = append(env, k+"="+strconv.Itoa(v))
	}
	return env
}

// run runs a command from the repository root, bounded by timeout, and
// returns its combined output.
func (s *stack) run(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.root
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s did not finish within %s: %w", name, strings.Join(args, " "), timeout, ctx.Err())
	}
	return out.String(), err
}

// composeRun runs docker-compose with the project's name, file and environment.
func (s *stack) composeRun(timeout time.Duration, args ...string) (string, error) {
	full := append(append(append([]string{}, s.compose[1:]...),
		"-p", s.project, "-f", filepath.Join(s.root, "deploy", "docker-compose.yaml")), args...)
	return s.run(timeout, s.env(), s.compose[0], full...)
}

// mustCompose is composeRun failing the test on error.
func (s *stack) mustCompose(timeout time.Duration, args ...string) string {
	s.t.Helper()
	out, err := s.composeRun(timeout, args...)
	if err != nil {
		s.t.Fatalf("%s %s: %v\n%s", strings.Join(s.compose, " "), strings.Join(args, " "), err, out)
	}
	return out
}

// waitSetup waits for the one-shot setup container to exit and fails the
// test, with its log, unless it exited 0.
func (s *stack) waitSetup(timeout time.Duration) {
	s.t.Helper()
	id := strings.TrimSpace(s.mustCompose(time.Minute, "ps", "-q", "setup"))
	if id == "" {
		s.t.Fatal("docker-compose started no setup container")
	}
	out, err := s.run(timeout, os.Environ(), "docker", "wait", id)
	code := strings.TrimSpace(out)
	if err != nil || code != "0" {
		logs, _ := s.composeRun(time.Minute, "logs", "--no-color", "setup")
		s.t.Fatalf("the setup container did not succeed (docker wait: %q, %v); its log:\n%s", code, err, logs)
	}
}

// down removes the project with its volumes, printing the nodes' logs first
// when the test failed.
func (s *stack) down() {
	if s.t.Failed() {
		logs, _ := s.composeRun(time.Minute, "logs", "--no-color", "--tail", "80")
		s.t.Logf("logs of project %s:\n%s", s.project, logs)
	}
	if out, err := s.composeRun(3*time.Minute, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
		s.t.Errorf("docker-compose down -v of project %s: %v\n%s", s.project, err, out)
	}
}

func (s *stack) peerDir(p peerNode) string {
	return filepath.Join(s.dir, "organizations", "peerOrganizations", p.domain, "peers", p.service)
}

func (s *stack) userMSP(p peerNode, user string) string {
	return filepath.Join(s.dir, "organizations", "peerOrganizations", p.domain, "users", user+"@"+p.domain, "msp")
}

// peerEndpoint is how the host reaches a peer through its published port.
func (s *stack) peerEndpoint(p peerNode) wclient.Endpoint {
	return wclient.Endpoint{
		Address:        "127.0.0.1:" + strconv.Itoa(s.ports[p.portVar]),
		TLS:            true,
		RootCertFile:   filepath.Join(s.peerDir(p), "tls", "ca.crt"),
		HostOverride:   p.service,
		ConnectTimeout: 5 * time.Second,
	}
}

// query evaluates inv on one peer as User1 of the peer's organisation.
func (s *stack) query(ctx context.Context, p peerNode, inv wclient.Invocation) ([]byte, error) {
	signer, err := msp.LoadSigningIdentity(s.userMSP(p, "User1"), p.mspID)
	if err != nil {
		return nil, err
	}
	conn, err := wclient.Dial(s.peerEndpoint(p))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return wclient.Query(ctx, signer, inv, pb.NewEndorserClient(conn))
}

// ordererHeight asks an orderer's participation API for the channel's height.
func (s *stack) ordererHeight(ctx context.Context, o ordererNode) (uint64, error) {
	org := filepath.Join(s.dir, "organizations", "ordererOrganizations", "example.com")
	admin := wclient.OSNAdmin{Endpoint: wclient.Endpoint{
		Address:        "127.0.0.1:" + strconv.Itoa(s.ports[o.adminVar]),
		TLS:            true,
		RootCertFile:   filepath.Join(org, "orderers", o.service, "tls", "ca.crt"),
		HostOverride:   o.service,
		ClientCertFile: filepath.Join(org, "users", "Admin@example.com", "tls", "client.crt"),
		ClientKeyFile:  filepath.Join(org, "users", "Admin@example.com", "tls", "client.key"),
	}}
	info, err := admin.Info(ctx, channelID)
	if err != nil {
		return 0, err
	}
	if info == nil {
		return 0, errors.New("no channel info")
	}
	return info.Height, nil
}

// raftLeader returns the orderer whose operations endpoint reports it leads
// mychannel's Raft cluster (consensus_etcdraft_is_leader).
func (s *stack) raftLeader(ctx context.Context) (ordererNode, error) {
	c := &http.Client{}
	var seen []string
	for _, o := range ordererNodes {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(s.ports[o.opsVar])+"/metrics", nil)
		if err != nil {
			return ordererNode{}, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return ordererNode{}, fmt.Errorf("metrics of %s: %w", o.service, err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return ordererNode{}, fmt.Errorf("metrics of %s: %w", o.service, err)
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "consensus_etcdraft_is_leader{") && strings.Contains(line, `channel="`+channelID+`"`) {
				seen = append(seen, o.service+": "+line)
				if strings.HasSuffix(strings.TrimSpace(line), " 1") {
					return o, nil
				}
			}
		}
	}
	return ordererNode{}, fmt.Errorf("no orderer reports itself leader of %s (%v)", channelID, seen)
}
