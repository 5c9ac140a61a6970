package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/identity"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/weft-ledger/weft/internal/devnettest"
	"github.com/weft-ledger/weft/restgateway"
)

// restGateway starts the REST gateway from the restgateway.yaml that the
// development network got from sampleconfig, pointed at Org1's peer through
// WEFT_* overrides, and returns its base URL. It stops when the test ends.
// Its credential is the network's token (restToken), bound to User1.
func restGateway(t *testing.T, env ...string) string {
	t.Helper()
	return restGatewayWith(t, nil, env...)
}

// restGatewayWith is restGateway with the loaded configuration changed by
// mutate (for what has no environment override, such as the tokens).
func restGatewayWith(t *testing.T, mutate func(*restgateway.Config), env ...string) string {
	t.Helper()
	cfg := network.Config()
	org1 := network.Orgs[0]
	t.Setenv("WEFT_RESTGATEWAY_LISTENADDRESS", "127.0.0.1:0")
	t.Setenv("WEFT_RESTGATEWAY_PEER_ADDRESS", fmt.Sprintf("localhost:%d", org1.Port))
	t.Setenv("WEFT_RESTGATEWAY_BODYLIMIT", "65536")
	t.Setenv("WEFT_OPERATIONS_LISTENADDRESS", "")
	for i := 0; i+1 < len(env); i += 2 {
		t.Setenv(env[i], env[i+1])
	}
	gcfg, err := restgateway.LoadConfig(cfg.Path("config", "restgateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(&gcfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- restgateway.Run(ctx, gcfg, nil, func(a, _ string) { addr <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("REST gateway: %v", err)
		}
	})
	select {
	case a := <-addr:
		return "http://" + a
	case err := <-done:
		done <- err
		t.Fatalf("REST gateway did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("REST gateway did not start within 30s")
	}
	return ""
}

type restResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r restResponse) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v: %s", r.status, err, r.body)
	}
}

// errorCode returns the code of an Error body.
func (r restResponse) errorCode(t *testing.T) restgateway.Error {
	t.Helper()
	var e restgateway.Error
	r.json(t, &e)
	return e
}

// restToken is the development network's REST gateway token, which `weft up`
// writes and the REST gateway's sample configuration binds to User1.
func restToken(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(network.Config().RESTTokenPath())
	if err != nil {
		t.Fatalf("the development network has no REST gateway token: %v", err)
	}
	return strings.TrimSpace(string(raw))
}

// restDo sends a request with the network's token and, with a body,
// Content-Type: application/json; header pairs set more headers or, with an
// empty value, remove one ("Host" sets the request's host).
func restDo(t *testing.T, method, url string, body any, header ...string) restResponse {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+restToken(t))
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		switch {
		case header[i] == "Host":
			req.Host = header[i+1]
		case header[i+1] == "":
			req.Header.Del(header[i])
		default:
			req.Header.Set(header[i], header[i+1])
		}
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return restResponse{status: resp.StatusCode, header: resp.Header, body: raw}
}

func wantStatus(t *testing.T, what string, r restResponse, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
}

type restTx struct {
	TxID           string          `json:"txId"`
	Status         string          `json:"status"`
	ValidationCode string          `json:"validationCode"`
	BlockNumber    *uint64         `json:"blockNumber"`
	StatusURL      string          `json:"statusUrl"`
	Result         *string         `json:"result"`
	ResultJSON     json.RawMessage `json:"resultJson"`
}

func chainHeight(t *testing.T, base string) uint64 {
	t.Helper()
	r := restDo(t, "GET", base+"/v1/channels/mychannel", nil)
	wantStatus(t, "chain info", r, 200)
	var info struct {
		Height           uint64 `json:"height"`
		CurrentBlockHash string `json:"currentBlockHash"`
	}
	r.json(t, &info)
	if info.Height == 0 || len(info.CurrentBlockHash) != 64 {
		t.Fatalf("chain info %s: want a height and a hex block hash", r.body)
	}
	return info.Height
}

// TestRESTTransactions drives the basic chaincode through the REST gateway
// with plain HTTP: submit (sync and async), evaluate, status, block and
// transaction by ID.
func TestRESTTransactions(t *testing.T) {
	base := restGateway(t)
	cc := base + "/v1/channels/mychannel/chaincodes/basic"
	id := uniqueID("rest")
	before := chainHeight(t, base)

	r := restDo(t, "POST", cc+"/submit", map[string]any{"function": "CreateAsset", "args": []string{id, "blue", "5", "Tom", "300"}})
	wantStatus(t, "submit CreateAsset", r, 200)
	var created restTx
	r.json(t, &created)
	if created.Status != "COMMITTED" || created.ValidationCode != "VALID" || created.BlockNumber == nil || *created.BlockNumber < before || len(created.TxID) != 64 {
		t.Fatalf("submit CreateAsset = %s, want COMMITTED VALID in a new block", r.body)
	}

	r = restDo(t, "POST", cc+"/evaluate", map[string]any{"function": "ReadAsset", "args": []string{id}}, restgateway.IdentityHeader, "User1@org1.example.com")
	wantStatus(t, "evaluate ReadAsset", r, 200)
	var read struct {
		ResultJSON struct {
			ID    string `json:"ID"`
			Owner string `json:"Owner"`
		} `json:"resultJson"`
	}
	r.json(t, &read)
	if read.ResultJSON.ID != id || read.ResultJSON.Owner != "Tom" {
		t.Fatalf("evaluate ReadAsset = %s, want asset %s owned by Tom", r.body, id)
	}

	r = restDo(t, "POST", cc+"/submit?async=true", map[string]any{"function": "TransferAsset", "args": []string{id, "Ann"}})
	wantStatus(t, "async submit TransferAsset", r, 202)
	var async restTx
	r.json(t, &async)
	if async.Status != "SUBMITTED" || async.Result == nil || *async.Result != "Tom" || r.header.Get("Location") != async.StatusURL {
		t.Fatalf("async submit = %s (Location %q), want SUBMITTED with the old owner Tom as result", r.body, r.header.Get("Location"))
	}
	r = restDo(t, "GET", base+async.StatusURL+"?wait=1m", nil)
	wantStatus(t, "status", r, 200)
	var st restTx
	r.json(t, &st)
	if st.Status != "COMMITTED" || st.ValidationCode != "VALID" || st.BlockNumber == nil {
		t.Fatalf("status of %s = %s, want COMMITTED VALID", async.TxID, r.body)
	}

	r = restDo(t, "GET", fmt.Sprintf("%s/v1/channels/mychannel/blocks/%d", base, *st.BlockNumber), nil)
	wantStatus(t, "block", r, 200)
	var block struct {
		Number       uint64 `json:"number"`
		Transactions []struct {
			TxID           string `json:"txId"`
			ValidationCode string `json:"validationCode"`
			Creator        struct {
				MSPID string `json:"mspId"`
			} `json:"creator"`
			Namespaces []struct {
				Namespace string `json:"namespace"`
				Writes    []struct {
					Key string `json:"key"`
				} `json:"writes"`
			} `json:"namespaces"`
		} `json:"transactions"`
	}
	r.json(t, &block)
	found := false
	for _, tx := range block.Transactions {
		if tx.TxID != async.TxID {
			continue
		}
		found = true
		if tx.ValidationCode != "VALID" || tx.Creator.MSPID != "Org1MSP" || len(tx.Namespaces) == 0 {
			t.Fatalf("transaction %s in block %d = %+v, want VALID by Org1MSP with a read/write set", async.TxID, block.Number, tx)
		}
	}
	if block.Number != *st.BlockNumber || !found {
		t.Fatalf("block %d does not hold transaction %s: %s", *st.BlockNumber, async.TxID, r.body)
	}

	r = restDo(t, "GET", base+"/v1/channels/mychannel/transactions/"+async.TxID, nil)
	wantStatus(t, "transaction by ID", r, 200)
	var tx struct {
		TxID           string `json:"txId"`
		BlockNumber    uint64 `json:"blockNumber"`
		ValidationCode string `json:"validationCode"`
		Input          struct {
			Function string   `json:"function"`
			Args     []string `json:"args"`
		} `json:"input"`
	}
	r.json(t, &tx)
	if tx.TxID != async.TxID || tx.BlockNumber != *st.BlockNumber || tx.ValidationCode != "VALID" || tx.Input.Function != "TransferAsset" || len(tx.Input.Args) != 2 || tx.Input.Args[1] != "Ann" {
		t.Fatalf("transaction %s = %s, want TransferAsset(%s, Ann), VALID, block %d", async.TxID, r.body, id, *st.BlockNumber)
	}

	r = restDo(t, "GET", base+"/v1/channels/mychannel/blocks/99999999", nil)
	wantStatus(t, "missing block", r, 404)
	if e := r.errorCode(t); e.Code != restgateway.CodeNotFound {
		t.Fatalf("missing block: code %s, want NOT_FOUND: %s", e.Code, r.body)
	}
	r = restDo(t, "GET", base+"/v1/channels/mychannel/transactions/"+strings.Repeat("ab", 32), nil)
	wantStatus(t, "missing transaction", r, 404)

	// A chaincode error names the organisation whose endorsement failed.
	r = restDo(t, "POST", cc+"/submit", map[string]any{"function": "ReadAsset", "args": []string{id + "-missing"}})
	wantStatus(t, "submit on a missing asset", r, 422)
	if e := r.errorCode(t); e.Code != restgateway.CodeEndorsementFailed || len(e.Details) == 0 || e.Details[0].MSPID == "" || !strings.Contains(e.Message, "does not exist") {
		t.Fatalf("failed endorsement = %s, want ENDORSEMENT_FAILED naming the organisation and the chaincode's message", r.body)
	}
}

// user1 loads Org1's User1 certificate and a signing function over digests,
// as an application keeping its own key does.
func user1(t *testing.T) (certPEM string, sign identity.Sign) {
	t.Helper()
	dir := filepath.Join(network.Config().UserDir(network.Orgs[0], "User1"), "msp")
	cert, err := os.ReadFile(filepath.Join(dir, "signcerts", "User1@org1.example.com-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := os.ReadDir(filepath.Join(dir, "keystore"))
	if err != nil || len(keys) == 0 {
		t.Fatalf("keystore of User1: %v", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "keystore", keys[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sign, err = identity.NewPrivateKeySign(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(cert), sign
}

func signDigest(t *testing.T, sign identity.Sign, digestB64 string) string {
	t.Helper()
	d, err := base64.StdEncoding.DecodeString(digestB64)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := sign(d)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

type prepared struct{ TxID, Transaction, Digest, CommitURL string }

// clientEndorse runs prepare and endorse for fn(args) with User1's key.
func clientEndorse(t *testing.T, base, certPEM string, sign identity.Sign, fn string, args ...string) prepared {
	t.Helper()
	r := restDo(t, "POST", base+"/v1/channels/mychannel/chaincodes/basic/prepare", map[string]any{
		"function": fn, "args": args, "identity": map[string]string{"mspId": "Org1MSP", "certificate": certPEM},
	})
	wantStatus(t, "prepare "+fn, r, 200)
	var p struct{ TxID, Proposal, Digest, EndorseURL string }
	r.json(t, &p)
	r = restDo(t, "POST", base+p.EndorseURL, map[string]string{"proposal": p.Proposal, "signature": signDigest(t, sign, p.Digest)})
	wantStatus(t, "endorse "+fn, r, 200)
	var e prepared
	r.json(t, &e)
	if e.TxID != p.TxID || e.Transaction == "" || e.Digest == "" {
		t.Fatalf("endorse %s = %s", fn, r.body)
	}
	return e
}

// TestRESTClientSigned runs the prepare → sign → endorse → sign → commit
// exchange with User1's key held by the test, not the REST gateway, and shows an
// MVCC conflict between two transactions endorsed on the same version.
func TestRESTClientSigned(t *testing.T) {
	// A second token bound to no identity: its holder signs everything
	// itself; the network's token (User1) waits for commits.
	const clientOnly = "e2e-token-of-a-client-that-signs-itself"
	base := restGatewayWith(t, func(c *restgateway.Config) {
		c.Auth.Tokens = append(c.Auth.Tokens, restgateway.TokenCredential{Token: clientOnly})
	}, "WEFT_RESTGATEWAY_WALLET_DEFAULTIDENTITY", "")
	certPEM, sign := user1(t)
	id := uniqueID("restcs")

	c := clientEndorse(t, base, certPEM, sign, "CreateAsset", id, "green", "3", "Kim", "50")
	r := restDo(t, "POST", base+c.CommitURL, map[string]string{"transaction": c.Transaction, "signature": signDigest(t, sign, c.Digest)},
		restgateway.IdentityHeader, "User1@org1.example.com")
	wantStatus(t, "commit CreateAsset", r, 200)
	var done restTx
	r.json(t, &done)
	if done.TxID != c.TxID || done.Status != "COMMITTED" || done.ValidationCode != "VALID" || done.BlockNumber == nil {
		t.Fatalf("commit = %s, want COMMITTED VALID in a block", r.body)
	}
	// The gateway waited for its own peer; the transfers below are endorsed
	// on both organisations' peers.
	devnettest.WaitEveryPeer(t, network, &client.Status{TransactionID: done.TxID, BlockNumber: *done.BlockNumber, Successful: true, Code: pb.TxValidationCode_VALID})

	// Two transfers endorsed on the same version of the asset: the first
	// commits, the second is an MVCC conflict.
	a := clientEndorse(t, base, certPEM, sign, "TransferAsset", id, "Lee")
	b := clientEndorse(t, base, certPEM, sign, "TransferAsset", id, "Max")
	r = restDo(t, "POST", base+a.CommitURL+"?async=true", map[string]string{"transaction": a.Transaction, "signature": signDigest(t, sign, a.Digest)},
		"Authorization", "Bearer "+clientOnly)
	wantStatus(t, "async commit", r, 202)
	r = restDo(t, "GET", base+"/v1/channels/mychannel/transactions/"+a.TxID+"/status?wait=1m", nil, restgateway.IdentityHeader, "User1@org1.example.com")
	wantStatus(t, "status", r, 200)
	if !strings.Contains(string(r.body), `"validationCode":"VALID"`) {
		t.Fatalf("status of the first transfer = %s, want VALID", r.body)
	}
	r = restDo(t, "POST", base+b.CommitURL, map[string]string{"transaction": b.Transaction, "signature": signDigest(t, sign, b.Digest)},
		restgateway.IdentityHeader, "User1@org1.example.com")
	wantStatus(t, "conflicting commit", r, 409)
	e := r.errorCode(t)
	if e.Code != restgateway.CodeMVCCConflict || len(e.Details) != 1 || e.Details[0].ValidationCode != "MVCC_READ_CONFLICT" || e.Details[0].TxID != b.TxID {
		t.Fatalf("conflicting commit = %s, want MVCC_CONFLICT with validation code MVCC_READ_CONFLICT", r.body)
	}
	// The error names the key read and the transfer that wrote it first.
	d := e.Details[0]
	if d.Namespace != "basic" || d.Key != id || d.ReadVersion == "" || d.ConflictingTxID != a.TxID || d.ConflictingBlock == nil ||
		!strings.Contains(e.Message, fmt.Sprintf("key %q in namespace basic was read at version %s but transaction %s (block %d) wrote it first", id, d.ReadVersion, a.TxID, *d.ConflictingBlock)) {
		t.Fatalf("conflicting commit = %s, want key %s and conflicting transaction %s named", r.body, id, a.TxID)
	}
	t.Logf("MVCC conflict: %s", e.Message)

	// With a credential bound to no wallet identity a synchronous commit is
	// refused before anything is submitted, and no header lends it one.
	c = clientEndorse(t, base, certPEM, sign, "UpdateAsset", id, "red", "1", "Zed", "10")
	body := map[string]string{"transaction": c.Transaction, "signature": signDigest(t, sign, c.Digest)}
	r = restDo(t, "POST", base+c.CommitURL, body, "Authorization", "Bearer "+clientOnly)
	wantStatus(t, "sync commit without identity", r, 400)
	if e := r.errorCode(t); e.Code != restgateway.CodeNoIdentity {
		t.Fatalf("sync commit without identity = %s, want NO_IDENTITY", r.body)
	}
	r = restDo(t, "POST", base+c.CommitURL, body, "Authorization", "Bearer "+clientOnly, restgateway.IdentityHeader, "User1@org1.example.com")
	wantStatus(t, "sync commit asking for User1", r, 403)
	if e := r.errorCode(t); e.Code != restgateway.CodeIdentityNotAllowed {
		t.Fatalf("sync commit asking for User1 = %s, want IDENTITY_NOT_ALLOWED", r.body)
	}
	r = restDo(t, "GET", base+"/v1/channels/mychannel/transactions/"+c.TxID+"/status?wait=2s", nil, restgateway.IdentityHeader, "User1@org1.example.com")
	if r.status != 200 || !strings.Contains(string(r.body), `"status":"PENDING"`) {
		t.Fatalf("transaction refused before submission: status %d %s, want PENDING", r.status, r.body)
	}
}

// TestRESTPolicyFailure submits with Org1's endorsement only: basic's
// endorsement policy needs both organisations, so the transaction commits
// invalid and the error names the policy and the organisation that endorsed.
func TestRESTPolicyFailure(t *testing.T) {
	base := restGateway(t)
	id := uniqueID("restpol")
	r := restDo(t, "POST", base+"/v1/channels/mychannel/chaincodes/basic/submit",
		map[string]any{"function": "CreateAsset", "args": []string{id, "blue", "5", "Tom", "300"}, "endorsingOrgs": []string{"Org1MSP"}})
	wantStatus(t, "submit endorsed by Org1 only", r, 403)
	e := r.errorCode(t)
	if e.Code != restgateway.CodePolicyFailure || len(e.Details) != 1 || e.Details[0].ValidationCode != "ENDORSEMENT_POLICY_FAILURE" {
		t.Fatalf("submit endorsed by Org1 only = %s, want POLICY_FAILURE", r.body)
	}
	d := e.Details[0]
	if d.Policy == "" || len(d.Endorsers) != 1 || d.Endorsers[0] != "Org1MSP" ||
		!strings.Contains(e.Message, "the endorsements of Org1MSP do not satisfy the endorsement policy of chaincode basic ("+d.Policy+")") ||
		!strings.Contains(e.Message, id) {
		t.Fatalf("submit endorsed by Org1 only = %s, want the policy, Org1MSP and the key-level hint for %s named", r.body, id)
	}
	t.Logf("policy failure: %s", e.Message)
}

// TestRESTBadRequests checks that malformed or refused requests get their
// 4xx and stable code and change nothing on the ledger.
func TestRESTBadRequests(t *testing.T) {
	base := restGateway(t)
	cc := base + "/v1/channels/mychannel/chaincodes/basic"
	certPEM, sign := user1(t)
	id := uniqueID("restbad")
	before := chainHeight(t, base)

	cases := []struct {
		name, method, url string
		body              any
		header            []string
		status            int
		code              string
	}{
		{"bad JSON", "POST", cc + "/submit", `{"function": "CreateAsset", "args": [`, nil, 400, restgateway.CodeBadJSON},
		{"wrong field type", "POST", cc + "/submit", `{"function": "CreateAsset", "args": "x"}`, nil, 400, restgateway.CodeBadJSON},
		{"unknown field", "POST", cc + "/submit", `{"function": "CreateAsset", "argz": []}`, nil, 400, restgateway.CodeBadJSON},
		{"no function", "POST", cc + "/submit", `{"args": ["a"]}`, nil, 400, restgateway.CodeBadRequest},
		{"unknown channel", "POST", base + "/v1/channels/nochannel/chaincodes/basic/submit", map[string]any{"function": "CreateAsset", "args": []string{id, "a", "1", "b", "2"}}, nil, 404, restgateway.CodeUnknownChannel},
		{"unknown channel evaluate", "POST", base + "/v1/channels/nochannel/chaincodes/basic/evaluate", map[string]any{"function": "ReadAsset", "args": []string{id}}, nil, 404, restgateway.CodeUnknownChannel},
		{"unknown channel info", "GET", base + "/v1/channels/nochannel", nil, nil, 404, restgateway.CodeUnknownChannel},
		{"unknown chaincode", "POST", base + "/v1/channels/mychannel/chaincodes/nosuchcc/submit", map[string]any{"function": "CreateAsset", "args": []string{id, "a", "1", "b", "2"}}, nil, 404, restgateway.CodeUnknownChaincode},
		{"unknown chaincode evaluate", "POST", base + "/v1/channels/mychannel/chaincodes/nosuchcc/evaluate", map[string]any{"function": "ReadAsset", "args": []string{id}}, nil, 404, restgateway.CodeUnknownChaincode},
		{"oversize body", "POST", cc + "/submit", map[string]any{"function": "CreateAsset", "args": []string{id, strings.Repeat("x", 70000), "1", "b", "2"}}, nil, 413, restgateway.CodeBodyTooLarge},
		{"another identity", "POST", cc + "/submit", map[string]any{"function": "CreateAsset", "args": []string{id, "a", "1", "b", "2"}}, []string{restgateway.IdentityHeader, "Admin@org1.example.com"}, 403, restgateway.CodeIdentityNotAllowed},
		{"no credential", "POST", cc + "/submit", map[string]any{"function": "CreateAsset", "args": []string{id, "a", "1", "b", "2"}}, []string{"Authorization", ""}, 401, restgateway.CodeUnauthenticated},
		{"wrong token", "POST", cc + "/submit", map[string]any{"function": "CreateAsset", "args": []string{id, "a", "1", "b", "2"}}, []string{"Authorization", "Bearer not-the-network-token"}, 401, restgateway.CodeUnauthenticated},
		{"text/plain body", "POST", cc + "/submit", map[string]any{"function": "CreateAsset", "args": []string{id, "a", "1", "b", "2"}}, []string{"Content-Type", "text/plain"}, 415, restgateway.CodeUnsupportedMediaType},
		{"cross-site origin", "POST", cc + "/submit", map[string]any{"function": "CreateAsset", "args": []string{id, "a", "1", "b", "2"}}, []string{"Origin", "https://evil.example"}, 403, restgateway.CodeOriginNotAllowed},
		{"rebound host name", "POST", cc + "/submit", map[string]any{"function": "CreateAsset", "args": []string{id, "a", "1", "b", "2"}}, []string{"Host", "evil.example"}, 421, restgateway.CodeHostNotAllowed},
		{"bad channel name", "GET", base + "/v1/channels/Bad_Name", nil, nil, 400, restgateway.CodeBadRequest},
		{"bad block number", "GET", base + "/v1/channels/mychannel/blocks/-1", nil, nil, 400, restgateway.CodeBadRequest},
		{"wrong method", "DELETE", cc + "/submit", nil, nil, 405, restgateway.CodeMethodNotAllowed},
		{"no route", "GET", base + "/v2/nothing", nil, nil, 404, restgateway.CodeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := restDo(t, c.method, c.url, c.body, c.header...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			e := r.errorCode(t)
			if e.Code != c.code || e.Message == "" || e.Details == nil {
				t.Fatalf("error %s, want code %s with a message and details", r.body, c.code)
			}
		})
	}

	// Wrong signatures: a proposal signed over other bytes, and a transaction
	// signed by the right key over the proposal's digest instead of its own.
	r := restDo(t, "POST", cc+"/prepare", map[string]any{"function": "CreateAsset", "args": []string{id, "a", "1", "b", "2"}, "identity": map[string]string{"mspId": "Org1MSP", "certificate": certPEM}})
	wantStatus(t, "prepare", r, 200)
	var p struct{ TxID, Proposal, Digest, EndorseURL string }
	r.json(t, &p)
	wrong := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	r = restDo(t, "POST", base+p.EndorseURL, map[string]string{"proposal": p.Proposal, "signature": signDigest(t, sign, wrong)})
	wantStatus(t, "endorse with a wrong signature", r, 400)
	if e := r.errorCode(t); e.Code != restgateway.CodeBadSignature || !strings.Contains(e.Message, "User1@org1.example.com") {
		t.Fatalf("endorse with a wrong signature = %s, want BAD_SIGNATURE naming the identity", r.body)
	}
	r = restDo(t, "POST", base+p.EndorseURL, map[string]string{"proposal": p.Proposal, "signature": signDigest(t, sign, p.Digest)})
	wantStatus(t, "endorse", r, 200)
	var e prepared
	r.json(t, &e)
	r = restDo(t, "POST", base+e.CommitURL, map[string]string{"transaction": e.Transaction, "signature": signDigest(t, sign, p.Digest)})
	wantStatus(t, "commit with a wrong signature", r, 400)
	if e := r.errorCode(t); e.Code != restgateway.CodeBadSignature {
		t.Fatalf("commit with a wrong signature = %s, want BAD_SIGNATURE", r.body)
	}

	// Nothing of the above reached the ledger.
	r = restDo(t, "GET", base+"/v1/channels/mychannel/transactions/"+e.TxID+"/status?wait=3s", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"status":"PENDING"`) {
		t.Fatalf("wrongly signed transaction: status %d %s, want PENDING", r.status, r.body)
	}
	if after := chainHeight(t, base); after != before {
		t.Fatalf("chain height went from %d to %d: a refused request changed the ledger", before, after)
	}
	r = restDo(t, "POST", cc+"/evaluate", map[string]any{"function": "AssetExists", "args": []string{id}})
	wantStatus(t, "AssetExists", r, 200)
	if !strings.Contains(string(r.body), `"result":"false"`) {
		t.Fatalf("asset %s exists after refused requests: %s", id, r.body)
	}
}

// sseEvent is one Server-Sent Event read from a stream.
type sseEvent struct {
	ID, Event, Data string
	Comment         bool
}

// readSSE parses an event stream into events (comments included) until it ends.
func readSSE(body io.Reader, out chan<- sseEvent) {
	defer close(out)
	sc := bufio.NewScanner(body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev != (sseEvent{}) {
				out <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			out <- sseEvent{Comment: true, Data: strings.TrimSpace(line[1:])}
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.Data = line[6:]
		}
	}
}

func openSSE(t *testing.T, url string, header ...string) <-chan sseEvent {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+restToken(t))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: status %d %s: %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	ch := make(chan sseEvent, 64)
	go readSSE(resp.Body, ch)
	return ch
}

// nextEvent returns the next data event (skipping comments), failing after a minute.
func nextEvent(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("event stream ended")
			}
			if !ev.Comment {
				return ev
			}
		case <-timeout:
			t.Fatal("no event within a minute")
		}
	}
}

// TestRESTEvents streams chaincode events over SSE, then resumes from a
// checkpoint (Last-Event-ID and ?afterTxId=) and from a block number.
func TestRESTEvents(t *testing.T) {
	const name = "rest_events"
	deploySuiteVariant(t, suiteVariant{name: "rest", chaincode: name, tags: "weftshim"})
	base := restGateway(t)
	cc := base + "/v1/channels/mychannel/chaincodes/" + name
	live := openSSE(t, cc+"/events?heartbeat=200ms")

	var txs []restTx
	for i := range 3 {
		r := restDo(t, "POST", cc+"/submit", map[string]any{"function": "event", "args": []string{"rest-event", fmt.Sprintf(`{"n":%d}`, i)}})
		wantStatus(t, "submit event", r, 200)
		var tx restTx
		r.json(t, &tx)
		txs = append(txs, tx)
	}
	type data struct {
		BlockNumber uint64          `json:"blockNumber"`
		TxID        string          `json:"txId"`
		Chaincode   string          `json:"chaincode"`
		EventName   string          `json:"eventName"`
		PayloadJSON json.RawMessage `json:"payloadJson"`
	}
	var ids []string
	for i, tx := range txs {
		ev := nextEvent(t, live)
		var d data
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
			t.Fatalf("event data %q: %v", ev.Data, err)
		}
		want := fmt.Sprintf("%d:%s", *tx.BlockNumber, tx.TxID)
		if ev.ID != want || d.TxID != tx.TxID || d.Chaincode != name || d.EventName != "rest-event" || string(d.PayloadJSON) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("event %d = id %q %s, want id %s, chaincode %s, payload {\"n\":%d}", i, ev.ID, ev.Data, want, name, i)
		}
		ids = append(ids, ev.ID)
	}
	// A heartbeat comment arrives while nothing happens.
	deadline := time.After(30 * time.Second)
	for beat := false; !beat; {
		select {
		case ev := <-live:
			beat = ev.Comment && ev.Data == "heartbeat"
		case <-deadline:
			t.Fatal("no heartbeat within 30s at ?heartbeat=200ms")
		}
	}

	// Resume after the first event: the next two come, in order.
	for _, open := range []func() <-chan sseEvent{
		func() <-chan sseEvent { return openSSE(t, cc+"/events", "Last-Event-ID", ids[0]) },
		func() <-chan sseEvent { return openSSE(t, cc+"/events?afterTxId="+txs[0].TxID) },
	} {
		ch := open()
		for _, want := range ids[1:] {
			if ev := nextEvent(t, ch); ev.ID != want {
				t.Fatalf("resumed stream gave %s, want %s", ev.ID, want)
			}
		}
	}
	// From a block number: the first event again.
	ch := openSSE(t, cc+"/events?startBlock="+strconv.FormatUint(*txs[0].BlockNumber, 10))
	if ev := nextEvent(t, ch); ev.ID != ids[0] {
		t.Fatalf("stream from block %d began with %s, want %s", *txs[0].BlockNumber, ev.ID, ids[0])
	}
	// A bounded stream ends with an end event carrying its checkpoint.
	ch = openSSE(t, cc+"/events?timeout=2s&startBlock="+strconv.FormatUint(*txs[0].BlockNumber, 10))
	var last sseEvent
	for ev := range ch {
		if !ev.Comment {
			last = ev
		}
	}
	if last.Event != "end" || !strings.Contains(last.Data, ids[2]) {
		t.Fatalf("bounded stream ended with %+v, want an end event with lastEventId %s", last, ids[2])
	}

	// Unknown channel before the stream starts: a plain JSON error.
	r := restDo(t, "GET", base+"/v1/channels/nochannel/chaincodes/"+name+"/events", nil)
	wantStatus(t, "events on an unknown channel", r, 404)
	if e := r.errorCode(t); e.Code != restgateway.CodeUnknownChannel {
		t.Fatalf("events on an unknown channel = %s", r.body)
	}
}

// TestRESTCurlExamples runs the curl commands `weft up` prints, with a
// fresh asset ID, against the REST gateway process the development network
// runs: they read the network's token and the evaluate and the submit work.
func TestRESTCurlExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed: the printed examples cannot be run")
	}
	if network.RESTGateway == nil {
		t.Fatal("the development network runs no REST gateway")
	}
	id := uniqueID("curl")
	script := strings.ReplaceAll(strings.Join(network.Config().RESTExamples(), "\n"), "asset9", id)
	out, err := exec.Command("sh", "-ec", script).CombinedOutput()
	if err != nil {
		t.Fatalf("the printed examples failed: %v\n%s\n%s", err, script, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("the printed examples answered %q, want two JSON lines (evaluate, submit)", out)
	}
	var evaluate struct {
		TxID       string          `json:"txId"`
		ResultJSON json.RawMessage `json:"resultJson"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &evaluate); err != nil || len(evaluate.TxID) != 64 || !strings.HasPrefix(string(evaluate.ResultJSON), "[") {
		t.Fatalf("evaluate GetAllAssets answered %s, want a txId and the assets", lines[0])
	}
	var submit restTx
	if err := json.Unmarshal([]byte(lines[1]), &submit); err != nil || submit.Status != "COMMITTED" || submit.ValidationCode != "VALID" {
		t.Fatalf("submit CreateAsset answered %s, want COMMITTED VALID", lines[1])
	}
}
