package restgateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/sampleconfig"
)

// sampleToken is the token sampleLayout writes to <dir>/restgateway/token.
const sampleToken = "sample-layout-token-0123456789"

// sampleLayout lays out sampleconfig's restgateway.yaml as `weft up` does:
// <dir>/config/restgateway.yaml beside <dir>/organizations and the token
// file <dir>/restgateway/token (sampleToken).
func sampleLayout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	raw, err := sampleconfig.Files.ReadFile("restgateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config", "restgateway.yaml"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testnet.SampleNet(t).Orgs(), filepath.Join(dir, "organizations")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "restgateway"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "restgateway", "token"), []byte(sampleToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "config", "restgateway.yaml")
}

func TestSampleConfig(t *testing.T) {
	file := sampleLayout(t)
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddress != "localhost:8080" || cfg.BodyLimit != DefaultBodyLimit || cfg.Peer.Address != "localhost:7051" || !cfg.Peer.TLSEnabled ||
		cfg.Wallet.DefaultIdentity != "User1@org1.example.com" || cfg.Timeouts.CommitStatus != time.Minute || cfg.Events.Heartbeat != 15*time.Second ||
		cfg.Events.MaxStreams != 64 || cfg.Events.MaxStreamsPerCredential != 16 || cfg.TLS.Enabled || len(cfg.Auth.ClientCerts) != 0 ||
		!reflect.DeepEqual(cfg.HTTP, HTTPConfig{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
			IdleTimeout: 2 * time.Minute, AllowedHosts: []string{}, AllowedOrigins: []string{}}) {
		t.Fatalf("sample config = %+v", cfg)
	}
	tokenFile := filepath.Join(filepath.Dir(filepath.Dir(file)), "restgateway", "token")
	if want := []TokenCredential{{Token: sampleToken, TokenFile: tokenFile, Identity: "User1@org1.example.com"}}; !reflect.DeepEqual(cfg.Auth.Tokens, want) {
		t.Fatalf("sample tokens = %+v, want %+v", cfg.Auth.Tokens, want)
	}
	w, err := LoadWallet(cfg.Wallet.Path, cfg.Wallet.MSPID)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.Names(), ","); got != "Admin@org1.example.com,User1@org1.example.com" {
		t.Fatalf("wallet of the sample config holds %s", got)
	}
	id, _ := w.Identity("User1@org1.example.com")
	if id.MSPID != "Org1MSP" || id.Cert.Subject.CommonName != "User1@org1.example.com" {
		t.Fatalf("User1 = %s", id)
	}

	t.Setenv("WEFT_RESTGATEWAY_LISTENADDRESS", "0.0.0.0:9999")
	t.Setenv("WEFT_RESTGATEWAY_TIMEOUTS_EVALUATE", "5s")
	t.Setenv("WEFT_RESTGATEWAY_BODYLIMIT", "2048")
	t.Setenv("WEFT_RESTGATEWAY_WALLET_DEFAULTIDENTITY", "")
	t.Setenv("WEFT_RESTGATEWAY_HTTP_ALLOWEDHOSTS", "gateway.internal 10.0.0.5")
	t.Setenv("WEFT_RESTGATEWAY_HTTP_ALLOWEDORIGINS", "http://localhost:3000")
	t.Setenv("WEFT_RESTGATEWAY_EVENTS_MAXSTREAMS", "8")
	t.Setenv("WEFT_RESTGATEWAY_HTTP_WRITETIMEOUT", "5s")
	cfg, err = LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddress != "0.0.0.0:9999" || cfg.Timeouts.Evaluate != 5*time.Second || cfg.BodyLimit != 2048 || cfg.Wallet.DefaultIdentity != "" ||
		strings.Join(cfg.HTTP.AllowedHosts, ",") != "gateway.internal,10.0.0.5" || strings.Join(cfg.HTTP.AllowedOrigins, ",") != "http://localhost:3000" ||
		cfg.Events.MaxStreams != 8 || cfg.HTTP.WriteTimeout != 5*time.Second {
		t.Fatalf("environment overrides not applied: %+v", cfg)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct{ env, value, want string }{
		{"WEFT_RESTGATEWAY_LISTENADDRESS", "nope", "restgateway.listenAddress (WEFT_RESTGATEWAY_LISTENADDRESS)"},
		{"WEFT_RESTGATEWAY_PEER_ADDRESS", "", "restgateway.peer.address (WEFT_RESTGATEWAY_PEER_ADDRESS)"},
		{"WEFT_RESTGATEWAY_BODYLIMIT", "-5", "restgateway.bodyLimit (WEFT_RESTGATEWAY_BODYLIMIT)"},
		{"WEFT_RESTGATEWAY_BODYLIMIT", "1MB", "restgateway.bodyLimit (WEFT_RESTGATEWAY_BODYLIMIT)"},
		{"WEFT_RESTGATEWAY_TIMEOUTS_COMMITSTATUS", "forever", "restgateway.timeouts.commitStatus (WEFT_RESTGATEWAY_TIMEOUTS_COMMITSTATUS)"},
		{"WEFT_RESTGATEWAY_EVENTS_HEARTBEAT", "0s", "restgateway.events.heartbeat (WEFT_RESTGATEWAY_EVENTS_HEARTBEAT)"},
		{"WEFT_RESTGATEWAY_PEER_TLS_ROOTCERT_FILE", "/no/such/ca.crt", "restgateway.peer.tls.rootcert.file (WEFT_RESTGATEWAY_PEER_TLS_ROOTCERT_FILE)"},
		{"WEFT_RESTGATEWAY_PEER_TLS_CLIENTCERT_FILE", "client.crt", "restgateway.peer.tls.clientKey.file (WEFT_RESTGATEWAY_PEER_TLS_CLIENTKEY_FILE)"},
		{"WEFT_RESTGATEWAY_WALLET_PATH", "/no/such/wallet", "restgateway.wallet.path (WEFT_RESTGATEWAY_WALLET_PATH)"},
		{"WEFT_OPERATIONS_LISTENADDRESS", "9443", "operations.listenAddress (WEFT_OPERATIONS_LISTENADDRESS)"},
		{"WEFT_RESTGATEWAY_EVENTS_MAXSTREAMS", "0", "restgateway.events.maxStreams (WEFT_RESTGATEWAY_EVENTS_MAXSTREAMS)"},
		{"WEFT_RESTGATEWAY_EVENTS_MAXSTREAMSPERCREDENTIAL", "many", "restgateway.events.maxStreamsPerCredential (WEFT_RESTGATEWAY_EVENTS_MAXSTREAMSPERCREDENTIAL)"},
		{"WEFT_RESTGATEWAY_HTTP_READHEADERTIMEOUT", "0s", "restgateway.http.readHeaderTimeout (WEFT_RESTGATEWAY_HTTP_READHEADERTIMEOUT)"},
		{"WEFT_RESTGATEWAY_HTTP_WRITETIMEOUT", "never", "restgateway.http.writeTimeout (WEFT_RESTGATEWAY_HTTP_WRITETIMEOUT)"},
		{"WEFT_RESTGATEWAY_HTTP_ALLOWEDORIGINS", "evil.example/page", "restgateway.http.allowedOrigins (WEFT_RESTGATEWAY_HTTP_ALLOWEDORIGINS)"},
		{"WEFT_RESTGATEWAY_HTTP_ALLOWEDHOSTS", "http://x/", "restgateway.http.allowedHosts (WEFT_RESTGATEWAY_HTTP_ALLOWEDHOSTS)"},
		{"WEFT_RESTGATEWAY_TLS_ENABLED", "true", "restgateway.tls.cert.file (WEFT_RESTGATEWAY_TLS_CERT_FILE)"},
		{"WEFT_RESTGATEWAY_TLS_CLIENTAUTHREQUIRED", "true", "restgateway.tls.enabled (WEFT_RESTGATEWAY_TLS_ENABLED)"},
		{"WEFT_RESTGATEWAY_AUTH_TOKENS", "secret", "restgateway.auth.tokens is a list"},
	}
	file := sampleLayout(t)
	for _, c := range cases {
		t.Run(c.env+"="+c.value, func(t *testing.T) {
			t.Setenv(c.env, c.value)
			_, err := LoadConfig(file)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %s", err, c.want)
			}
		})
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "restgateway.yaml")); err == nil {
		t.Fatal("a missing file loaded")
	}
}

func TestWalletFormats(t *testing.T) {
	n := testnet.SampleNet(t)
	user := n.User(t, "User1", "Org2MSP")
	admin := n.Admin(t, "Org1MSP")
	dir := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keyPEM := func(dir string) string {
		t.Helper()
		entries, _ := os.ReadDir(filepath.Join(dir, "msp", "keystore"))
		raw, err := os.ReadFile(filepath.Join(dir, "msp", "keystore", entries[0].Name()))
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	userDir := n.Path("peerOrganizations", "org2.example.com", "users", "User1@org2.example.com")
	adminDir := n.Path("peerOrganizations", "org1.example.com", "users", "Admin@org1.example.com")
	write("org2user/mspid", "Org2MSP\n")
	write("org2user/cert.pem", pemCert(user))
	write("org2user/key.pem", keyPEM(userDir))
	idFile, _ := json.Marshal(map[string]any{"type": "X.509", "version": 1, "mspId": "Org1MSP",
		"credentials": map[string]string{"certificate": pemCert(admin), "privateKey": keyPEM(adminDir)}})
	write("admin.id", string(idFile))
	write("README.txt", "not an identity")
	w, err := LoadWallet(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.Names(), ","); got != "admin,org2user" {
		t.Fatalf("wallet names %s", got)
	}
	if id, _ := w.Identity("org2user"); id.MSPID != "Org2MSP" || !id.Cert.Equal(user.Cert) {
		t.Fatalf("org2user = %s", id)
	}
	if id, _ := w.Identity("admin"); id.MSPID != "Org1MSP" || !id.Cert.Equal(admin.Cert) {
		t.Fatalf("admin = %s", id)
	}

	write("mismatch/mspid", "Org2MSP")
	write("mismatch/cert.pem", pemCert(user))
	write("mismatch/key.pem", keyPEM(adminDir))
	if _, err := LoadWallet(dir, ""); err == nil || !strings.Contains(err.Error(), `"mismatch"`) || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("mismatched key: %v", err)
	}
	os.RemoveAll(filepath.Join(dir, "mismatch"))
	write("nomspid/cert.pem", pemCert(user))
	write("nomspid/key.pem", keyPEM(userDir))
	if _, err := LoadWallet(dir, ""); err == nil || !strings.Contains(err.Error(), "mspid") {
		t.Fatalf("identity without MSP ID: %v", err)
	}
	if w, err := LoadWallet(dir, "Org2MSP"); err != nil || len(w.Names()) != 3 {
		t.Fatalf("with a default MSP ID: %v", err)
	}
}

func TestFromRPC(t *testing.T) {
	detail := func(msg string) error {
		return withDetails(codes.Aborted, "failed to endorse transaction, see attached details for more info",
			&gwpb.ErrorDetail{Address: "peer0.org2.example.com:9051", MspId: "Org2MSP", Message: msg})
	}
	cases := []struct {
		name string
		call call
		err  error
		want string
	}{
		{"channel not joined", callEvaluate, status.Error(codes.NotFound, "channel foo is not joined by this peer (localhost:7051)"), CodeUnknownChannel},
		{"chaincode not defined (evaluate)", callEvaluate, detail("chaincode response 500, chaincode cc is not defined on channel mychannel"), CodeUnknownChaincode},
		{"chaincode not defined (endorse)", callEndorse, status.Error(codes.FailedPrecondition, "no endorsement policy for chaincode cc on channel mychannel: not found"), CodeUnknownChaincode},
		{"Fabric's wording", callEvaluate, detail("make sure the chaincode cc has been successfully defined on channel mychannel and try again"), CodeUnknownChaincode},
		{"a gateway planning from discovery", callEndorse, status.Error(codes.FailedPrecondition, "no combination of peers can be derived which satisfy the endorsement policy of chaincode cc on channel mychannel: No metadata was found for chaincode cc in channel mychannel"), CodeUnknownChaincode},
		{"chaincode error", callEvaluate, detail("chaincode response 500, boom"), CodeChaincodeError},
		{"endorsement failure", callEndorse, detail("chaincode response 500, boom"), CodeEndorsementFailed},
		{"orderer refusal", callSubmit, status.Error(codes.Aborted, "received unsuccessful response from orderer: status=BAD_REQUEST"), CodeOrdererRejected},
		{"access denied", callEvaluate, detail("access denied: creator is not a member of channel"), CodeForbidden},
		{"bad request signature", callCommitStatus, status.Error(codes.PermissionDenied, "request signature rejected: signature does not verify"), CodeBadSignature},
		{"readers policy", callCommitStatus, status.Error(codes.PermissionDenied, "identity does not satisfy /Channel/Application/Readers"), CodeForbidden},
		{"no orderer", callSubmit, status.Error(codes.Unavailable, "no orderers could successfully process transaction"), CodeUnavailable},
		{"deadline", callEvaluate, status.Error(codes.DeadlineExceeded, "context deadline exceeded"), CodeTimeout},
		{"context deadline", callEvaluate, context.DeadlineExceeded, CodeTimeout},
		{"missing block", callQuery, detail("chaincode response 404, qscc GetBlockByNumber 9: block not found"), CodeNotFound},
		{"missing block (Fabric)", callQuery, detail("chaincode response 500, Failed to get block number 9, error Entry not found in index"), CodeNotFound},
		{"bad argument", callEvaluate, status.Error(codes.InvalidArgument, "failed to unpack transaction proposal"), CodeBadRequest},
		{"other", callEvaluate, errors.New("boom"), CodeUpstreamError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := fromRPC(c.call, "mychannel", "cc", c.err)
			if e.Code != c.want {
				t.Fatalf("code %s, want %s (%s)", e.Code, c.want, e.Message)
			}
			if st, ok := status.FromError(c.err); ok && len(st.Details()) > 0 {
				if len(e.Details) != 1 || e.Details[0].MSPID != "Org2MSP" || !strings.Contains(e.Message, "Org2MSP (peer0.org2.example.com:9051)") {
					t.Fatalf("details not passed on: %+v", e)
				}
			}
		})
	}
}

// TestRunServesAPIAndOperations starts the whole service from a config and
// checks the API and the operations endpoints.
func TestRunServesAPIAndOperations(t *testing.T) {
	peerAddr, _ := startFakePeer(t)
	file := sampleLayout(t)
	t.Setenv("WEFT_RESTGATEWAY_LISTENADDRESS", "127.0.0.1:0")
	t.Setenv("WEFT_OPERATIONS_LISTENADDRESS", "127.0.0.1:0")
	t.Setenv("WEFT_RESTGATEWAY_PEER_ADDRESS", peerAddr)
	t.Setenv("WEFT_RESTGATEWAY_PEER_TLS_ENABLED", "false")
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	logging, err := operations.NewLogging(slogDiscard(), "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	type addrs struct{ api, ops string }
	ready := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, logging, func(api, ops string) { ready <- addrs{api, ops} }) }()
	var a addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not become ready")
	}
	get := func(url string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+sampleToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	if code, body := get("http://" + a.api + "/v1/channels/mychannel"); code != 200 || !strings.Contains(body, `"height":7`) {
		t.Fatalf("chain info through Run: %d %s", code, body)
	}
	if code, body := get("http://" + a.ops + "/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, body := get("http://" + a.ops + "/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	code, body := get("http://" + a.ops + "/metrics")
	if want := `restgateway_http_requests_total{method="GET",route="/v1/channels/{channel}",status="200"} 1`; code != 200 || !strings.Contains(body, want) {
		t.Fatalf("/metrics lacks %s:\n%s", want, body)
	}
	if code, body := get("http://" + a.ops + "/logspec"); code != 200 || !strings.Contains(body, "info") {
		t.Fatalf("/logspec: %d %s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}

	// A default identity missing from the wallet stops the start, naming the key.
	t.Setenv("WEFT_RESTGATEWAY_WALLET_DEFAULTIDENTITY", "Nobody@org1.example.com")
	cfg, err = LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "restgateway.wallet.defaultIdentity") {
		t.Fatalf("Run with an unknown default identity: %v", err)
	}
}
