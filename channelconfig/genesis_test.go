package channelconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/fabricfixture"
	"github.com/weft-ledger/weft/protos"
)

var fixtureDir = fabricfixture.Dir()

func readBlock(t *testing.T, path string) *cb.Block {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("fixture not available: %v", err)
	}
	b, err := protos.UnmarshalBlock(raw)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return b
}

func TestGenesisBlockMatchesConfigtxgen(t *testing.T) {
	want := readBlock(t, filepath.Join(fixtureDir, "mychannel-genesis.block"))
	ctx, err := LoadConfigTx(filepath.Join(fixtureDir, "configtx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := GenesisBlock(ctx, "ChannelUsingRaft", "mychannel")
	if err != nil {
		t.Fatal(err)
	}
	wantCfg, wantCh, err := ConfigFromBlock(want)
	if err != nil {
		t.Fatal(err)
	}
	gotCfg, gotCh, err := ConfigFromBlock(got)
	if err != nil {
		t.Fatal(err)
	}
	if gotCh != wantCh {
		t.Errorf("channel ID = %q, want %q", gotCh, wantCh)
	}
	if !proto.Equal(gotCfg, wantCfg) {
		for _, d := range diffGroups("/Channel", gotCfg.ChannelGroup, wantCfg.ChannelGroup) {
			t.Error(d)
		}
		t.Fatal("genesis config differs from configtxgen's")
	}

	// Block shape: number 0, no previous hash, data hash over the envelope,
	// SIGNATURES metadata with LastConfig 0, envelope unsigned.
	if got.Header.Number != 0 || len(got.Header.PreviousHash) != 0 {
		t.Errorf("header = %v", got.Header)
	}
	if !bytes.Equal(got.Header.DataHash, protos.BlockDataHash(got.Data)) {
		t.Error("data hash does not cover the envelope")
	}
	if !bytes.Equal(got.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES], want.Metadata.Metadata[cb.BlockMetadataIndex_SIGNATURES]) {
		t.Errorf("SIGNATURES metadata = %x, want %x", got.Metadata.Metadata[0], want.Metadata.Metadata[0])
	}
	gotHdr, wantHdr := envelopeHeaders(t, got), envelopeHeaders(t, want)
	if gotHdr.Type != wantHdr.Type || gotHdr.Version != wantHdr.Version || gotHdr.Epoch != wantHdr.Epoch {
		t.Errorf("channel header type/version/epoch = %d/%d/%d, want %d/%d/%d",
			gotHdr.Type, gotHdr.Version, gotHdr.Epoch, wantHdr.Type, wantHdr.Version, wantHdr.Epoch)
	}
	if gotHdr.Timestamp.GetNanos() != 0 || gotHdr.TxId == "" {
		t.Errorf("channel header timestamp/txid = %v/%q", gotHdr.Timestamp, gotHdr.TxId)
	}
}

func envelopeHeaders(t *testing.T, b *cb.Block) *cb.ChannelHeader {
	t.Helper()
	env := &cb.Envelope{}
	payload := &cb.Payload{}
	chdr := &cb.ChannelHeader{}
	if err := proto.Unmarshal(b.Data.Data[0], env); err != nil {
		t.Fatal(err)
	}
	if len(env.Signature) != 0 {
		t.Error("genesis envelope is signed; configtxgen leaves it unsigned")
	}
	if err := proto.Unmarshal(env.Payload, payload); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(payload.Header.ChannelHeader, chdr); err != nil {
		t.Fatal(err)
	}
	shdr := &cb.SignatureHeader{}
	if err := proto.Unmarshal(payload.Header.SignatureHeader, shdr); err != nil {
		t.Fatal(err)
	}
	if len(shdr.Creator) != 0 || len(shdr.Nonce) != 24 {
		t.Errorf("signature header creator %d bytes, nonce %d bytes; want 0 and 24", len(shdr.Creator), len(shdr.Nonce))
	}
	if want := protos.ComputeTxID(shdr.Nonce, shdr.Creator); chdr.TxId != want {
		t.Errorf("txid %s, want %s", chdr.TxId, want)
	}
	return chdr
}

// diffGroups names every element that differs between two config groups.
func diffGroups(path string, got, want *cb.ConfigGroup) []string {
	var out []string
	if got.GetVersion() != want.GetVersion() || got.GetModPolicy() != want.GetModPolicy() {
		out = append(out, path+": version/mod_policy differ")
	}
	for k := range union(got.GetGroups(), want.GetGroups()) {
		g, w := got.GetGroups()[k], want.GetGroups()[k]
		if g == nil || w == nil {
			out = append(out, path+"/"+k+": group only on one side")
			continue
		}
		out = append(out, diffGroups(path+"/"+k, g, w)...)
	}
	for k := range union(got.GetValues(), want.GetValues()) {
		if !proto.Equal(got.GetValues()[k], want.GetValues()[k]) {
			out = append(out, path+"/values/"+k+" differs")
		}
	}
	for k := range union(got.GetPolicies(), want.GetPolicies()) {
		if !proto.Equal(got.GetPolicies()[k], want.GetPolicies()[k]) {
			out = append(out, path+"/policies/"+k+" differs")
		}
	}
	return out
}

func union[V any](a, b map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func TestGenesisBlockErrorsNameTheKey(t *testing.T) {
	base, err := os.ReadFile(filepath.Join(fixtureDir, "configtx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, old, new, profile, want string
	}{
		{"unknown profile", "", "", "Nope", `profile "Nope" not found`},
		{"bad signature rule", `Admins:  {Type: Signature, Rule: "OR('Org1MSP.admin')"}`, `Admins:  {Type: Signature, Rule: "OR('Org1MSP.boss')"}`, "ChannelUsingRaft", "Organizations[0] (Org1MSP).Policies.Admins"},
		{"bad implicit rule", `BlockValidation: {Type: ImplicitMeta, Rule: "ANY Writers"}`, `BlockValidation: {Type: ImplicitMeta, Rule: "SOME Writers"}`, "ChannelUsingRaft", "Orderer.Policies.BlockValidation"},
		{"missing cert", "tls/server.crt\n            ServerTLSCert", "tls/nope.crt\n            ServerTLSCert", "ChannelUsingRaft", "Consenters[0].ClientTLSCert"},
		{"bad orderer type", "OrdererType: etcdraft", "OrdererType: kafka", "ChannelUsingRaft", `OrdererType "kafka"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(string(base), c.old, c.new, 1)
			if c.old != "" && src == string(base) {
				t.Fatalf("test setup: %q not found in fixture", c.old)
			}
			ctx, err := ParseConfigTx([]byte(src), fixtureDir)
			if err != nil {
				t.Fatal(err)
			}
			_, err = GenesisBlock(ctx, c.profile, "mychannel")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to mention %q", err, c.want)
			}
		})
	}
}
