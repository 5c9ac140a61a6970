package main

import (
	"path"
	"strconv"
)

// The network of deploy/docker-compose.yaml: the service names are the host
// names, and every node listens on its port inside its container too.
const (
	channelID      = "mychannel"
	chaincodeName  = "basic"
	chaincodeLabel = "basic_1.0"
	profile        = "ChannelUsingRaft"
)

type orderer struct {
	name        string
	port, admin int
}

type peer struct {
	name, mspID, domain string
	port                int
}

var orderers = []orderer{
	{"orderer.example.com", 7050, 7053},
	{"orderer2.example.com", 8050, 8053},
	{"orderer3.example.com", 9050, 9053},
}

var peers = []peer{
	{"peer0.org1.example.com", "Org1MSP", "org1.example.com", 7051},
	{"peer1.org1.example.com", "Org1MSP", "org1.example.com", 8051},
	{"peer0.org2.example.com", "Org2MSP", "org2.example.com", 9051},
	{"peer1.org2.example.com", "Org2MSP", "org2.example.com", 10051},
}

// anchors are the first peer of each organisation, which endorse lifecycle
// and InitLedger transactions.
func anchors() []peer { return []peer{peers[0], peers[2]} }

// layout names the files of a network folder (cryptogen's layout) as dir
// spells them: /network in the setup container.
type layout struct{ dir string }

func (l layout) join(elem ...string) string { return path.Join(append([]string{l.dir}, elem...)...) }

func (l layout) genesis() string { return l.join("channel-artifacts", channelID+".block") }

func (l layout) pkg() string { return l.join("chaincode", "basic.tar.gz") }

func (l layout) ordererTLS(o orderer, file string) string {
	return l.join("organizations", "ordererOrganizations", "example.com", "orderers", o.name, "tls", file)
}

func (l layout) ordererAdminTLS(file string) string {
	return l.join("organizations", "ordererOrganizations", "example.com", "users", "Admin@example.com", "tls", file)
}

func (l layout) peerTLSCA(p peer) string {
	return l.join("organizations", "peerOrganizations", p.domain, "peers", p.name, "tls", "ca.crt")
}

func (l layout) userMSP(p peer, user string) string {
	return l.join("organizations", "peerOrganizations", p.domain, "users", user+"@"+p.domain, "msp")
}

// peerEnv is what Fabric's peer CLI (and weft) read to pick the peer and the
// identity to act as.
func (l layout) peerEnv(p peer, user string) []string {
	return []string{
		"CORE_PEER_LOCALMSPID=" + p.mspID,
		"CORE_PEER_MSPCONFIGPATH=" + l.userMSP(p, user),
		"CORE_PEER_ADDRESS=" + p.address(),
		"CORE_PEER_TLS_ENABLED=true",
		"CORE_PEER_TLS_ROOTCERT_FILE=" + l.peerTLSCA(p),
	}
}

func (p peer) address() string { return p.name + ":" + strconv.Itoa(p.port) }

// ordererFlags name orderer.example.com for the commands that submit transactions.
func (l layout) ordererFlags() []string {
	o := orderers[0]
	return []string{"-o", o.name + ":" + strconv.Itoa(o.port), "--tls", "--cafile", l.ordererTLS(o, "ca.crt")}
}

// endorserFlags name the anchor peer of every organisation.
func (l layout) endorserFlags() []string {
	var f []string
	for _, p := range anchors() {
		f = append(f, "--peerAddresses", p.address(), "--tlsRootCertFiles", l.peerTLSCA(p))
	}
	return f
}
