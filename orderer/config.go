package orderer

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/weft-ledger/weft/internal/operations"
)

// TLSConfig is one listener's TLS settings (Fabric's General.TLS / Admin.TLS shape).
type TLSConfig struct {
	Enabled            bool
	PrivateKey         string
	Certificate        string
	RootCAs            []string
	ClientAuthRequired bool
	ClientRootCAs      []string
}

// ClusterConfig is General.Cluster.
type ClusterConfig struct {
	// ClientCertificate and ClientPrivateKey are the TLS key pair presented to
	// other orderers (default General.TLS.Certificate/PrivateKey). The
	// certificate must be this orderer's ClientTLSCert in the channels'
	// consenter lists.
	ClientCertificate string
	ClientPrivateKey  string
	// RootCAs verify the other orderers' TLS server certificates, besides
	// General.TLS.RootCAs and the TLS CAs of the channels' orderer
	// organizations.
	RootCAs []string
	// SendBufferSize bounds the Raft messages waiting for one remote orderer
	// (default 100); more are dropped.
	SendBufferSize int
	// DialTimeout bounds one connection attempt to another orderer (default 5s).
	DialTimeout time.Duration
	// ListenAddress, ListenPort, ServerCertificate and ServerPrivateKey
	// would configure a separate cluster listener: Weft refuses them.
	ListenAddress     string
	ListenPort        int
	ServerCertificate string
	ServerPrivateKey  string
}

// Config is the orderer's typed configuration, loaded from orderer.yaml.
type Config struct {
	General struct {
		ListenAddress string
		ListenPort    int
		TLS           TLSConfig
		LocalMSPDir   string
		LocalMSPID    string
		// Cluster is how this orderer talks to the other consenters of its
		// channels (Fabric's General.Cluster). The cluster service runs on
		// the General listener; a separate cluster listener is not supported.
		Cluster ClusterConfig
		// Authentication is General.Authentication.
		Authentication struct {
			// TimeWindow is how far a Deliver request's timestamp may be
			// from the orderer's clock (default 15m, as in Fabric).
			TimeWindow time.Duration
		}
		// Profile is General.Profile: when Enabled, Go's pprof handlers are
		// served on Address (plain HTTP, for performance work only).
		Profile struct {
			Enabled bool
			Address string
		}
	}
	FileLedger struct {
		Location string
	}
	Consensus struct {
		// WALDir holds one Raft WAL folder per channel (default <FileLedger.Location>/etcdraft/wal).
		WALDir string
		// SnapshotIntervalBlocks compacts the in-memory Raft log every that many blocks (0: never).
		SnapshotIntervalBlocks uint64
	}
	Admin struct {
		ListenAddress string
		TLS           TLSConfig
	}
	Operations struct {
		// ListenAddress serves /healthz, /readyz, /metrics, /logspec and
		// /version; empty disables the operations service.
		ListenAddress string
		TLS           TLSConfig
	}
	Metrics struct {
		// Provider is "prometheus" (serve /metrics) or "disabled".
		Provider string
	}
	Logging struct {
		// Spec is a Fabric logging spec (FABRIC_LOGGING_SPEC wins over it).
		Spec string
		// Format is "text" or "json" (FABRIC_LOGGING_FORMAT wins over it).
		Format string
	}
	ChannelParticipation struct {
		Enabled bool
	}
	// Weft holds settings of Weft's own, which Fabric's orderer.yaml lacks.
	Weft struct {
		Reorder struct {
			// Channels lists the channels whose blocks this orderer, when it
			// leads their Raft group, orders against MVCC conflicts
			// (orderer/reorder); none by default. Set it alike on every
			// orderer of a channel: each leader decides for the blocks it cuts.
			Channels []string
		}
		// CutWhenIdle makes this orderer, when it leads a channel's Raft
		// group, also cut a block as soon as no block it cut is waiting to
		// be committed or written, unless the channel is busy
		// (docs/ordering.md, "When a block is cut"). Off by default: the
		// orderer cannot see whether its peers keep up, and peers that
		// commit slowly (on CouchDB) fall further behind with many small
		// blocks; the development network turns it on for LevelDB peers.
		CutWhenIdle bool
	}
}

// ListenAddr returns host:port of the gRPC listener.
func (c *Config) ListenAddr() string {
	return net.JoinHostPort(c.General.ListenAddress, fmt.Sprint(c.General.ListenPort))
}

// LoadConfig reads orderer.yaml from dir (FABRIC_CFG_PATH when dir is empty,
// else the working directory), applies ORDERER_* environment overrides (e.g.
// ORDERER_GENERAL_LISTENPORT, ORDERER_ADMIN_TLS_ENABLED), resolves relative
// paths against the folder of the file and validates the result.
func LoadConfig(dir string) (*Config, error) {
	if dir == "" {
		dir = os.Getenv("FABRIC_CFG_PATH")
	}
	if dir == "" {
		dir = "."
	}
	path := filepath.Join(dir, "orderer.yaml")
	v := viper.New()
	v.SetConfigFile(path)
	v.SetEnvPrefix("ORDERER")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("read %s (set FABRIC_CFG_PATH to the folder holding orderer.yaml): %w", path, err)
	}
	cfg := &Config{}
	g := &cfg.General
	g.ListenAddress = v.GetString("General.ListenAddress")
	g.ListenPort = v.GetInt("General.ListenPort")
	g.TLS = readTLS(v, "General.TLS")
	g.LocalMSPDir = v.GetString("General.LocalMSPDir")
	g.LocalMSPID = v.GetString("General.LocalMSPID")
	g.Authentication.TimeWindow = 15 * time.Minute
	if v.IsSet("General.Authentication.TimeWindow") {
		g.Authentication.TimeWindow = v.GetDuration("General.Authentication.TimeWindow")
	}
	g.Profile.Enabled = v.GetBool("General.Profile.Enabled")
	g.Profile.Address = v.GetString("General.Profile.Address")
	if g.Profile.Address == "" {
		g.Profile.Address = "0.0.0.0:6060"
	}
	g.Cluster = ClusterConfig{
		ClientCertificate: v.GetString("General.Cluster.ClientCertificate"),
		ClientPrivateKey:  v.GetString("General.Cluster.ClientPrivateKey"),
		RootCAs:           stringList(v.Get("General.Cluster.RootCAs")),
		SendBufferSize:    v.GetInt("General.Cluster.SendBufferSize"),
		DialTimeout:       v.GetDuration("General.Cluster.DialTimeout"),
		ListenAddress:     v.GetString("General.Cluster.ListenAddress"),
		ListenPort:        v.GetInt("General.Cluster.ListenPort"),
		ServerCertificate: v.GetString("General.Cluster.ServerCertificate"),
		ServerPrivateKey:  v.GetString("General.Cluster.ServerPrivateKey"),
	}
	cfg.FileLedger.Location = v.GetString("FileLedger.Location")
	cfg.Consensus.WALDir = v.GetString("Consensus.WALDir")
	cfg.Consensus.SnapshotIntervalBlocks = v.GetUint64("Consensus.SnapshotIntervalBlocks")
	cfg.Admin.ListenAddress = v.GetString("Admin.ListenAddress")
	cfg.Admin.TLS = readTLS(v, "Admin.TLS")
	cfg.Operations.ListenAddress = v.GetString("Operations.ListenAddress")
	cfg.Operations.TLS = readTLS(v, "Operations.TLS")
	cfg.Metrics.Provider = v.GetString("Metrics.Provider")
	if cfg.Metrics.Provider == "" {
		cfg.Metrics.Provider = "prometheus"
	}
	cfg.Logging.Spec = v.GetString("Logging.Spec")
	cfg.Logging.Format = v.GetString("Logging.Format")
	if env := os.Getenv("FABRIC_LOGGING_SPEC"); env != "" {
		cfg.Logging.Spec = env
	}
	if env := os.Getenv("FABRIC_LOGGING_FORMAT"); env != "" {
		cfg.Logging.Format = env
	}
	cfg.ChannelParticipation.Enabled = !v.IsSet("ChannelParticipation.Enabled") || v.GetBool("ChannelParticipation.Enabled")
	cfg.Weft.Reorder.Channels = stringList(v.Get("Weft.Reorder.Channels"))
	cfg.Weft.CutWhenIdle = v.GetBool("Weft.CutWhenIdle")

	base, _ := filepath.Abs(filepath.Dir(path))
	cfg.resolvePaths(base)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func readTLS(v *viper.Viper, key string) TLSConfig {
	return TLSConfig{
		Enabled:            v.GetBool(key + ".Enabled"),
		PrivateKey:         v.GetString(key + ".PrivateKey"),
		Certificate:        v.GetString(key + ".Certificate"),
		RootCAs:            stringList(v.Get(key + ".RootCAs")),
		ClientAuthRequired: v.GetBool(key + ".ClientAuthRequired"),
		ClientRootCAs:      stringList(v.Get(key + ".ClientRootCAs")),
	}
}

// stringList accepts a YAML list or an environment string in Fabric's
// "[a, b]" or "a,b" form.
func stringList(raw any) []string {
	switch x := raw.(type) {
	case nil:
		return nil
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	case string:
		s := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(x), "["), "]"))
		if s == "" {
			return nil
		}
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	default:
		return []string{fmt.Sprint(x)}
	}
}

func (c *Config) resolvePaths(base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	absTLS := func(t *TLSConfig) {
		abs(&t.PrivateKey)
		abs(&t.Certificate)
		for i := range t.RootCAs {
			abs(&t.RootCAs[i])
		}
		for i := range t.ClientRootCAs {
			abs(&t.ClientRootCAs[i])
		}
	}
	abs(&c.General.LocalMSPDir)
	abs(&c.General.Cluster.ClientCertificate)
	abs(&c.General.Cluster.ClientPrivateKey)
	for i := range c.General.Cluster.RootCAs {
		abs(&c.General.Cluster.RootCAs[i])
	}
	absTLS(&c.General.TLS)
	absTLS(&c.Admin.TLS)
	absTLS(&c.Operations.TLS)
	abs(&c.FileLedger.Location)
	abs(&c.Consensus.WALDir)
}

// Validate checks the configuration once at start; errors name the key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (env ORDERER_%s): %s", key, strings.ToUpper(strings.ReplaceAll(key, ".", "_")), fmt.Sprintf(format, args...)))
	}
	if c.General.ListenAddress == "" {
		bad("General.ListenAddress", "must be set (e.g. 0.0.0.0)")
	}
	if c.General.ListenPort < 0 || c.General.ListenPort > 65535 {
		bad("General.ListenPort", "%d is not a TCP port", c.General.ListenPort)
	}
	if c.General.LocalMSPDir == "" {
		bad("General.LocalMSPDir", "must name the orderer's MSP folder")
	}
	if c.General.LocalMSPID == "" {
		bad("General.LocalMSPID", "must be set (e.g. OrdererMSP)")
	}
	if c.FileLedger.Location == "" {
		bad("FileLedger.Location", "must name a writable folder")
	}
	checkTLS := func(key string, t TLSConfig, needClientCAs bool) {
		if !t.Enabled {
			return
		}
		if t.Certificate == "" {
			bad(key+".Certificate", "required when %s.Enabled is true", key)
		}
		if t.PrivateKey == "" {
			bad(key+".PrivateKey", "required when %s.Enabled is true", key)
		}
		if (t.ClientAuthRequired || needClientCAs) && len(t.ClientRootCAs) == 0 {
			bad(key+".ClientRootCAs", "required to verify client certificates")
		}
	}
	checkTLS("General.TLS", c.General.TLS, false)
	if c.General.Authentication.TimeWindow < 0 {
		bad("General.Authentication.TimeWindow", "%s is negative: it is how far a Deliver request's timestamp may be from this orderer's clock (e.g. 15m)", c.General.Authentication.TimeWindow)
	}
	cl := c.General.Cluster
	if cl.ListenAddress != "" || cl.ListenPort != 0 || cl.ServerCertificate != "" || cl.ServerPrivateKey != "" {
		bad("General.Cluster.ListenPort", "a separate cluster listener (General.Cluster.ListenAddress/ListenPort/ServerCertificate/ServerPrivateKey) is not supported: "+
			"Weft serves the cluster service on the General listener; leave these keys empty and name General.ListenAddress:ListenPort in the consenters")
	}
	if (cl.ClientCertificate == "") != (cl.ClientPrivateKey == "") {
		bad("General.Cluster.ClientCertificate", "set both General.Cluster.ClientCertificate and ClientPrivateKey, or neither (then General.TLS.Certificate/PrivateKey are used)")
	}
	if !c.General.TLS.Enabled && (cl.ClientCertificate != "" || len(cl.RootCAs) > 0) {
		bad("General.TLS.Enabled", "must be true when General.Cluster is configured: orderers talk to each other over mutual TLS")
	}
	if cl.SendBufferSize < 0 {
		bad("General.Cluster.SendBufferSize", "%d is negative", cl.SendBufferSize)
	}
	if c.Admin.ListenAddress != "" {
		if !c.Admin.TLS.Enabled {
			bad("Admin.TLS.Enabled", "the admin endpoint serves only HTTPS with mutual TLS; set it to true")
		}
		if !c.Admin.TLS.ClientAuthRequired && c.Admin.TLS.Enabled {
			bad("Admin.TLS.ClientAuthRequired", "must be true: admin clients are authenticated by their TLS certificate")
		}
		checkTLS("Admin.TLS", c.Admin.TLS, true)
	}
	checkTLS("Operations.TLS", c.Operations.TLS, false)
	if c.Operations.ListenAddress != "" {
		if _, _, err := net.SplitHostPort(c.Operations.ListenAddress); err != nil {
			bad("Operations.ListenAddress", "%q is not host:port", c.Operations.ListenAddress)
		}
	}
	for _, ch := range c.Weft.Reorder.Channels {
		if ch == "" || strings.ContainsAny(ch, " /") {
			bad("Weft.Reorder.Channels", "%q is not a channel name", ch)
		}
	}
	switch c.Metrics.Provider {
	case "", "prometheus", "disabled":
	default:
		bad("Metrics.Provider", "%q: use prometheus or disabled (statsd is not supported)", c.Metrics.Provider)
	}
	if err := operations.ValidateSpec(c.Logging.Spec); err != nil {
		bad("Logging.Spec", "%v (FABRIC_LOGGING_SPEC overrides this key)", err)
	}
	if _, err := operations.NewHandler(io.Discard, c.Logging.Format); err != nil {
		bad("Logging.Format", "%v (FABRIC_LOGGING_FORMAT overrides this key)", err)
	}
	return errors.Join(errs...)
}

// walDir is Consensus.WALDir, defaulting to <FileLedger.Location>/etcdraft/wal.
func (c *Config) walDir() string {
	if c.Consensus.WALDir != "" {
		return c.Consensus.WALDir
	}
	return filepath.Join(c.FileLedger.Location, "etcdraft", "wal")
}

// defaultTick is used when a channel's etcdraft options give no TickInterval.
const defaultTick = 500 * time.Millisecond
