package peer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"

	"github.com/weft-ledger/weft/internal/operations"
	"github.com/weft-ledger/weft/peer/chaincode/ccpackage"
	"github.com/weft-ledger/weft/peer/chaincode/externalbuilder"
	"github.com/weft-ledger/weft/statedb/couchdb"
)

// Config is the peer's configuration, read from core.yaml with CORE_*
// environment overrides (CORE_PEER_ADDRESS overrides peer.address, ...).
type Config struct {
	ID                     string // peer.id
	ListenAddress          string // peer.listenAddress: where the peer's gRPC services listen
	Address                string // peer.address: how other nodes and clients reach it
	ChaincodeListenAddress string // peer.chaincodeListenAddress: where launched chaincode registers
	ChaincodeAddress       string // peer.chaincodeAddress: the address handed to launched chaincode (empty: see chaincodeEndpoint)
	LocalMSPID             string // peer.localMspId
	MSPConfigPath          string // peer.mspConfigPath
	FileSystemPath         string // peer.fileSystemPath: ledgers, installed chaincode
	TLS                    TLSConfig
	GatewayEnabled         bool          // peer.gateway.enabled
	EndorsementTimeout     time.Duration // peer.gateway.endorsementTimeout
	ExecuteTimeout         time.Duration // chaincode.executetimeout
	StartupTimeout         time.Duration // chaincode.startuptimeout
	OperationsAddress      string        // operations.listenAddress; empty: no operations service
	// OperationsTLS is operations.tls: HTTPS for the operations service.
	OperationsTLS OperationsTLSConfig
	// MetricsProvider is metrics.provider: "prometheus" serves /metrics,
	// "disabled" does not (Fabric's "statsd" is not supported).
	MetricsProvider string
	// Logging is logging.spec and logging.format, with FABRIC_LOGGING_SPEC
	// and FABRIC_LOGGING_FORMAT taking precedence as in Fabric.
	Logging LoggingConfig
	// ReadyMaxLag is operations.readiness.maxBlockLag: /readyz reports a
	// channel not ready while its committed height is more than this many
	// blocks below its orderers' height.
	ReadyMaxLag uint64
	// ProfileAddress, when not empty, serves Go's pprof handlers there
	// (peer.profile.enabled and peer.profile.listenAddress, as in Fabric).
	ProfileAddress string
	// ExternalBuilders are chaincode.externalBuilders, tried in order before
	// the built-in chaincode handling; relative paths are resolved against
	// the config folder.
	ExternalBuilders []externalbuilder.Builder
	// DeliveryClient tunes how the peer pulls blocks from the orderers
	// (peer.deliveryclient.*); zero values keep the puller's defaults.
	DeliveryClient DeliveryClientConfig
	// CommitHashCheckInterval is peer.commitHashCheck.interval (Weft's own
	// key): how often each channel compares its commit hash with the other
	// peers it knows of (the channel's anchor peers); 0 turns it off.
	CommitHashCheckInterval time.Duration
	// Limits is peer.limits: how many requests each service serves at once
	// (Fabric's keys and defaults).
	Limits LimitsConfig
	// AuthTimeWindow is peer.authentication.timewindow: how far the
	// timestamp of a Deliver request may be from the peer's clock (0: 15m,
	// Fabric's default).
	AuthTimeWindow time.Duration
	// Ledger is the ledger section: which database holds the channels'
	// world state (ledger.state.*).
	Ledger LedgerConfig
	// Gossip is peer.gossip: how the peer finds and talks to other peers.
	Gossip GossipConfig
	// Discovery is peer.discovery: the Discovery service for clients.
	Discovery DiscoveryConfig
}

// LimitsConfig is peer.limits.
type LimitsConfig struct {
	// Concurrency limits, peer.limits.concurrency.{endorserService,
	// deliverService, gatewayService}: the unary calls in flight plus the
	// streams open per gRPC service; beyond it a request is refused at once.
	// 0 means no limit.
	EndorserService, DeliverService, GatewayService int
	// Package bounds chaincode packages, at install and whenever the peer
	// reads or extracts one: peer.limits.chaincodePackage.{maxBytes,
	// maxEntries, maxPathDepth} (Weft's own keys); 0 takes the default.
	Package ccpackage.Limits
}

// DeliveryClientConfig is peer.deliveryclient, with Fabric's key names.
type DeliveryClientConfig struct {
	ConnTimeout      time.Duration     // connTimeout: bound on connecting to one orderer
	ReconnectMin     time.Duration     // minimalReconnectInterval: first wait after a failure
	ReconnectMax     time.Duration     // reConnectBackoffThreshold: longest wait between attempts
	BehindTimeout    time.Duration     // blockCensorshipTimeoutKey: leave an orderer that stopped delivering for this long while another has the next block
	AddressOverrides []AddressOverride // addressOverrides
}

// AddressOverride replaces an orderer address found in the channel config
// (peer.deliveryclient.addressOverrides[i]: from, to, caCertsFile).
type AddressOverride struct {
	From, To, CACertsFile string
}

// OperationsTLSConfig is operations.tls, with Fabric's key names.
type OperationsTLSConfig struct {
	Enabled            bool     // enabled
	CertFile           string   // cert.file
	KeyFile            string   // key.file
	ClientAuthRequired bool     // clientAuthRequired
	ClientRootCAs      []string // clientRootCAs.files
}

// LoggingConfig is how the peer logs.
type LoggingConfig struct {
	Spec   string // Fabric logging spec, e.g. "info:peer.gateway=debug"
	Format string // "text" or "json"
}

// TLSConfig is the peer's TLS material (peer.tls.*).
type TLSConfig struct {
	Enabled            bool
	CertFile           string // peer.tls.cert.file
	KeyFile            string // peer.tls.key.file
	RootCertFile       string // peer.tls.rootcert.file
	ClientAuthRequired bool   // peer.tls.clientAuthRequired
}

// LoadConfig reads core.yaml from dir (FABRIC_CFG_PATH) and applies CORE_*
// environment overrides. Relative paths are resolved against dir, as Fabric does.
func LoadConfig(dir string) (Config, error) {
	v := viper.New()
	v.SetConfigName("core")
	v.SetConfigType("yaml")
	v.AddConfigPath(dir)
	v.SetEnvPrefix("CORE")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if err := v.ReadInConfig(); err != nil {
		return Config{}, fmt.Errorf("read core.yaml in %s (set FABRIC_CFG_PATH to the folder holding it): %w", dir, err)
	}
	abs := func(key string) string {
		p := v.GetString(key)
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	cfg := Config{
		ID:                     v.GetString("peer.id"),
		ListenAddress:          v.GetString("peer.listenAddress"),
		Address:                v.GetString("peer.address"),
		ChaincodeListenAddress: v.GetString("peer.chaincodeListenAddress"),
		ChaincodeAddress:       v.GetString("peer.chaincodeAddress"),
		LocalMSPID:             v.GetString("peer.localMspId"),
		MSPConfigPath:          abs("peer.mspConfigPath"),
		FileSystemPath:         abs("peer.fileSystemPath"),
		TLS: TLSConfig{
			Enabled:            v.GetBool("peer.tls.enabled"),
			CertFile:           abs("peer.tls.cert.file"),
			KeyFile:            abs("peer.tls.key.file"),
			RootCertFile:       abs("peer.tls.rootcert.file"),
			ClientAuthRequired: v.GetBool("peer.tls.clientAuthRequired"),
		},
		GatewayEnabled:     v.GetBool("peer.gateway.enabled"),
		EndorsementTimeout: v.GetDuration("peer.gateway.endorsementTimeout"),
		ExecuteTimeout:     v.GetDuration("chaincode.executetimeout"),
		StartupTimeout:     v.GetDuration("chaincode.startuptimeout"),
		OperationsAddress:  v.GetString("operations.listenAddress"),
	}
	cfg.OperationsTLS = OperationsTLSConfig{
		Enabled:            v.GetBool("operations.tls.enabled"),
		CertFile:           abs("operations.tls.cert.file"),
		KeyFile:            abs("operations.tls.key.file"),
		ClientAuthRequired: v.GetBool("operations.tls.clientAuthRequired"),
	}
	for _, f := range v.GetStringSlice("operations.tls.clientRootCAs.files") {
		if f == "" {
			continue
		}
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		cfg.OperationsTLS.ClientRootCAs = append(cfg.OperationsTLS.ClientRootCAs, f)
	}
	cfg.MetricsProvider = v.GetString("metrics.provider")
	if cfg.MetricsProvider == "" {
		cfg.MetricsProvider = "prometheus"
	}
	cfg.Logging = LoggingConfig{Spec: v.GetString("logging.spec"), Format: v.GetString("logging.format")}
	if env := os.Getenv("FABRIC_LOGGING_SPEC"); env != "" {
		cfg.Logging.Spec = env
	}
	if env := os.Getenv("FABRIC_LOGGING_FORMAT"); env != "" {
		cfg.Logging.Format = env
	}
	cfg.ReadyMaxLag = uint64(v.GetInt64("operations.readiness.maxBlockLag"))
	cfg.CommitHashCheckInterval = v.GetDuration("peer.commitHashCheck.interval")
	cfg.Limits = LimitsConfig{
		EndorserService: v.GetInt("peer.limits.concurrency.endorserService"),
		DeliverService:  v.GetInt("peer.limits.concurrency.deliverService"),
		GatewayService:  v.GetInt("peer.limits.concurrency.gatewayService"),
		Package: ccpackage.Limits{
			MaxBytes:     v.GetInt64(ccpackage.KeyMaxBytes),
			MaxEntries:   v.GetInt(ccpackage.KeyMaxEntries),
			MaxPathDepth: v.GetInt(ccpackage.KeyMaxPathDepth),
		},
	}
	cfg.AuthTimeWindow = v.GetDuration("peer.authentication.timewindow")
	cfg.DeliveryClient = DeliveryClientConfig{
		ConnTimeout:   v.GetDuration("peer.deliveryclient.connTimeout"),
		ReconnectMin:  v.GetDuration("peer.deliveryclient.minimalReconnectInterval"),
		ReconnectMax:  v.GetDuration("peer.deliveryclient.reConnectBackoffThreshold"),
		BehindTimeout: v.GetDuration("peer.deliveryclient.blockCensorshipTimeoutKey"),
	}
	var overrides []struct {
		From        string `yaml:"from"`
		To          string `yaml:"to"`
		CACertsFile string `yaml:"caCertsFile"`
	}
	if raw, ok := v.Get("peer.deliveryclient.addressOverrides").(string); ok {
		// As Fabric, the environment gives the list as YAML:
		// CORE_PEER_DELIVERYCLIENT_ADDRESSOVERRIDES="[{from: a:7050, to: b:7050, caCertsFile: ca.pem}]".
		if strings.TrimSpace(raw) != "" {
			if err := yaml.Unmarshal([]byte(raw), &overrides); err != nil {
				return Config{}, fmt.Errorf("invalid peer configuration: peer.deliveryclient.addressOverrides (CORE_PEER_DELIVERYCLIENT_ADDRESSOVERRIDES) is not a list of {from, to, caCertsFile} such as [{from: orderer.example.com:7050, to: localhost:7050, caCertsFile: ca.pem}]: %v", err)
			}
		}
	} else if err := v.UnmarshalKey("peer.deliveryclient.addressOverrides", &overrides); err != nil {
		return Config{}, fmt.Errorf("invalid peer configuration: peer.deliveryclient.addressOverrides is not a list of {from, to, caCertsFile}: %v", err)
	}
	for _, o := range overrides {
		ao := AddressOverride{From: o.From, To: o.To, CACertsFile: o.CACertsFile}
		if ao.CACertsFile != "" && !filepath.IsAbs(ao.CACertsFile) {
			ao.CACertsFile = filepath.Join(dir, ao.CACertsFile)
		}
		cfg.DeliveryClient.AddressOverrides = append(cfg.DeliveryClient.AddressOverrides, ao)
	}
	builders, err := loadExternalBuilders(v, dir)
	if err != nil {
		return Config{}, err
	}
	cfg.ExternalBuilders = builders
	if v.GetBool("peer.profile.enabled") {
		cfg.ProfileAddress = v.GetString("peer.profile.listenAddress")
	}
	var bad []string
	cfg.Ledger, bad = loadLedger(v)
	var more []string
	cfg.Gossip, more = loadGossip(v)
	bad = append(bad, more...)
	cfg.Discovery, more = loadDiscovery(v)
	bad = append(bad, more...)
	if len(bad) > 0 {
		return Config{}, fmt.Errorf("invalid peer configuration: %s", strings.Join(bad, "; "))
	}
	cfg.ChaincodeAddress = cfg.chaincodeEndpoint()
	return cfg, cfg.Validate()
}

// externalBuildersKey is where builders are configured, with its environment
// override.
const externalBuildersKey = "chaincode.externalBuilders (CORE_CHAINCODE_EXTERNALBUILDERS)"

// builderEntry is one chaincode.externalBuilders entry as written.
type builderEntry struct {
	Name                 string   `mapstructure:"name" yaml:"name"`
	Path                 string   `mapstructure:"path" yaml:"path"`
	PropagateEnvironment []string `mapstructure:"propagateEnvironment" yaml:"propagateEnvironment"`
	// EnvironmentWhitelist is the name Fabric 2.0 used; it applies when
	// propagateEnvironment is not set, as in Fabric.
	EnvironmentWhitelist []string `mapstructure:"environmentWhitelist" yaml:"environmentWhitelist"`
}

// loadExternalBuilders reads chaincode.externalBuilders: a list in core.yaml,
// or, as Fabric allows, a YAML (or JSON) list in CORE_CHAINCODE_EXTERNALBUILDERS.
func loadExternalBuilders(v *viper.Viper, dir string) ([]externalbuilder.Builder, error) {
	var entries []builderEntry
	switch val := v.Get("chaincode.externalBuilders").(type) {
	case nil:
		return nil, nil
	case string:
		if strings.TrimSpace(val) == "" {
			return nil, nil
		}
		if err := yaml.Unmarshal([]byte(val), &entries); err != nil {
			return nil, fmt.Errorf("invalid peer configuration: %s is not a list of {name, path, propagateEnvironment}, such as [{name: mybuilder, path: /opt/builders/mine}]: %v", externalBuildersKey, err)
		}
	default:
		if err := v.UnmarshalKey("chaincode.externalBuilders", &entries); err != nil {
			return nil, fmt.Errorf("invalid peer configuration: %s is not a list of {name, path, propagateEnvironment}: %v", externalBuildersKey, err)
		}
	}
	var builders []externalbuilder.Builder
	for _, e := range entries {
		b := externalbuilder.Builder{Name: e.Name, Path: e.Path, PropagateEnvironment: e.PropagateEnvironment}
		if len(b.PropagateEnvironment) == 0 {
			b.PropagateEnvironment = e.EnvironmentWhitelist
		}
		if b.Path != "" && !filepath.IsAbs(b.Path) {
			b.Path = filepath.Join(dir, b.Path)
		}
		if fabricStockCCaaSBuilder(b) {
			continue
		}
		builders = append(builders, b)
	}
	return builders, nil
}

// fabricStockCCaaSBuilder reports whether b is the ccaas_builder entry of
// Fabric's stock core.yaml pointing at a folder that does not exist here.
// Weft serves ccaas packages itself, so a core.yaml copied from Fabric keeps
// working: the entry is skipped instead of refused.
func fabricStockCCaaSBuilder(b externalbuilder.Builder) bool {
	if b.Name != "ccaas_builder" {
		return false
	}
	_, err := os.Stat(b.Path)
	return errors.Is(err, fs.ErrNotExist)
}

// Validate checks the configuration once at start; errors name the key.
func (c Config) Validate() error {
	var errs []string
	if c.CommitHashCheckInterval < 0 {
		errs = append(errs, fmt.Sprintf("peer.commitHashCheck.interval (CORE_PEER_COMMITHASHCHECK_INTERVAL) = %v: use a positive duration, or 0 to turn the check off", c.CommitHashCheckInterval))
	}
	for _, l := range []struct {
		key string
		n   int
	}{
		{"peer.limits.concurrency.endorserService (CORE_PEER_LIMITS_CONCURRENCY_ENDORSERSERVICE)", c.Limits.EndorserService},
		{"peer.limits.concurrency.deliverService (CORE_PEER_LIMITS_CONCURRENCY_DELIVERSERVICE)", c.Limits.DeliverService},
		{"peer.limits.concurrency.gatewayService (CORE_PEER_LIMITS_CONCURRENCY_GATEWAYSERVICE)", c.Limits.GatewayService},
	} {
		if l.n < 0 {
			errs = append(errs, fmt.Sprintf("%s = %d: use a positive number of requests, or 0 for no limit", l.key, l.n))
		}
	}
	for _, l := range []struct {
		key string
		n   int64
	}{
		{ccpackage.KeyMaxBytes, c.Limits.Package.MaxBytes},
		{ccpackage.KeyMaxEntries, int64(c.Limits.Package.MaxEntries)},
		{ccpackage.KeyMaxPathDepth, int64(c.Limits.Package.MaxPathDepth)},
	} {
		if l.n < 0 {
			errs = append(errs, fmt.Sprintf("%s (CORE_%s) = %d: use a positive number, or 0 for the default",
				l.key, strings.ToUpper(strings.ReplaceAll(l.key, ".", "_")), l.n))
		}
	}
	if c.AuthTimeWindow < 0 {
		errs = append(errs, fmt.Sprintf("peer.authentication.timewindow (CORE_PEER_AUTHENTICATION_TIMEWINDOW) = %v: use a positive duration (Fabric's default is 15m)", c.AuthTimeWindow))
	}
	need := func(key, val string) {
		if val == "" {
			errs = append(errs, key+" is empty")
		}
	}
	need("peer.id (CORE_PEER_ID)", c.ID)
	need("peer.localMspId (CORE_PEER_LOCALMSPID)", c.LocalMSPID)
	need("peer.mspConfigPath (CORE_PEER_MSPCONFIGPATH)", c.MSPConfigPath)
	need("peer.fileSystemPath (CORE_PEER_FILESYSTEMPATH)", c.FileSystemPath)
	for _, a := range []struct{ key, val string }{
		{"peer.listenAddress (CORE_PEER_LISTENADDRESS)", c.ListenAddress},
		{"peer.address (CORE_PEER_ADDRESS)", c.Address},
		{"peer.chaincodeListenAddress (CORE_PEER_CHAINCODELISTENADDRESS)", c.ChaincodeListenAddress},
	} {
		if _, _, err := net.SplitHostPort(a.val); err != nil {
			errs = append(errs, fmt.Sprintf("%s = %q is not host:port", a.key, a.val))
		}
	}
	if _, _, err := net.SplitHostPort(c.ChaincodeListenAddress); err == nil || c.ChaincodeAddress != "" {
		if e := c.checkChaincodeEndpoint(); e != "" {
			errs = append(errs, e)
		}
	}
	if c.TLS.Enabled {
		for _, f := range []struct{ key, val string }{
			{"peer.tls.cert.file (CORE_PEER_TLS_CERT_FILE)", c.TLS.CertFile},
			{"peer.tls.key.file (CORE_PEER_TLS_KEY_FILE)", c.TLS.KeyFile},
			{"peer.tls.rootcert.file (CORE_PEER_TLS_ROOTCERT_FILE)", c.TLS.RootCertFile},
		} {
			if _, err := os.Stat(f.val); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", f.key, err))
			}
		}
	}
	if c.OperationsAddress != "" {
		if _, _, err := net.SplitHostPort(c.OperationsAddress); err != nil {
			errs = append(errs, fmt.Sprintf("operations.listenAddress (CORE_OPERATIONS_LISTENADDRESS) = %q is not host:port", c.OperationsAddress))
		}
	}
	if c.OperationsTLS.Enabled {
		for _, f := range []struct{ key, val string }{
			{"operations.tls.cert.file (CORE_OPERATIONS_TLS_CERT_FILE)", c.OperationsTLS.CertFile},
			{"operations.tls.key.file (CORE_OPERATIONS_TLS_KEY_FILE)", c.OperationsTLS.KeyFile},
		} {
			if _, err := os.Stat(f.val); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", f.key, err))
			}
		}
		if c.OperationsTLS.ClientAuthRequired && len(c.OperationsTLS.ClientRootCAs) == 0 {
			errs = append(errs, "operations.tls.clientRootCAs.files is empty but operations.tls.clientAuthRequired is true: list the CA files that issue operator certificates")
		}
	}
	switch c.MetricsProvider {
	case "", "prometheus", "disabled":
	default:
		errs = append(errs, fmt.Sprintf("metrics.provider (CORE_METRICS_PROVIDER) = %q: use prometheus or disabled (statsd is not supported)", c.MetricsProvider))
	}
	if err := operations.ValidateSpec(c.Logging.Spec); err != nil {
		errs = append(errs, fmt.Sprintf("logging.spec (FABRIC_LOGGING_SPEC, CORE_LOGGING_SPEC): %v", err))
	}
	if _, err := operations.NewHandler(io.Discard, c.Logging.Format); err != nil {
		errs = append(errs, fmt.Sprintf("logging.format (FABRIC_LOGGING_FORMAT, CORE_LOGGING_FORMAT): %v", err))
	}
	if c.ExecuteTimeout <= 0 {
		errs = append(errs, "chaincode.executetimeout must be a positive duration such as 30s")
	}
	for i, o := range c.DeliveryClient.AddressOverrides {
		key := fmt.Sprintf("peer.deliveryclient.addressOverrides[%d]", i)
		if _, _, err := net.SplitHostPort(o.From); err != nil {
			errs = append(errs, fmt.Sprintf("%s.from = %q is not host:port", key, o.From))
		}
		if _, _, err := net.SplitHostPort(o.To); err != nil {
			errs = append(errs, fmt.Sprintf("%s.to = %q is not host:port", key, o.To))
		}
		if o.CACertsFile != "" {
			if _, err := os.Stat(o.CACertsFile); err != nil {
				errs = append(errs, fmt.Sprintf("%s.caCertsFile: %v", key, err))
			}
		}
	}
	for i, b := range c.ExternalBuilders {
		if err := b.Validate(); err != nil {
			errs = append(errs, fmt.Sprintf("chaincode.externalBuilders[%d] (CORE_CHAINCODE_EXTERNALBUILDERS): %v", i, err))
		}
	}
	errs = append(errs, c.Ledger.validate()...)
	errs = append(errs, c.Gossip.validate()...)
	errs = append(errs, c.Discovery.validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("invalid peer configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

// The state databases ledger.state.stateDatabase names, spelled as in
// Fabric. As in Fabric the names are case-sensitive; unlike Fabric, which
// takes any other value for goleveldb, Weft refuses it.
const (
	StateGoLevelDB = "goleveldb"
	StateCouchDB   = "CouchDB"
)

// LedgerConfig is the ledger section of core.yaml, with Fabric's keys.
// Fabric's other ledger keys (ledger.history.enableHistoryDatabase,
// ledger.pvtdataStore.*, ledger.snapshots.*) are not read: Weft always
// indexes history and has neither snapshots nor a reconciler.
type LedgerConfig struct {
	// StateDatabase is ledger.state.stateDatabase: StateGoLevelDB (the
	// default) keeps each channel's world state in LevelDB in the channel's
	// ledger folder; StateCouchDB keeps it in the CouchDB server CouchDB
	// names.
	StateDatabase string
	// TotalQueryLimit is ledger.state.totalQueryLimit: the most results one
	// chaincode query returns (Fabric's key, next to stateDatabase).
	TotalQueryLimit int
	// CouchDB is ledger.state.couchDBConfig, read whatever the state
	// database (and checked only when it is CouchDB); TotalQueryLimit is
	// copied into it. Values mean what they mean in core.yaml (CacheSizeMB
	// 0 turns the cache off, as Fabric's cacheSize: 0 does); the node
	// translates them for the backend and sets Logger.
	CouchDB couchdb.Config
}

// UsesCouchDB reports whether the channels' world state is in CouchDB.
func (l LedgerConfig) UsesCouchDB() bool { return l.StateDatabase == StateCouchDB }

// keyEnv names a core.yaml key with its environment override.
func keyEnv(key string) string {
	return key + " (CORE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_")) + ")"
}

// Fabric's defaults for ledger keys core.yaml leaves out (those of its
// sampleconfig/core.yaml).
const (
	defaultTotalQueryLimit     = 100000
	defaultCouchMaxRetries     = 3
	defaultCouchStartupRetries = 10
	defaultCouchTimeout        = 35 * time.Second
	defaultCouchInternalLimit  = 1000
	defaultCouchBatchSize      = 1000
	defaultCouchWarmAfter      = 1
	defaultCouchCacheSizeMB    = 64
)

// couchKey is a key of ledger.state.couchDBConfig.
func couchKey(name string) string { return "ledger.state.couchDBConfig." + name }

// loadLedger reads the ledger section. Keys left out take Fabric's
// defaults; a value that is not of the key's type is reported, naming the
// key, rather than read as zero.
func loadLedger(v *viper.Viper) (LedgerConfig, []string) {
	k := &keys{v: v}
	num := func(key string, def int) int { return k.num(key, def) }
	dur := func(key string, def time.Duration) time.Duration { return k.dur(key, def) }
	flag := func(key string) bool { return k.flag(key, false) }
	raw := k.raw
	l := LedgerConfig{
		StateDatabase:   v.GetString("ledger.state.stateDatabase"),
		TotalQueryLimit: num("ledger.state.totalQueryLimit", defaultTotalQueryLimit),
		CouchDB: couchdb.Config{
			Address:                 strings.TrimSpace(v.GetString(couchKey("couchDBAddress"))),
			Username:                v.GetString(couchKey("username")),
			Password:                v.GetString(couchKey("password")),
			MaxRetries:              num(couchKey("maxRetries"), defaultCouchMaxRetries),
			MaxRetriesOnStartup:     num(couchKey("maxRetriesOnStartup"), defaultCouchStartupRetries),
			RequestTimeout:          dur(couchKey("requestTimeout"), defaultCouchTimeout),
			InternalQueryLimit:      num(couchKey("internalQueryLimit"), defaultCouchInternalLimit),
			MaxBatchUpdateSize:      num(couchKey("maxBatchUpdateSize"), defaultCouchBatchSize),
			WarmIndexesAfterNBlocks: num(couchKey("warmIndexesAfterNBlocks"), defaultCouchWarmAfter),
			CreateGlobalChangesDB:   flag(couchKey("createGlobalChangesDB")),
			CacheSizeMB:             num(couchKey("cacheSize"), defaultCouchCacheSizeMB),
			DatabasePrefix:          v.GetString(couchKey("databasePrefix")),
		},
	}
	if l.StateDatabase == "" {
		l.StateDatabase = StateGoLevelDB // Fabric's default
	}
	l.CouchDB.TotalQueryLimit = l.TotalQueryLimit
	if _, set := raw(couchKey("totalQueryLimit")); set {
		k.bad = append(k.bad, keyEnv(couchKey("totalQueryLimit"))+" is not a key: the limit is ledger.state.totalQueryLimit (CORE_LEDGER_STATE_TOTALQUERYLIMIT), next to stateDatabase, as in Fabric")
	}
	return l, k.bad
}

// couchDatabaseName is what CouchDB allows in a database name; a prefix
// must also start with a letter, as a name must.
var couchDatabaseName = regexp.MustCompile(`^[a-z][a-z0-9_$()+/-]*$`)

// maxDatabasePrefix leaves room, within CouchDB's 238 characters, for the
// longest name Fabric's layout gives a database (statedb/couchdb).
const maxDatabasePrefix = 19

// validate checks the ledger section; each problem names its key.
func (l LedgerConfig) validate() []string {
	var errs []string
	if l.TotalQueryLimit < 0 {
		errs = append(errs, fmt.Sprintf("%s = %d: use a positive number of results", keyEnv("ledger.state.totalQueryLimit"), l.TotalQueryLimit))
	}
	switch l.StateDatabase {
	case "", StateGoLevelDB:
		return errs
	case StateCouchDB:
	default:
		msg := fmt.Sprintf("%s = %q: use %s or %s", keyEnv("ledger.state.stateDatabase"), l.StateDatabase, StateGoLevelDB, StateCouchDB)
		for _, name := range []string{StateGoLevelDB, StateCouchDB} {
			if strings.EqualFold(l.StateDatabase, name) {
				msg += fmt.Sprintf(" (the names are case-sensitive, as in Fabric: did you mean %s?)", name)
			}
		}
		return append(errs, msg)
	}
	c := l.CouchDB
	if e := checkCouchAddress(c.Address); e != "" {
		errs = append(errs, e)
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, fmt.Sprintf("%s and %s: give both or neither", keyEnv(couchKey("username")), keyEnv(couchKey("password"))))
	}
	for _, n := range []struct {
		name string
		val  int
		unit string
	}{
		{"maxRetries", c.MaxRetries, "retries"},
		{"maxRetriesOnStartup", c.MaxRetriesOnStartup, "retries"},
		{"internalQueryLimit", c.InternalQueryLimit, "records"},
		{"maxBatchUpdateSize", c.MaxBatchUpdateSize, "documents"},
		{"warmIndexesAfterNBlocks", c.WarmIndexesAfterNBlocks, "blocks"},
		{"cacheSize", c.CacheSizeMB, "megabytes"},
	} {
		if n.val < 0 {
			errs = append(errs, fmt.Sprintf("%s = %d: use 0 or a positive number of %s", keyEnv(couchKey(n.name)), n.val, n.unit))
		}
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Sprintf("%s = %v: use a positive duration such as 35s", keyEnv(couchKey("requestTimeout")), c.RequestTimeout))
	}
	if p := c.DatabasePrefix; p != "" && (!couchDatabaseName.MatchString(p) || len(p) > maxDatabasePrefix) {
		errs = append(errs, fmt.Sprintf("%s = %q: a prefix of CouchDB database names starts with a lower-case letter, holds only a-z, 0-9 and _$()+-/ and is at most %d characters long (e.g. peer0org1_)",
			keyEnv(couchKey("databasePrefix")), p, maxDatabasePrefix))
	}
	return errs
}

// checkCouchAddress checks ledger.state.couchDBConfig.couchDBAddress:
// host:port as in Fabric, or an http(s) URL. Credentials belong in
// username and password, which are never logged; an address is.
func checkCouchAddress(addr string) string {
	key := keyEnv(couchKey("couchDBAddress"))
	if addr == "" {
		return key + " is empty, but ledger.state.stateDatabase is CouchDB: give the CouchDB server as host:port (e.g. 127.0.0.1:5984) or http://host:port"
	}
	if !strings.Contains(addr, "://") {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return fmt.Sprintf("%s = %q is not host:port or an http(s) URL", key, addr)
		}
		return ""
	}
	u, err := url.Parse(addr)
	switch {
	case err != nil:
		return fmt.Sprintf("%s = %q is not host:port or an http(s) URL", key, addr)
	case u.User != nil:
		return fmt.Sprintf("%s holds credentials: put them in %s and %s (logs and /healthz name the address, never those)",
			key, keyEnv(couchKey("username")), keyEnv(couchKey("password")))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Sprintf("%s = %q is not host:port or an http(s) URL", key, addr)
	}
	return ""
}
