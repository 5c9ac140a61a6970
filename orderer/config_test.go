package orderer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadSampleConfigWithEnvOverrides(t *testing.T) {
	t.Setenv("ORDERER_GENERAL_LISTENPORT", "7150")
	t.Setenv("ORDERER_GENERAL_LOCALMSPID", "OtherMSP")
	t.Setenv("ORDERER_GENERAL_TLS_ENABLED", "true")
	t.Setenv("ORDERER_GENERAL_TLS_ROOTCAS", "[/abs/a.crt, rel/b.crt]")
	t.Setenv("ORDERER_FILELEDGER_LOCATION", "/tmp/weft-ledger")
	t.Setenv("ORDERER_ADMIN_LISTENADDRESS", "0.0.0.0:7053")
	t.Setenv("ORDERER_OPERATIONS_LISTENADDRESS", "0.0.0.0:9443")
	cfg, err := LoadConfig("../sampleconfig")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := filepath.Abs("../sampleconfig")
	if cfg.General.ListenPort != 7150 || cfg.General.LocalMSPID != "OtherMSP" || !cfg.General.TLS.Enabled {
		t.Fatalf("env overrides not applied: %+v", cfg.General)
	}
	if got := cfg.General.TLS.RootCAs; len(got) != 2 || got[0] != "/abs/a.crt" || got[1] != filepath.Join(base, "rel/b.crt") {
		t.Fatalf("RootCAs = %v", got)
	}
	if cfg.General.LocalMSPDir != filepath.Join(base, "msp") || cfg.FileLedger.Location != "/tmp/weft-ledger" {
		t.Fatalf("paths: %s %s", cfg.General.LocalMSPDir, cfg.FileLedger.Location)
	}
	if cfg.Admin.ListenAddress != "0.0.0.0:7053" || cfg.Operations.ListenAddress != "0.0.0.0:9443" || !cfg.ChannelParticipation.Enabled {
		t.Fatalf("admin/operations: %+v %+v", cfg.Admin, cfg.Operations)
	}
	if cfg.Metrics.Provider != "prometheus" || cfg.Logging.Spec != "info" || cfg.Logging.Format != "text" {
		t.Fatalf("metrics/logging: %+v %+v", cfg.Metrics, cfg.Logging)
	}
	if cfg.walDir() != "/tmp/weft-ledger/etcdraft/wal" {
		t.Fatalf("default WAL dir %s", cfg.walDir())
	}
}

func TestFabricCfgPathAndValidationErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	yaml := `General:
  ListenAddress: 127.0.0.1
  ListenPort: 70500
  TLS:
    Enabled: true
  LocalMSPDir: msp
FileLedger:
  Location: ledger
Admin:
  ListenAddress: 127.0.0.1:7053
  TLS:
    Enabled: false
`
	if err := os.WriteFile(filepath.Join(dir, "orderer.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FABRIC_CFG_PATH", dir)
	_, err := LoadConfig("")
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{
		"General.ListenPort (env ORDERER_GENERAL_LISTENPORT): 70500 is not a TCP port",
		"General.LocalMSPID (env ORDERER_GENERAL_LOCALMSPID)",
		"General.TLS.Certificate (env ORDERER_GENERAL_TLS_CERTIFICATE)",
		"General.TLS.PrivateKey",
		"Admin.TLS.Enabled (env ORDERER_ADMIN_TLS_ENABLED)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	t.Setenv("FABRIC_CFG_PATH", t.TempDir())
	if _, err := LoadConfig(""); err == nil || !strings.Contains(err.Error(), "FABRIC_CFG_PATH") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestClusterKeysFromEnvAsDevnetSetsThem(t *testing.T) {
	t.Setenv("ORDERER_GENERAL_TLS_ENABLED", "true")
	t.Setenv("ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE", "/tls/server.crt")
	t.Setenv("ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY", "/tls/server.key")
	t.Setenv("ORDERER_GENERAL_CLUSTER_ROOTCAS", "/tls/ca.crt")
	t.Setenv("ORDERER_GENERAL_CLUSTER_SENDBUFFERSIZE", "50")
	cfg, err := LoadConfig("../sampleconfig")
	if err != nil {
		t.Fatal(err)
	}
	cl := cfg.General.Cluster
	if cl.ClientCertificate != "/tls/server.crt" || cl.ClientPrivateKey != "/tls/server.key" || len(cl.RootCAs) != 1 || cl.RootCAs[0] != "/tls/ca.crt" ||
		cl.SendBufferSize != 50 || cl.DialTimeout != 5*time.Second {
		t.Fatalf("General.Cluster = %+v", cl)
	}

	t.Setenv("ORDERER_GENERAL_CLUSTER_LISTENPORT", "7051")
	t.Setenv("ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY", "")
	_, err = LoadConfig("../sampleconfig")
	for _, want := range []string{"General.Cluster.ListenPort (env ORDERER_GENERAL_CLUSTER_LISTENPORT): a separate cluster listener", "set both General.Cluster.ClientCertificate and ClientPrivateKey"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
}

func TestOperationsConfigKeys(t *testing.T) {
	t.Setenv("ORDERER_METRICS_PROVIDER", "disabled")
	t.Setenv("ORDERER_LOGGING_SPEC", "warn")
	t.Setenv("FABRIC_LOGGING_SPEC", "info:raftchain=debug") // wins, as in Fabric
	t.Setenv("FABRIC_LOGGING_FORMAT", "json")
	cfg, err := LoadConfig("../sampleconfig")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.Provider != "disabled" || cfg.Logging.Spec != "info:raftchain=debug" || cfg.Logging.Format != "json" {
		t.Fatalf("metrics/logging overrides: %+v %+v", cfg.Metrics, cfg.Logging)
	}
	for env, want := range map[string]string{
		"ORDERER_METRICS_PROVIDER=statsd":          "Metrics.Provider (env ORDERER_METRICS_PROVIDER)",
		"FABRIC_LOGGING_SPEC=info:raftchain=loud":  `Logging.Spec (env ORDERER_LOGGING_SPEC): invalid logging spec "info:raftchain=loud"`,
		"FABRIC_LOGGING_FORMAT=xml":                "Logging.Format (env ORDERER_LOGGING_FORMAT)",
		"ORDERER_OPERATIONS_LISTENADDRESS=no-port": "Operations.ListenAddress (env ORDERER_OPERATIONS_LISTENADDRESS)",
	} {
		t.Run(env, func(t *testing.T) {
			k, v, _ := strings.Cut(env, "=")
			t.Setenv(k, v)
			if _, err := LoadConfig("../sampleconfig"); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("LoadConfig with %s = %v, want %q", env, err, want)
			}
		})
	}
}

// General.Authentication.TimeWindow is Fabric's key: 15m in the sample, an
// environment override applies, and a negative window is refused naming it.
func TestAuthenticationTimeWindow(t *testing.T) {
	cfg, err := LoadConfig("../sampleconfig")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.General.Authentication.TimeWindow; got != 15*time.Minute {
		t.Fatalf("sample TimeWindow = %s, want 15m", got)
	}
	t.Setenv("ORDERER_GENERAL_AUTHENTICATION_TIMEWINDOW", "2m")
	if cfg, err = LoadConfig("../sampleconfig"); err != nil || cfg.General.Authentication.TimeWindow != 2*time.Minute {
		t.Fatalf("TimeWindow from the environment = %v, %v; want 2m", cfg.General.Authentication.TimeWindow, err)
	}
	t.Setenv("ORDERER_GENERAL_AUTHENTICATION_TIMEWINDOW", "-1m")
	if _, err := LoadConfig("../sampleconfig"); err == nil || !strings.Contains(err.Error(), "General.Authentication.TimeWindow") {
		t.Fatalf("negative TimeWindow: %v", err)
	}
}

// Weft.CutWhenIdle is off in the sample (Fabric's cut) and
// ORDERER_WEFT_CUTWHENIDLE turns it on.
func TestCutWhenIdle(t *testing.T) {
	cfg, err := LoadConfig("../sampleconfig")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Weft.CutWhenIdle {
		t.Fatal("sample Weft.CutWhenIdle = true, want false")
	}
	t.Setenv("ORDERER_WEFT_CUTWHENIDLE", "true")
	if cfg, err = LoadConfig("../sampleconfig"); err != nil || !cfg.Weft.CutWhenIdle {
		t.Fatalf("Weft.CutWhenIdle from the environment = %v, %v; want true", cfg.Weft.CutWhenIdle, err)
	}
}
