package compose

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/eventually"
)

func TestComposeNetwork(t *testing.T) {
	start := time.Now()
	compose := composeCommand(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	s := &stack{
		t:       t,
		root:    root,
		dir:     filepath.Join(tmp, "network"),
		project: fmt.Sprintf("weftcompose%d_%d", os.Getpid(), time.Now().Unix()%100000),
		compose: compose,
	}

	// The REST gateway is built when the tree has its command.
	_, err = os.Stat(filepath.Join(root, "cmd", "restgateway"))
	hasRESTGateway := err == nil
	build := filepath.Join(tmp, "build")
	out, err := s.run(8*time.Minute, append(os.Environ(), "WEFT_BUILD_DIR="+build, "WEFT_IMAGE_TAG="+imageTag),
		filepath.Join(root, "deploy", "images.sh"))
	if err != nil {
		t.Fatalf("deploy/images.sh: %v\n%s", err, out)
	}
	t.Logf("images weft/*:%s built in %s", imageTag, time.Since(start).Round(time.Second))
	if out, err := s.run(time.Minute, os.Environ(), filepath.Join(build, "bin", "weft-setup"),
		"generate", "-config", filepath.Join(root, "deploy", "config"), "-out", s.dir); err != nil {
		t.Fatalf("weft-setup generate: %v\n%s", err, out)
	}
	s.ports = hostPorts(t, filepath.Join(root, "deploy", "docker-compose.yaml"))

	services := []string{"orderer.example.com", "orderer2.example.com", "orderer3.example.com", "basic", "setup"}
	for _, p := range peerNodes {
		services = append(services, p.service)
	}
	if hasRESTGateway {
		services = append(services, "restgateway")
	} else {
		t.Log("no cmd/restgateway in this tree: the REST gateway is neither started nor tested")
	}
	t.Cleanup(s.down)
	s.mustCompose(3*time.Minute, append([]string{"up", "-d"}, services...)...)
	s.waitSetup(4 * time.Minute)
	t.Logf("network up and set up after %s", time.Since(start).Round(time.Second))

	rest := restClient{base: "http://127.0.0.1:" + strconv.Itoa(s.ports["WEFT_RESTGATEWAY_PORT"])}
	if hasRESTGateway {
		rest.token = restToken(t, s.dir)
		rest.refusesStrangers(t)
	}
	org1 := peerNodes[0]
	contract := s.gateway(t, org1)

	// Both ways in work on the healthy network.
	if hasRESTGateway {
		rest.submitCreate(t, "rest1")
		rest.readAsset(t, "rest1")
	}
	submitCreate(t, contract, "fgw1")

	// The Raft leader and Org2's first anchor peer stop: the two other
	// orderers elect a leader and keep ordering, peer0.org1's gateway turns
	// to peer1.org2 for Org2's endorsement and to a running orderer.
	var leader ordererNode
	eventually.NoError(t, time.Minute, "a Raft leader of "+channelID, func(ctx context.Context) error {
		var err error
		leader, err = s.raftLeader(ctx)
		return err
	})
	down := []string{leader.service, "peer0.org2.example.com"}
	s.mustCompose(2*time.Minute, append([]string{"stop", "-t", "10"}, down...)...)
	faultStart := time.Now()
	block := submitCreate(t, contract, "fgw2")
	if hasRESTGateway {
		rest.submitCreate(t, "rest2")
	}
	t.Logf("committed with %s stopped (block %d) in %s", strings.Join(down, " and "), block, time.Since(faultStart).Round(time.Millisecond))

	s.mustCompose(2*time.Minute, append([]string{"start"}, down...)...)
	restarted := time.Now()
	s.waitCaughtUp(t, block+1, 2*time.Minute)
	t.Logf("every peer and orderer at the same height %s after the restart", time.Since(restarted).Round(time.Millisecond))
	for _, p := range peerNodes {
		eventually.NoError(t, 30*time.Second, "asset fgw2 on "+p.service, func(ctx context.Context) error {
			_, err := s.query(ctx, p, wclient.Invocation{Channel: channelID, Chaincode: "basic", Args: [][]byte{[]byte("ReadAsset"), []byte("fgw2")}})
			return err
		})
	}

	// The restarted peer serves clients again: Org2's application submits through it.
	submitCreate(t, s.gateway(t, peerNodes[2]), "fgw3")
	t.Logf("test body done after %s", time.Since(start).Round(time.Second))
}

// waitCaughtUp waits until every peer and every orderer reports the same
// channel height, at least min.
func (s *stack) waitCaughtUp(t *testing.T, min uint64, timeout time.Duration) {
	t.Helper()
	eventually.NoError(t, timeout, "every node at the same height", func(ctx context.Context) error {
		heights := map[string]uint64{}
		for _, p := range peerNodes {
			raw, err := s.query(ctx, p, wclient.Invocation{Chaincode: wclient.QSCCName, Args: [][]byte{[]byte("GetChainInfo"), []byte(channelID)}})
			if err != nil {
				return fmt.Errorf("chain info of %s: %w", p.service, err)
			}
			info := &cb.BlockchainInfo{}
			if err := proto.Unmarshal(raw, info); err != nil {
				return fmt.Errorf("chain info of %s: %w", p.service, err)
			}
			heights[p.service] = info.Height
		}
		for _, o := range ordererNodes {
			h, err := s.ordererHeight(ctx, o)
			if err != nil {
				return fmt.Errorf("height of %s: %w", o.service, err)
			}
			heights[o.service] = h
		}
		want := heights[peerNodes[0].service]
		if want < min {
			return fmt.Errorf("%s at height %d, want at least %d (heights %v)", peerNodes[0].service, want, min, heights)
		}
		for n, h := range heights {
			if h != want {
				return fmt.Errorf("%s at height %d, %s at %d (heights %v)", n, h, peerNodes[0].service, want, heights)
			}
		}
		return nil
	})
}

// gateway connects the official fabric-gateway client to a peer's published
// port as User1 of the peer's organisation.
func (s *stack) gateway(t *testing.T, p peerNode) *client.Contract {
	t.Helper()
	mspDir := s.userMSP(p, "User1")
	certPEM, err := os.ReadFile(filepath.Join(mspDir, "signcerts", "User1@"+p.domain+"-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := identity.CertificateFromPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.NewX509Identity(p.mspID, cert)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := os.ReadDir(filepath.Join(mspDir, "keystore"))
	if err != nil || len(keys) == 0 {
		t.Fatalf("keystore of User1@%s: %v", p.domain, err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(mspDir, "keystore", keys[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sign, err := identity.NewPrivateKeySign(key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(s.peerDir(p), "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(s.ports[p.portVar]),
		grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, p.service)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// Endorsement may wait out a connection attempt to a stopped peer.
	gw, err := client.Connect(id, client.WithSign(sign), client.WithClientConnection(conn),
		client.WithEvaluateTimeout(30*time.Second), client.WithEndorseTimeout(time.Minute),
		client.WithSubmitTimeout(30*time.Second), client.WithCommitStatusTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	return gw.GetNetwork(channelID).GetContract("basic")
}

// submitCreate creates asset id through the fabric-gateway client, checks it
// committed valid and reads it back; it returns the block number.
func submitCreate(t *testing.T, contract *client.Contract, id string) uint64 {
	t.Helper()
	_, commit, err := contract.SubmitAsync("CreateAsset", client.WithArguments(id, "blue", "5", "Tomoko", "300"))
	if err != nil {
		t.Fatalf("fabric-gateway: submit CreateAsset %s: %v", id, err)
	}
	st, err := commit.Status()
	if err != nil {
		t.Fatalf("fabric-gateway: commit status of CreateAsset %s (tx %s): %v", id, commit.TransactionID(), err)
	}
	if !st.Successful {
		t.Fatalf("fabric-gateway: CreateAsset %s (tx %s) committed %s", id, st.TransactionID, st.Code)
	}
	raw, err := contract.EvaluateTransaction("ReadAsset", id)
	if err != nil {
		t.Fatalf("fabric-gateway: ReadAsset %s: %v", id, err)
	}
	if !bytes.Contains(raw, []byte(`"Owner":"Tomoko"`)) {
		t.Fatalf("fabric-gateway: ReadAsset %s = %s, want Owner Tomoko", id, raw)
	}
	return st.BlockNumber
}

// restClient drives the REST gateway with plain HTTP and the network's
// bearer token.
type restClient struct{ base, token string }

// restToken reads the REST gateway's token that `weft-setup generate` wrote
// into the network folder dir.
func restToken(t *testing.T, dir string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "restgateway", "token"))
	if err != nil {
		t.Fatalf("weft-setup generate wrote no REST gateway token: %v", err)
	}
	return strings.TrimSpace(string(raw))
}

func (r restClient) post(t *testing.T, path string, body any) map[string]any {
	t.Helper()
	status, out := r.postAs(t, "Bearer "+r.token, path, body)
	if status != http.StatusOK {
		t.Fatalf("REST gateway: POST %s answered %d: %s", path, status, out)
	}
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return m
}

// refusesStrangers: without the token, or with another, nothing is signed.
func (r restClient) refusesStrangers(t *testing.T) {
	t.Helper()
	body := map[string]any{"function": "GetAllAssets"}
	for _, auth := range []string{"", "Bearer not-the-token-of-this-network"} {
		status, out := r.postAs(t, auth, "/v1/channels/"+channelID+"/chaincodes/basic/evaluate", body)
		if status != http.StatusUnauthorized || !strings.Contains(string(out), `"code":"UNAUTHENTICATED"`) {
			t.Fatalf("REST gateway: evaluate with Authorization %q answered %d %s, want 401 UNAUTHENTICATED", auth, status, out)
		}
	}
}

// postAs posts body as JSON with the Authorization header auth (none when
// empty) and returns the status and the JSON answer.
func (r restClient) postAs(t *testing.T, auth, path string, body any) (int, []byte) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", r.base+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	c := &http.Client{Timeout: 2 * time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("REST gateway: POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out) {
		t.Fatalf("REST gateway: POST %s answered %d with non-JSON %q", path, resp.StatusCode, out)
	}
	return resp.StatusCode, out
}

func (r restClient) submitCreate(t *testing.T, id string) {
	t.Helper()
	m := r.post(t, "/v1/channels/"+channelID+"/chaincodes/basic/submit",
		map[string]any{"function": "CreateAsset", "args": []string{id, "green", "7", "Max", "500"}})
	if m["status"] != "COMMITTED" || m["validationCode"] != "VALID" {
		t.Fatalf("REST gateway: submit CreateAsset %s = %v, want status COMMITTED, validationCode VALID", id, m)
	}
}

func (r restClient) readAsset(t *testing.T, id string) {
	t.Helper()
	m := r.post(t, "/v1/channels/"+channelID+"/chaincodes/basic/evaluate",
		map[string]any{"function": "ReadAsset", "args": []string{id}})
	asset, _ := m["resultJson"].(map[string]any)
	if asset["ID"] != id || asset["Owner"] != "Max" {
		t.Fatalf("REST gateway: ReadAsset %s = %v, want the asset owned by Max", id, m)
	}
}
