package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/internal/devnet"
)

// TestUpOrderersFlag checks that weft up refuses an ordering service size
// other than 1, 3 or 5 with a clear error, before creating anything.
func TestUpOrderersFlag(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"0", "2", "4", "6", "-3"} {
		dir := filepath.Join(t.TempDir(), "devnet")
		env, _, _ := testEnv(nil)
		err := Run(context.Background(), env, []string{"up", "--dir", dir, "--bin", t.TempDir(), "--orderers", n})
		if err == nil || !strings.Contains(err.Error(), "--orderers "+n+": ") || !strings.Contains(err.Error(), "runs 1, 3 or 5") {
			t.Errorf("--orderers %s: %v", n, err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("--orderers %s created %s", n, dir)
		}
	}
	env, _, _ := testEnv(nil)
	if err := Run(context.Background(), env, []string{"up", "--orderers", "three"}); err == nil || !strings.Contains(err.Error(), "invalid value") {
		t.Errorf("--orderers three: %v", err)
	}
	if err := Run(context.Background(), env, []string{"up", "extra"}); err == nil || !strings.Contains(err.Error(), "takes no arguments") {
		t.Errorf("weft up extra: %v", err)
	}
}

// TestRESTHelpCarriesTheToken: the curl examples `weft up` prints read the
// network's token and send it with a JSON content type.
func TestRESTHelpCarriesTheToken(t *testing.T) {
	cfg := devnet.Config{Dir: "/tmp/my devnet", Ports: devnet.DefaultPorts()}
	help := restHelp(cfg)
	for _, want := range []string{
		`TOKEN=$(cat '/tmp/my devnet/restgateway/token')`,
		`curl -s -X POST http://localhost:8080/v1/channels/mychannel/chaincodes/basic/evaluate -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"function":"GetAllAssets"}'`,
		`/submit -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json'`,
		"User1@org1.example.com", "http://localhost:8080/docs",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("weft up's REST help lacks %q:\n%s", want, help)
		}
	}
	cfg.Ports.RESTGateway = 0
	if restHelp(cfg) != "" {
		t.Error("REST help printed without a REST gateway")
	}
}
