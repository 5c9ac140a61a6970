package devnet

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
	"github.com/weft-ledger/weft/sampleconfig"
)

// Profile is the configtx.yaml profile the development network's channel uses.
const Profile = "ChannelUsingRaft"

// generate writes everything a fresh network needs: node configuration,
// crypto material, the REST gateway's token, the genesis block, connection
// profiles and the chaincode package.
func generate(cfg Config) error {
	for _, d := range []string{"config", "channel-artifacts", "chaincode", "logs"} {
		if err := os.MkdirAll(cfg.Path(d), 0o755); err != nil {
			return err
		}
	}
	// Default node configuration (core.yaml, orderer.yaml) and the inputs of
	// cryptogen and configtxgen, so a user can rerun each step by hand.
	if err := fs.WalkDir(sampleconfig.Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := sampleconfig.Files.ReadFile(path)
		if err != nil {
			return err
		}
		dst := cfg.Path("config", path)
		if path == "configtx.yaml" || path == "crypto-config.yaml" {
			dst = cfg.Path(path)
		}
		return os.WriteFile(dst, raw, 0o644)
	}); err != nil {
		return err
	}
	if err := addRESTToken(cfg); err != nil {
		return err
	}
	if len(cfg.Orgs()) > MinOrgs {
		if err := writeOrgFiles(cfg); err != nil {
			return err
		}
	}
	if nodes := cfg.OrdererNodes(); len(nodes) > 1 {
		if err := writeClusterFiles(cfg, nodes); err != nil {
			return err
		}
	}

	cc, err := msp.LoadCryptoConfig(cfg.Path("crypto-config.yaml"))
	if err != nil {
		return err
	}
	if err := msp.GenerateCrypto(cc, cfg.Path("organizations")); err != nil {
		return err
	}

	ctx, err := channelconfig.LoadConfigTx(cfg.Path("configtx.yaml"))
	if err != nil {
		return err
	}
	if err := remapPorts(ctx, cfg); err != nil {
		return err
	}
	if err := setBatch(ctx, cfg); err != nil {
		return err
	}
	genesis, err := channelconfig.GenesisBlock(ctx, Profile, ChannelID)
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfg.GenesisPath(), protos.Marshal(genesis), 0o644); err != nil {
		return err
	}

	for _, o := range cfg.Orgs() {
		if err := writeConnectionProfile(cfg, o); err != nil {
			return err
		}
	}

	pkg, err := client.CCaaSPackage(ChaincodeLabel, client.ConnectionJSON{
		Address:     "127.0.0.1:" + strconv.Itoa(cfg.Ports.Chaincode),
		DialTimeout: "10s",
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfg.Path("chaincode", "basic.tar.gz"), pkg, 0o644); err != nil {
		return err
	}
	return os.WriteFile(cfg.Path("chaincode", "basic.id"), []byte(client.PackageID(ChaincodeLabel, pkg)), 0o644)
}

// setBatch puts cfg's block-cutting settings, where given, into the
// channel profile.
func setBatch(ctx *channelconfig.ConfigTx, cfg Config) error {
	if cfg.BatchSize == 0 && cfg.BatchTimeout == 0 {
		return nil
	}
	prof, ok := ctx.Profiles[Profile]
	if !ok || prof.Orderer == nil {
		return fmt.Errorf("configtx.yaml has no profile %s with an Orderer section to set the batch size or timeout in", Profile)
	}
	if cfg.BatchTimeout < 0 {
		return fmt.Errorf("batch timeout %s: give a positive duration", cfg.BatchTimeout)
	}
	if cfg.BatchSize != 0 {
		prof.Orderer.BatchSize.MaxMessageCount = cfg.BatchSize
	}
	if cfg.BatchTimeout != 0 {
		prof.Orderer.BatchTimeout = channelconfig.Duration(cfg.BatchTimeout)
	}
	cfg.logf("channel %s: blocks of at most %d transactions, cut after %s", ChannelID, prof.Orderer.BatchSize.MaxMessageCount, time.Duration(prof.Orderer.BatchTimeout))
	return nil
}

// remapPorts moves the test-network's well-known ports in the channel
// configuration to the ones this network listens on.
func remapPorts(ctx *channelconfig.ConfigTx, cfg Config) error {
	prof, ok := ctx.Profiles[Profile]
	if !ok {
		return fmt.Errorf("configtx.yaml has no profile %s", Profile)
	}
	p := cfg.Ports
	ports := map[int]int{7050: p.Orderer}
	for i, o := range cfg.Orgs() {
		def, _ := DefaultPorts().peer0Ports(i)
		ports[def.Listen] = o.Port
	}
	for _, o := range cfg.OrdererNodes()[1:] {
		def, _ := DefaultPorts().ordererPorts(o.Index)
		ports[def.Listen] = o.Listen
	}
	remap := func(hostport string) string {
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			return hostport
		}
		n, _ := strconv.Atoi(port)
		if m, ok := ports[n]; ok {
			return net.JoinHostPort(host, strconv.Itoa(m))
		}
		return hostport
	}
	if prof.Application != nil {
		for _, org := range prof.Application.Organizations {
			for _, ap := range org.AnchorPeers {
				if m, ok := ports[ap.Port]; ok {
					ap.Port = m
				}
			}
		}
	}
	if prof.Orderer != nil {
		for i, a := range prof.Orderer.Addresses {
			prof.Orderer.Addresses[i] = remap(a)
		}
		for _, org := range prof.Orderer.Organizations {
			for i, e := range org.OrdererEndpoints {
				org.OrdererEndpoints[i] = remap(e)
			}
		}
		if prof.Orderer.EtcdRaft != nil {
			for _, c := range prof.Orderer.EtcdRaft.Consenters {
				if m, ok := ports[int(c.Port)]; ok {
					c.Port = uint32(m)
				}
			}
		}
	}
	return nil
}

// writeConnectionProfile writes test-network's connection-orgN.json and .yaml,
// listing every peer of the organisation (peer0 first).
func writeConnectionProfile(cfg Config, o Org) error {
	orgDir := cfg.Path("organizations", "peerOrganizations", o.Domain)
	tlsCA, err := os.ReadFile(filepath.Join(orgDir, "tlsca", "tlsca."+o.Domain+"-cert.pem"))
	if err != nil {
		return fmt.Errorf("read TLS CA of %s: %w", o.MSPID, err)
	}
	ca, err := os.ReadFile(filepath.Join(orgDir, "ca", "ca."+o.Domain+"-cert.pem"))
	if err != nil {
		return fmt.Errorf("read CA of %s: %w", o.MSPID, err)
	}
	caName := "ca." + o.Domain
	var names []string
	peers := map[string]any{}
	for _, p := range cfg.PeerNodes() {
		if p.MSPID != o.MSPID {
			continue
		}
		names = append(names, p.Peer)
		peers[p.Peer] = map[string]any{
			"url":         "grpcs://" + peerAddress(p),
			"tlsCACerts":  map[string]any{"pem": string(tlsCA)},
			"grpcOptions": map[string]any{"ssl-target-name-override": p.Peer, "hostnameOverride": p.Peer},
		}
	}
	profile := map[string]any{
		"name":    "test-network-" + o.Name,
		"version": "1.0.0",
		"client": map[string]any{
			"organization": o.Name,
			"connection":   map[string]any{"timeout": map[string]any{"peer": map[string]any{"endorser": "300"}}},
		},
		"organizations": map[string]any{
			o.Name: map[string]any{"mspid": o.MSPID, "peers": names, "certificateAuthorities": []string{caName}},
		},
		"peers": peers,
		"certificateAuthorities": map[string]any{
			caName: map[string]any{
				"url":         "https://localhost:7054",
				"caName":      "ca-" + o.Name,
				"tlsCACerts":  map[string]any{"pem": []string{string(ca)}},
				"httpOptions": map[string]any{"verify": false},
			},
		},
	}
	base := filepath.Join(orgDir, "connection-"+lower(o.Name))
	js, err := json.MarshalIndent(profile, "", "    ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", js, 0o644); err != nil {
		return err
	}
	// JSON is a subset of YAML, so the same document serves as the .yaml profile.
	return os.WriteFile(base+".yaml", js, 0o644)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
