package privatedata

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-gateway/pkg/client"

	"github.com/weft-ledger/weft/internal/devnettest"
)

// sampleAsset and sampleDetails are the sample's answers.
type sampleAsset struct {
	Type  string `json:"objectType"`
	ID    string `json:"assetID"`
	Color string `json:"color"`
	Size  int    `json:"size"`
	Owner string `json:"owner"`
}

type sampleDetails struct {
	ID             string `json:"assetID"`
	AppraisedValue int    `json:"appraisedValue"`
}

// transient is the transient map {name: JSON of v}.
func transient(t *testing.T, name string, v any) map[string][]byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{name: raw}
}

// submitSample submits fn of the sample through c with a transient map,
// endorsed by the peers of orgs, and waits until every peer has committed
// it, so that the next step sees it wherever it runs; it returns the error
// of any step, or of an invalid commit.
func submitSample(t *testing.T, c *client.Contract, fn string, tm map[string][]byte, orgs ...string) error {
	t.Helper()
	p, err := c.NewProposal(fn, client.WithTransient(tm), client.WithEndorsingOrganizations(orgs...))
	if err != nil {
		return err
	}
	tx, err := p.Endorse()
	if err != nil {
		return err
	}
	commit, err := tx.Submit()
	if err != nil {
		return err
	}
	st, err := commit.Status()
	if err != nil {
		return err
	}
	if !st.Successful {
		return &invalidTx{st}
	}
	devnettest.WaitEveryPeer(t, network, st)
	return nil
}

type invalidTx struct{ st *client.Status }

func (e *invalidTx) Error() string {
	return "transaction " + e.st.TransactionID + " ended " + e.st.Code.String()
}

// The flow of fabric-samples' asset-transfer-private-data, through Fabric's
// gateway client with transient input: Org1's client creates an asset whose
// appraisal only Org1 reads; Org2's client agrees to buy it at its own,
// private, appraisal; the transfer is refused while the two appraisals
// differ and goes through once they match, making Org2's client the owner.
func TestAssetTransferPrivateData(t *testing.T) {
	org1 := contract(t, peer0Org1, sample)
	org2 := contract(t, peer0Org2, sample)
	id := unique("asset")

	create := map[string]any{"objectType": "asset", "assetID": id, "color": "green", "size": 20, "appraisedValue": 100}
	if err := submitSample(t, org1, "CreateAsset", transient(t, "asset_properties", create), "Org1MSP"); err != nil {
		t.Fatalf("CreateAsset: %v", devnettest.ErrorText(err))
	}
	var asset sampleAsset
	evaluate(t, org1, &asset, "ReadAsset", id)
	if asset.ID != id || asset.Color != "green" || asset.Size != 20 || !ownedBy(t, asset, "User1@org1.example.com") {
		t.Fatalf("ReadAsset by Org1 = %+v", asset)
	}
	var seenByOrg2 sampleAsset
	evaluate(t, org2, &seenByOrg2, "ReadAsset", id)
	if seenByOrg2 != asset {
		t.Fatalf("ReadAsset by Org2 = %+v, want %+v", seenByOrg2, asset)
	}
	var details sampleDetails
	evaluate(t, org1, &details, "ReadAssetPrivateDetails", "Org1MSPPrivateCollection", id)
	if details.AppraisedValue != 100 {
		t.Fatalf("Org1's private details = %+v, want appraisedValue 100", details)
	}
	_, err := org2.EvaluateTransaction("ReadAssetPrivateDetails", "Org1MSPPrivateCollection", id)
	wantError(t, "Org2 reading Org1's appraisal", err, "Org1MSPPrivateCollection", "Org2MSP")

	owner := map[string]any{"assetID": id, "buyerMSP": "Org2MSP"}
	// No agreement yet.
	err = submitSample(t, org1, "TransferAsset", transient(t, "asset_owner", owner), "Org1MSP")
	wantError(t, "TransferAsset before any agreement", err, id)

	// Org2 agrees at another value: the hashes differ.
	if err := submitSample(t, org2, "AgreeToTransfer", transient(t, "asset_value", map[string]any{"assetID": id, "appraisedValue": 90}), "Org2MSP"); err != nil {
		t.Fatalf("AgreeToTransfer: %v", devnettest.ErrorText(err))
	}
	err = submitSample(t, org1, "TransferAsset", transient(t, "asset_owner", owner), "Org1MSP")
	wantError(t, "TransferAsset with different appraisals", err, "Org1MSPPrivateCollection", "Org2MSPPrivateCollection")

	// Org2 agrees at Org1's value.
	if err := submitSample(t, org2, "AgreeToTransfer", transient(t, "asset_value", map[string]any{"assetID": id, "appraisedValue": 100}), "Org2MSP"); err != nil {
		t.Fatalf("AgreeToTransfer: %v", devnettest.ErrorText(err))
	}
	var own2 sampleDetails
	evaluate(t, org2, &own2, "ReadAssetPrivateDetails", "Org2MSPPrivateCollection", id)
	if own2.AppraisedValue != 100 {
		t.Fatalf("Org2's private details = %+v", own2)
	}
	// Only the owner may transfer.
	err = submitSample(t, org2, "TransferAsset", transient(t, "asset_owner", owner), "Org2MSP")
	wantError(t, "TransferAsset by the buyer", err, "not its owner")
	if err := submitSample(t, org1, "TransferAsset", transient(t, "asset_owner", owner), "Org1MSP"); err != nil {
		t.Fatalf("TransferAsset: %v", devnettest.ErrorText(err))
	}
	evaluate(t, org2, &asset, "ReadAsset", id)
	if !ownedBy(t, asset, "User1@org2.example.com") {
		t.Fatalf("after the transfer the asset is %+v, want it owned by Org2's User1", asset)
	}
	if raw, err := org1.EvaluateTransaction("ReadAssetPrivateDetails", "Org1MSPPrivateCollection", id); err != nil || len(raw) != 0 {
		t.Fatalf("Org1's appraisal after the transfer: %q, %v; want none", raw, devnettest.ErrorText(err))
	}

	// The new owner may delete it; the old one no longer may.
	del := transient(t, "asset_delete", map[string]any{"assetID": id})
	err = submitSample(t, org1, "DeleteAsset", del, "Org1MSP")
	wantError(t, "DeleteAsset by the former owner", err, "not its owner")
	if err := submitSample(t, org2, "DeleteAsset", del, "Org2MSP"); err != nil {
		t.Fatalf("DeleteAsset: %v", devnettest.ErrorText(err))
	}
	if raw, err := org2.EvaluateTransaction("ReadAsset", id); err != nil || len(raw) != 0 {
		t.Fatalf("ReadAsset after DeleteAsset: %q, %v; want none", raw, devnettest.ErrorText(err))
	}
}

// evaluate evaluates fn through c and decodes its JSON answer into v.
func evaluate(t *testing.T, c *client.Contract, v any, fn string, args ...string) {
	t.Helper()
	raw, err := c.EvaluateTransaction(fn, args...)
	if err != nil {
		t.Fatalf("%s %q: %v", fn, args, devnettest.ErrorText(err))
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s %q returned %q: %v", fn, args, raw, err)
	}
}

// ownedBy reports whether the asset's owner (the base64 of the client's
// x509::subject::issuer, as GetClientIdentity().GetID() gives it) names
// the user cn.
func ownedBy(t *testing.T, a sampleAsset, cn string) bool {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(a.Owner)
	if err != nil {
		t.Fatalf("owner %q is not base64: %v", a.Owner, err)
	}
	return strings.Contains(string(raw), "CN="+cn+",") || strings.Contains(string(raw), "CN="+cn+"::")
}
