package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/weft-ledger/weft"

type pkg struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func under(path, dir string) bool {
	full := module + "/" + dir
	return path == full || strings.HasPrefix(path, full+"/")
}

// TestDependencyDirection enforces the import rules of docs/architecture.md.
func TestDependencyDirection(t *testing.T) {
	rules := []struct {
		from      string
		forbidden []string
	}{
		{"peer", []string{"orderer", "cmd", "restgateway"}},
		{"orderer", []string{"peer", "cmd", "restgateway"}},
		// The REST gateway reaches peers over gRPC only, so it also fronts a Fabric peer.
		{"restgateway", []string{"peer", "orderer", "cmd"}},
		{"ledger", []string{"peer", "orderer", "cmd", "internal"}},
		// Gossip and discovery get what they need of the peer through small
		// interfaces.
		{"gossip", []string{"peer", "orderer", "cmd", "restgateway", "ledger", "statedb"}},
		{"discovery", []string{"peer", "orderer", "cmd", "restgateway", "ledger", "statedb"}},
		{"statedb", []string{"peer", "orderer", "cmd", "ledger", "channelconfig", "internal"}},
		{"channelconfig", []string{"peer", "orderer", "cmd", "ledger", "statedb", "internal"}},
		{"msp", []string{"peer", "orderer", "cmd", "ledger", "statedb", "channelconfig", "internal"}},
		{"protos", []string{"peer", "orderer", "cmd", "ledger", "statedb", "channelconfig", "msp", "internal"}},
	}
	for _, p := range listPackages(t) {
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/hyperledger/fabric/") || imp == "github.com/hyperledger/fabric" {
				t.Errorf("%s imports %s: Weft never depends on Fabric itself", p.ImportPath, imp)
			}
			for _, r := range rules {
				if !under(p.ImportPath, r.from) {
					continue
				}
				for _, f := range r.forbidden {
					if under(imp, f) {
						t.Errorf("%s imports %s: %s/ must not depend on %s/", p.ImportPath, imp, r.from, f)
					}
				}
			}
		}
	}
}

// TestShimImportsOnlyProtosAndGRPC keeps chaincode-shim easy to split out:
// beyond the standard library it may use only Fabric's protos, gRPC and
// protobuf, and its sub-packages (shimtest) may also use the shim itself.
func TestShimImportsOnlyProtosAndGRPC(t *testing.T) {
	allowed := []string{"github.com/hyperledger/fabric-protos-go-apiv2/", "google.golang.org/grpc", "google.golang.org/protobuf/"}
	shimPkg := module + "/chaincode-shim"
	found := false
	for _, p := range listPackages(t) {
		if !under(p.ImportPath, "chaincode-shim") {
			continue
		}
		found = true
		for _, imp := range p.Imports {
			if !strings.Contains(strings.Split(imp, "/")[0], ".") {
				continue // standard library
			}
			ok := under(imp, "chaincode-shim") && p.ImportPath != shimPkg // the shim itself stays self-contained
			for _, a := range allowed {
				if strings.HasPrefix(imp, a) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s; the shim may import only Fabric protos, gRPC, protobuf and the standard library", p.ImportPath, imp)
			}
		}
	}
	if !found {
		t.Fatal("no chaincode-shim package found")
	}
}
