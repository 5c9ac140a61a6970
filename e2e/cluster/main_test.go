package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var (
	// ordererBin is the orderer binary TestMain built.
	ordererBin string
	// netnsErr says why network namespaces cannot be used here (nil: they can).
	netnsErr error
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "weft-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	// WEFT_ORDERER_BIN runs the tests against an orderer built elsewhere
	// (e.g. an older commit); by default the tree's orderer is built.
	if ordererBin = os.Getenv("WEFT_ORDERER_BIN"); ordererBin == "" {
		ordererBin = filepath.Join(tmp, "orderer")
		build := exec.Command("go", "build", "-o", ordererBin, "./cmd/orderer")
		build.Dir = filepath.Join("..", "..")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build the orderer:", err)
			return 1
		}
	}
	// ip and iptables live in /usr/sbin, not always in a non-login PATH.
	os.Setenv("PATH", os.Getenv("PATH")+string(os.PathListSeparator)+"/usr/sbin"+string(os.PathListSeparator)+"/sbin")
	netnsErr = checkNetns()
	if netnsErr == nil {
		removeStale()
	}
	return m.Run()
}

// requireNetns fails the test (never skips it) when this machine cannot run
// the cluster harness.
func requireNetns(t testing.TB) {
	t.Helper()
	if netnsErr != nil {
		t.Fatalf("the cluster tests need Linux network namespaces: %v\n"+
			"Run them as root with iproute2 and iptables installed (apt-get install -y iproute2 iptables; .ci/run does this).", netnsErr)
	}
}
