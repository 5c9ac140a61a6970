package couchdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"

	"github.com/weft-ledger/weft/internal/devnet"
	"github.com/weft-ledger/weft/internal/devnettest"
)

// TestBasic drives the network's basic chaincode (deployed by the network
// through _lifecycle, InitLedger committed) through Fabric's gateway
// client on both peers, and checks that each peer's state is in its own
// CouchDB database, as JSON documents CouchDB can query.
func TestBasic(t *testing.T) {
	n := network(t)
	org1 := devnettest.Gateway(t, n, n.Orgs[0], "User1").GetNetwork(devnet.ChannelID).GetContract(devnet.ChaincodeName)
	org2 := devnettest.Gateway(t, n, n.Orgs[1], "User1").GetNetwork(devnet.ChannelID).GetContract(devnet.ChaincodeName)

	seed := allAssets(t, org1)
	if a, ok := seed["asset1"]; !ok || a.Owner != "Tomoko" || len(seed) < 6 {
		t.Fatalf("GetAllAssets on a new network = %+v, want InitLedger's six assets", seed)
	}

	id := uniqueID("basic")
	devnettest.SubmitEverywhere(t, n, org1, "CreateAsset", id, "teal", "4", "Ana", "700")
	want := devnettest.Asset{ID: id, Color: "teal", Size: 4, Owner: "Ana", AppraisedValue: 700}
	for _, c := range []*client.Contract{org1, org2} {
		if got := devnettest.ReadAsset(t, c, id); got != want {
			t.Fatalf("ReadAsset %s = %+v, want %+v", id, got, want)
		}
	}
	checkDocuments(t, n, id, map[string]any{"Owner": "Ana", "Color": "teal", "Size": 4.0})
	if _, err := org1.SubmitTransaction("CreateAsset", id, "teal", "4", "Ana", "700"); err == nil || !strings.Contains(devnettest.ErrorText(err), "already exists") {
		t.Fatalf("second CreateAsset of %s: %v, want 'already exists'", id, devnettest.ErrorText(err))
	}

	devnettest.SubmitEverywhere(t, n, org2, "UpdateAsset", id, "navy", "5", "Ana", "750")
	want = devnettest.Asset{ID: id, Color: "navy", Size: 5, Owner: "Ana", AppraisedValue: 750}
	if got := devnettest.ReadAsset(t, org1, id); got != want {
		t.Fatalf("ReadAsset after UpdateAsset = %+v, want %+v", got, want)
	}

	if old := devnettest.SubmitEverywhere(t, n, org1, "TransferAsset", id, "Bea"); string(old) != "Ana" {
		t.Fatalf("TransferAsset returned %q, want the old owner Ana", old)
	}
	checkDocuments(t, n, id, map[string]any{"Owner": "Bea", "Color": "navy", "Size": 5.0})
	all := allAssets(t, org2)
	if all[id].Owner != "Bea" || len(all) != len(seed)+1 {
		t.Fatalf("GetAllAssets after the transfer = %+v, want the %d assets before and %s owned by Bea", all, len(seed), id)
	}

	devnettest.SubmitEverywhere(t, n, org2, "DeleteAsset", id)
	for _, c := range []*client.Contract{org1, org2} {
		if raw, err := c.EvaluateTransaction("AssetExists", id); err != nil || string(raw) != "false" {
			t.Fatalf("AssetExists %s after DeleteAsset = %q, %v; want false", id, raw, devnettest.ErrorText(err))
		}
	}
	if all := allAssets(t, org1); len(all) != len(seed) {
		t.Fatalf("GetAllAssets after DeleteAsset has %d assets, want %d", len(all), len(seed))
	}
	checkDocuments(t, n, id, nil)
}

// allAssets evaluates basic's GetAllAssets (a range query over every key).
func allAssets(t *testing.T, c *client.Contract) map[string]devnettest.Asset {
	t.Helper()
	raw, err := c.EvaluateTransaction("GetAllAssets")
	if err != nil {
		t.Fatalf("GetAllAssets: %s", devnettest.ErrorText(err))
	}
	var list []devnettest.Asset
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("GetAllAssets returned %q: %v", raw, err)
	}
	m := map[string]devnettest.Asset{}
	for _, a := range list {
		m[a.ID] = a
	}
	if len(m) != len(list) {
		t.Fatalf("GetAllAssets returned duplicate IDs: %q", raw)
	}
	return m
}

// checkDocuments checks basic's document for key in each peer's database:
// it holds the fields of want, or is gone when want is nil.
func checkDocuments(t *testing.T, n *devnet.Network, key string, want map[string]any) {
	t.Helper()
	for _, o := range n.Orgs {
		doc, status := getJSON(t, peerDatabase(t, n, o, devnet.ChaincodeName)+"/"+url.PathEscape(key))
		if want == nil {
			if status != http.StatusNotFound {
				t.Fatalf("%s: document %s after its deletion: %s %v, want 404", o.Peer, key, http.StatusText(status), doc)
			}
			continue
		}
		if status != http.StatusOK {
			t.Fatalf("%s: document %s: %s %v", o.Peer, key, http.StatusText(status), doc)
		}
		for f, v := range want {
			if doc[f] != v {
				t.Fatalf("%s: document %s = %v, want field %s = %v", o.Peer, key, doc, f, v)
			}
		}
	}
}

// getJSON GETs a CouchDB URL and decodes its JSON object answer.
func getJSON(t *testing.T, u string) (map[string]any, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("GET %s: %s, not a JSON object: %v", req.URL.Redacted(), resp.Status, err)
	}
	return doc, resp.StatusCode
}

// uniqueID is an ID no other run or test uses.
func uniqueID(prefix string) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%s-%s", prefix, hex.EncodeToString(b[:]))
}
