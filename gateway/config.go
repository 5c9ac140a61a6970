package gateway

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
// upper case with "_" for ".", e.g. WEFT_GATEWAY_LISTENADDRESS for
// gateway.listenAddress, WEFT_GATEWAY_PEER_ADDRESS for gateway.peer.address.
const EnvPrefix = "WEFT"

// DefaultBodyLimit is the default largest request body (1 MiB).
const DefaultBodyLimit = 1 << 20

// Config is the REST gateway's configuration (gateway.yaml).
type Config struct {
	ListenAddress string // gateway.listenAddress
	BodyLimit     int64  // gateway.bodyLimit: largest request body in bytes
	Peer          PeerConfig
	Wallet        WalletConfig
	Timeouts      Timeouts
	Events        EventsConfig
	// OperationsAddress is operations.listenAddress: where /healthz, /readyz,
	// /metrics, /logspec and /version are served; empty turns them off.
	OperationsAddress string
}

// PeerConfig says how to reach the peer whose Gateway service the REST
// gateway fronts (gateway.peer.*).
type PeerConfig struct {
	Address            string // gateway.peer.address (host:port)
	ServerHostOverride string // gateway.peer.serverHostOverride: TLS name to expect instead of the address's host
	TLSEnabled         bool   // gateway.peer.tls.enabled
	RootCertFile       string // gateway.peer.tls.rootcert.file: CA of the peer's TLS certificate
	ClientCertFile     string // gateway.peer.tls.clientCert.file: for mutual TLS (optional)
	ClientKeyFile      string // gateway.peer.tls.clientKey.file
	ConnectTimeout     time.Duration
}

// WalletConfig is gateway.wallet.*: the identities the gateway signs with.
type WalletConfig struct {
	Path            string // gateway.wallet.path; empty: the gateway signs nothing (client-signed flow only)
	DefaultIdentity string // gateway.wallet.defaultIdentity: used when a request names none
	MSPID           string // gateway.wallet.mspId: MSP ID of identity folders without an mspid file
}

// Timeouts bound each call to the peer (gateway.timeouts.*).
type Timeouts struct {
	Evaluate     time.Duration // evaluate and ledger queries
	Endorse      time.Duration
	Submit       time.Duration
	CommitStatus time.Duration // how long a synchronous submit waits for the commit
}

// EventsConfig is gateway.events.*: chaincode event streams.
type EventsConfig struct {
	Heartbeat   time.Duration // a comment line is sent this often
	MaxDuration time.Duration // longest life of one stream; ?timeout= may only shorten it
}

// defaults are the values of keys absent from the file, and every key viper
// must know to apply environment overrides.
var defaults = map[string]any{
	"gateway.listenAddress":            "localhost:8080",
	"gateway.bodyLimit":                DefaultBodyLimit,
	"gateway.peer.address":             "localhost:7051",
	"gateway.peer.serverHostOverride":  "",
	"gateway.peer.connectionTimeout":   "10s",
	"gateway.peer.tls.enabled":         true,
	"gateway.peer.tls.rootcert.file":   "",
	"gateway.peer.tls.clientCert.file": "",
	"gateway.peer.tls.clientKey.file":  "",
	"gateway.wallet.path":              "",
	"gateway.wallet.defaultIdentity":   "",
	"gateway.timeouts.evaluate":        "30s",
	"gateway.timeouts.endorse":         "30s",
	"gateway.timeouts.submit":          "30s",
	"gateway.timeouts.commitStatus":    "1m",
	"gateway.events.heartbeat":         "15s",
	"gateway.events.maxDuration":       "1h",
	"operations.listenAddress":         "",
}

// envName is the environment variable overriding key.
func envName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// keyName names a key and its environment override in errors.
func keyName(key string) string {
	return fmt.Sprintf("%s (%s)", key, envName(key))
}

// LoadConfig reads the gateway configuration from file (a gateway.yaml),
// applies WEFT_* environment overrides and validates it. Relative paths are
// resolved against the folder holding the file.
func LoadConfig(file string) (Config, error) {
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	v.SetConfigFile(file)
	v.SetConfigType("yaml")
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AllowEmptyEnv(true) // WEFT_GATEWAY_WALLET_DEFAULTIDENTITY= clears a key
	v.AutomaticEnv()
	if err := v.ReadInConfig(); err != nil {
		return Config{}, fmt.Errorf("read gateway configuration %s: %w", file, err)
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
	if raw := v.GetString("gateway.bodyLimit"); raw != "" {
		var err error
		if limit, err = strconv.ParseInt(raw, 10, 64); err != nil {
			errs = append(errs, fmt.Sprintf("%s = %q is not a number of bytes such as 1048576", keyName("gateway.bodyLimit"), raw))
		}
	}
	cfg := Config{
		ListenAddress: v.GetString("gateway.listenAddress"),
		BodyLimit:     limit,
		Peer: PeerConfig{
			Address:            v.GetString("gateway.peer.address"),
			ServerHostOverride: v.GetString("gateway.peer.serverHostOverride"),
			TLSEnabled:         v.GetBool("gateway.peer.tls.enabled"),
			RootCertFile:       abs("gateway.peer.tls.rootcert.file"),
			ClientCertFile:     abs("gateway.peer.tls.clientCert.file"),
			ClientKeyFile:      abs("gateway.peer.tls.clientKey.file"),
			ConnectTimeout:     dur("gateway.peer.connectionTimeout"),
		},
		Wallet: WalletConfig{
			Path:            abs("gateway.wallet.path"),
			DefaultIdentity: v.GetString("gateway.wallet.defaultIdentity"),
			MSPID:           v.GetString("gateway.wallet.mspId"),
		},
		Timeouts: Timeouts{
			Evaluate:     dur("gateway.timeouts.evaluate"),
			Endorse:      dur("gateway.timeouts.endorse"),
			Submit:       dur("gateway.timeouts.submit"),
			CommitStatus: dur("gateway.timeouts.commitStatus"),
		},
		Events: EventsConfig{
			Heartbeat:   dur("gateway.events.heartbeat"),
			MaxDuration: dur("gateway.events.maxDuration"),
		},
		OperationsAddress: v.GetString("operations.listenAddress"),
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("invalid gateway configuration %s: %s", file, strings.Join(errs, "; "))
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
	hostPort("gateway.listenAddress", c.ListenAddress)
	hostPort("gateway.peer.address", c.Peer.Address)
	if c.OperationsAddress != "" {
		hostPort("operations.listenAddress", c.OperationsAddress)
	}
	if c.BodyLimit <= 0 {
		errs = append(errs, fmt.Sprintf("%s = %d must be a positive number of bytes (default %d)", keyName("gateway.bodyLimit"), c.BodyLimit, DefaultBodyLimit))
	}
	if c.Peer.TLSEnabled {
		if c.Peer.RootCertFile == "" {
			errs = append(errs, keyName("gateway.peer.tls.rootcert.file")+" is empty: name the PEM file of the peer's TLS CA (e.g. peers/peer0.org1.example.com/tls/ca.crt)")
		} else {
			file("gateway.peer.tls.rootcert.file", c.Peer.RootCertFile)
		}
		if (c.Peer.ClientCertFile == "") != (c.Peer.ClientKeyFile == "") {
			errs = append(errs, fmt.Sprintf("%s and %s must be set together (mutual TLS) or both left empty",
				keyName("gateway.peer.tls.clientCert.file"), keyName("gateway.peer.tls.clientKey.file")))
		} else if c.Peer.ClientCertFile != "" {
			file("gateway.peer.tls.clientCert.file", c.Peer.ClientCertFile)
			file("gateway.peer.tls.clientKey.file", c.Peer.ClientKeyFile)
		}
	}
	if c.Wallet.Path != "" {
		if st, err := os.Stat(c.Wallet.Path); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", keyName("gateway.wallet.path"), err))
		} else if !st.IsDir() {
			errs = append(errs, fmt.Sprintf("%s = %s is not a folder", keyName("gateway.wallet.path"), c.Wallet.Path))
		}
	} else if c.Wallet.DefaultIdentity != "" {
		errs = append(errs, fmt.Sprintf("%s = %q needs %s", keyName("gateway.wallet.defaultIdentity"), c.Wallet.DefaultIdentity, keyName("gateway.wallet.path")))
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"gateway.peer.connectionTimeout", c.Peer.ConnectTimeout},
		{"gateway.timeouts.evaluate", c.Timeouts.Evaluate},
		{"gateway.timeouts.endorse", c.Timeouts.Endorse},
		{"gateway.timeouts.submit", c.Timeouts.Submit},
		{"gateway.timeouts.commitStatus", c.Timeouts.CommitStatus},
		{"gateway.events.heartbeat", c.Events.Heartbeat},
		{"gateway.events.maxDuration", c.Events.MaxDuration},
	} {
		if d.val <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be a positive duration such as 30s", keyName(d.key)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid gateway configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}
