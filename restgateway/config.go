package restgateway

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// EnvPrefix is the prefix of environment overrides: WEFT_ + the key path in
// upper case with "_" for ".", e.g. WEFT_RESTGATEWAY_LISTENADDRESS for
// restgateway.listenAddress, WEFT_RESTGATEWAY_PEER_ADDRESS for
// restgateway.peer.address.
const EnvPrefix = "WEFT"

// DefaultBodyLimit is the default largest request body (1 MiB).
const DefaultBodyLimit = 1 << 20

// Config is the REST gateway's configuration (restgateway.yaml).
type Config struct {
	ListenAddress string // restgateway.listenAddress
	BodyLimit     int64  // restgateway.bodyLimit: largest request body in bytes
	Peer          PeerConfig
	Wallet        WalletConfig
	Timeouts      Timeouts
	Events        EventsConfig
	// OperationsAddress is operations.listenAddress: where /healthz, /readyz,
	// /metrics, /logspec and /version are served; empty turns them off.
	OperationsAddress string
}

// PeerConfig says how to reach the peer whose Gateway service the REST
// gateway fronts (restgateway.peer.*).
type PeerConfig struct {
	Address            string // restgateway.peer.address (host:port)
	ServerHostOverride string // restgateway.peer.serverHostOverride: TLS name to expect instead of the address's host
	TLSEnabled         bool   // restgateway.peer.tls.enabled
	RootCertFile       string // restgateway.peer.tls.rootcert.file: CA of the peer's TLS certificate
	ClientCertFile     string // restgateway.peer.tls.clientCert.file: for mutual TLS (optional)
	ClientKeyFile      string // restgateway.peer.tls.clientKey.file
	ConnectTimeout     time.Duration
}

// WalletConfig is restgateway.wallet.*: the identities the REST gateway signs
// with.
type WalletConfig struct {
	Path            string // restgateway.wallet.path; empty: the REST gateway signs nothing (client-signed flow only)
	DefaultIdentity string // restgateway.wallet.defaultIdentity: used when a request names none
	MSPID           string // restgateway.wallet.mspId: MSP ID of identity folders without an mspid file
}

// Timeouts bound each call to the peer (restgateway.timeouts.*).
type Timeouts struct {
	Evaluate     time.Duration // evaluate and ledger queries
	Endorse      time.Duration
	Submit       time.Duration
	CommitStatus time.Duration // how long a synchronous submit waits for the commit
}

// EventsConfig is restgateway.events.*: chaincode event streams.
type EventsConfig struct {
	Heartbeat   time.Duration // a comment line is sent this often
	MaxDuration time.Duration // longest life of one stream; ?timeout= may only shorten it
}

// defaults are the values of keys absent from the file, and every key viper
// must know to apply environment overrides.
var defaults = map[string]any{
	"restgateway.listenAddress":            "localhost:8080",
	"restgateway.bodyLimit":                DefaultBodyLimit,
	"restgateway.peer.address":             "localhost:7051",
	"restgateway.peer.serverHostOverride":  "",
	"restgateway.peer.connectionTimeout":   "10s",
	"restgateway.peer.tls.enabled":         true,
	"restgateway.peer.tls.rootcert.file":   "",
	"restgateway.peer.tls.clientCert.file": "",
	"restgateway.peer.tls.clientKey.file":  "",
	"restgateway.wallet.path":              "",
	"restgateway.wallet.defaultIdentity":   "",
	"restgateway.timeouts.evaluate":        "30s",
	"restgateway.timeouts.endorse":         "30s",
	"restgateway.timeouts.submit":          "30s",
	"restgateway.timeouts.commitStatus":    "1m",
	"restgateway.events.heartbeat":         "15s",
	"restgateway.events.maxDuration":       "1h",
	"operations.listenAddress":             "",
}

// envName is the environment variable overriding key.
func envName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// keyName names a key and its environment override in errors.
func keyName(key string) string {
	return fmt.Sprintf("%s (%s)", key, envName(key))
}

// LoadConfig reads the REST gateway configuration from file (a
// restgateway.yaml), applies WEFT_* environment overrides and validates it.
// Relative paths are resolved against the folder holding the file.
func LoadConfig(file string) (Config, error) {
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	v.SetConfigFile(file)
	v.SetConfigType("yaml")
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AllowEmptyEnv(true) // WEFT_RESTGATEWAY_WALLET_DEFAULTIDENTITY= clears a key
	v.AutomaticEnv()
	if err := v.ReadInConfig(); err != nil {
		return Config{}, fmt.Errorf("read REST gateway configuration %s: %w", file, err)
	}
	dir := filepath.Dir(file)
	abs := func(key string) string {
		p := v.GetString(key)
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	var errs []string
	dur := func(key string) time.Duration {
		raw := v.GetString(key)
		d, err := time.ParseDuration(raw)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Sprintf("%s = %q is not a positive duration such as 30s", keyName(key), raw))
		}
		return d
	}
	limit := int64(0)
	if raw := v.GetString("restgateway.bodyLimit"); raw != "" {
		var err error
		if limit, err = strconv.ParseInt(raw, 10, 64); err != nil {
			errs = append(errs, fmt.Sprintf("%s = %q is not a number of bytes such as 1048576", keyName("restgateway.bodyLimit"), raw))
		}
	}
	cfg := Config{
		ListenAddress: v.GetString("restgateway.listenAddress"),
		BodyLimit:     limit,
		Peer: PeerConfig{
			Address:            v.GetString("restgateway.peer.address"),
			ServerHostOverride: v.GetString("restgateway.peer.serverHostOverride"),
			TLSEnabled:         v.GetBool("restgateway.peer.tls.enabled"),
			RootCertFile:       abs("restgateway.peer.tls.rootcert.file"),
			ClientCertFile:     abs("restgateway.peer.tls.clientCert.file"),
			ClientKeyFile:      abs("restgateway.peer.tls.clientKey.file"),
			ConnectTimeout:     dur("restgateway.peer.connectionTimeout"),
		},
		Wallet: WalletConfig{
			Path:            abs("restgateway.wallet.path"),
			DefaultIdentity: v.GetString("restgateway.wallet.defaultIdentity"),
			MSPID:           v.GetString("restgateway.wallet.mspId"),
		},
		Timeouts: Timeouts{
			Evaluate:     dur("restgateway.timeouts.evaluate"),
			Endorse:      dur("restgateway.timeouts.endorse"),
			Submit:       dur("restgateway.timeouts.submit"),
			CommitStatus: dur("restgateway.timeouts.commitStatus"),
		},
		Events: EventsConfig{
			Heartbeat:   dur("restgateway.events.heartbeat"),
			MaxDuration: dur("restgateway.events.maxDuration"),
		},
		OperationsAddress: v.GetString("operations.listenAddress"),
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("invalid REST gateway configuration %s: %s", file, strings.Join(errs, "; "))
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w (in %s)", err, file)
	}
	return cfg, nil
}

// Validate checks every setting and names each bad key with its expected form.
func (c Config) Validate() error {
	var errs []string
	hostPort := func(key, val string) {
		if _, _, err := net.SplitHostPort(val); err != nil {
			errs = append(errs, fmt.Sprintf("%s = %q is not host:port, such as localhost:8080", keyName(key), val))
		}
	}
	file := func(key, val string) {
		if _, err := os.Stat(val); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", keyName(key), err))
		}
	}
	hostPort("restgateway.listenAddress", c.ListenAddress)
	hostPort("restgateway.peer.address", c.Peer.Address)
	if c.OperationsAddress != "" {
		hostPort("operations.listenAddress", c.OperationsAddress)
	}
	if c.BodyLimit <= 0 {
		errs = append(errs, fmt.Sprintf("%s = %d must be a positive number of bytes (default %d)", keyName("restgateway.bodyLimit"), c.BodyLimit, DefaultBodyLimit))
	}
	if c.Peer.TLSEnabled {
		if c.Peer.RootCertFile == "" {
			errs = append(errs, keyName("restgateway.peer.tls.rootcert.file")+" is empty: name the PEM file of the peer's TLS CA (e.g. peers/peer0.org1.example.com/tls/ca.crt)")
		} else {
			file("restgateway.peer.tls.rootcert.file", c.Peer.RootCertFile)
		}
		if (c.Peer.ClientCertFile == "") != (c.Peer.ClientKeyFile == "") {
			errs = append(errs, fmt.Sprintf("%s and %s must be set together (mutual TLS) or both left empty",
				keyName("restgateway.peer.tls.clientCert.file"), keyName("restgateway.peer.tls.clientKey.file")))
		} else if c.Peer.ClientCertFile != "" {
			file("restgateway.peer.tls.clientCert.file", c.Peer.ClientCertFile)
			file("restgateway.peer.tls.clientKey.file", c.Peer.ClientKeyFile)
		}
	}
	if c.Wallet.Path != "" {
		if st, err := os.Stat(c.Wallet.Path); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", keyName("restgateway.wallet.path"), err))
		} else if !st.IsDir() {
			errs = append(errs, fmt.Sprintf("%s = %s is not a folder", keyName("restgateway.wallet.path"), c.Wallet.Path))
		}
	} else if c.Wallet.DefaultIdentity != "" {
		errs = append(errs, fmt.Sprintf("%s = %q needs %s", keyName("restgateway.wallet.defaultIdentity"), c.Wallet.DefaultIdentity, keyName("restgateway.wallet.path")))
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"restgateway.peer.connectionTimeout", c.Peer.ConnectTimeout},
		{"restgateway.timeouts.evaluate", c.Timeouts.Evaluate},
		{"restgateway.timeouts.endorse", c.Timeouts.Endorse},
		{"restgateway.timeouts.submit", c.Timeouts.Submit},
		{"restgateway.timeouts.commitStatus", c.Timeouts.CommitStatus},
		{"restgateway.events.heartbeat", c.Events.Heartbeat},
		{"restgateway.events.maxDuration", c.Events.MaxDuration},
	} {
		if d.val <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be a positive duration such as 30s", keyName(d.key)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid REST gateway configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}
