package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	shim "github.com/weft-ledger/weft/chaincode-shim"
	"github.com/weft-ledger/weft/chaincode-shim/shimtest"
)

// startBasic runs the chaincode's main path (peer-launched mode) against a
// fake peer over gRPC and returns the peer's session and ledger.
func startBasic(t *testing.T) (*shimtest.Session, *shimtest.Ledger) {
	t.Helper()
	peer, addr := shimtest.StartPeer(t)
	t.Setenv("CHAINCODE_SERVER_ADDRESS", "")
	t.Setenv(shim.EnvChaincodeIDName, "basic_1.0:test")
	t.Setenv(shim.EnvPeerAddress, addr)
	t.Setenv(shim.EnvTLSEnabled, "false")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, os.LookupEnv) }()
	s := peer.NextSession(t)
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(shimtest.WaitLimit):
			t.Error("run did not return after cancel")
		}
	})
	if got := s.WaitRegistered(t); got != "basic_1.0:test" {
		t.Fatalf("registered as %q", got)
	}
	return s, peer.Ledger
}

// client numbers transactions and checks responses.
type client struct {
	t *testing.T
	s *shimtest.Session
	n int
}

func (c *client) submit(args ...string) *pb.Response {
	c.t.Helper()
	c.n++
	res, _ := c.s.Invoke(c.t, fmt.Sprintf("tx%d", c.n), args...)
	return res
}

func (c *client) ok(want string, args ...string) {
	c.t.Helper()
	res := c.submit(args...)
	if res.Status != shim.OK || string(res.Payload) != want {
		c.t.Fatalf("%v = status %d payload %q message %q; want 200 %q", args, res.Status, res.Payload, res.Message, want)
	}
}

func (c *client) fails(wantMsg string, args ...string) {
	c.t.Helper()
	res := c.submit(args...)
	if res.Status != shim.ERROR || res.Message != wantMsg {
		c.t.Fatalf("%v = status %d message %q; want 500 %q", args, res.Status, res.Message, wantMsg)
	}
}

const asset1JSON = `{"AppraisedValue":300,"Color":"blue","ID":"asset1","Owner":"Tomoko","Size":5}`

func TestAssetTransferFunctions(t *testing.T) {
	s, ledger := startBasic(t)
	c := &client{t: t, s: s}

	c.ok("", "GetAllAssets") // the contract API sends an empty payload for no assets
	c.ok("", "InitLedger")
	if v, _ := ledger.Get("asset1"); string(v) != asset1JSON {
		t.Fatalf("stored asset1 = %s, want %s", v, asset1JSON)
	}

	// GetAllAssets pages through the peer (2 per page) and keeps key order.
	nextBefore := ledger.Count(pb.ChaincodeMessage_QUERY_STATE_NEXT)
	res := c.submit("GetAllAssets")
	var all []Asset
	if err := json.Unmarshal(res.Payload, &all); err != nil {
		t.Fatalf("GetAllAssets payload %q: %v", res.Payload, err)
	}
	if len(all) != 6 || all[0] != initialAssets[0] || all[2].Owner != "Jin Soo" || all[5].ID != "asset6" || all[5].AppraisedValue != 800 {
		t.Fatalf("GetAllAssets = %+v, want the six initial assets in order", all)
	}
	if !strings.HasPrefix(string(res.Payload), "["+asset1JSON+",") {
		t.Fatalf("GetAllAssets JSON starts %q, want [%s,...", res.Payload, asset1JSON)
	}
	if got := ledger.Count(pb.ChaincodeMessage_QUERY_STATE_NEXT) - nextBefore; got != 2 {
		t.Fatalf("GetAllAssets fetched %d further pages, want 2", got)
	}

	c.ok(asset1JSON, "ReadAsset", "asset1")
	c.ok(asset1JSON, "SmartContract:ReadAsset", "asset1")
	c.fails("the asset nope does not exist", "ReadAsset", "nope")

	c.ok("", "CreateAsset", "asset7", "purple", "20", "Alice", "900")
	c.ok(`{"AppraisedValue":900,"Color":"purple","ID":"asset7","Owner":"Alice","Size":20}`, "ReadAsset", "asset7")
	c.fails("the asset asset7 already exists", "CreateAsset", "asset7", "red", "1", "Bob", "1")
	c.fails("error managing parameter param2. conversion error. cannot convert passed value big to int", "CreateAsset", "asset8", "red", "big", "Bob", "1")
	c.fails("error managing parameter param4. conversion error. cannot convert passed value 1.5 to int", "CreateAsset", "asset8", "red", "1", "Bob", "1.5")

	c.ok("", "UpdateAsset", "asset7", "orange", "21", "Alice", "950")
	c.ok(`{"AppraisedValue":950,"Color":"orange","ID":"asset7","Owner":"Alice","Size":21}`, "ReadAsset", "asset7")
	c.fails("the asset asset9 does not exist", "UpdateAsset", "asset9", "orange", "21", "Alice", "950")

	c.ok("true", "AssetExists", "asset7")
	c.ok("false", "AssetExists", "asset9")

	c.ok("Tomoko", "TransferAsset", "asset1", "Christopher")
	c.ok(`{"AppraisedValue":300,"Color":"blue","ID":"asset1","Owner":"Christopher","Size":5}`, "ReadAsset", "asset1")
	c.fails("the asset asset9 does not exist", "TransferAsset", "asset9", "X")

	// TransferValue (a Weft addition) moves appraised value between two assets.
	c.ok("", "TransferValue", "asset2", "asset7", "150")
	c.ok(`{"AppraisedValue":250,"Color":"red","ID":"asset2","Owner":"Brad","Size":5}`, "ReadAsset", "asset2")
	c.ok(`{"AppraisedValue":1100,"Color":"orange","ID":"asset7","Owner":"Alice","Size":21}`, "ReadAsset", "asset7")
	c.fails("asset asset2 has an appraised value of 250, less than the 251 to transfer", "TransferValue", "asset2", "asset7", "251")
	c.fails("the amount to transfer must be a positive integer, got \"0\"", "TransferValue", "asset2", "asset7", "0")
	c.fails("cannot transfer value from asset asset2 to itself", "TransferValue", "asset2", "asset2", "1")
	c.fails("the asset asset9 does not exist", "TransferValue", "asset2", "asset9", "1")

	c.ok("", "DeleteAsset", "asset7")
	c.ok("false", "AssetExists", "asset7")
	if _, ok := ledger.Get("asset7"); ok {
		t.Fatal("DeleteAsset left asset7 in the ledger")
	}
	c.fails("the asset asset7 does not exist", "DeleteAsset", "asset7")

	c.fails("Function Mint not found in contract SmartContract", "Mint")
	c.fails("incorrect number of params. Expected 1, received 0", "ReadAsset")
	c.fails("incorrect number of params. Expected 5, received 4", "CreateAsset", "a", "b", "1", "c")
}

func TestAssetTransferPeerErrors(t *testing.T) {
	s, ledger := startBasic(t)
	c := &client{t: t, s: s}
	ledger.FailOn("asset1", "GET_STATE failed: ledger is closed")
	c.fails("failed to read from world state: GET_STATE failed: ledger is closed", "ReadAsset", "asset1")
	c.fails("failed to read from world state: GET_STATE failed: ledger is closed", "AssetExists", "asset1")
	c.fails("failed to put to world state. GET_STATE failed: ledger is closed", "InitLedger")
}

func TestInit(t *testing.T) {
	s, ledger := startBasic(t)
	m := s.Call(t, pb.ChaincodeMessage_INIT, "mychannel", "init1", nil)
	res := &pb.Response{}
	if m.Type != pb.ChaincodeMessage_COMPLETED || proto.Unmarshal(m.Payload, res) != nil || string(res.Payload) != "Default initiator successful." {
		t.Fatalf("empty Init = %s %q", m.Type, m.Payload)
	}
	m = s.Call(t, pb.ChaincodeMessage_INIT, "mychannel", "init2", nil, "InitLedger")
	if m.Type != pb.ChaincodeMessage_COMPLETED {
		t.Fatalf("Init InitLedger = %s %q", m.Type, m.Payload)
	}
	if _, ok := ledger.Get("asset6"); !ok {
		t.Fatal("Init with InitLedger did not write the assets")
	}
}

func TestChaincodeServerModeWithTLS(t *testing.T) {
	pki := shimtest.NewPKI(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := map[string]string{
		"CHAINCODE_SERVER_ADDRESS": "127.0.0.1:0",
		"CHAINCODE_ID":             "basic_1.0:caas",
		"CHAINCODE_TLS_KEY":        write("server.key", pki.ServerKey),
		"CHAINCODE_TLS_CERT":       write("server.crt", pki.ServerCert),
		"CHAINCODE_CLIENT_CA_CERT": write("ca.crt", pki.CAPEM),
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cs, err := newServer(lookup)
	if err != nil {
		t.Fatal(err)
	}
	if cs.CCID != "basic_1.0:caas" || cs.TLSProps.Disabled || len(cs.TLSProps.ClientCACerts) == 0 {
		t.Fatalf("server config = %+v", cs)
	}

	// Serve on our own listener so the test knows the port.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- cs.Serve(lis) }()
	t.Cleanup(func() {
		cs.Stop()
		<-served
	})
	pair, err := tls.X509KeyPair(pki.ClientCert, pki.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: pki.Pool(t), Certificates: []tls.Certificate{pair}})
	s, err := shimtest.ConnectToChaincode(t, lis.Addr().String(), creds, shimtest.NewLedger())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.WaitRegistered(t); got != "basic_1.0:caas" {
		t.Fatalf("registered as %q", got)
	}
	c := &client{t: t, s: s}
	c.ok("", "InitLedger")
	c.ok(asset1JSON, "ReadAsset", "asset1")

	// run in server mode stops cleanly when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, lookup) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run in server mode returned %v after cancel, want nil", err)
		}
	case <-time.After(shimtest.WaitLimit):
		t.Fatal("run in server mode did not stop after cancel")
	}
}

func TestServerConfigErrors(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"CHAINCODE_SERVER_ADDRESS": ":9999"}, "CHAINCODE_ID"},
		{map[string]string{"CHAINCODE_ID": "cc", "CHAINCODE_TLS_KEY": "k"}, "CHAINCODE_TLS_CERT"},
		{map[string]string{"CHAINCODE_ID": "cc", "CHAINCODE_TLS_DISABLED": "false"}, "CHAINCODE_TLS_KEY"},
		{map[string]string{"CHAINCODE_ID": "cc", "CHAINCODE_TLS_DISABLED": "maybe"}, "CHAINCODE_TLS_DISABLED"},
		{map[string]string{"CHAINCODE_ID": "cc", "CHAINCODE_TLS_KEY": "/nonexistent/k", "CHAINCODE_TLS_CERT": "/nonexistent/c"}, "/nonexistent/k"},
	}
	for _, c := range cases {
		_, err := newServer(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("newServer(%v) error = %v, want one naming %s", c.env, err, c.want)
		}
	}
	cs, err := newServer(func(k string) (string, bool) {
		v, ok := map[string]string{"CHAINCODE_ID": "cc", "CHAINCODE_SERVER_ADDRESS": "127.0.0.1:0"}[k]
		return v, ok
	})
	if err != nil || !cs.TLSProps.Disabled {
		t.Fatalf("no TLS files: %+v %v, want TLS disabled", cs, err)
	}
}

// TestChaincodeIDFile: CHAINCODE_ID_FILE names a file holding the package ID
// (deploy/docker-compose.yaml's basic reads the one weft-setup generate
// writes); CHAINCODE_ID, when set, wins.
func TestChaincodeIDFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "basic.id")
	if err := os.WriteFile(file, []byte("basic_1.0:0123abcd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.id")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		env          map[string]string
		want, errHas string
	}{
		{map[string]string{"CHAINCODE_ID_FILE": file}, "basic_1.0:0123abcd", ""},
		{map[string]string{"CHAINCODE_ID": "cc", "CHAINCODE_ID_FILE": file}, "cc", ""},
		{map[string]string{"CHAINCODE_ID_FILE": filepath.Join(dir, "missing.id")}, "", "missing.id"},
		{map[string]string{"CHAINCODE_ID_FILE": empty}, "", "empty"},
	}
	for _, c := range cases {
		c.env["CHAINCODE_SERVER_ADDRESS"] = "127.0.0.1:0"
		cs, err := newServer(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		switch {
		case c.errHas != "" && (err == nil || !strings.Contains(err.Error(), c.errHas) || !strings.Contains(err.Error(), "CHAINCODE_ID_FILE")):
			t.Errorf("newServer(%v) error = %v, want one naming CHAINCODE_ID_FILE and %s", c.env, err, c.errHas)
		case c.errHas == "" && (err != nil || cs.CCID != c.want):
			t.Errorf("newServer(%v) = %+v, %v; want CCID %q", c.env, cs, err, c.want)
		}
	}
}
