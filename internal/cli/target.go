package cli

import (
	"flag"
	"fmt"
	"strings"

	"github.com/weft-ledger/weft/internal/client"
	"github.com/weft-ledger/weft/msp"
)

// identity loads the signing identity the way Fabric's peer CLI does:
// CORE_PEER_LOCALMSPID and CORE_PEER_MSPCONFIGPATH.
func identity(env *Env) (*msp.SigningIdentity, error) {
	id, dir := env.Getenv("CORE_PEER_LOCALMSPID"), env.Getenv("CORE_PEER_MSPCONFIGPATH")
	if id == "" || dir == "" {
		return nil, fmt.Errorf("set CORE_PEER_LOCALMSPID and CORE_PEER_MSPCONFIGPATH to choose the identity to act as (e.g. Org1MSP and .../users/Admin@org1.example.com/msp)")
	}
	return msp.LoadSigningIdentity(dir, id)
}

// peerEndpoint is the peer named by CORE_PEER_ADDRESS with CORE_PEER_TLS_*.
func peerEndpoint(env *Env) (client.Endpoint, error) {
	addr := env.Getenv("CORE_PEER_ADDRESS")
	if addr == "" {
		return client.Endpoint{}, fmt.Errorf("set CORE_PEER_ADDRESS to the peer to talk to (e.g. localhost:7051)")
	}
	tls := strings.EqualFold(env.Getenv("CORE_PEER_TLS_ENABLED"), "true")
	return client.Endpoint{Address: addr, TLS: tls, RootCertFile: env.Getenv("CORE_PEER_TLS_ROOTCERT_FILE")}, nil
}

// ordererFlags are Fabric's flags naming the orderer.
type ordererFlags struct {
	address, hostOverride, caFile string
	tls                           bool
}

func addOrdererFlags(fs *flag.FlagSet) *ordererFlags {
	o := &ordererFlags{}
	fs.StringVar(&o.address, "o", "", "orderer endpoint host:port")
	fs.StringVar(&o.address, "orderer", "", "orderer endpoint host:port")
	fs.StringVar(&o.hostOverride, "ordererTLSHostnameOverride", "", "host name to expect in the orderer's TLS certificate")
	fs.BoolVar(&o.tls, "tls", false, "use TLS to reach the orderer")
	fs.StringVar(&o.caFile, "cafile", "", "PEM file of the orderer's TLS CA")
	return o
}

func (o *ordererFlags) endpoint() (client.Endpoint, error) {
	if o.address == "" {
		return client.Endpoint{}, fmt.Errorf("name the orderer with -o host:port")
	}
	return client.Endpoint{Address: o.address, TLS: o.tls, RootCertFile: o.caFile, HostOverride: o.hostOverride}, nil
}

// peerFlags are Fabric's --peerAddresses / --tlsRootCertFiles pairs.
type peerFlags struct {
	addresses, rootCerts multiFlag
}

func addPeerFlags(fs *flag.FlagSet) *peerFlags {
	p := &peerFlags{}
	fs.Var(&p.addresses, "peerAddresses", "endorsing peer host:port (repeat for several peers)")
	fs.Var(&p.rootCerts, "tlsRootCertFiles", "TLS CA file of the peer at the same position in --peerAddresses")
	return p
}

// endpoints returns the peers named by flags, or the CORE_PEER_ADDRESS peer.
func (p *peerFlags) endpoints(env *Env) ([]client.Endpoint, error) {
	if len(p.addresses) == 0 {
		e, err := peerEndpoint(env)
		if err != nil {
			return nil, err
		}
		return []client.Endpoint{e}, nil
	}
	tls := strings.EqualFold(env.Getenv("CORE_PEER_TLS_ENABLED"), "true")
	if tls && len(p.rootCerts) != len(p.addresses) {
		return nil, fmt.Errorf("with TLS enabled, give one --tlsRootCertFiles per --peerAddresses (got %d and %d)", len(p.rootCerts), len(p.addresses))
	}
	var out []client.Endpoint
	for i, a := range p.addresses {
		e := client.Endpoint{Address: a, TLS: tls}
		if tls {
			e.RootCertFile = p.rootCerts[i]
		}
		out = append(out, e)
	}
	return out, nil
}

// targets resolves the orderer and the endorsing peers named by o and p.
func targets(env *Env, o *ordererFlags, p *peerFlags) (client.Endpoint, []client.Endpoint, error) {
	oe, err := o.endpoint()
	if err != nil {
		return client.Endpoint{}, nil, err
	}
	peers, err := p.endpoints(env)
	if err != nil {
		return client.Endpoint{}, nil, err
	}
	return oe, peers, nil
}
