package devnet

import (
	"bytes"
	"os"
	"testing"

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

	mine := []byte("restgateway:\n  bodyLimit: 4096\n")
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
