package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lb "github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"

	"github.com/weft-ledger/weft/internal/client"
)

// TestResultJSONIsFabrics checks that --output json prints what Fabric's CLI
// prints: the message's snake_case json tags, tab-indented, maps sorted.
func TestResultJSONIsFabrics(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := printResultJSON(&b, &lb.CheckCommitReadinessResult{Approvals: map[string]bool{"Org2MSP": false, "Org1MSP": true}}); err != nil {
		t.Fatal(err)
	}
	if want := "{\n\t\"approvals\": {\n\t\t\"Org1MSP\": true,\n\t\t\"Org2MSP\": false\n\t}\n}\n"; b.String() != want {
		t.Fatalf("checkcommitreadiness JSON:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	err := printResultJSON(&b, &lb.QueryInstalledChaincodesResult{InstalledChaincodes: []*lb.QueryInstalledChaincodesResult_InstalledChaincode{{
		PackageId: "basic_1.0:ab", Label: "basic_1.0",
		References: map[string]*lb.QueryInstalledChaincodesResult_References{"mychannel": {Chaincodes: []*lb.QueryInstalledChaincodesResult_Chaincode{{Name: "basic", Version: "1.0"}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n\t\"installed_chaincodes\": [\n\t\t{\n\t\t\t\"package_id\": \"basic_1.0:ab\",\n\t\t\t\"label\": \"basic_1.0\",\n\t\t\t\"references\": {\n\t\t\t\t\"mychannel\": {\n\t\t\t\t\t\"chaincodes\": [\n\t\t\t\t\t\t{\n\t\t\t\t\t\t\t\"name\": \"basic\",\n\t\t\t\t\t\t\t\"version\": \"1.0\"\n\t\t\t\t\t\t}\n\t\t\t\t\t]\n\t\t\t\t}\n\t\t\t}\n\t\t}\n\t]\n}\n"
	if b.String() != want {
		t.Fatalf("queryinstalled JSON:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	err = printResultJSON(&b, &lb.QueryApprovedChaincodeDefinitionResult{Sequence: 2, Version: "2.0", EndorsementPlugin: "escc", ValidationPlugin: "vscc",
		Source: &lb.ChaincodeSource{Type: &lb.ChaincodeSource_LocalPackage{LocalPackage: &lb.ChaincodeSource_Local{PackageId: "basic_2.0:cd"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"\"sequence\": 2,", "\"version\": \"2.0\",", "\"endorsement_plugin\": \"escc\",", "\"package_id\": \"basic_2.0:cd\""} {
		if !strings.Contains(b.String(), w) {
			t.Fatalf("queryapproved JSON lacks %q:\n%s", w, b.String())
		}
	}
	if strings.Contains(b.String(), "init_required") {
		t.Fatalf("queryapproved JSON shows init_required=false, which Fabric omits:\n%s", b.String())
	}
}

func TestCollectionsConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "collections.json")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`[{"name":"assetCollection","policy":"OR('Org1MSP.member','Org2MSP.member')","requiredPeerCount":1,"maxPeerCount":2,"blockToLive":1000000,"memberOnlyRead":true,"memberOnlyWrite":true},
	        {"name":"Org1MSPPrivateCollection","policy":"OR('Org1MSP.member')","requiredPeerCount":0,"maxPeerCount":1,"blockToLive":3,"memberOnlyRead":true,"memberOnlyWrite":false,"endorsementPolicy":{"signaturePolicy":"OR('Org1MSP.member')"}}]`)
	env, _, _ := testEnv(nil)
	fs := newFlags(env, "test")
	d := addDefinitionFlags(fs)
	if err := fs.Parse([]string{"-C", "mychannel", "-n", "private", "-v", "1", "--collections-config", path, "-E", "escc", "-V", "vscc"}); err != nil {
		t.Fatal(err)
	}
	def, err := d.definition()
	if err != nil {
		t.Fatal(err)
	}
	if def.EndorsementPlugin != "escc" || def.ValidationPlugin != "vscc" || len(def.Collections.GetConfig()) != 2 {
		t.Fatalf("definition = %+v", def)
	}
	a, b := def.Collections.Config[0].GetStaticCollectionConfig(), def.Collections.Config[1].GetStaticCollectionConfig()
	if a.Name != "assetCollection" || a.RequiredPeerCount != 1 || a.MaximumPeerCount != 2 || a.BlockToLive != 1000000 || !a.MemberOnlyRead || !a.MemberOnlyWrite ||
		len(a.MemberOrgsPolicy.GetSignaturePolicy().GetIdentities()) != 2 || a.EndorsementPolicy != nil {
		t.Fatalf("first collection = %v", a)
	}
	if b.Name != "Org1MSPPrivateCollection" || b.MemberOnlyWrite || b.EndorsementPolicy.GetSignaturePolicy() == nil {
		t.Fatalf("second collection = %v", b)
	}
	// The collections travel in approve, checkcommitreadiness and commit alike.
	for _, args := range [][][]byte{client.ApproveArgs(def), client.CheckCommitReadinessArgs(def), client.CommitArgs(def)} {
		if !bytes.Contains(args[1], []byte("Org1MSPPrivateCollection")) {
			t.Fatalf("%s arguments lack the collections", args[0])
		}
	}
	for _, bad := range []struct{ json, want string }{
		{`{"name":"x"}`, "JSON array"},
		{`[{"policy":"OR('Org1MSP.member')"}]`, "collection 0 has no name"},
		{`[{"name":"x"}]`, "collection x has no policy"},
		{`[{"name":"x","policy":"OR('Org1MSP.member'"}]`, "collection x: policy"},
	} {
		write(bad.json)
		if _, err := d.definition(); err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("collections %s: err = %v, want one naming the file and %q", bad.json, err, bad.want)
		}
	}
}

func TestLifecycleCommandErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pkg, err := client.CCaaSPackage("basic_1.0", client.ConnectionJSON{Address: "127.0.0.1:9999", DialTimeout: "10s"})
	if err != nil {
		t.Fatal(err)
	}
	pkgFile := filepath.Join(dir, "basic.tar.gz")
	if err := os.WriteFile(pkgFile, pkg, 0o644); err != nil {
		t.Fatal(err)
	}
	id := map[string]string{"CORE_PEER_LOCALMSPID": "Org1MSP", "CORE_PEER_MSPCONFIGPATH": dir}
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"unknown lifecycle alias", nil, []string{"lifecycle", "chaincode", "instantiate"}, `unknown command "lifecycle chaincode instantiate"`},
		{"getinstalledpackage needs --package-id", nil, []string{"lifecycle", "chaincode", "getinstalledpackage"}, "--package-id LABEL:HASH"},
		{"queryapproved needs a name", nil, []string{"chaincode", "queryapproved", "-C", "mychannel"}, "usage: weft chaincode queryapproved"},
		{"output format", nil, []string{"chaincode", "queryinstalled", "-O", "yaml"}, `--output "yaml" is not supported`},
		{"connection profile refused", id, []string{"chaincode", "queryinstalled", "--connectionProfile", "cp.yaml"}, "--connectionProfile is not supported"},
		{"raw and hex", nil, []string{"chaincode", "query", "-C", "c", "-n", "b", "-c", `{"Args":["f"]}`, "-r", "-x"}, "--raw (-r) and --hex (-x) are not compatible"},
		{"bad transient", nil, []string{"chaincode", "query", "-C", "c", "-n", "b", "-c", `{"Args":["f"]}`, "--transient", `{"k":"not base64!"}`}, "--transient must be a JSON object of base64 values"},
		{"clientauth without key", nil, []string{"chaincode", "invoke", "-o", "localhost:7050", "--clientauth", "-C", "c", "-n", "b", "-c", `{"Args":["f"]}`}, "--clientauth needs --certfile and --keyfile"},
		{"install flags after the file", nil, []string{"lifecycle", "chaincode", "install", pkgFile, "--peerAddresses", "localhost:7051"}, "CORE_PEER_LOCALMSPID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, stdout, _ := testEnv(tt.vars)
			err := Run(context.Background(), env, tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("wrote to stdout on error: %q", stdout.String())
			}
		})
	}

	// calculatepackageid needs no peer, in plain text and JSON.
	env, stdout, _ := testEnv(nil)
	if err := Run(context.Background(), env, []string{"lifecycle", "chaincode", "calculatepackageid", pkgFile}); err != nil || stdout.String() != client.PackageID("basic_1.0", pkg)+"\n" {
		t.Fatalf("calculatepackageid = %q, %v", stdout.String(), err)
	}
	env, stdout, _ = testEnv(nil)
	if err := Run(context.Background(), env, []string{"chaincode", "calculatepackageid", pkgFile, "-O", "json"}); err != nil || stdout.String() != "{\n\t\"package_id\": \""+client.PackageID("basic_1.0", pkg)+"\"\n}\n" {
		t.Fatalf("calculatepackageid -O json = %q, %v", stdout.String(), err)
	}
}
