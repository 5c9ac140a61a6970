package restgateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	gwpb "github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// The POST routes whose JSON bodies the fuzz target sends.
var fuzzRoutes = []struct {
	path string // with %c, %cc and %tx for the path values
	body func() any
}{
	{"/v1/channels/%c/chaincodes/%cc/evaluate", func() any { return &invokeRequest{} }},
	{"/v1/channels/%c/chaincodes/%cc/submit?async=true", func() any { return &invokeRequest{} }},
	{"/v1/channels/%c/chaincodes/%cc/prepare", func() any { return &invokeRequest{} }},
	{"/v1/channels/%c/transactions/%tx/endorse", func() any { return &signedRequest{} }},
	{"/v1/channels/%c/transactions/%tx/commit?async=true", func() any { return &signedRequest{} }},
}

// resign replaces the signature of an endorse or commit body by User1's
// signature over the message it carries, so that fuzzed proposals and
// transactions get past the signature check. It returns body unchanged
// when it does not carry a decodable message.
func resign(tb testing.TB, user *msp.SigningIdentity, body []byte, endorse bool) []byte {
	var req signedRequest
	if json.Unmarshal(body, &req) != nil {
		return body
	}
	field := req.Transaction
	if endorse {
		field = req.Proposal
	}
	raw, err := base64.StdEncoding.DecodeString(field)
	if err != nil {
		return body
	}
	var signed []byte
	if endorse {
		pt := &gwpb.ProposedTransaction{}
		if proto.Unmarshal(raw, pt) != nil || pt.Proposal == nil {
			return body
		}
		signed = pt.Proposal.ProposalBytes
	} else {
		prepared := &gwpb.PreparedTransaction{}
		if proto.Unmarshal(raw, prepared) != nil || prepared.Envelope == nil {
			return body
		}
		signed = prepared.Envelope.Payload
	}
	sig, err := user.Sign(signed)
	if err != nil {
		tb.Fatal(err)
	}
	req.Signature = base64.StdEncoding.EncodeToString(sig)
	out, _ := json.Marshal(req)
	return out
}

// FuzzRESTBody posts fuzzed JSON bodies to the REST gateway's evaluate,
// submit, prepare, endorse and commit routes (route = mode % 5), with
// fuzzed channel, chaincode and transaction ID path values, in front of a
// fake peer. Mode bit 3 re-signs an endorse or commit body with the
// wallet's User1 key, mode bit 4 leaves the bearer token out. Every answer
// must be JSON; every refusal an Error with a code, a message and details;
// a body that does not decode strictly into the route's request is
// BAD_JSON (or BODY_TOO_LARGE) and never reaches the peer, nor does an
// unauthenticated request; and the REST gateway itself never fails
// (INTERNAL).
func FuzzRESTBody(f *testing.F) {
	addr, peer := startFakePeer(f)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close() })
	n := testnet.SampleNet(f)
	user := n.User(f, "User1", "Org1MSP")
	srv, err := New(Options{
		Conn:            conn,
		Wallet:          NewWallet(map[string]*msp.SigningIdentity{"User1@org1.example.com": user}),
		DefaultIdentity: "User1@org1.example.com",
		Auth:            AuthConfig{Tokens: []TokenCredential{{Token: testToken}}},
		BodyLimit:       4096,
		Timeouts:        Timeouts{Evaluate: 5 * time.Second, Endorse: 5 * time.Second, Submit: 5 * time.Second, CommitStatus: time.Second},
		Logger:          slog.New(slogDiscard()),
	})
	if err != nil {
		f.Fatal(err)
	}

	// A proposal as prepare returns it and the transaction the fake peer
	// endorses from it, for realistic endorse and commit seeds.
	sp, txID, err := protos.NewProposal(user, "mychannel", "basic", [][]byte{[]byte("CreateAsset"), []byte("a1")}, nil)
	if err != nil {
		f.Fatal(err)
	}
	pt := protos.Marshal(&gwpb.ProposedTransaction{TransactionId: txID, Proposal: sp})
	er, err := peer.Endorse(f.Context(), &gwpb.EndorseRequest{TransactionId: txID, ChannelId: "mychannel", ProposedTransaction: sp})
	if err != nil {
		f.Fatal(err)
	}
	prepared := protos.Marshal(&gwpb.PreparedTransaction{TransactionId: txID, Envelope: er.PreparedTransaction})
	b64s := base64.StdEncoding.EncodeToString
	certPEM := pemCert(user)
	seeds := []struct {
		body string
		mode uint8
	}{
		{`{"function":"ReadAsset","args":["asset1"]}`, 0},
		{`{"function":"Echo","args":["x"],"transient":{"k":"v"},"endorsingOrgs":["Org1MSP"]}`, 0},
		{`{"function":"Fail"}`, 0},
		{`{"function":"CreateAsset","args":["a1","blue","5","Tom","100"]}`, 1},
		{`{"function":"CreateAsset","args":["a1"],"identity":{"mspId":"Org1MSP","certificate":` + jsonString(certPEM) + `}}`, 2},
		{`{"proposal":"` + b64s(pt) + `","signature":"MEUCIQ=="}`, 3 | 8},
		{`{"transaction":"` + b64s(prepared) + `","signature":"MEUCIQ=="}`, 4 | 8},
		{`{"function":""}`, 0},
		{`{"function":"x","unknown":1}`, 1},
		{`{"function":"x"} {"function":"y"}`, 0},
		{`{"proposal":"!!","signature":""}`, 3},
		{`[]`, 2},
		{``, 4},
		{`{"function":"ReadAsset"}`, 16},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), "mychannel", "basic", txID, s.mode)
	}
	f.Add([]byte(`{"function":"GetAllAssets"}`), "other channel", "ba/sic", "..", uint8(0))

	f.Fuzz(func(t *testing.T, body []byte, channel, chaincode, tx string, mode uint8) {
		route := fuzzRoutes[int(mode%8)%len(fuzzRoutes)]
		endorse := strings.HasSuffix(strings.Split(route.path, "?")[0], "/endorse")
		if mode&8 != 0 && (endorse || strings.Contains(route.path, "/commit")) {
			body = resign(t, user, body, endorse)
		}
		p := strings.NewReplacer("%cc", url.PathEscape(chaincode), "%c", url.PathEscape(channel), "%tx", url.PathEscape(tx)).Replace(route.path)
		req, err := http.NewRequest(http.MethodPost, "http://localhost"+p, bytes.NewReader(body))
		if err != nil {
			return // not a URL a client can send
		}
		req.Header.Set("Content-Type", "application/json")
		if mode&16 == 0 {
			req.Header.Set("Authorization", "Bearer "+testToken)
		}
		before := peer.callCount()
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		reached := peer.callCount() > before

		if (rec.Code == http.StatusTemporaryRedirect || rec.Code == http.StatusMovedPermanently) && rec.Header().Get("Location") != "" {
			// net/http's mux sends a path with empty or dot segments to its
			// clean form; nothing is served.
			if reached {
				t.Fatal("a redirected request reached the peer")
			}
			return
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("answer %d has Content-Type %q: %s", rec.Code, ct, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body)
		}
		var apiErr Error
		if rec.Code >= 300 {
			if err := json.Unmarshal(rec.Body.Bytes(), &apiErr); err != nil || apiErr.Code == "" || apiErr.Message == "" || apiErr.Details == nil {
				t.Fatalf("refusal %d is not an Error with code, message and details: %s", rec.Code, rec.Body)
			}
			if apiErr.Code == CodeInternal {
				t.Fatalf("the REST gateway failed on its own: %s", rec.Body)
			}
		}
		if mode&16 != 0 {
			if rec.Code != http.StatusUnauthorized || reached {
				t.Fatalf("a request without a token: %d (peer reached: %t)", rec.Code, reached)
			}
			return
		}
		if rec.Code == http.StatusNotFound && apiErr.Code == CodeNotFound {
			return // the fuzzed path values make no route
		}
		// The body, decoded as strictly as the route must decode it.
		v := route.body()
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		strictOK := len(bytes.TrimSpace(body)) > 0 && dec.Decode(v) == nil && !dec.More()
		if !strictOK && apiErr.Code != CodeBadJSON && apiErr.Code != CodeBodyTooLarge && apiErr.Code != CodeBadRequest {
			t.Fatalf("body %q answered %d %s, want BAD_JSON", body, rec.Code, apiErr.Code)
		}
		if !strictOK && reached {
			t.Fatalf("body %q that does not decode reached the peer", body)
		}
		if len(body) > 4096 && rec.Code < 300 {
			t.Fatalf("a body of %d bytes over the 4096-byte limit was taken", len(body))
		}
	})
}

func jsonString(s string) string {
	raw, _ := json.Marshal(s)
	return string(raw)
}
