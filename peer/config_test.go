package peer

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
	"github.com/weft-ledger/weft/peer/chaincode/externalbuilder"
	"github.com/weft-ledger/weft/statedb/couchdb"
)

// configDir copies sampleconfig/core.yaml into a temporary folder, with empty
// TLS files where core.yaml expects them, and returns the folder.
func configDir(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "sampleconfig", "core.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "core.yaml"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"server.crt", "server.key", "ca.crt"} {
		if err := os.WriteFile(filepath.Join(dir, "tls", f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadConfigSample(t *testing.T) {
	dir := configDir(t)
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatalf("LoadConfig(sample core.yaml): %v", err)
	}
	want := Config{
		ID:                     "peer0.org1.example.com",
		ListenAddress:          "127.0.0.1:7051",
		Address:                "localhost:7051",
		ChaincodeListenAddress: "127.0.0.1:7052",
		ChaincodeAddress:       "127.0.0.1:7052", // empty in core.yaml: defaults to the listen address
		LocalMSPID:             "Org1MSP",
		MSPConfigPath:          filepath.Join(dir, "msp"),
		FileSystemPath:         "/var/hyperledger/production", // absolute: kept
		TLS: TLSConfig{
			Enabled:      true,
			CertFile:     filepath.Join(dir, "tls", "server.crt"),
			KeyFile:      filepath.Join(dir, "tls", "server.key"),
			RootCertFile: filepath.Join(dir, "tls", "ca.crt"),
		},
		GatewayEnabled:     true,
		EndorsementTimeout: 30 * time.Second,
		ExecuteTimeout:     30 * time.Second,
		StartupTimeout:     300 * time.Second,
		OperationsAddress:  "127.0.0.1:9444",
		OperationsTLS: OperationsTLSConfig{
			CertFile: filepath.Join(dir, "tls", "server.crt"),
			KeyFile:  filepath.Join(dir, "tls", "server.key"),
		},
		MetricsProvider: "prometheus",
		Logging:         LoggingConfig{Spec: "info", Format: "text"},
		ReadyMaxLag:     5,
		DeliveryClient: DeliveryClientConfig{
			ConnTimeout: 3 * time.Second, ReconnectMin: 100 * time.Millisecond, ReconnectMax: 10 * time.Second, BehindTimeout: 5 * time.Second,
		},
		CommitHashCheckInterval: time.Minute,
		Limits:                  LimitsConfig{EndorserService: 2500, DeliverService: 2500, GatewayService: 500, Package: ccpackage.Limits{MaxBytes: 512 << 20, MaxEntries: 100000, MaxPathDepth: 64}},
		AuthTimeWindow:          15 * time.Minute,
		Ledger: LedgerConfig{StateDatabase: "goleveldb", TotalQueryLimit: 100000, CouchDB: couchdb.Config{
			Address: "127.0.0.1:5984", MaxRetries: 3, MaxRetriesOnStartup: 10, RequestTimeout: 35 * time.Second,
			InternalQueryLimit: 1000, TotalQueryLimit: 100000, MaxBatchUpdateSize: 1000, WarmIndexesAfterNBlocks: 1, CacheSizeMB: 64,
		}},
		// The sample's gossip section writes out Fabric's defaults.
		Gossip:    GossipConfig{}.withDefaults(),
		Discovery: DiscoveryConfig{}.withDefaults(),
	}
	want.Gossip.StateInfoRetentionInterval = 0         // left empty in the sample: aliveExpirationTimeout
	want.Gossip.PvtData.ImplicitMaxPeerCountSet = true // the sample writes out the default
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("LoadConfig:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestLoadConfigEnvOverrides(t *testing.T) {
	dir := configDir(t)
	t.Setenv("CORE_PEER_ID", "peer9.org9.example.com")
	t.Setenv("CORE_PEER_ADDRESS", "peer9.example.com:9051")
	t.Setenv("CORE_PEER_LISTENADDRESS", "0.0.0.0:9051")
	t.Setenv("CORE_PEER_CHAINCODEADDRESS", "host.docker.internal:9052")
	t.Setenv("CORE_PEER_LOCALMSPID", "Org9MSP")
	t.Setenv("CORE_PEER_MSPCONFIGPATH", "/etc/weft/msp")
	t.Setenv("CORE_PEER_FILESYSTEMPATH", "data")
	t.Setenv("CORE_PEER_TLS_CERT_FILE", "other/cert.pem")
	t.Setenv("CORE_PEER_TLS_CLIENTAUTHREQUIRED", "true")
	t.Setenv("CORE_PEER_GATEWAY_ENABLED", "false")
	t.Setenv("CORE_CHAINCODE_EXECUTETIMEOUT", "5s")
	if err := os.MkdirAll(filepath.Join(dir, "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other", "cert.pem"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatalf("LoadConfig with overrides: %v", err)
	}
	checks := []struct{ name, got, want string }{
		{"ID", cfg.ID, "peer9.org9.example.com"},
		{"Address", cfg.Address, "peer9.example.com:9051"},
		{"ListenAddress", cfg.ListenAddress, "0.0.0.0:9051"},
		{"ChaincodeAddress", cfg.ChaincodeAddress, "host.docker.internal:9052"},
		{"ChaincodeListenAddress", cfg.ChaincodeListenAddress, "127.0.0.1:7052"},
		{"LocalMSPID", cfg.LocalMSPID, "Org9MSP"},
		{"MSPConfigPath", cfg.MSPConfigPath, "/etc/weft/msp"},
		{"FileSystemPath (relative, resolved against the config folder)", cfg.FileSystemPath, filepath.Join(dir, "data")},
		{"TLS.CertFile", cfg.TLS.CertFile, filepath.Join(dir, "other", "cert.pem")},
		{"TLS.KeyFile (not overridden)", cfg.TLS.KeyFile, filepath.Join(dir, "tls", "server.key")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !cfg.TLS.ClientAuthRequired || cfg.GatewayEnabled || cfg.ExecuteTimeout != 5*time.Second {
		t.Errorf("ClientAuthRequired=%t GatewayEnabled=%t ExecuteTimeout=%s, want true false 5s",
			cfg.TLS.ClientAuthRequired, cfg.GatewayEnabled, cfg.ExecuteTimeout)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	t.Run("no core.yaml", func(t *testing.T) {
		_, err := LoadConfig(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "FABRIC_CFG_PATH") {
			t.Fatalf("LoadConfig(empty folder) = %v, want an error pointing at FABRIC_CFG_PATH", err)
		}
	})
	t.Run("bad env values name their keys", func(t *testing.T) {
		dir := configDir(t)
		t.Setenv("CORE_PEER_LISTENADDRESS", "no-port")
		t.Setenv("CORE_PEER_TLS_KEY_FILE", "missing.key")
		t.Setenv("CORE_CHAINCODE_EXECUTETIMEOUT", "0s")
		_, err := LoadConfig(dir)
		if err == nil {
			t.Fatal("LoadConfig accepted a bad listen address, a missing key file and a zero timeout")
		}
		for _, key := range []string{"peer.listenAddress (CORE_PEER_LISTENADDRESS)", `"no-port"`,
			"peer.tls.key.file (CORE_PEER_TLS_KEY_FILE)", "missing.key", "chaincode.executetimeout"} {
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error does not mention %s: %v", key, err)
			}
		}
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tlsFile := filepath.Join(dir, "f.pem")
	if err := os.WriteFile(tlsFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	valid := func() Config {
		return Config{
			ID: "p", ListenAddress: "127.0.0.1:7051", Address: "localhost:7051", ChaincodeListenAddress: "127.0.0.1:7052",
			LocalMSPID: "Org1MSP", MSPConfigPath: "/msp", FileSystemPath: "/data", ExecuteTimeout: time.Second,
			TLS: TLSConfig{Enabled: true, CertFile: tlsFile, KeyFile: tlsFile, RootCertFile: tlsFile},
		}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"no id", func(c *Config) { c.ID = "" }, []string{"peer.id (CORE_PEER_ID) is empty"}},
		{"no msp id", func(c *Config) { c.LocalMSPID = "" }, []string{"peer.localMspId (CORE_PEER_LOCALMSPID)"}},
		{"no msp path", func(c *Config) { c.MSPConfigPath = "" }, []string{"peer.mspConfigPath (CORE_PEER_MSPCONFIGPATH)"}},
		{"no file system path", func(c *Config) { c.FileSystemPath = "" }, []string{"peer.fileSystemPath (CORE_PEER_FILESYSTEMPATH)"}},
		{"address without port", func(c *Config) { c.Address = "localhost" }, []string{"peer.address (CORE_PEER_ADDRESS)", `"localhost" is not host:port`}},
		{"chaincode listen address", func(c *Config) { c.ChaincodeListenAddress = "" }, []string{"peer.chaincodeListenAddress (CORE_PEER_CHAINCODELISTENADDRESS)"}},
		{"missing root cert", func(c *Config) { c.TLS.RootCertFile = filepath.Join(dir, "nope.pem") }, []string{"peer.tls.rootcert.file (CORE_PEER_TLS_ROOTCERT_FILE)", "nope.pem"}},
		{"negative timeout", func(c *Config) { c.ExecuteTimeout = -time.Second }, []string{"chaincode.executetimeout"}},
		{"negative concurrency limit", func(c *Config) { c.Limits.GatewayService = -1 }, []string{"peer.limits.concurrency.gatewayService (CORE_PEER_LIMITS_CONCURRENCY_GATEWAYSERVICE) = -1"}},
		{"negative package limit", func(c *Config) { c.Limits.Package.MaxEntries = -1 }, []string{"peer.limits.chaincodePackage.maxEntries (CORE_PEER_LIMITS_CHAINCODEPACKAGE_MAXENTRIES) = -1"}},
		{"several problems reported at once", func(c *Config) { c.ID, c.LocalMSPID = "", "" }, []string{"peer.id", "peer.localMspId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted the config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	t.Run("tls files are not checked when tls is off", func(t *testing.T) {
		c := valid()
		c.TLS = TLSConfig{Enabled: false, CertFile: "/nope"}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

// makeBuilder creates a builder folder holding the given bin/ programs.
func makeBuilder(t *testing.T, dir string, progs ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range progs {
		if err := os.WriteFile(filepath.Join(dir, "bin", p), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// withBuilders replaces core.yaml's empty chaincode.externalBuilders.
func withBuilders(t *testing.T, dir, list string) {
	t.Helper()
	p := filepath.Join(dir, "core.yaml")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	const empty = "  externalBuilders: []\n"
	if !strings.Contains(string(raw), empty) {
		t.Fatal("sample core.yaml has no empty chaincode.externalBuilders")
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(raw), empty, "  externalBuilders:\n"+list, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadConfigExternalBuilders(t *testing.T) {
	dir := configDir(t)
	abs := filepath.Join(t.TempDir(), "golang")
	makeBuilder(t, abs, "detect", "build", "release", "run")
	makeBuilder(t, filepath.Join(dir, "builders", "binary"), "detect", "build")
	withBuilders(t, dir, `    - name: my-golang-builder
      path: `+abs+`
      propagateEnvironment:
        - GOPROXY
        - GONOPROXY
    - name: noop-builder
      path: builders/binary
      environmentWhitelist: [OLD_STYLE]
`)
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	want := []externalbuilder.Builder{
		{Name: "my-golang-builder", Path: abs, PropagateEnvironment: []string{"GOPROXY", "GONOPROXY"}},
		{Name: "noop-builder", Path: filepath.Join(dir, "builders", "binary"), PropagateEnvironment: []string{"OLD_STYLE"}},
	}
	if !reflect.DeepEqual(cfg.ExternalBuilders, want) {
		t.Fatalf("ExternalBuilders = %+v, want %+v", cfg.ExternalBuilders, want)
	}

	t.Run("env override", func(t *testing.T) {
		t.Setenv("CORE_CHAINCODE_EXTERNALBUILDERS", `[{name: from-env, path: `+abs+`, propagateEnvironment: [A, B]}]`)
		cfg, err := LoadConfig(dir)
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		want := []externalbuilder.Builder{{Name: "from-env", Path: abs, PropagateEnvironment: []string{"A", "B"}}}
		if !reflect.DeepEqual(cfg.ExternalBuilders, want) {
			t.Fatalf("ExternalBuilders = %+v, want %+v", cfg.ExternalBuilders, want)
		}
	})
	t.Run("env override as JSON", func(t *testing.T) {
		t.Setenv("CORE_CHAINCODE_EXTERNALBUILDERS", `[{"name":"json","path":"`+abs+`"}]`)
		cfg, err := LoadConfig(dir)
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		if len(cfg.ExternalBuilders) != 1 || cfg.ExternalBuilders[0].Name != "json" {
			t.Fatalf("ExternalBuilders = %+v", cfg.ExternalBuilders)
		}
	})
	t.Run("sample has none", func(t *testing.T) {
		cfg, err := LoadConfig(configDir(t))
		if err != nil || len(cfg.ExternalBuilders) != 0 {
			t.Fatalf("sample ExternalBuilders = %+v, %v; want none", cfg.ExternalBuilders, err)
		}
	})
}

func TestLoadConfigBadBuilders(t *testing.T) {
	base := t.TempDir()
	noBuild := filepath.Join(base, "nobuild")
	makeBuilder(t, noBuild, "detect", "release")
	good := filepath.Join(base, "good")
	makeBuilder(t, good, "detect", "build")
	tests := []struct {
		name, list, env string
		want            []string
	}{
		{"missing bin/build", "    - name: half\n      path: " + noBuild + "\n", "",
			[]string{"chaincode.externalBuilders[0] (CORE_CHAINCODE_EXTERNALBUILDERS)", "external builder half", "missing bin/build"}},
		{"missing path", "    - name: ok\n      path: " + good + "\n    - name: lost\n      path: /nonexistent/builder\n", "",
			[]string{"chaincode.externalBuilders[1]", "external builder lost", "/nonexistent/builder"}},
		{"no name", "    - path: " + good + "\n", "",
			[]string{"chaincode.externalBuilders[0]", "external builder at path " + good + " has no name"}},
		{"no path", "    - name: nowhere\n", "",
			[]string{"chaincode.externalBuilders[0]", "external builder nowhere has no path"}},
		{"env not a list", "    []\n", "{name: x",
			[]string{"chaincode.externalBuilders (CORE_CHAINCODE_EXTERNALBUILDERS) is not a list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := configDir(t)
			withBuilders(t, dir, tt.list)
			if tt.env != "" {
				t.Setenv("CORE_CHAINCODE_EXTERNALBUILDERS", tt.env)
			}
			_, err := LoadConfig(dir)
			if err == nil {
				t.Fatal("LoadConfig accepted the builders")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestLoadConfigSkipsFabricStockCCaaSBuilder: a core.yaml copied from Fabric
// 2.5 lists ccaas_builder at /opt/hyperledger/ccaas_builder; Weft serves
// ccaas itself, so the entry is skipped when that folder is absent, while any
// other missing builder is still refused.
func TestLoadConfigSkipsFabricStockCCaaSBuilder(t *testing.T) {
	stock := `[{name: ccaas_builder, path: /nonexistent/hyperledger/ccaas_builder, propagateEnvironment: [CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG]}]`
	t.Setenv("CORE_CHAINCODE_EXTERNALBUILDERS", stock)
	cfg, err := LoadConfig(configDir(t))
	if err != nil {
		t.Fatalf("stock ccaas_builder entry refused: %v", err)
	}
	if len(cfg.ExternalBuilders) != 0 {
		t.Fatalf("builders %v, want the stock entry skipped", cfg.ExternalBuilders)
	}
	t.Setenv("CORE_CHAINCODE_EXTERNALBUILDERS", `[{name: mine, path: /nonexistent/builders/mine}]`)
	if _, err := LoadConfig(configDir(t)); err == nil || !strings.Contains(err.Error(), "mine") {
		t.Fatalf("missing builder 'mine': err %v, want a refusal naming it", err)
	}
}

// TestLoadConfigDeliveryClient: peer.deliveryclient keys reach the config
// with Fabric's names, and a bad override is refused naming its key.
func TestLoadConfigDeliveryClient(t *testing.T) {
	dir := configDir(t)
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	dc := cfg.DeliveryClient
	if dc.ConnTimeout != 3*time.Second || dc.ReconnectMin != 100*time.Millisecond || dc.ReconnectMax != 10*time.Second || dc.BehindTimeout != 5*time.Second {
		t.Fatalf("deliveryclient from the sample = %+v", dc)
	}
	ca := filepath.Join(dir, "orderer-ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CORE_PEER_DELIVERYCLIENT_BLOCKCENSORSHIPTIMEOUTKEY", "2s")
	raw, err := os.ReadFile(filepath.Join(dir, "core.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	withOverride := strings.Replace(string(raw), "    addressOverrides: []",
		"    addressOverrides:\n      - from: orderer.example.com:7050\n        to: 127.0.0.1:17050\n        caCertsFile: orderer-ca.pem", 1)
	if err := os.WriteFile(filepath.Join(dir, "core.yaml"), []byte(withOverride), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err = LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DeliveryClient.BehindTimeout != 2*time.Second {
		t.Errorf("env override of blockCensorshipTimeoutKey: %v", cfg.DeliveryClient.BehindTimeout)
	}
	want := AddressOverride{From: "orderer.example.com:7050", To: "127.0.0.1:17050", CACertsFile: ca}
	if got := cfg.DeliveryClient.AddressOverrides; len(got) != 1 || got[0] != want {
		t.Fatalf("addressOverrides = %+v, want [%+v]", got, want)
	}
	if _, err := addressOverrides(cfg.DeliveryClient.AddressOverrides); err == nil || !strings.Contains(err.Error(), "addressOverrides[0].caCertsFile") {
		t.Fatalf("override with a non-PEM CA file: %v", err)
	}
	bad := strings.Replace(withOverride, "to: 127.0.0.1:17050", "to: 127.0.0.1", 1)
	if err := os.WriteFile(filepath.Join(dir, "core.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(dir); err == nil || !strings.Contains(err.Error(), "addressOverrides[0].to") {
		t.Fatalf("override without a port: %v", err)
	}

	// Fabric's environment form: the list as a YAML string.
	t.Setenv("CORE_PEER_DELIVERYCLIENT_ADDRESSOVERRIDES", "[{from: orderer.example.com:7050, to: 127.0.0.1:27050, caCertsFile: "+ca+"}]")
	if cfg, err = LoadConfig(dir); err != nil {
		t.Fatal(err)
	}
	want.To = "127.0.0.1:27050"
	if got := cfg.DeliveryClient.AddressOverrides; len(got) != 1 || got[0] != want {
		t.Fatalf("addressOverrides from the environment = %+v, want [%+v]", got, want)
	}
	t.Setenv("CORE_PEER_DELIVERYCLIENT_ADDRESSOVERRIDES", "[{from: a:1, to")
	if _, err := LoadConfig(dir); err == nil || !strings.Contains(err.Error(), "CORE_PEER_DELIVERYCLIENT_ADDRESSOVERRIDES") {
		t.Fatalf("malformed overrides in the environment: %v", err)
	}
}

func TestLoadConfigOperations(t *testing.T) {
	dir := configDir(t)
	t.Setenv("CORE_OPERATIONS_LISTENADDRESS", "0.0.0.0:9443")
	t.Setenv("CORE_OPERATIONS_TLS_ENABLED", "true")
	t.Setenv("CORE_OPERATIONS_TLS_CLIENTROOTCAS_FILES", "tls/ca.crt")
	t.Setenv("CORE_METRICS_PROVIDER", "disabled")
	t.Setenv("CORE_LOGGING_SPEC", "warn")
	t.Setenv("FABRIC_LOGGING_SPEC", "info:endorser=debug") // wins, as in Fabric
	t.Setenv("FABRIC_LOGGING_FORMAT", "json")
	t.Setenv("CORE_OPERATIONS_READINESS_MAXBLOCKLAG", "0")
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OperationsAddress != "0.0.0.0:9443" || !cfg.OperationsTLS.Enabled || cfg.MetricsProvider != "disabled" || cfg.ReadyMaxLag != 0 {
		t.Fatalf("operations overrides not applied: %q %+v %q %d", cfg.OperationsAddress, cfg.OperationsTLS, cfg.MetricsProvider, cfg.ReadyMaxLag)
	}
	if got := cfg.OperationsTLS.ClientRootCAs; len(got) != 1 || got[0] != filepath.Join(dir, "tls", "ca.crt") {
		t.Fatalf("clientRootCAs.files = %v, want the relative path resolved against the config folder", got)
	}
	if cfg.Logging != (LoggingConfig{Spec: "info:endorser=debug", Format: "json"}) {
		t.Fatalf("Logging = %+v, want FABRIC_LOGGING_SPEC and FABRIC_LOGGING_FORMAT", cfg.Logging)
	}

	for env, want := range map[string]string{
		"FABRIC_LOGGING_SPEC=info:endorser=loud":   `logging.spec (FABRIC_LOGGING_SPEC, CORE_LOGGING_SPEC): invalid logging spec "info:endorser=loud": term "endorser=loud": unknown level "loud"`,
		"FABRIC_LOGGING_FORMAT=xml":                `logging.format (FABRIC_LOGGING_FORMAT, CORE_LOGGING_FORMAT): unknown log format "xml"`,
		"CORE_METRICS_PROVIDER=statsd":             `metrics.provider (CORE_METRICS_PROVIDER) = "statsd"`,
		"CORE_OPERATIONS_LISTENADDRESS=9443":       `operations.listenAddress (CORE_OPERATIONS_LISTENADDRESS) = "9443" is not host:port`,
		"CORE_OPERATIONS_TLS_CERT_FILE=nope.crt":   `operations.tls.cert.file (CORE_OPERATIONS_TLS_CERT_FILE)`,
		"CORE_OPERATIONS_TLS_CLIENTAUTHREQUIRED=1": ``,
	} {
		t.Run(env, func(t *testing.T) {
			k, v, _ := strings.Cut(env, "=")
			t.Setenv(k, v)
			if want == "" { // clientAuthRequired with roots given is fine
				if _, err := LoadConfig(dir); err != nil {
					t.Fatal(err)
				}
				t.Setenv("CORE_OPERATIONS_TLS_CLIENTROOTCAS_FILES", "")
				want = "operations.tls.clientRootCAs.files is empty"
			}
			_, err := LoadConfig(dir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("LoadConfig with %s = %v, want an error containing %q", env, err, want)
			}
		})
	}
}

// peer.authentication.timewindow is Fabric's key: an environment override
// applies, and a negative window is refused naming the key.
func TestLoadConfigAuthTimeWindow(t *testing.T) {
	dir := configDir(t)
	t.Setenv("CORE_PEER_AUTHENTICATION_TIMEWINDOW", "90s")
	cfg, err := LoadConfig(dir)
	if err != nil || cfg.AuthTimeWindow != 90*time.Second {
		t.Fatalf("timewindow from the environment = %v, %v; want 1m30s", cfg.AuthTimeWindow, err)
	}
	t.Setenv("CORE_PEER_AUTHENTICATION_TIMEWINDOW", "-1m")
	if _, err := LoadConfig(dir); err == nil || !strings.Contains(err.Error(), "peer.authentication.timewindow (CORE_PEER_AUTHENTICATION_TIMEWINDOW)") {
		t.Fatalf("negative timewindow: %v", err)
	}
}
