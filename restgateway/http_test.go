package restgateway

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-gateway/pkg/identity"
	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testnet.Close()
	os.Exit(code)
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request as a well-behaved client of newTestServer: with
// testToken and, for POST, Content-Type: application/json. header pairs
// set more headers, or remove one with an empty value.
func do(t *testing.T, method, url, body string, header ...string) httpResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return httpResult{resp.StatusCode, resp.Header, raw}
}

func (r httpResult) apiError(t *testing.T) Error {
	t.Helper()
	var e Error
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("body %q is not an Error: %v", r.body, err)
	}
	if r.header.Get("Content-Type") != "application/json" || e.Details == nil || e.Message == "" {
		t.Fatalf("error response %s (%s) lacks JSON content type, message or details", r.body, r.header.Get("Content-Type"))
	}
	return e
}

func expectError(t *testing.T, r httpResult, status int, code string) Error {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	e := r.apiError(t)
	if e.Code != code {
		t.Fatalf("code %s, want %s: %s", e.Code, code, r.body)
	}
	return e
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	ts, _ := newTestServer(t)
	r := do(t, "GET", ts.URL+"/openapi.json", "")
	if r.status != 200 {
		t.Fatalf("GET /openapi.json: %d", r.status)
	}
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("/openapi.json is not valid JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials())) // never dialled
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	srv, err := New(Options{Conn: conn, Auth: AuthConfig{Tokens: []TokenCredential{{Token: testToken}}}})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, rt := range srv.Routes() {
		served[rt] = true
		method, path, _ := strings.Cut(rt, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is served but not in openapi.json", rt)
		}
	}
	for path, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" {
				continue
			}
			if !served[strings.ToUpper(m)+" "+path] {
				t.Errorf("openapi.json describes %s %s, which is not served", strings.ToUpper(m), path)
			}
		}
	}
	// Every $ref points at a component that exists.
	var anyDoc map[string]any
	_ = json.Unmarshal(r.body, &anyDoc)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if k == "$ref" {
					ref := c.(string)
					parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
					var cur any = anyDoc
					for _, p := range parts {
						m, _ := cur.(map[string]any)
						cur = m[p]
					}
					if cur == nil {
						t.Errorf("$ref %s points nowhere", ref)
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(anyDoc)
	// The documented error codes are exactly the ones the server uses.
	documented := doc.Components.Schemas["Error"].Properties["code"].Enum
	var used []string
	for c := range codeStatus {
		used = append(used, c)
	}
	sort.Strings(documented)
	sort.Strings(used)
	if strings.Join(documented, ",") != strings.Join(used, ",") {
		t.Errorf("Error.code enum %v, server codes %v", documented, used)
	}
}

func TestDocsPage(t *testing.T) {
	ts, _ := newTestServer(t)
	r := do(t, "GET", ts.URL+"/docs", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs: %d %s", r.status, r.header.Get("Content-Type"))
	}
	page := string(r.body)
	for _, want := range []string{"evaluate", "submit", "chaincodeEvents", "prepare", "endorse", "commit", "getBlock", "getTransactionStatus",
		"/v1/channels/{channel}/chaincodes/{chaincode}/submit", "X-Weft-Identity", "schema-Error", "MVCC_CONFLICT"} {
		if !strings.Contains(page, want) {
			t.Errorf("/docs does not mention %q", want)
		}
	}
	if strings.Contains(page, "https://") || strings.Contains(page, "<script") {
		t.Error("/docs must be a static page with no external resources")
	}
}

// TestRefusedRequestsNeverReachThePeer checks each malformed request's
// status and code, and that the peer saw nothing.
func TestRefusedRequestsNeverReachThePeer(t *testing.T) {
	ts, peer := newTestServer(t)
	cc := ts.URL + "/v1/channels/mychannel/chaincodes/basic"
	cases := []struct {
		name, method, url, body string
		header                  []string
		status                  int
		code, field             string
	}{
		{"bad JSON", "POST", cc + "/submit", `{"function":`, nil, 400, CodeBadJSON, ""},
		{"not an object", "POST", cc + "/evaluate", `[1,2]`, nil, 400, CodeBadJSON, ""},
		{"wrong type", "POST", cc + "/submit", `{"function":"F","args":[1]}`, nil, 400, CodeBadJSON, "args"},
		{"unknown field", "POST", cc + "/submit", `{"function":"F","argz":[]}`, nil, 400, CodeBadJSON, "argz"},
		{"two values", "POST", cc + "/submit", `{"function":"F"}{}`, nil, 400, CodeBadJSON, ""},
		{"empty body", "POST", cc + "/submit", ``, nil, 400, CodeBadJSON, ""},
		{"no function", "POST", cc + "/submit", `{"args":["a"]}`, nil, 400, CodeBadRequest, "function"},
		{"oversize", "POST", cc + "/submit", `{"function":"F","args":["` + strings.Repeat("x", 5000) + `"]}`, nil, 413, CodeBodyTooLarge, ""},
		{"another identity", "POST", cc + "/submit", `{"function":"F"}`, []string{IdentityHeader, "Eve"}, 403, CodeIdentityNotAllowed, ""},
		{"identity in submit", "POST", cc + "/submit", `{"function":"F","identity":{"mspId":"Org1MSP","certificate":"x"}}`, nil, 400, CodeBadJSON, ""},
		{"bad channel name", "POST", ts.URL + "/v1/channels/My_Channel/chaincodes/basic/evaluate", `{"function":"F"}`, nil, 400, CodeBadRequest, "channel"},
		{"bad chaincode name", "POST", ts.URL + "/v1/channels/mychannel/chaincodes/-x/evaluate", `{"function":"F"}`, nil, 400, CodeBadRequest, "chaincode"},
		{"bad async", "POST", cc + "/submit?async=maybe", `{"function":"F"}`, nil, 400, CodeBadRequest, "async"},
		{"bad block number", "GET", ts.URL + "/v1/channels/mychannel/blocks/x", ``, nil, 400, CodeBadRequest, "number"},
		{"bad wait", "GET", ts.URL + "/v1/channels/mychannel/transactions/t1/status?wait=soon", ``, nil, 400, CodeBadRequest, "wait"},
		{"bad startBlock", "GET", cc + "/events?startBlock=-2", ``, nil, 400, CodeBadRequest, "startBlock"},
		{"bad Last-Event-ID", "GET", cc + "/events", ``, []string{"Last-Event-ID", "seven"}, 400, CodeBadRequest, "Last-Event-ID"},
		{"wrong method", "GET", cc + "/submit", ``, nil, 405, CodeMethodNotAllowed, ""},
		{"no route", "GET", ts.URL + "/v1/nothing", ``, nil, 404, CodeNotFound, ""},
		{"prepare without identity", "POST", cc + "/prepare", `{"function":"F"}`, nil, 400, CodeBadRequest, "identity"},
		{"prepare with a bad certificate", "POST", cc + "/prepare", `{"function":"F","identity":{"mspId":"Org1MSP","certificate":"nope"}}`, nil, 400, CodeBadRequest, "identity.certificate"},
		{"endorse with bad base64", "POST", ts.URL + "/v1/channels/mychannel/transactions/t1/endorse", `{"proposal":"***","signature":"AA=="}`, nil, 400, CodeBadRequest, "proposal"},
		{"endorse without signature", "POST", ts.URL + "/v1/channels/mychannel/transactions/t1/endorse", `{"proposal":"AA=="}`, nil, 400, CodeBadSignature, "signature"},
		{"endorse with garbage", "POST", ts.URL + "/v1/channels/mychannel/transactions/t1/endorse", `{"proposal":"AAAA","signature":"AA=="}`, nil, 400, CodeBadRequest, "proposal"},
		{"commit with garbage", "POST", ts.URL + "/v1/channels/mychannel/transactions/t1/commit", `{"transaction":"AAAA","signature":"AA=="}`, nil, 400, CodeBadRequest, "transaction"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := expectError(t, do(t, c.method, c.url, c.body, c.header...), c.status, c.code)
			if c.field != "" && (len(e.Details) == 0 || e.Details[0].Field != c.field) {
				t.Errorf("details %+v, want field %q named", e.Details, c.field)
			}
		})
	}
	if n := peer.callCount(); n != 0 {
		t.Fatalf("refused requests made %d calls to the peer: %v", n, peer.calls)
	}
	r := do(t, "GET", cc+"/submit", "")
	if allow := r.header.Get("Allow"); allow != "POST" {
		t.Errorf("405 Allow = %q, want POST", allow)
	}
}

func TestEvaluateAndPeerErrors(t *testing.T) {
	ts, _ := newTestServer(t)
	r := do(t, "POST", ts.URL+"/v1/channels/mychannel/chaincodes/basic/evaluate", `{"function":"Echo","args":["{\"a\": 1}"]}`)
	if r.status != 200 {
		t.Fatalf("evaluate: %d %s", r.status, r.body)
	}
	var out struct {
		TxID, Result, ResultBase64 string
		ResultJSON                 json.RawMessage
	}
	_ = json.Unmarshal(r.body, &out)
	if out.Result != `{"a": 1}` || out.ResultBase64 != base64.StdEncoding.EncodeToString([]byte(`{"a": 1}`)) || string(out.ResultJSON) != `{"a":1}` || len(out.TxID) != 64 {
		t.Fatalf("evaluate = %s", r.body)
	}

	e := expectError(t, do(t, "POST", ts.URL+"/v1/channels/other/chaincodes/basic/evaluate", `{"function":"Echo"}`), 404, CodeUnknownChannel)
	if !strings.Contains(e.Message, "other") {
		t.Errorf("unknown channel message %q does not name the channel", e.Message)
	}
	e = expectError(t, do(t, "POST", ts.URL+"/v1/channels/mychannel/chaincodes/nocc/evaluate", `{"function":"Echo"}`), 404, CodeUnknownChaincode)
	if !strings.Contains(e.Message, "nocc") {
		t.Errorf("unknown chaincode message %q does not name the chaincode", e.Message)
	}
	e = expectError(t, do(t, "POST", ts.URL+"/v1/channels/mychannel/chaincodes/basic/evaluate", `{"function":"Fail"}`), 422, CodeChaincodeError)
	if len(e.Details) != 1 || e.Details[0].MSPID != "Org1MSP" || !strings.Contains(e.Message, "boom") {
		t.Errorf("chaincode error %+v, want Org1MSP's detail and the chaincode's message", e)
	}
	e = expectError(t, do(t, "POST", ts.URL+"/v1/channels/mychannel/chaincodes/basic/submit", `{"function":"Fail"}`), 422, CodeEndorsementFailed)
	if len(e.Details) < 1 || e.Details[0].MSPID != "Org2MSP" || e.Details[0].Address != "peer0.org2:9051" || !strings.Contains(e.Message, "Org2MSP (peer0.org2:9051): chaincode response 500, the asset a1 does not exist") {
		t.Errorf("endorsement failure %+v, want Org2MSP's failure named in message and details", e)
	}
	expectError(t, do(t, "GET", ts.URL+"/v1/channels/mychannel/blocks/99", ""), 404, CodeNotFound)
	r = do(t, "GET", ts.URL+"/v1/channels/mychannel", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"height":7`) || !strings.Contains(string(r.body), `"currentBlockHash":"ab"`) {
		t.Fatalf("chain info = %d %s", r.status, r.body)
	}
}

func TestSubmitOutcomes(t *testing.T) {
	ts, peer := newTestServer(t)
	peer.codes["Race"] = pb.TxValidationCode_MVCC_READ_CONFLICT
	peer.codes["Lonely"] = pb.TxValidationCode_ENDORSEMENT_POLICY_FAILURE
	cc := ts.URL + "/v1/channels/mychannel/chaincodes/basic"

	r := do(t, "POST", cc+"/submit", `{"function":"Create","args":["a1"],"transient":{"secret":"s"}}`)
	if r.status != 200 {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	var tx struct {
		TxID, Status, ValidationCode, StatusURL, Result string
		BlockNumber                                     *uint64
	}
	_ = json.Unmarshal(r.body, &tx)
	if tx.Status != "COMMITTED" || tx.ValidationCode != "VALID" || tx.BlockNumber == nil || *tx.BlockNumber != 5 || tx.Result != "result of Create" {
		t.Fatalf("submit = %s", r.body)
	}
	// The transaction the peer got is signed by User1 and carries no transient data.
	env, err := protos.ParseEnvelope(peer.submitted[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyCreator(env.SignatureHeader.Creator, peer.submitted[0].Payload, peer.submitted[0].Signature, "transaction"); err != nil {
		t.Fatalf("submitted envelope: %v", err)
	}
	if bytes.Contains(peer.submitted[0].Payload, []byte("secret")) {
		t.Fatal("transient data reached the ordered transaction")
	}

	e := expectError(t, do(t, "POST", cc+"/submit", `{"function":"Race"}`), 409, CodeMVCCConflict)
	if len(e.Details) != 1 || e.Details[0].ValidationCode != "MVCC_READ_CONFLICT" || e.Details[0].BlockNumber == nil || !strings.Contains(e.Message, "MVCC_READ_CONFLICT") {
		t.Fatalf("MVCC conflict = %+v", e)
	}
	expectError(t, do(t, "POST", cc+"/submit", `{"function":"Lonely"}`), 403, CodePolicyFailure)

	r = do(t, "POST", cc+"/submit?async=true", `{"function":"Later"}`)
	if r.status != 202 || !strings.Contains(string(r.body), `"status":"SUBMITTED"`) {
		t.Fatalf("async submit: %d %s", r.status, r.body)
	}
	_ = json.Unmarshal(r.body, &tx)
	if r.header.Get("Location") != tx.StatusURL {
		t.Fatalf("Location %q, want %q", r.header.Get("Location"), tx.StatusURL)
	}
	r = do(t, "GET", ts.URL+tx.StatusURL, "")
	if r.status != 200 || !strings.Contains(string(r.body), `"status":"COMMITTED","validationCode":"VALID","blockNumber":5`) {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	r = do(t, "GET", ts.URL+"/v1/channels/mychannel/transactions/unknown/status?wait=0s", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"status":"PENDING"`) {
		t.Fatalf("status of an unknown transaction: %d %s", r.status, r.body)
	}
}

func user1Sign(t *testing.T) (string, identity.Sign) {
	t.Helper()
	id := testnet.SampleNet(t).User(t, "User1", "Org1MSP")
	sign, err := identity.NewPrivateKeySign(id.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pemCert(id), sign
}

func pemCert(id *msp.SigningIdentity) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Cert.Raw}))
}

func signB64(t *testing.T, sign identity.Sign, digestB64 string) string {
	t.Helper()
	d, _ := base64.StdEncoding.DecodeString(digestB64)
	sig, err := sign(d)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func TestClientSignedFlow(t *testing.T) {
	ts, peer := newTestServer(t, func(o *Options) { o.Wallet, o.DefaultIdentity = nil, "" })
	cert, sign := user1Sign(t)
	certJSON, _ := json.Marshal(cert)
	r := do(t, "POST", ts.URL+"/v1/channels/mychannel/chaincodes/basic/prepare",
		`{"function":"Move","args":["a1","Ann"],"endorsingOrgs":["Org1MSP"],"identity":{"mspId":"Org1MSP","certificate":`+string(certJSON)+`}}`)
	if r.status != 200 {
		t.Fatalf("prepare: %d %s", r.status, r.body)
	}
	var p struct{ TxID, Proposal, Digest, EndorseURL string }
	_ = json.Unmarshal(r.body, &p)
	raw, _ := base64.StdEncoding.DecodeString(p.Proposal)
	pt := &gwpb.ProposedTransaction{}
	if err := proto.Unmarshal(raw, pt); err != nil || pt.TransactionId != p.TxID || len(pt.Proposal.Signature) != 0 || pt.EndorsingOrganizations[0] != "Org1MSP" {
		t.Fatalf("prepare returned %+v (%v), want an unsigned ProposedTransaction for %s", pt, err, p.TxID)
	}
	if peer.callCount() != 0 {
		t.Fatal("prepare called the peer")
	}

	// A signature over other bytes is refused before the peer sees it.
	other := base64.StdEncoding.EncodeToString(make([]byte, 32))
	e := expectError(t, do(t, "POST", ts.URL+p.EndorseURL, `{"proposal":"`+p.Proposal+`","signature":"`+signB64(t, sign, other)+`"}`), 400, CodeBadSignature)
	if !strings.Contains(e.Message, "User1@org1.example.com") {
		t.Errorf("bad signature message %q does not name the identity", e.Message)
	}
	// The proposal must belong to the URL's transaction.
	expectError(t, do(t, "POST", ts.URL+"/v1/channels/mychannel/transactions/other/endorse", `{"proposal":"`+p.Proposal+`","signature":"`+signB64(t, sign, p.Digest)+`"}`), 400, CodeBadRequest)
	if peer.callCount() != 0 {
		t.Fatal("a refused endorse reached the peer")
	}

	r = do(t, "POST", ts.URL+p.EndorseURL, `{"proposal":"`+p.Proposal+`","signature":"`+signB64(t, sign, p.Digest)+`"}`)
	if r.status != 200 {
		t.Fatalf("endorse: %d %s", r.status, r.body)
	}
	var en struct{ TxID, Transaction, Digest, CommitURL, Result string }
	_ = json.Unmarshal(r.body, &en)
	if en.TxID != p.TxID || en.Result != "result of Move" {
		t.Fatalf("endorse = %s", r.body)
	}
	body := `{"transaction":"` + en.Transaction + `","signature":"` + signB64(t, sign, en.Digest) + `"}`
	// Waiting for the commit needs a wallet identity; nothing is submitted without one.
	expectError(t, do(t, "POST", ts.URL+en.CommitURL, body), 400, CodeNoIdentity)
	expectError(t, do(t, "POST", ts.URL+en.CommitURL+"?async=true", `{"transaction":"`+en.Transaction+`","signature":"`+signB64(t, sign, p.Digest)+`"}`), 400, CodeBadSignature)
	if len(peer.submitted) != 0 {
		t.Fatal("a refused commit was submitted")
	}
	r = do(t, "POST", ts.URL+en.CommitURL+"?async=true", body)
	if r.status != 202 || !strings.Contains(string(r.body), `"status":"SUBMITTED"`) {
		t.Fatalf("commit: %d %s", r.status, r.body)
	}
	if len(peer.submitted) != 1 {
		t.Fatalf("%d transactions submitted, want 1", len(peer.submitted))
	}
	env := peer.submitted[0]
	parsed, err := protos.ParseEnvelope(env)
	if err != nil || parsed.ChannelHeader.TxId != p.TxID {
		t.Fatalf("submitted envelope: %v", err)
	}
	if e := verifyCreator(parsed.SignatureHeader.Creator, env.Payload, env.Signature, "transaction"); e != nil {
		t.Fatalf("submitted envelope is not signed by the client: %v", e)
	}
}

func TestEventStream(t *testing.T) {
	ts, peer := newTestServer(t)
	req, _ := http.NewRequest("GET", ts.URL+"/v1/channels/mychannel/chaincodes/basic/events?timeout=1s&heartbeat=100ms&startBlock=1", nil)
	req.Header.Set("Last-Event-ID", "2:txA")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"id: 3:tx1\ndata: {\"blockNumber\":3,\"txId\":\"tx1\",\"chaincode\":\"basic\",\"eventName\":\"made\",\"payload\":\"{\\\"n\\\":1}\",\"payloadBase64\":\"eyJuIjoxfQ==\",\"payloadJson\":{\"n\":1}}",
		"id: 3:tx2\ndata: {\"blockNumber\":3,\"txId\":\"tx2\",\"chaincode\":\"basic\",\"eventName\":\"made\",\"payload\":null,\"payloadBase64\":\"/w==\"}",
		": heartbeat",
		"event: end\ndata: {\"reason\":\"timeout\",\"lastEventId\":\"3:tx2\"}",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("stream lacks %q:\n%s", want, text)
		}
	}
	if !strings.HasSuffix(text, "event: end\ndata: {\"reason\":\"timeout\",\"lastEventId\":\"3:tx2\"}\n") && !strings.HasSuffix(text, "{\"reason\":\"timeout\",\"lastEventId\":\"3:tx2\"}") {
		t.Errorf("stream does not end with the end event:\n%s", text)
	}
	// Last-Event-ID wins over startBlock: the peer was asked to resume after txA in block 2.
	peer.mu.Lock()
	got := peer.events
	peer.mu.Unlock()
	want := &gwpb.ChaincodeEventsRequest{ChannelId: "mychannel", ChaincodeId: "basic", AfterTransactionId: "txA",
		StartPosition: &ab.SeekPosition{Type: &ab.SeekPosition_Specified{Specified: &ab.SeekSpecified{Number: 2}}}}
	got.Identity = nil
	if !proto.Equal(got, want) {
		t.Fatalf("events request %v, want %v", got, want)
	}
	// An unknown channel is answered before the stream starts.
	expectError(t, do(t, "GET", ts.URL+"/v1/channels/other/chaincodes/basic/events", ""), 404, CodeUnknownChannel)
}
