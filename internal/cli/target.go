package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

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

// peerTLS reads CORE_PEER_TLS_ENABLED and, for mutual TLS with peers,
// CORE_PEER_TLS_CLIENTAUTHREQUIRED with CORE_PEER_TLS_CLIENTCERT_FILE and
// CORE_PEER_TLS_CLIENTKEY_FILE, as Fabric's peer CLI does.
func peerTLS(env *Env, e client.Endpoint) (client.Endpoint, error) {
	e.TLS = strings.EqualFold(env.Getenv("CORE_PEER_TLS_ENABLED"), "true")
	if e.TLS && strings.EqualFold(env.Getenv("CORE_PEER_TLS_CLIENTAUTHREQUIRED"), "true") {
		e.ClientCertFile, e.ClientKeyFile = env.Getenv("CORE_PEER_TLS_CLIENTCERT_FILE"), env.Getenv("CORE_PEER_TLS_CLIENTKEY_FILE")
		if e.ClientCertFile == "" || e.ClientKeyFile == "" {
			return e, fmt.Errorf("CORE_PEER_TLS_CLIENTAUTHREQUIRED=true needs CORE_PEER_TLS_CLIENTCERT_FILE and CORE_PEER_TLS_CLIENTKEY_FILE (the client's TLS certificate and key)")
		}
	}
	return e, nil
}

// peerEndpoint is the peer named by CORE_PEER_ADDRESS with CORE_PEER_TLS_*.
func peerEndpoint(env *Env) (client.Endpoint, error) {
	addr := env.Getenv("CORE_PEER_ADDRESS")
	if addr == "" {
		return client.Endpoint{}, fmt.Errorf("set CORE_PEER_ADDRESS to the peer to talk to (e.g. localhost:7051)")
	}
	e, err := peerTLS(env, client.Endpoint{Address: addr})
	if err != nil {
		return e, err
	}
	if e.TLS {
		e.RootCertFile = env.Getenv("CORE_PEER_TLS_ROOTCERT_FILE")
	}
	return e, nil
}

// ordererFlags are the flags Fabric's `peer chaincode` and `peer lifecycle
// chaincode` commands all accept (its "global flags"): they name the orderer
// and bound connections. Commands that do not talk to the orderer accept and
// ignore the orderer flags, as Fabric does.
type ordererFlags struct {
	address, hostOverride, caFile, certFile, keyFile string
	tls, clientAuth                                  bool
	connTimeout                                      time.Duration
	tlsHandshakeTimeShift                            time.Duration
}

func addOrdererFlags(fs *flag.FlagSet) *ordererFlags {
	o := &ordererFlags{}
	aliasString(fs, &o.address, "Ordering service endpoint host:port", "o", "orderer")
	fs.StringVar(&o.hostOverride, "ordererTLSHostnameOverride", "", "The hostname override to use when validating the TLS connection to the orderer")
	fs.BoolVar(&o.tls, "tls", false, "Use TLS when communicating with the orderer endpoint")
	fs.StringVar(&o.caFile, "cafile", "", "Path to file containing PEM-encoded trusted certificate(s) for the ordering endpoint")
	fs.BoolVar(&o.clientAuth, "clientauth", false, "Use mutual TLS when communicating with the orderer endpoint")
	fs.StringVar(&o.certFile, "certfile", "", "Path to file containing PEM-encoded X509 public key to use for mutual TLS communication with the orderer endpoint")
	fs.StringVar(&o.keyFile, "keyfile", "", "Path to file containing PEM-encoded private key to use for mutual TLS communication with the orderer endpoint")
	fs.DurationVar(&o.connTimeout, "connTimeout", 3*time.Second, "Timeout for client to connect to a peer or the orderer")
	fs.DurationVar(&o.tlsHandshakeTimeShift, "tlsHandshakeTimeShift", 0, "accepted for Fabric compatibility; no effect on Weft (the TLS handshake uses the current time)")
	return o
}

func (o *ordererFlags) endpoint() (client.Endpoint, error) {
	if o.address == "" {
		return client.Endpoint{}, fmt.Errorf("name the orderer with -o host:port")
	}
	e := client.Endpoint{Address: o.address, TLS: o.tls, RootCertFile: o.caFile, HostOverride: o.hostOverride, ConnectTimeout: o.connTimeout}
	if o.clientAuth {
		if o.certFile == "" || o.keyFile == "" {
			return e, fmt.Errorf("--clientauth needs --certfile and --keyfile (the client's TLS certificate and key for the orderer)")
		}
		e.ClientCertFile, e.ClientKeyFile = o.certFile, o.keyFile
	}
	return e, nil
}

// errConnectionProfile refuses Fabric's --connectionProfile, whose format
// Weft does not read.
var errConnectionProfile = errors.New("--connectionProfile is not supported by weft: name the peers with --peerAddresses and --tlsRootCertFiles, or set CORE_PEER_ADDRESS")

// peerFlags are Fabric's --peerAddresses / --tlsRootCertFiles pairs.
type peerFlags struct {
	addresses, rootCerts multiFlag
	connTimeout          *time.Duration // set by the command from its ordererFlags
}

func addPeerFlags(fs *flag.FlagSet) *peerFlags {
	p := &peerFlags{}
	fs.Var(&p.addresses, "peerAddresses", "The address of a peer to connect to (repeat for several peers); default CORE_PEER_ADDRESS")
	fs.Var(&p.rootCerts, "tlsRootCertFiles", "If TLS is enabled, the TLS root cert file of the peer at the same position in --peerAddresses")
	fs.Func("connectionProfile", "refused by Weft: name peers with --peerAddresses and --tlsRootCertFiles (or CORE_PEER_ADDRESS)", func(string) error {
		return errConnectionProfile
	})
	return p
}

// endpoints returns the peers named by flags, or the CORE_PEER_ADDRESS peer.
func (p *peerFlags) endpoints(env *Env) ([]client.Endpoint, error) {
	var timeout time.Duration
	if p.connTimeout != nil {
		timeout = *p.connTimeout
	}
	if len(p.addresses) == 0 {
		e, err := peerEndpoint(env)
		if err != nil {
			return nil, err
		}
		e.ConnectTimeout = timeout
		return []client.Endpoint{e}, nil
	}
	tls := strings.EqualFold(env.Getenv("CORE_PEER_TLS_ENABLED"), "true")
	if tls && len(p.rootCerts) != len(p.addresses) {
		return nil, fmt.Errorf("with TLS enabled, give one --tlsRootCertFiles per --peerAddresses (got %d and %d)", len(p.rootCerts), len(p.addresses))
	}
	var out []client.Endpoint
	for i, a := range p.addresses {
		e, err := peerTLS(env, client.Endpoint{Address: a, ConnectTimeout: timeout})
		if err != nil {
			return nil, err
		}
		if tls {
			e.RootCertFile = p.rootCerts[i]
		}
		out = append(out, e)
	}
	return out, nil
}

// onePeer returns the single peer a peer-local command talks to.
func (p *peerFlags) onePeer(env *Env, command string) (client.Endpoint, error) {
	eps, err := p.endpoints(env)
	if err != nil {
		return client.Endpoint{}, err
	}
	if len(eps) != 1 {
		return client.Endpoint{}, fmt.Errorf("weft chaincode %s asks one peer; give a single --peerAddresses (got %d)", command, len(eps))
	}
	return eps[0], nil
}

// connFlags are the orderer flags and the peer flags together, as most
// commands take them.
type connFlags struct {
	orderer *ordererFlags
	peers   *peerFlags
}

func addConnFlags(fs *flag.FlagSet) connFlags {
	c := connFlags{orderer: addOrdererFlags(fs), peers: addPeerFlags(fs)}
	c.peers.connTimeout = &c.orderer.connTimeout
	return c
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
