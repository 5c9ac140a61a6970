package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"gopkg.in/yaml.v3"

	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/msp"
)

// discoverTimeout bounds one discovery request, as Fabric's discover CLI.
const discoverTimeout = 10 * time.Second

// discoverConfig is Fabric's discover CLI configuration file (--configFile,
// written by saveConfig): YAML with these lower-case keys.
type discoverConfig struct {
	Version   int `yaml:"version"`
	TLSConfig struct {
		CertPath       string        `yaml:"certpath"`
		KeyPath        string        `yaml:"keypath"`
		PeerCACertPath string        `yaml:"peercacertpath"`
		Timeout        time.Duration `yaml:"timeout"`
	} `yaml:"tlsconfig"`
	SignerConfig struct {
		MSPID        string `yaml:"mspid"`
		IdentityPath string `yaml:"identitypath"`
		KeyPath      string `yaml:"keypath"`
	} `yaml:"signerconfig"`
}

func (c *discoverConfig) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"--MSP", c.SignerConfig.MSPID}, {"--userCert", c.SignerConfig.IdentityPath}, {"--userKey", c.SignerConfig.KeyPath}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("empty string that is mandatory: set %s (or name a --configFile that has them)", strings.Join(missing, ", "))
	}
	return nil
}

// discoverFlags are the flags of Fabric's discover CLI: the global ones and
// those of the peers, config and endorsers commands, accepted before or
// after the command word.
type discoverFlags struct {
	configFile, peerTLSCA, tlsCert, tlsKey, userKey, userCert, mspID string
	server, channel                                                  string
	chaincodes, collections, noPrivateReads                          multiFlag
}

func (f *discoverFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.configFile, "configFile", "", "Specifies the config file to load the configuration from")
	fs.StringVar(&f.peerTLSCA, "peerTLSCA", "", "Sets the TLS CA certificate file path that verifies the TLS peer's certificate (without it the connection is plaintext)")
	fs.StringVar(&f.tlsCert, "tlsCert", "", "(Optional) Sets the client TLS certificate file path that is used when the peer enforces client authentication")
	fs.StringVar(&f.tlsKey, "tlsKey", "", "(Optional) Sets the client TLS key file path that is used when the peer enforces client authentication")
	fs.StringVar(&f.userKey, "userKey", "", "Sets the user's key file path that is used to sign messages sent to the peer")
	fs.StringVar(&f.userCert, "userCert", "", "Sets the user's certificate file path that is used to authenticate the messages sent to the peer")
	fs.StringVar(&f.mspID, "MSP", "", "Sets the MSP ID of the user, which represents the CA(s) that issued its user certificate")
	fs.StringVar(&f.server, "server", "", "Sets the endpoint of the server to connect")
	fs.StringVar(&f.channel, "channel", "", "Sets the channel the query is intended to")
	fs.Var(&f.chaincodes, "chaincode", "Specifies the chaincode name(s) (endorsers; repeat for chaincode-to-chaincode calls)")
	fs.Var(&f.collections, "collection", "Specifies the collection name(s) as a mapping from chaincode to a comma separated list of collections, CC:C1,C2 (endorsers; repeatable)")
	fs.Var(&f.noPrivateReads, "noPrivateReads", "Specifies chaincodes that are not expected to have private data read (endorsers; repeatable)")
}

// splitCommand finds the command word among args: every discover flag takes
// a value, so a bare word is the command unless it follows a flag without =.
func splitCommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") {
			if !strings.Contains(a, "=") && a != "-h" && a != "-help" && a != "--help" {
				i++ // its value
			}
			continue
		}
		return a, append(slices.Clone(args[:i]), args[i+1:]...)
	}
	return "", args
}

// runDiscover is `weft discover [flags] peers|config|endorsers|saveConfig
// [flags]`, Fabric's discover CLI with the same flags and JSON output.
func runDiscover(ctx context.Context, env *Env, args []string) error {
	cmd, rest := splitCommand(args)
	fs := newFlags(env, "discover")
	f := &discoverFlags{}
	f.define(fs)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "Usage: weft discover [flags] peers|config|endorsers|saveConfig [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cmd == "saveConfig" {
		if f.configFile == "" {
			return errors.New("--configFile must be used to specify the configuration file")
		}
		conf, err := f.flagConfig()
		if err != nil {
			return err
		}
		if err := conf.validate(); err != nil {
			return fmt.Errorf("config isn't valid: %w", err)
		}
		raw, err := yaml.Marshal(conf)
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.configFile, raw, 0o600); err != nil {
			return fmt.Errorf("failed writing file %s: %w", f.configFile, err)
		}
		return nil
	}
	if cmd != "peers" && cmd != "config" && cmd != "endorsers" {
		fs.Usage()
		if cmd == "" {
			return errors.New("name a discover command: peers, config, endorsers or saveConfig")
		}
		return fmt.Errorf("unknown discover command %q (want peers, config, endorsers or saveConfig)", cmd)
	}
	var conf *discoverConfig
	var err error
	if f.configFile != "" {
		conf, err = loadDiscoverConfig(f.configFile)
	} else {
		conf, err = f.flagConfig()
	}
	if err != nil {
		return err
	}
	switch {
	case cmd != "peers" && f.channel == "":
		return errors.New("no channel specified")
	case f.server == "":
		return errors.New("no server specified")
	}
	var interest *pb.ChaincodeInterest
	if cmd == "endorsers" {
		if interest, err = f.interest(); err != nil {
			return err
		}
	}
	d, closeConn, err := conf.dial(f.server)
	if err != nil {
		return err
	}
	defer closeConn()
	ctx, cancel := context.WithTimeout(ctx, discoverTimeout)
	defer cancel()
	switch cmd {
	case "peers":
		return discoverPeers(ctx, env, d, f.channel)
	case "config":
		res, err := d.Config(ctx, f.channel)
		if err != nil {
			return err
		}
		return printJSON(env, res)
	default:
		descs, err := d.Endorsers(ctx, f.channel, interest)
		if err != nil {
			return err
		}
		return printJSON(env, endorsersJSON(descs))
	}
}

// flagConfig is the configuration the flags give, with absolute paths.
func (f *discoverFlags) flagConfig() (*discoverConfig, error) {
	c := &discoverConfig{}
	c.SignerConfig.MSPID = f.mspID
	for _, p := range []struct {
		dst *string
		src string
	}{{&c.SignerConfig.IdentityPath, f.userCert}, {&c.SignerConfig.KeyPath, f.userKey},
		{&c.TLSConfig.CertPath, f.tlsCert}, {&c.TLSConfig.KeyPath, f.tlsKey}, {&c.TLSConfig.PeerCACertPath, f.peerTLSCA}} {
		if p.src == "" {
			continue
		}
		abs, err := filepath.Abs(p.src)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("open %s: %w", p.src, err)
		}
		*p.dst = abs
	}
	return c, nil
}

func loadDiscoverConfig(path string) (*discoverConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &discoverConfig{}
	if err := yaml.Unmarshal(raw, c); err != nil {
		return nil, fmt.Errorf("error unmarshalling YAML file %s: %w", path, err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// dial connects to server as the configured user; TLS when a peer CA is set.
func (c *discoverConfig) dial(server string) (client.Discovery, func(), error) {
	if err := c.validate(); err != nil {
		return client.Discovery{}, nil, err
	}
	signer, err := loadUserSigner(c.SignerConfig.IdentityPath, c.SignerConfig.KeyPath, c.SignerConfig.MSPID)
	if err != nil {
		return client.Discovery{}, nil, err
	}
	e := client.Endpoint{Address: server, TLS: c.TLSConfig.PeerCACertPath != "", RootCertFile: c.TLSConfig.PeerCACertPath,
		ClientCertFile: c.TLSConfig.CertPath, ClientKeyFile: c.TLSConfig.KeyPath, ConnectTimeout: c.TLSConfig.Timeout}
	conn, hash, err := client.DialDiscovery(e)
	if err != nil {
		return client.Discovery{}, nil, err
	}
	return client.Discovery{Conn: conn, Signer: signer, TLSCertHash: hash}, func() { conn.Close() }, nil
}

// loadUserSigner builds the signing identity of a certificate and key in PEM files.
func loadUserSigner(certFile, keyFile, mspID string) (*msp.SigningIdentity, error) {
	raw, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read user certificate: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("user certificate %s holds no PEM block", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("user certificate %s: %w", certFile, err)
	}
	rawKey, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read user key: %w", err)
	}
	key, err := msp.ParsePrivateKeyPEM(rawKey)
	if err != nil {
		return nil, fmt.Errorf("user key %s: %w", keyFile, err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("user key %s is not the key of certificate %s", keyFile, certFile)
	}
	return &msp.SigningIdentity{Identity: msp.NewIdentity(mspID, cert), Key: key}, nil
}

// interest is the chaincode interest of --chaincode, --collection and
// --noPrivateReads, checked as Fabric's CLI checks them.
func (f *discoverFlags) interest() (*pb.ChaincodeInterest, error) {
	if len(f.chaincodes) == 0 {
		return nil, errors.New("no chaincode specified: name it with --chaincode")
	}
	for _, cc := range f.noPrivateReads {
		if !slices.Contains(f.chaincodes, cc) {
			return nil, fmt.Errorf("chaincode %s is specified as not containing private data reads but should be explicitly defined via a chaincode flag", cc)
		}
	}
	colls := map[string][]string{}
	for _, c := range f.collections {
		cc, list, ok := strings.Cut(c, ":")
		if !ok {
			return nil, fmt.Errorf("--collection %q: expected CHAINCODE:COLLECTION1,COLLECTION2", c)
		}
		if !slices.Contains(f.chaincodes, cc) {
			return nil, fmt.Errorf("a collection specified chaincode %s but it wasn't specified with a chaincode flag", cc)
		}
		colls[cc] = strings.Split(list, ",")
	}
	in := &pb.ChaincodeInterest{}
	for _, cc := range f.chaincodes {
		in.Chaincodes = append(in.Chaincodes, &pb.ChaincodeCall{Name: cc, CollectionNames: colls[cc], NoPrivateReads: slices.Contains(f.noPrivateReads, cc)})
	}
	return in, nil
}

// Fabric's JSON shapes.
type (
	channelPeerJSON struct {
		MSPID        string
		LedgerHeight uint64
		Endpoint     string
		Identity     string
		Chaincodes   []string
	}
	localPeerJSON struct {
		MSPID    string
		Endpoint string
		Identity string
	}
	endorserJSON struct {
		MSPID        string
		LedgerHeight uint64
		Endpoint     string
		Identity     string
	}
	layoutJSON struct {
		QuantitiesByGroup map[string]uint32 `json:"quantities_by_group,omitempty"`
	}
	descriptorJSON struct {
		Chaincode         string
		EndorsersByGroups map[string][]endorserJSON
		Layouts           []layoutJSON
	}
)

func discoverPeers(ctx context.Context, env *Env, d client.Discovery, channel string) error {
	peers, err := d.Peers(ctx, channel)
	if err != nil {
		return err
	}
	if channel == "" {
		var out []localPeerJSON
		for _, p := range peers {
			out = append(out, localPeerJSON{MSPID: p.MSPID, Endpoint: p.Endpoint, Identity: p.Cert()})
		}
		return printJSON(env, out)
	}
	var out []channelPeerJSON
	for _, p := range peers {
		cp := channelPeerJSON{MSPID: p.MSPID, LedgerHeight: p.LedgerHeight, Endpoint: p.Endpoint, Identity: p.Cert()}
		for _, cc := range p.Chaincodes {
			cp.Chaincodes = append(cp.Chaincodes, cc.Name)
		}
		out = append(out, cp)
	}
	return printJSON(env, out)
}

func endorsersJSON(descs []client.EndorsementDescriptor) []descriptorJSON {
	var out []descriptorJSON
	for _, d := range descs {
		dj := descriptorJSON{Chaincode: d.Chaincode, EndorsersByGroups: map[string][]endorserJSON{}}
		for g, ps := range d.EndorsersByGroups {
			for _, p := range ps {
				dj.EndorsersByGroups[g] = append(dj.EndorsersByGroups[g], endorserJSON{MSPID: p.MSPID, LedgerHeight: p.LedgerHeight, Endpoint: p.Endpoint, Identity: p.Cert()})
			}
		}
		for _, l := range d.Layouts {
			dj.Layouts = append(dj.Layouts, layoutJSON{QuantitiesByGroup: l})
		}
		out = append(out, dj)
	}
	return out
}
