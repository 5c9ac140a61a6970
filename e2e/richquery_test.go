package e2e

import (
	"strings"
	"testing"

	wclient "github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/devnettest"
)

// TestRichQueryNeedsCouchDB deploys asset-transfer-queries (the package
// e2e/couchdb runs on CouchDB, its index included) on this package's
// LevelDB network: the package installs, and its rich query fails with the
// peer's message that rich queries need CouchDB.
func TestRichQueryNeedsCouchDB(t *testing.T) {
	const name, label = "queriesleveldb", "queriesleveldb_1.0"
	pkg, err := wclient.GoSourcePackage(label, "../samples/asset-transfer-queries", "github.com/weft-ledger/weft/samples/asset-transfer-queries")
	if err != nil {
		t.Fatal(err)
	}
	devnettest.Deploy(t, network, devnettest.Chaincode{
		Name: name, Label: label, Package: pkg,
		WarmUp: []string{"org.hyperledger.fabric:GetMetadata"},
	})
	gw, _ := gatewayFor(t, network.Orgs[0], "User1")
	_, err = gw.GetNetwork(devnet.ChannelID).GetContract(name).EvaluateTransaction("QueryAssetsByOwner", "Tomoko")
	const want = "rich queries (JSON selectors) need a CouchDB state database; this peer uses LevelDB"
	if err == nil || !strings.Contains(errorText(err), want) {
		t.Fatalf("QueryAssetsByOwner on LevelDB: %v, want an error saying %q", errorText(err), want)
	}
}
