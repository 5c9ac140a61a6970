package peer

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/weft-ledger/weft/peer/chaincode"
)

// chaincodeEndpoint is the address launched chaincode dials:
// peer.chaincodeAddress, else peer.chaincodeListenAddress, except that a
// listen address on every interface (0.0.0.0, ::) is replaced by the host of
// peer.address with the listen port, as Fabric computes it.
func (c Config) chaincodeEndpoint() string {
	if c.ChaincodeAddress != "" {
		return c.ChaincodeAddress
	}
	host, port, err := net.SplitHostPort(c.ChaincodeListenAddress)
	if err != nil || !unspecifiedHost(host) {
		return c.ChaincodeListenAddress
	}
	if peerHost, _, err := net.SplitHostPort(c.Address); err == nil && !unspecifiedHost(peerHost) {
		return net.JoinHostPort(peerHost, port)
	}
	return c.ChaincodeListenAddress
}

func unspecifiedHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "" || (ip != nil && ip.IsUnspecified())
}

// checkChaincodeEndpoint reports what is wrong with the chaincode endpoint
// ("" when nothing is).
func (c Config) checkChaincodeEndpoint() string {
	ep := c.chaincodeEndpoint()
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return fmt.Sprintf("peer.chaincodeAddress (CORE_PEER_CHAINCODEADDRESS) = %q is not host:port", ep)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Sprintf("peer.chaincodeAddress (CORE_PEER_CHAINCODEADDRESS) = %q: port %q is not a number", ep, port)
	}
	if c.TLS.Enabled && unspecifiedHost(host) {
		return fmt.Sprintf("peer.chaincodeAddress (CORE_PEER_CHAINCODEADDRESS) = %q: with TLS, chaincode checks the listener's certificate against this host; set a host name or address chaincode can dial", ep)
	}
	return ""
}

// chaincodeServerOptions returns the gRPC options of the chaincode listener.
// With TLS the listener speaks mutual TLS with the peer's chaincode CA only:
// its certificate is issued by that CA for the host of the chaincode
// endpoint, and a connection must present a client certificate the CA issued
// for a chaincode launch (the runtime then checks which launch). Keepalive
// pings every minute are allowed, as both shims send them.
func (n *Node) chaincodeServerOptions() ([]grpc.ServerOption, error) {
	// The chaincode stream's message limits and fixed flow-control windows
	// (gRPC's automatic window sizing would ping after nearly every message).
	opts := append(chaincode.ServerOptions(),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}))
	if n.ccCA == nil {
		return opts, nil
	}
	host, _, err := net.SplitHostPort(n.cfg.chaincodeEndpoint())
	if err != nil {
		return nil, fmt.Errorf("peer.chaincodeAddress: %w", err)
	}
	creds, err := n.ccCA.ServerCredentials(n.log, host)
	if err != nil {
		return nil, err
	}
	return append(opts, grpc.Creds(creds)), nil
}

// newChaincodeCA makes the chaincode CA when peer TLS is on (nil otherwise):
// as in Fabric, a new one at each start, in memory only.
func newChaincodeCA(cfg Config) (*chaincode.CA, error) {
	if !cfg.TLS.Enabled {
		return nil, nil
	}
	ca, err := chaincode.NewCA()
	if err != nil {
		return nil, fmt.Errorf("peer TLS is on: create the chaincode CA: %w", err)
	}
	return ca, nil
}
