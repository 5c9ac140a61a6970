package devnet

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MaxPeers is the most peers per organisation the development network runs:
// peer0 and peer1, as deploy/docker-compose.yaml and Fabric's samples.
const MaxPeers = 2

// PeersEnv is the environment variable `weft up` reads when --peers is not
// given.
const PeersEnv = "WEFT_PEERS"

// CheckPeers reports whether n is a number of peers per organisation the
// development network runs: 1 or 2.
func CheckPeers(n int) error {
	if n >= 1 && n <= MaxPeers {
		return nil
	}
	return fmt.Errorf("%d peers per organisation: the development network runs 1 (peer0) or %d (peer0 and peer1 of each organisation)", n, MaxPeers)
}

// PeerNodes returns every peer of the network (Config.Peers per
// organisation, one when it is zero), each organisation's in turn, peer0
// first: peer0.org1, peer1.org1, peer0.org2, peer1.org2. A peer Ports has no
// ports for gets zero ports.
func (c Config) PeerNodes() []Org {
	n := max(c.Peers, 1)
	var out []Org
	for i, o := range c.Orgs() {
		out = append(out, o)
		for k := 1; k < n; k++ {
			p := o
			p.PeerIndex = k
			p.Peer = "peer" + strconv.Itoa(k) + "." + o.Domain
			p.Port, p.ChaincodePort, p.OpsPort = 0, 0, 0
			if pp, ok := c.Ports.otherPeerPorts(i, k); ok {
				p.Port, p.ChaincodePort, p.OpsPort = pp.Listen, pp.Chaincode, pp.Ops
			}
			out = append(out, p)
		}
	}
	return out
}

// otherPeerPorts returns the ports of peer k (k ≥ 1) of the organisation at
// index org of Orgs, ok false when Ports has none for it.
func (p Ports) otherPeerPorts(org, k int) (PeerPorts, bool) {
	if k != 1 || org < 0 || org >= len(p.OtherPeers) {
		return PeerPorts{}, false
	}
	return p.OtherPeers[org], true
}

// PeersCreated returns the peers per organisation of the network in c.Dir: 1
// plus every further peer of Org1 with a core.yaml folder of its own
// (PeerConfigDir, written for each peer the network runs), 0 when the folder
// holds no network yet.
func (c Config) PeersCreated() int {
	if !exists(c.Path("channel-artifacts", "setup-done")) {
		return 0
	}
	probe := c
	probe.Peers = MaxPeers
	n := 1
	for _, o := range probe.PeerNodes() {
		if o.MSPID == c.Orgs()[0].MSPID && o.PeerIndex > 0 && exists(c.PeerConfigDir(o)) {
			n++
		}
	}
	return n
}

// resolvePeers returns the peers per organisation to run: the number asked
// for, else the one the folder's network was created with, else 1. Another
// number than the folder's is an error: the peers it would add have joined
// no channel and installed nothing, and the ones it would drop hold ledgers.
func resolvePeers(cfg Config, fresh bool) (int, error) {
	if fresh {
		return max(cfg.Peers, 1), nil
	}
	have := max(cfg.PeersCreated(), 1)
	if cfg.Peers != 0 && cfg.Peers != have {
		return 0, fmt.Errorf("the development network in %s was created with %d peer(s) per organisation, not %d; "+
			"run weft up with --peers %d, or remove the folder (make clean) to create a network of %d",
			cfg.Dir, have, cfg.Peers, have, cfg.Peers)
	}
	return have, nil
}

// peerProcess returns the (not yet started) process of one peer.
func peerProcess(cfg Config, o Org) *Process {
	return &Process{
		Name:    o.Peer,
		Binary:  filepath.Join(cfg.BinDir, "peer"),
		Args:    []string{"node", "start"},
		Env:     peerEnv(cfg, o),
		Dir:     cfg.Dir,
		LogPath: cfg.Path("logs", o.Peer+".log"),
		Ports:   []int{o.Port},
	}
}

// peerAddress is the address a peer is reached at, by clients and by the
// other peers' gossip: localhost, for which every TLS certificate is valid.
func peerAddress(o Org) string { return "localhost:" + strconv.Itoa(o.Port) }

// gossipBootstrap returns the endpoints a peer first gossips with: the other
// peers of its organisation, or itself when it is the only one, as Fabric's
// test-network does (Fabric's gossip skips its own endpoint).
func gossipBootstrap(cfg Config, o Org) string {
	var others []string
	for _, p := range cfg.PeerNodes() {
		if p.MSPID == o.MSPID && p.Peer != o.Peer {
			others = append(others, peerAddress(p))
		}
	}
	if len(others) == 0 {
		return peerAddress(o)
	}
	// Fabric reads peer.gossip.bootstrap as a list; from the environment,
	// separated by spaces.
	return strings.Join(others, " ")
}

func peerEnv(cfg Config, o Org) []string {
	pd := cfg.PeerDir(o)
	tls := filepath.Join(pd, "tls")
	return []string{
		"FABRIC_CFG_PATH=" + cfg.PeerConfigDir(o),
		"CORE_PEER_ID=" + o.Peer,
		"CORE_PEER_LISTENADDRESS=127.0.0.1:" + strconv.Itoa(o.Port),
		"CORE_PEER_ADDRESS=" + peerAddress(o),
		"CORE_PEER_CHAINCODELISTENADDRESS=127.0.0.1:" + strconv.Itoa(o.ChaincodePort),
		"CORE_PEER_LOCALMSPID=" + o.MSPID,
		"CORE_PEER_MSPCONFIGPATH=" + filepath.Join(pd, "msp"),
		"CORE_PEER_TLS_ENABLED=true",
		"CORE_PEER_TLS_CERT_FILE=" + filepath.Join(tls, "server.crt"),
		"CORE_PEER_TLS_KEY_FILE=" + filepath.Join(tls, "server.key"),
		"CORE_PEER_TLS_ROOTCERT_FILE=" + filepath.Join(tls, "ca.crt"),
		"CORE_PEER_FILESYSTEMPATH=" + cfg.Path("peers", o.Peer),
		"CORE_OPERATIONS_LISTENADDRESS=127.0.0.1:" + strconv.Itoa(o.OpsPort),
		// Gossip as Fabric's test-network and core.yaml set it: the peers
		// of an organisation find each other through bootstrap, the other
		// organisations through the anchor peers (the peer0s) of the
		// channel configuration, which reach this peer at its external
		// endpoint. Every peer is a static leader that pulls blocks from
		// the orderers itself (Fabric v2.5's defaults).
		"CORE_PEER_GOSSIP_BOOTSTRAP=" + gossipBootstrap(cfg, o),
		"CORE_PEER_GOSSIP_ENDPOINT=" + peerAddress(o),
		"CORE_PEER_GOSSIP_EXTERNALENDPOINT=" + peerAddress(o),
		"CORE_PEER_GOSSIP_USELEADERELECTION=false",
		"CORE_PEER_GOSSIP_ORGLEADER=true",
		// pprof on the operations port + 100 (9544 for peer0.org1 by default),
		// when WEFT_PROFILE=true; for performance work only.
		"CORE_PEER_PROFILE_ENABLED=" + strconv.FormatBool(os.Getenv("WEFT_PROFILE") == "true"),
		"CORE_PEER_PROFILE_LISTENADDRESS=127.0.0.1:" + strconv.Itoa(o.OpsPort+100),
	}
}
