package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	ab "github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/protos"
)

// run runs weft args and fails the test on error; it returns stdout.
func run(t *testing.T, vars map[string]string, args ...string) string {
	t.Helper()
	env, stdout, stderr := testEnv(vars)
	if err := Run(context.Background(), env, args); err != nil {
		t.Fatalf("weft %s: %v (stderr %q)", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func runErr(t *testing.T, vars map[string]string, args ...string) error {
	t.Helper()
	env, _, _ := testEnv(vars)
	err := Run(context.Background(), env, args)
	if err == nil {
		t.Fatalf("weft %s succeeded, want an error", strings.Join(args, " "))
	}
	return err
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s is not JSON: %v", path, err)
	}
	return v
}

// at walks a decoded JSON document: keys for objects, ints for arrays.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %T is not an object", path, v)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at %v: %T is not an array with index %d", path, v, k)
			}
			v = a[k]
		}
	}
	return v
}

func TestProtoDecodeEncodeBlockRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	genesis := testnet.SampleNet(t).Genesis()
	blockFile := writeFile(t, filepath.Join(dir, "genesis.block"), protos.Marshal(genesis))
	jsonFile := filepath.Join(dir, "genesis.json")
	run(t, nil, "configtxlator", "proto_decode", "--type", "common.Block", "--input", blockFile, "--output", jsonFile)

	doc := readJSON(t, jsonFile)
	payload := at(t, doc, "data", "data", 0, "payload")
	if typ := at(t, payload, "header", "channel_header", "type"); typ != float64(cb.HeaderType_CONFIG) {
		t.Fatalf("channel header type = %v, want 1 (CONFIG)", typ)
	}
	if nonce := at(t, payload, "header", "signature_header", "nonce"); nonce == "" {
		t.Fatal("signature header is not decoded")
	}
	if p := at(t, payload, "data", "config", "channel_group", "groups", "Application", "groups", "Org1MSP", "policies", "Admins", "policy", "value", "identities", 0, "principal"); at(t, p, "msp_identifier") != "Org1MSP" || at(t, p, "role") != "ADMIN" {
		t.Fatalf("Org1MSP Admins principal = %v, want an MSPRole", p)
	}
	group := at(t, payload, "data", "config", "channel_group")
	ct := at(t, group, "groups", "Orderer", "values", "ConsensusType", "value")
	if at(t, ct, "type") != "etcdraft" || at(t, ct, "metadata", "consenters", 0, "host") != "localhost" || at(t, ct, "metadata", "consenters", 0, "port") != float64(7050) {
		t.Fatalf("ConsensusType value is not decoded to etcdraft consenters: %v", ct)
	}
	if name := at(t, group, "groups", "Orderer", "groups", "OrdererOrg", "values", "MSP", "value", "config", "name"); name != "OrdererMSP" {
		t.Fatalf("orderer org MSP config name = %v", name)
	}
	if rule := at(t, group, "policies", "Admins", "policy", "value", "rule"); rule != "MAJORITY" {
		t.Fatalf("/Channel/Admins rule = %v, want MAJORITY", rule)
	}
	if sv := at(t, group, "version"); sv != "0" {
		t.Fatalf("channel group version = %#v, want \"0\" (uint64 as a string, as configtxlator prints it)", sv)
	}

	// Encoding the JSON gives the block back.
	back := filepath.Join(dir, "back.block")
	run(t, nil, "configtxlator", "proto_encode", "--type", "common.Block", "--input", jsonFile, "--output", back)
	raw, err := os.ReadFile(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, protos.Marshal(genesis)) {
		t.Error("decode then encode did not give the block's bytes back")
	}
	got, err := protos.UnmarshalBlock(raw)
	if err != nil {
		t.Fatal(err)
	}
	wantCfg, _, err := channelconfig.ConfigFromBlock(genesis)
	if err != nil {
		t.Fatal(err)
	}
	gotCfg, ch, err := channelconfig.ConfigFromBlock(got)
	if err != nil {
		t.Fatalf("re-encoded block: %v", err)
	}
	if ch != testnet.Channel || !proto.Equal(gotCfg, wantCfg) {
		t.Fatal("re-encoded block holds a different config")
	}
	if !proto.Equal(got.Header, genesis.Header) {
		t.Fatal("re-encoded block has a different header")
	}
}

// TestConfigUpdateWorkflowOffline follows Fabric's documented steps up to the
// signed envelope: extract the config, edit the JSON, encode both, compute
// the update, wrap it in an envelope written as JSON, sign it twice.
func TestConfigUpdateWorkflowOffline(t *testing.T) {
	t.Parallel()
	tn := testnet.SampleNet(t)
	dir := t.TempDir()
	update := computeBatchSizeUpdate(t, dir, tn.Genesis(), 42)

	// The update in readable form.
	updJSON := filepath.Join(dir, "update.json")
	run(t, nil, "configtxlator", "proto_decode", "--type", "common.ConfigUpdate", "--input", update, "--output", updJSON)
	u := readJSON(t, updJSON)
	if got := at(t, u, "write_set", "groups", "Orderer", "values", "BatchSize", "value", "max_message_count"); got != float64(42) {
		t.Fatalf("write set BatchSize = %v", got)
	}
	if got := at(t, u, "write_set", "groups", "Orderer", "values", "BatchSize", "version"); got != "1" {
		t.Fatalf("write set BatchSize version = %v, want \"1\"", got)
	}
	if at(t, u, "write_set", "groups", "Application") != nil {
		t.Fatal("the write set names the unchanged Application group")
	}

	envFile := wrapUpdateJSON(t, dir, updJSON)
	orderer := map[string]string{"CORE_PEER_LOCALMSPID": "OrdererMSP", "CORE_PEER_MSPCONFIGPATH": tn.Path("ordererOrganizations", "example.com", "users", "Admin@example.com", "msp")}
	org1 := map[string]string{"CORE_PEER_LOCALMSPID": "Org1MSP", "CORE_PEER_MSPCONFIGPATH": tn.Path("peerOrganizations", "org1.example.com", "users", "Admin@org1.example.com", "msp")}
	run(t, orderer, "channel", "signconfigtx", "-f", envFile)
	run(t, org1, "channel", "signconfigtx", "--file", envFile)

	raw, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	e, err := protos.UnmarshalEnvelope(raw)
	if err != nil {
		t.Fatalf("signed envelope: %v", err)
	}
	if cb.HeaderType(e.ChannelHeader.Type) != cb.HeaderType_CONFIG_UPDATE || e.ChannelHeader.ChannelId != testnet.Channel {
		t.Fatalf("signed envelope header %v", e.ChannelHeader)
	}
	cue := &cb.ConfigUpdateEnvelope{}
	if err := proto.Unmarshal(e.Payload.Data, cue); err != nil {
		t.Fatal(err)
	}
	if len(cue.Signatures) != 2 {
		t.Fatalf("%d config signatures, want 2", len(cue.Signatures))
	}
	mspIDs := map[string]bool{}
	for i, s := range cue.Signatures {
		sh, err := protos.UnmarshalSignatureHeader(s.SignatureHeader)
		if err != nil {
			t.Fatal(err)
		}
		id, err := tn.Bundle.MSPs().DeserializeIdentity(sh.Creator)
		if err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
		if err := id.Verify(append(append([]byte{}, s.SignatureHeader...), cue.ConfigUpdate...), s.Signature); err != nil {
			t.Fatalf("signature %d does not verify: %v", i, err)
		}
		mspIDs[id.MSPID] = true
	}
	if !mspIDs["OrdererMSP"] || !mspIDs["Org1MSP"] {
		t.Fatalf("signers %v, want OrdererMSP and Org1MSP", mspIDs)
	}
	// The outer envelope is signed by the last signer.
	id, err := tn.Bundle.MSPs().DeserializeIdentity(e.SignatureHeader.Creator)
	if err != nil || id.MSPID != "Org1MSP" {
		t.Fatalf("envelope creator %v %v, want Org1MSP", id, err)
	}
	if err := id.Verify(e.Envelope.Payload, e.Envelope.Signature); err != nil {
		t.Fatalf("envelope signature: %v", err)
	}
	// The orderer's config processing accepts it as the channel's next config.
	ce, err := tn.Bundle.ProposeConfigUpdate(e.Envelope)
	if err != nil {
		t.Fatalf("ProposeConfigUpdate: %v", err)
	}
	bs := &ab.BatchSize{}
	if err := proto.Unmarshal(ce.Config.ChannelGroup.Groups["Orderer"].Values["BatchSize"].Value, bs); err != nil || bs.MaxMessageCount != 42 {
		t.Fatalf("proposed BatchSize %v %v", bs, err)
	}
}

// computeBatchSizeUpdate extracts the config of block, sets its BatchSize
// MaxMessageCount through the JSON and returns the ConfigUpdate file.
func computeBatchSizeUpdate(t *testing.T, dir string, block *cb.Block, count int) string {
	t.Helper()
	blockFile := writeFile(t, filepath.Join(dir, "config_block.pb"), protos.Marshal(block))
	blockJSON := filepath.Join(dir, "config_block.json")
	run(t, nil, "configtxlator", "proto_decode", "--input", blockFile, "--type", "common.Block", "--output", blockJSON)
	cfg := at(t, readJSON(t, blockJSON), "data", "data", 0, "payload", "data", "config")
	cfgRaw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "config.json"), cfgRaw)
	at(t, cfg, "channel_group", "groups", "Orderer", "values", "BatchSize", "value").(map[string]any)["max_message_count"] = count
	modRaw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "modified_config.json"), modRaw)
	run(t, nil, "configtxlator", "proto_encode", "--input", filepath.Join(dir, "config.json"), "--type", "common.Config", "--output", filepath.Join(dir, "config.pb"))
	run(t, nil, "configtxlator", "proto_encode", "--input", filepath.Join(dir, "modified_config.json"), "--type", "common.Config", "--output", filepath.Join(dir, "modified_config.pb"))

	// The unmodified JSON encodes to the block's config.
	want, _, err := channelconfig.ConfigFromBlock(block)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readConfig(filepath.Join(dir, "config.pb"))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Fatal("config.json encodes to a config different from the block's")
	}

	out := filepath.Join(dir, "config_update.pb")
	run(t, nil, "configtxlator", "compute_update", "--channel_id", testnet.Channel, "--original", filepath.Join(dir, "config.pb"), "--updated", filepath.Join(dir, "modified_config.pb"), "--output", out)
	return out
}

// wrapUpdateJSON wraps a decoded ConfigUpdate into an unsigned envelope
// written as JSON, as Fabric's tutorials do with echo and jq.
func wrapUpdateJSON(t *testing.T, dir, updJSON string) string {
	t.Helper()
	upd, err := os.ReadFile(updJSON)
	if err != nil {
		t.Fatal(err)
	}
	envJSON := `{"payload":{"header":{"channel_header":{"channel_id":"` + testnet.Channel + `", "type":2}},"data":{"config_update":` + string(upd) + `}}}`
	writeFile(t, filepath.Join(dir, "update_in_envelope.json"), []byte(envJSON))
	out := filepath.Join(dir, "update_in_envelope.pb")
	run(t, nil, "configtxlator", "proto_encode", "--input", filepath.Join(dir, "update_in_envelope.json"), "--type", "common.Envelope", "--output", out)
	return out
}

func TestConfigtxlatorErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, _, err := channelconfig.ConfigFromBlock(testnet.SampleNet(t).Genesis())
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := writeFile(t, filepath.Join(dir, "config.pb"), protos.Marshal(cfg))
	badJSON := writeFile(t, filepath.Join(dir, "bad.json"), []byte(`{"channel_group":{"values":{"Nope":{"value":{"x":1}}}}}`))
	unknownField := writeFile(t, filepath.Join(dir, "unknown.json"), []byte(`{"sequence":"1","no_such_field":2}`))
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"configtxlator", "compute_update", "--channel_id", "mychannel", "--original", cfgFile, "--updated", cfgFile}, "no differences"},
		{[]string{"configtxlator", "compute_update", "--original", cfgFile, "--updated", cfgFile}, "--channel_id"},
		{[]string{"configtxlator", "proto_decode", "--input", cfgFile}, "--type"},
		{[]string{"configtxlator", "proto_decode", "--type", "common.Nope", "--input", cfgFile}, `unknown message type "common.Nope"`},
		{[]string{"configtxlator", "proto_encode", "--type", "common.Config", "--input", badJSON}, "channel_group.values.Nope.value"},
		{[]string{"configtxlator", "proto_encode", "--type", "common.Config", "--input", unknownField}, "no_such_field"},
		{[]string{"channel", "signconfigtx", "-f", cfgFile}, "CORE_PEER_LOCALMSPID"},
		{[]string{"channel", "update", "-f", cfgFile}, "usage: weft channel update"},
		{[]string{"channel", "fetch", "config", "-c", "mychannel"}, "CORE_PEER_LOCALMSPID"},
		{[]string{"channel", "fetch", "-c", "mychannel"}, "usage: weft channel fetch"},
		{[]string{"channel", "fetch", "latest", "-c", "mychannel"}, `"latest" is not newest, oldest, config or a block number`},
		{[]string{"channel", "consenter", "add", "-c", "mychannel", "--host", "h", "--port", "1"}, "--client-tls-cert is required"},
		{[]string{"channel", "consenter", "remove", "-c", "mychannel", "--host", "h"}, "--port"},
	}
	for _, tt := range tests {
		if err := runErr(t, nil, tt.args...); !strings.Contains(err.Error(), tt.want) {
			t.Errorf("weft %s = %v, want an error containing %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}
