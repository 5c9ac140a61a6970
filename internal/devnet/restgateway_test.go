package devnet

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/restgateway"
	"github.com/weft-ledger/weft/sampleconfig"
)

// A network folder from before the rename has config/gateway.yaml only; a
// restart adds sampleconfig's restgateway.yaml and keeps one already there.
func TestAddRESTGatewayConfig(t *testing.T) {
	cfg := Config{Dir: t.TempDir()}
	if err := os.MkdirAll(cfg.Path("config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := addRESTGatewayConfig(cfg); err != nil {
		t.Fatal(err)
	}
	want, err := sampleconfig.Files.ReadFile("restgateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(cfg.Path("config", "restgateway.yaml"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("config/restgateway.yaml = %d bytes, %v; want sampleconfig's", len(got), err)
	}

	mine := []byte("restgateway:\n  bodyLimit: 4096\n  auth:\n    tokens:\n      - tokenFile: /my/token\n")
	if err := os.WriteFile(cfg.Path("config", "restgateway.yaml"), mine, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := addRESTGatewayConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(cfg.Path("config", "restgateway.yaml")); !bytes.Equal(got, mine) {
		t.Fatalf("addRESTGatewayConfig replaced an existing restgateway.yaml: %q", got)
	}
}

// A restgateway.yaml from before the REST gateway authenticated its callers
// (no restgateway.auth) would stop it from starting: a restart keeps it as
// restgateway.yaml.before-auth and writes sampleconfig's; the token file is
// written once, readable by its owner only, and kept across restarts.
func TestRESTGatewayAuthOnRestart(t *testing.T) {
	cfg := Config{Dir: t.TempDir()}
	if err := os.MkdirAll(cfg.Path("config"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := []byte("restgateway:\n  bodyLimit: 4096\n")
	if err := os.WriteFile(cfg.Path("config", "restgateway.yaml"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := addRESTGatewayConfig(cfg); err != nil {
		t.Fatal(err)
	}
	want, _ := sampleconfig.Files.ReadFile("restgateway.yaml")
	if got, _ := os.ReadFile(cfg.Path("config", "restgateway.yaml")); !bytes.Equal(got, want) {
		t.Fatal("a restgateway.yaml without restgateway.auth was not replaced by sampleconfig's")
	}
	if got, _ := os.ReadFile(cfg.Path("config", "restgateway.yaml.before-auth")); !bytes.Equal(got, old) {
		t.Fatal("the old restgateway.yaml was not kept as restgateway.yaml.before-auth")
	}

	if err := addRESTToken(cfg); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(cfg.RESTTokenPath())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file %s: %v %v, want mode 0600", cfg.RESTTokenPath(), st, err)
	}
	tok, _ := os.ReadFile(cfg.RESTTokenPath())
	if err := addRESTToken(cfg); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(cfg.RESTTokenPath()); !bytes.Equal(again, tok) || len(bytes.TrimSpace(tok)) < 16 {
		t.Fatalf("token %q then %q: want one random token, kept", tok, again)
	}
	// sampleconfig's restgateway.yaml in <dir>/config reads this very file
	// (there is no crypto material here, so only the wallet and CA are missing).
	if _, err := restgateway.LoadConfig(cfg.Path("config", "restgateway.yaml")); err != nil && strings.Contains(err.Error(), "restgateway.auth") {
		t.Fatalf("sampleconfig's restgateway.yaml does not read the network's token: %v", err)
	}
}
