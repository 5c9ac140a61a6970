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

// MinTokenLength is the shortest bearer token accepted, in characters.
const MinTokenLength = 16

// Config is the REST gateway's configuration (restgateway.yaml).
type Config struct {
	ListenAddress string // restgateway.listenAddress
	BodyLimit     int64  // restgateway.bodyLimit: largest request body in bytes
	Peer          PeerConfig
	Wallet        WalletConfig
	Timeouts      Timeouts
	Events        EventsConfig
	Auth          AuthConfig
	TLS           TLSConfig
	HTTP          HTTPConfig
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
	// AdminIdentities (restgateway.wallet.adminIdentities) names identities
	// to treat as admins besides those whose certificate carries the NodeOU
	// admin role: the admins of an MSP without NodeOUs.
	AdminIdentities []string
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
	MaxStreams  int           // restgateway.events.maxStreams: open streams at most, all callers together
	// MaxStreamsPerCredential (restgateway.events.maxStreamsPerCredential)
	// bounds the open streams of one credential.
	MaxStreamsPerCredential int
}

// AuthConfig is restgateway.auth.*: the credentials callers authenticate
// with. Each credential is bound to one wallet identity, the only one the
// REST gateway signs with for its requests.
type AuthConfig struct {
	Tokens      []TokenCredential      // restgateway.auth.tokens: bearer tokens
	ClientCerts []ClientCertCredential // restgateway.auth.clientCerts: mutual TLS (needs restgateway.tls)
}

// TokenCredential is one entry of restgateway.auth.tokens: a caller sending
// "Authorization: Bearer <Token>" signs as Identity.
type TokenCredential struct {
	Token     string // the secret (never logged)
	TokenFile string // the file the secret was read from; empty for an inline token
	// Identity is the wallet identity the token signs as; empty: the wallet's
	// default identity, or none (client-signed flow only) without one.
	Identity   string
	AllowAdmin bool // the identity may be an admin identity
}

// ClientCertCredential is one entry of restgateway.auth.clientCerts: a
// caller presenting a client certificate that chains to
// restgateway.tls.clientRootCAs and has subject common name CommonName signs
// as Identity.
type ClientCertCredential struct {
	CommonName string
	Identity   string // as TokenCredential.Identity
	AllowAdmin bool
}

// TLSConfig is restgateway.tls.*: HTTPS on the API listener, and the CAs
// of client certificates for mutual TLS.
type TLSConfig struct {
	Enabled            bool     // restgateway.tls.enabled
	CertFile           string   // restgateway.tls.cert.file: the server certificate (PEM)
	KeyFile            string   // restgateway.tls.key.file
	ClientRootCAFiles  []string // restgateway.tls.clientRootCAs.files: CAs of client certificates
	ClientAuthRequired bool     // restgateway.tls.clientAuthRequired: refuse TLS handshakes without a client certificate
}

// HTTPConfig is restgateway.http.*: what the API listener accepts.
type HTTPConfig struct {
	ReadHeaderTimeout time.Duration // restgateway.http.readHeaderTimeout: to receive a request's headers
	ReadTimeout       time.Duration // restgateway.http.readTimeout: to receive a whole request, body included
	// WriteTimeout (restgateway.http.writeTimeout) bounds each write of a
	// response (each event of a stream): how long a client may stall reading.
	WriteTimeout time.Duration
	IdleTimeout  time.Duration // restgateway.http.idleTimeout: a kept-alive connection between requests
	// AllowedHosts (restgateway.http.allowedHosts) are the host names clients
	// may address the REST gateway by (the Host header, port ignored); empty:
	// localhost, 127.0.0.1, ::1 and the host of restgateway.listenAddress.
	AllowedHosts []string
	// AllowedOrigins (restgateway.http.allowedOrigins) are the web origins
	// (scheme://host[:port]) browsers may call the API from; empty: none.
	AllowedOrigins []string
}

// defaults are the values of keys absent from the file, and every key viper
// must know to apply environment overrides.
var defaults = map[string]any{
	"restgateway.listenAddress":                  "localhost:8080",
	"restgateway.bodyLimit":                      DefaultBodyLimit,
	"restgateway.peer.address":                   "localhost:7051",
	"restgateway.peer.serverHostOverride":        "",
	"restgateway.peer.connectionTimeout":         "10s",
	"restgateway.peer.tls.enabled":               true,
	"restgateway.peer.tls.rootcert.file":         "",
	"restgateway.peer.tls.clientCert.file":       "",
	"restgateway.peer.tls.clientKey.file":        "",
	"restgateway.wallet.path":                    "",
	"restgateway.wallet.defaultIdentity":         "",
	"restgateway.timeouts.evaluate":              "30s",
	"restgateway.timeouts.endorse":               "30s",
	"restgateway.timeouts.submit":                "30s",
	"restgateway.timeouts.commitStatus":          "1m",
	"restgateway.events.heartbeat":               "15s",
	"restgateway.events.maxDuration":             "1h",
	"restgateway.events.maxStreams":              64,
	"restgateway.events.maxStreamsPerCredential": 16,
	"restgateway.wallet.adminIdentities":         []string{},
	"restgateway.tls.enabled":                    false,
	"restgateway.tls.cert.file":                  "",
	"restgateway.tls.key.file":                   "",
	"restgateway.tls.clientRootCAs.files":        []string{},
	"restgateway.tls.clientAuthRequired":         false,
	"restgateway.http.readHeaderTimeout":         "10s",
	"restgateway.http.readTimeout":               "30s",
	"restgateway.http.writeTimeout":              "30s",
	"restgateway.http.idleTimeout":               "2m",
	"restgateway.http.allowedHosts":              []string{},
	"restgateway.http.allowedOrigins":            []string{},
	"operations.listenAddress":                   "",
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
	count := func(key string) int {
		raw := v.GetString(key)
		n, err := strconv.Atoi(raw)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s = %q is not a whole number such as 64", keyName(key), raw))
		}
		return n
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
			AdminIdentities: v.GetStringSlice("restgateway.wallet.adminIdentities"),
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
			MaxStreams:  count("restgateway.events.maxStreams"),

			MaxStreamsPerCredential: count("restgateway.events.maxStreamsPerCredential"),
		},
		Auth: AuthConfig{
			Tokens:      tokenCredentials(v, dir, &errs),
			ClientCerts: clientCertCredentials(v, &errs),
		},
		TLS: TLSConfig{
			Enabled:            v.GetBool("restgateway.tls.enabled"),
			CertFile:           abs("restgateway.tls.cert.file"),
			KeyFile:            abs("restgateway.tls.key.file"),
			ClientRootCAFiles:  absList(dir, v.GetStringSlice("restgateway.tls.clientRootCAs.files")),
			ClientAuthRequired: v.GetBool("restgateway.tls.clientAuthRequired"),
		},
		HTTP: HTTPConfig{
			ReadHeaderTimeout: dur("restgateway.http.readHeaderTimeout"),
			ReadTimeout:       dur("restgateway.http.readTimeout"),
			WriteTimeout:      dur("restgateway.http.writeTimeout"),
			IdleTimeout:       dur("restgateway.http.idleTimeout"),
			AllowedHosts:      v.GetStringSlice("restgateway.http.allowedHosts"),
			AllowedOrigins:    v.GetStringSlice("restgateway.http.allowedOrigins"),
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
	errs = append(errs, c.Auth.validate(c.TLS)...)
	errs = append(errs, c.TLS.validate()...)
	errs = append(errs, c.HTTP.validate()...)
	if c.Events.MaxStreams < 1 {
		errs = append(errs, fmt.Sprintf("%s = %d must be at least 1 (default 64)", keyName("restgateway.events.maxStreams"), c.Events.MaxStreams))
	}
	if c.Events.MaxStreamsPerCredential < 1 {
		errs = append(errs, fmt.Sprintf("%s = %d must be at least 1 (default 16)", keyName("restgateway.events.maxStreamsPerCredential"), c.Events.MaxStreamsPerCredential))
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
		{"restgateway.http.readHeaderTimeout", c.HTTP.ReadHeaderTimeout},
		{"restgateway.http.readTimeout", c.HTTP.ReadTimeout},
		{"restgateway.http.writeTimeout", c.HTTP.WriteTimeout},
		{"restgateway.http.idleTimeout", c.HTTP.IdleTimeout},
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

// validate checks the credentials: at least one, each with a secret or a
// common name, none twice.
func (a AuthConfig) validate(t TLSConfig) []string {
	var errs []string
	if len(a.Tokens) == 0 && len(a.ClientCerts) == 0 {
		errs = append(errs, "no credentials: set restgateway.auth.tokens (bearer tokens) or restgateway.auth.clientCerts "+
			"(mutual TLS, with restgateway.tls), each bound to one wallet identity; every caller must authenticate (see docs/restgateway.md)")
	}
	tokens := map[string]string{}
	for i, tc := range a.Tokens {
		key := fmt.Sprintf("restgateway.auth.tokens[%d]", i)
		switch {
		case tc.Token == "" && tc.TokenFile != "":
			errs = append(errs, fmt.Sprintf("%s.tokenFile %s is empty: write a random token into it (restgateway token %s)", key, tc.TokenFile, tc.TokenFile))
		case tc.Token == "":
			errs = append(errs, key+" has no secret: set tokenFile (a file holding the token) or token")
		case len(tc.Token) < MinTokenLength:
			errs = append(errs, fmt.Sprintf("%s: the token is %d characters long; use at least %d random characters (`restgateway token FILE` writes one)", key, len(tc.Token), MinTokenLength))
		}
		if prev, dup := tokens[tc.Token]; dup && tc.Token != "" {
			errs = append(errs, fmt.Sprintf("%s and %s hold the same token: a token must stand for one identity", prev, key))
		}
		tokens[tc.Token] = key
	}
	if len(a.ClientCerts) > 0 && (!t.Enabled || len(t.ClientRootCAFiles) == 0) {
		errs = append(errs, fmt.Sprintf("restgateway.auth.clientCerts needs %s: true and %s (the CAs that issue the client certificates)",
			keyName("restgateway.tls.enabled"), keyName("restgateway.tls.clientRootCAs.files")))
	}
	names := map[string]string{}
	for i, cc := range a.ClientCerts {
		key := fmt.Sprintf("restgateway.auth.clientCerts[%d]", i)
		if cc.CommonName == "" {
			errs = append(errs, key+".commonName is empty: name the subject common name of the client certificate, e.g. User1@org1.example.com")
			continue
		}
		if prev, dup := names[cc.CommonName]; dup {
			errs = append(errs, fmt.Sprintf("%s and %s both map commonName %q: a certificate must stand for one identity", prev, key, cc.CommonName))
		}
		names[cc.CommonName] = key
	}
	return errs
}

func (t TLSConfig) validate() []string {
	var errs []string
	if !t.Enabled {
		if len(t.ClientRootCAFiles) > 0 || t.ClientAuthRequired {
			errs = append(errs, fmt.Sprintf("%s and %s need %s: true", keyName("restgateway.tls.clientRootCAs.files"),
				keyName("restgateway.tls.clientAuthRequired"), keyName("restgateway.tls.enabled")))
		}
		return errs
	}
	for _, f := range []struct{ key, val string }{{"restgateway.tls.cert.file", t.CertFile}, {"restgateway.tls.key.file", t.KeyFile}} {
		if f.val == "" {
			errs = append(errs, keyName(f.key)+" is empty: with restgateway.tls.enabled, name the PEM file of the REST gateway's TLS certificate and key")
		} else if _, err := os.Stat(f.val); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", keyName(f.key), err))
		}
	}
	for _, f := range t.ClientRootCAFiles {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", keyName("restgateway.tls.clientRootCAs.files"), err))
		}
	}
	if t.ClientAuthRequired && len(t.ClientRootCAFiles) == 0 {
		errs = append(errs, fmt.Sprintf("%s needs %s (the CAs that issue the client certificates)",
			keyName("restgateway.tls.clientAuthRequired"), keyName("restgateway.tls.clientRootCAs.files")))
	}
	return errs
}

func (h HTTPConfig) validate() []string {
	var errs []string
	for _, host := range h.AllowedHosts {
		if host == "" || strings.ContainsAny(host, "/ ") {
			errs = append(errs, fmt.Sprintf("%s: %q is not a host name or address such as localhost or 10.0.0.5", keyName("restgateway.http.allowedHosts"), host))
		}
	}
	for _, o := range h.AllowedOrigins {
		if _, ok := normalOrigin(o); !ok {
			errs = append(errs, fmt.Sprintf("%s: %q is not a web origin such as https://app.example.com or http://localhost:3000 (scheme, host and port only)",
				keyName("restgateway.http.allowedOrigins"), o))
		}
	}
	return errs
}

// absList resolves relative paths against dir.
func absList(dir string, paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if p != "" && !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		out = append(out, p)
	}
	return out
}

// tokenCredentials reads restgateway.auth.tokens, each token from its entry
// or its tokenFile.
func tokenCredentials(v *viper.Viper, dir string, errs *[]string) []TokenCredential {
	const key = "restgateway.auth.tokens"
	var out []TokenCredential
	for i, e := range listEntries(v, key, "{tokenFile, identity}", []string{"token", "tokenFile", "identity", "allowAdmin"}, errs) {
		entry := fmt.Sprintf("%s[%d]", key, i)
		tc := TokenCredential{Token: e.str("token"), Identity: e.str("identity"), AllowAdmin: e.flag("allowAdmin", entry, errs)}
		file := e.str("tokenFile")
		switch {
		case file != "" && tc.Token != "":
			*errs = append(*errs, entry+" sets both token and tokenFile: keep one (tokenFile keeps the secret out of this file)")
		case file != "":
			tc.TokenFile = absList(dir, []string{file})[0]
			raw, err := os.ReadFile(tc.TokenFile)
			if err != nil {
				*errs = append(*errs, fmt.Sprintf("%s.tokenFile: %v; create it with `restgateway token %s`", entry, err, tc.TokenFile))
			}
			tc.Token = strings.TrimSpace(string(raw))
		}
		out = append(out, tc)
	}
	return out
}

// clientCertCredentials reads restgateway.auth.clientCerts.
func clientCertCredentials(v *viper.Viper, errs *[]string) []ClientCertCredential {
	const key = "restgateway.auth.clientCerts"
	var out []ClientCertCredential
	for i, e := range listEntries(v, key, "{commonName, identity}", []string{"commonName", "identity", "allowAdmin"}, errs) {
		entry := fmt.Sprintf("%s[%d]", key, i)
		out = append(out, ClientCertCredential{CommonName: e.str("commonName"), Identity: e.str("identity"), AllowAdmin: e.flag("allowAdmin", entry, errs)})
	}
	return out
}

// entry is one element of a list of maps in the configuration, by lower-case
// field name.
type entry map[string]any

func (e entry) str(field string) string {
	if v, ok := e[strings.ToLower(field)]; ok && v != nil {
		return strings.TrimSpace(fmt.Sprint(v))
	}
	return ""
}

func (e entry) flag(field, name string, errs *[]string) bool {
	v, ok := e[strings.ToLower(field)]
	if !ok || v == nil {
		return false
	}
	b, err := strconv.ParseBool(fmt.Sprint(v))
	if err != nil {
		*errs = append(*errs, fmt.Sprintf("%s.%s = %v is not true or false", name, field, v))
	}
	return b
}

// listEntries reads key as a list of maps with the given fields, naming the
// key and the entry in errors. Such lists have no environment override.
func listEntries(v *viper.Viper, key, form string, fields []string, errs *[]string) []entry {
	raw := v.Get(key)
	if raw == nil {
		return nil
	}
	if s, ok := raw.(string); ok {
		if strings.TrimSpace(s) != "" {
			*errs = append(*errs, fmt.Sprintf("%s is a list of %s entries and cannot be set from the environment (%s): write it in the configuration file",
				key, form, envName(key)))
		}
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		*errs = append(*errs, fmt.Sprintf("%s must be a list of %s entries", key, form))
		return nil
	}
	known := map[string]bool{}
	for _, f := range fields {
		known[strings.ToLower(f)] = true
	}
	var out []entry
	for i, item := range list {
		e := entry{}
		switch m := item.(type) {
		case map[string]any:
			for k, val := range m {
				e[strings.ToLower(k)] = val
			}
		case map[any]any:
			for k, val := range m {
				e[strings.ToLower(fmt.Sprint(k))] = val
			}
		default:
			*errs = append(*errs, fmt.Sprintf("%s[%d] must be an entry such as %s", key, i, form))
			continue
		}
		for k := range e {
			if !known[k] {
				*errs = append(*errs, fmt.Sprintf("%s[%d] has an unknown field %q; its fields are %s", key, i, k, strings.Join(fields, ", ")))
			}
		}
		out = append(out, e)
	}
	return out
}
