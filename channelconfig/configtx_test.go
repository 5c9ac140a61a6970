package channelconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfigTxFixture(t *testing.T) {
	ctx, err := LoadConfigTx(filepath.Join(fixtureDir, "configtx.yaml"))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	p, err := ctx.Profile("ChannelUsingRaft")
	if err != nil {
		t.Fatal(err)
	}
	o := p.Orderer
	if o == nil || p.Application == nil {
		t.Fatal("profile lacks Orderer or Application")
	}
	// Merged from &OrdererDefaults.
	if time.Duration(o.BatchTimeout) != time.Second || o.BatchSize.MaxMessageCount != 500 ||
		o.BatchSize.AbsoluteMaxBytes != 99<<20 || o.BatchSize.PreferredMaxBytes != 2<<20 {
		t.Errorf("batch settings = %v %+v", time.Duration(o.BatchTimeout), o.BatchSize)
	}
	if o.OrdererType != "etcdraft" || len(o.EtcdRaft.Consenters) != 1 || o.EtcdRaft.Consenters[0].Port != 7050 {
		t.Errorf("orderer type/consenters = %q %+v", o.OrdererType, o.EtcdRaft)
	}
	if got := o.Policies["BlockValidation"]; got == nil || got.Rule != "ANY Writers" {
		t.Errorf("BlockValidation = %+v", got)
	}
	if !p.Capabilities["V2_0"] || !p.Application.Capabilities["V2_5"] || !o.Capabilities["V2_0"] {
		t.Errorf("capabilities = %v %v %v", p.Capabilities, p.Application.Capabilities, o.Capabilities)
	}
	if got := p.Application.Policies["LifecycleEndorsement"]; got == nil || got.Rule != "MAJORITY Endorsement" {
		t.Errorf("LifecycleEndorsement = %+v", got)
	}
	// Relative paths resolved against the yaml's folder, also inside aliases.
	absFixtures, err := filepath.Abs(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	wantMSP := filepath.Join(absFixtures, "organizations/peerOrganizations/org1.example.com/msp")
	if got := p.Application.Organizations[0].MSPDir; got != wantMSP {
		t.Errorf("Org1 MSPDir = %s, want %s", got, wantMSP)
	}
	if got := ctx.Organizations[1].MSPDir; got != wantMSP {
		t.Errorf("top-level Org1 MSPDir = %s, want %s", got, wantMSP)
	}
	if c := o.EtcdRaft.Consenters[0]; !filepath.IsAbs(c.ClientTLSCert) || !filepath.IsAbs(c.ServerTLSCert) {
		t.Errorf("consenter cert paths not absolute: %+v", c)
	}
	if got := o.Organizations[0].OrdererEndpoints; len(got) != 1 || got[0] != "127.0.0.1:7050" {
		t.Errorf("OrdererEndpoints = %v", got)
	}
}

func TestParseByteSize(t *testing.T) {
	cases := []struct {
		in   string
		want uint32
		bad  bool
	}{
		{"99 MB", 99 << 20, false},
		{"512 KB", 512 << 10, false},
		{"2MB", 2 << 20, false},
		{"16 mb", 16 << 20, false},
		{"1 G", 1 << 30, false},
		{"10m", 10 << 20, false},
		{"1048576", 1 << 20, false},
		{"4 GB", 0, true},
		{"12 TB", 0, true},
		{"MB", 0, true},
		{"-1 MB", 0, true},
		{"", 0, true},
	}
	for _, c := range cases {
		got, err := ParseByteSize(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("ParseByteSize(%q) = %d, want error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestParseConfigTxErrorsNameTheKey(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown key", "Orderer:\n  BatchTimout: 2s\n", "BatchTimout"},
		{"bad duration", "Orderer:\n  BatchTimeout: soon\n", `bad duration "soon"`},
		{"bad byte size", "Orderer:\n  BatchSize:\n    AbsoluteMaxBytes: lots\n", `bad byte size "lots"`},
		{"empty", "", "empty"},
		{"not yaml", "Profiles: [", "parse yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfigTx([]byte(c.yaml), "/tmp")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
		})
	}
	if _, err := LoadConfigTx(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("LoadConfigTx of a missing file succeeded")
	}
}

func TestGenesisDiffersWhenConfigDiffers(t *testing.T) {
	// Guards the equality test: a one-value change must be visible.
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "configtx.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := readBlock(t, filepath.Join(fixtureDir, "mychannel-genesis.block"))
	wantCfg, _, err := ConfigFromBlock(want)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := ParseConfigTx([]byte(strings.Replace(string(raw), "BatchTimeout: 1s", "BatchTimeout: 2s", 1)), fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenesisBlock(ctx, "ChannelUsingRaft", "mychannel")
	if err != nil {
		t.Fatal(err)
	}
	gotCfg, _, err := ConfigFromBlock(b)
	if err != nil {
		t.Fatal(err)
	}
	d := diffGroups("/Channel", gotCfg.ChannelGroup, wantCfg.ChannelGroup)
	if len(d) != 1 || d[0] != "/Channel/Orderer/values/BatchTimeout differs" {
		t.Fatalf("diff = %v, want only BatchTimeout", d)
	}
}
