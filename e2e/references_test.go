package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/weft-ledger/weft/internal/devnet"
)

// installedJSON is what `weft chaincode queryinstalled --output json` prints.
type installedJSON struct {
	InstalledChaincodes []struct {
		PackageID  string `json:"package_id"`
		Label      string `json:"label"`
		References map[string]struct {
			Chaincodes []struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"chaincodes"`
		} `json:"references"`
	} `json:"installed_chaincodes"`
}

// TestCLIQueryInstalledReferences checks, through the CLI against running
// peers, that queryinstalled reports which committed definitions use each
// installed package, as Fabric's does: the sample package is used by basic
// 1.0 on mychannel, and a package nobody approved is used by nothing.
func TestCLIQueryInstalledReferences(t *testing.T) {
	org1 := network.Orgs[0]
	query := func() (installedJSON, string) {
		t.Helper()
		out := mustWeft(t, org1, "Admin", "lifecycle", "chaincode", "queryinstalled", "--output", "json")
		var res installedJSON
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("queryinstalled --output json is not JSON: %v\n%s", err, out)
		}
		return res, out
	}

	unused, unusedID := ccaasPackage(t, org1, t.TempDir(), uniqueID("refs"), "127.0.0.1:1")
	mustWeft(t, org1, "Admin", "lifecycle", "chaincode", "install", unused)

	res, out := query()
	if !strings.Contains(out, "\t\t\t\"references\": {\n\t\t\t\t\""+devnet.ChannelID+"\": {\n") {
		t.Fatalf("queryinstalled --output json does not print references in Fabric's layout:\n%s", out)
	}
	seen := map[string]bool{}
	for _, ic := range res.InstalledChaincodes {
		seen[ic.PackageID] = true
		switch ic.PackageID {
		case network.PackageID:
			found := false
			for _, cc := range ic.References[devnet.ChannelID].Chaincodes {
				found = found || (cc.Name == devnet.ChaincodeName && cc.Version == "1.0")
			}
			if !found {
				t.Errorf("package %s: references = %+v, want %s version 1.0 on %s", ic.PackageID, ic.References, devnet.ChaincodeName, devnet.ChannelID)
			}
		case unusedID:
			if len(ic.References) != 0 {
				t.Errorf("package %s, approved by nobody: references = %+v, want none", ic.PackageID, ic.References)
			}
		}
	}
	for _, id := range []string{network.PackageID, unusedID} {
		if !seen[id] {
			t.Errorf("queryinstalled does not list %s:\n%s", id, out)
		}
	}
}
