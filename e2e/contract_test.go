package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/devnettest"
	"github.com/weft-ledger/weft/internal/eventually"
)

// contractDir is the asset-transfer sample written with Fabric's contract API
// (its own Go module, built against the official shim).
const contractDir = "../samples/asset-transfer-contract"

// firstLaunchTimeout bounds building a chaincode.
const firstLaunchTimeout = devnettest.FirstLaunchTimeout

// TestContractGoSourcePackage deploys the contract-API sample as a Go source
// package the peers build and launch themselves, then drives every function
// through Fabric's gateway client.
func TestContractGoSourcePackage(t *testing.T) {
	const name, label = "contractgo", "contractgo_1.0"
	deployChaincode(t, name, label, contractSourcePackage(t, label))
	exerciseContract(t, name)
}

// TestContractCCaaS deploys the same sample as chaincode-as-a-service: the
// test builds and runs the binary, the peers dial it.
func TestContractCCaaS(t *testing.T) {
	const name, label = "contractcc", "contractcc_1.0"
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	pkg, err := wclient.CCaaSPackage(label, wclient.ConnectionJSON{Address: addr, DialTimeout: "10s"})
	if err != nil {
		t.Fatal(err)
	}
	startContractService(t, addr, wclient.PackageID(label, pkg))
	deployChaincode(t, name, label, pkg)
	exerciseContract(t, name)
}

// contractSourcePackage packages the sample's module as Fabric's "golang"
// chaincode package, as `weft chaincode package --lang golang` does:
// metadata.json plus code.tar.gz holding the module under src/.
func contractSourcePackage(t *testing.T, label string) []byte {
	t.Helper()
	pkg, err := wclient.GoSourcePackage(label, contractDir, "github.com/weft-ledger/weft/samples/asset-transfer-contract")
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

// startContractService builds the sample and runs it as a chaincode server on
// addr registered as packageID; it is stopped when the test ends.
func startContractService(t *testing.T, addr, packageID string) {
	t.Helper()
	startCCaaS(t, buildChaincode(t, contractDir, "asset-transfer-contract", ""), addr, packageID)
}

// buildChaincode builds the Go module in dir (with build tags, if any) into
// a binary called name and returns its path.
func buildChaincode(t *testing.T, dir, name, tags string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), firstLaunchTimeout)
	defer cancel()
	bin := filepath.Join(t.TempDir(), name)
	args := []string{"build", "-o", bin}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	build := exec.CommandContext(ctx, "go", append(args, ".")...)
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s (tags %q): %v\n%s", dir, tags, err, out)
	}
	return bin
}

// startCCaaS runs bin as a chaincode server on addr registered as packageID
// until the test ends.
func startCCaaS(t *testing.T, bin, addr, packageID string) {
	t.Helper()
	var logs bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "CHAINCODE_SERVER_ADDRESS="+addr, "CHAINCODE_ID="+packageID)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), logs.String())
		}
	})
	// Polling a port: there is nothing to await.
	eventually.NoError(t, 30*time.Second, fmt.Sprintf("%s listening on %s", filepath.Base(bin), addr), func(ctx context.Context) error {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("%s exited before listening on %s: %v", filepath.Base(bin), addr, err)
		default:
		}
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// deployChaincode deploys pkg as name on every peer (devnettest.Deploy),
// then calls AssetExists once on every peer, so that the first launch (for
// a "golang" package, the peer's build) happens under a generous timeout
// rather than under the gateway's.
func deployChaincode(t *testing.T, name, label string, pkg []byte) {
	t.Helper()
	devnettest.Deploy(t, network, devnettest.Chaincode{
		Name: name, Label: label, Package: pkg,
		WarmUp: []string{"AssetExists", "warm-up"}, WarmUpResult: "false",
	})
}

// exerciseContract calls every transaction of the sample through Fabric's
// gateway client, as the asset-transfer-basic application does, and checks
// the results.
func exerciseContract(t *testing.T, name string) {
	gw, _ := gatewayFor(t, network.Orgs[0], "User1")
	c := gw.GetNetwork(devnet.ChannelID).GetContract(name)

	submitEverywhere(t, c, "InitLedger")
	all := allAssets(t, c)
	if len(all) != 6 || all["asset1"].Owner != "Tomoko" || all["asset6"].AppraisedValue != 800 {
		t.Fatalf("GetAllAssets after InitLedger = %+v, want the six seed assets", all)
	}

	id := uniqueID("contract")
	submitEverywhere(t, c, "CreateAsset", id, "purple", "7", "Zoe", "900")
	if a := readAsset(t, c, id); a != (asset{ID: id, Color: "purple", Size: 7, Owner: "Zoe", AppraisedValue: 900}) {
		t.Fatalf("ReadAsset after CreateAsset = %+v", a)
	}
	if _, err := c.SubmitTransaction("CreateAsset", id, "purple", "7", "Zoe", "900"); err == nil || !strings.Contains(errorText(err), "already exists") {
		t.Fatalf("second CreateAsset of %s: err = %v (%s), want 'already exists'", id, err, errorText(err))
	}
	if _, err := c.SubmitTransaction("CreateAsset", id+"-bad", "purple", "seven", "Zoe", "900"); err == nil {
		t.Fatal("CreateAsset with a non-integer size was endorsed; the contract API should refuse it")
	}

	submitEverywhere(t, c, "UpdateAsset", id, "orange", "8", "Zoe", "950")
	if a := readAsset(t, c, id); a != (asset{ID: id, Color: "orange", Size: 8, Owner: "Zoe", AppraisedValue: 950}) {
		t.Fatalf("ReadAsset after UpdateAsset = %+v", a)
	}
	if _, err := c.SubmitTransaction("UpdateAsset", id+"-missing", "orange", "8", "Zoe", "950"); err == nil || !strings.Contains(errorText(err), "does not exist") {
		t.Fatalf("UpdateAsset of a missing asset: err = %v (%s), want 'does not exist'", err, errorText(err))
	}

	assertExists(t, c, id, true)
	assertExists(t, c, id+"-missing", false)

	old := submitEverywhere(t, c, "TransferAsset", id, "Yusuf")
	if string(old) != "Zoe" {
		t.Fatalf("TransferAsset returned %q, want the old owner Zoe", old)
	}
	if a := readAsset(t, c, id); a.Owner != "Yusuf" || a.Color != "orange" {
		t.Fatalf("ReadAsset after TransferAsset = %+v, want owner Yusuf, other fields kept", a)
	}

	all = allAssets(t, c)
	if len(all) != 7 || all[id].Owner != "Yusuf" || all["asset3"].Owner != "Jin Soo" {
		t.Fatalf("GetAllAssets = %+v, want the six seed assets and %s owned by Yusuf", all, id)
	}

	submitEverywhere(t, c, "DeleteAsset", id)
	assertExists(t, c, id, false)
	if _, err := c.EvaluateTransaction("ReadAsset", id); err == nil || !strings.Contains(errorText(err), "does not exist") {
		t.Fatalf("ReadAsset of deleted %s: err = %v (%s), want 'does not exist'", id, err, errorText(err))
	}
	if n := len(allAssets(t, c)); n != 6 {
		t.Fatalf("GetAllAssets after DeleteAsset has %d assets, want 6", n)
	}

	// The contract API's own system contract answers too.
	raw, err := c.EvaluateTransaction("org.hyperledger.fabric:GetMetadata")
	if err != nil {
		t.Fatalf("GetMetadata: %v (%s)", err, errorText(err))
	}
	var md struct {
		Contracts map[string]struct {
			Transactions []struct {
				Name string `json:"name"`
			} `json:"transactions"`
		} `json:"contracts"`
	}
	if err := json.Unmarshal(raw, &md); err != nil {
		t.Fatalf("GetMetadata returned %q: %v", raw, err)
	}
	var txs []string
	for _, tx := range md.Contracts["SmartContract"].Transactions {
		txs = append(txs, tx.Name)
	}
	for _, want := range []string{"InitLedger", "CreateAsset", "ReadAsset", "UpdateAsset", "DeleteAsset", "AssetExists", "TransferAsset", "GetAllAssets"} {
		if !strings.Contains(","+strings.Join(txs, ",")+",", ","+want+",") {
			t.Fatalf("metadata of SmartContract lists %v, missing %s", txs, want)
		}
	}
}

func allAssets(t *testing.T, c *client.Contract) map[string]asset {
	t.Helper()
	raw, err := c.EvaluateTransaction("GetAllAssets")
	if err != nil {
		t.Fatalf("GetAllAssets: %v (%s)", err, errorText(err))
	}
	var list []asset
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("GetAllAssets returned %q: %v", raw, err)
	}
	m := map[string]asset{}
	for _, a := range list {
		m[a.ID] = a
	}
	if len(m) != len(list) {
		t.Fatalf("GetAllAssets returned duplicate IDs: %q", raw)
	}
	return m
}

func assertExists(t *testing.T, c *client.Contract, id string, want bool) {
	t.Helper()
	raw, err := c.EvaluateTransaction("AssetExists", id)
	if err != nil {
		t.Fatalf("AssetExists %s: %v (%s)", id, err, errorText(err))
	}
	if string(raw) != strconv.FormatBool(want) {
		t.Fatalf("AssetExists %s = %q, want %t", id, raw, want)
	}
}

// errorText is a gateway error with the peers' messages attached.
func errorText(err error) string { return devnettest.ErrorText(err) }
