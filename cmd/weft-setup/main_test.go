package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenerate writes a network folder from deploy/config and checks that
// chaincode/basic.id holds the package's ID (what the basic container reads
// through CHAINCODE_ID_FILE) and that a second run keeps the folder.
func TestGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "network")
	var log bytes.Buffer
	if err := run(context.Background(), []string{"generate", "-config", filepath.Join("..", "..", "deploy", "config"), "-out", dir}, &log); err != nil {
		t.Fatalf("generate: %v\n%s", err, log.String())
	}
	id, err := os.ReadFile(filepath.Join(dir, "chaincode", "basic.id"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := (command{args: []string{"chaincode", "calculatepackageid", layout{dir: dir}.pkg()}}).run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(id)); got != strings.TrimSpace(want) || !strings.HasPrefix(got, chaincodeLabel+":") {
		t.Fatalf("basic.id = %q, want the package ID %q", got, want)
	}
	for _, f := range []string{"channel-artifacts/mychannel.block", "configtx.yaml", "organizations/peerOrganizations/org1.example.com/users/User1@org1.example.com/msp"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("generate wrote no %s: %v", f, err)
		}
	}
	token := checkRESTToken(t, dir)

	log.Reset()
	if err := run(context.Background(), []string{"generate", "-config", "no/such/config", "-out", dir}, &log); err != nil {
		t.Fatalf("generate on a complete folder: %v", err)
	}
	if !strings.Contains(log.String(), "already holds a network") {
		t.Fatalf("generate on a complete folder said %q, want that it keeps it", log.String())
	}
	if again := checkRESTToken(t, dir); again != token {
		t.Fatal("generate on a complete folder replaced the REST gateway's token")
	}
}

// checkRESTToken returns the REST gateway's token of network folder dir,
// failing unless it is a random token the containers' user (uid 10001, not
// the owner) can read.
func checkRESTToken(t *testing.T, dir string) string {
	t.Helper()
	file := filepath.Join(dir, "restgateway", "token")
	st, err := os.Stat(file)
	if err != nil {
		t.Fatalf("no REST gateway token: %v", err)
	}
	if st.Mode().Perm()&0o004 == 0 {
		t.Fatalf("token file mode %v: the restgateway container (uid 10001) cannot read it", st.Mode())
	}
	raw, _ := os.ReadFile(file)
	tok := strings.TrimSpace(string(raw))
	if len(tok) != 64 {
		t.Fatalf("token %q, want 64 hex digits", tok)
	}
	return tok
}

// TestGenerateKeepsOlderFolder: a folder written before basic.id held the
// package ID in chaincode/basic.env; generate keeps it and derives basic.id.
func TestGenerateKeepsOlderFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "chaincode"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chaincode", "basic.env"), []byte("CHAINCODE_ID=basic_1.0:00ff\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := run(context.Background(), []string{"generate", "-config", "no/such/config", "-out", dir}, &log); err != nil {
		t.Fatalf("generate: %v\n%s", err, log.String())
	}
	id, err := os.ReadFile(filepath.Join(dir, "chaincode", "basic.id"))
	if err != nil || string(id) != "basic_1.0:00ff\n" {
		t.Fatalf("basic.id = %q, %v; want basic_1.0:00ff", id, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "organizations")); err == nil {
		t.Fatal("generate wrote new crypto material into a folder that already held a network")
	}
	// A folder from before the REST gateway authenticated its callers gets a token.
	checkRESTToken(t, dir)
}
