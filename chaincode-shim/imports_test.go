package shim

import (
	"go/build"
	"os/exec"
	"strings"
	"testing"
)

// allowedImports are the only non-standard modules the shim may use, so that
// it stays small enough for chaincode authors to vendor or split out.
var allowedImports = []string{
	"github.com/hyperledger/fabric-protos-go-apiv2/",
	"google.golang.org/grpc",
	"google.golang.org/protobuf/",
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func TestImportBoundary(t *testing.T) {
	pkg, err := build.Default.ImportDir(".", 0)
	if err != nil {
		t.Fatalf("read package imports: %v", err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("no imports found; the test is not looking at the shim")
	}
	for _, imp := range pkg.Imports {
		if isStd(imp) {
			continue
		}
		ok := false
		for _, prefix := range allowedImports {
			if imp == strings.TrimSuffix(prefix, "/") || strings.HasPrefix(imp, prefix) || strings.HasPrefix(imp, prefix+"/") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("shim imports %s; only the standard library, fabric-protos-go-apiv2, grpc and protobuf are allowed", imp)
		}
	}
}

// TestNoForbiddenTransitiveDeps checks the whole dependency closure: no
// Fabric, no official shim, no other Weft package.
func TestNoForbiddenTransitiveDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const self = "github.com/weft-ledger/weft/chaincode-shim"
	deps := strings.Fields(string(out))
	foundSelf := false
	for _, d := range deps {
		switch {
		case d == self:
			foundSelf = true
		case strings.HasPrefix(d, "github.com/weft-ledger/"):
			t.Errorf("shim depends on Weft package %s; it must stay independent of the rest of Weft", d)
		case strings.HasPrefix(d, "github.com/hyperledger/") && !strings.HasPrefix(d, "github.com/hyperledger/fabric-protos-go-apiv2/"):
			t.Errorf("shim depends on %s; only fabric-protos-go-apiv2 is allowed from Hyperledger", d)
		}
	}
	if !foundSelf {
		t.Fatalf("go list did not report %s; got %q", self, deps)
	}
}
