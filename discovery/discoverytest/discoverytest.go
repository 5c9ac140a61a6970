// Package discoverytest is test support for users of package discovery: it
// builds peers as gossip reports them (signed alive and state info
// envelopes) and in-memory Channels and Membership, so that a discovery
// server can be served on loopback without gossip. Only tests import it.
package discoverytest

import (
	"net"
	"sort"
	"sync"
	"testing"

	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/discovery"
	"github.com/weft-ledger/weft/gossip/identity"
	"github.com/weft-ledger/weft/internal/testnet"
	"github.com/weft-ledger/weft/msp"
)

func sign(tb testing.TB, s *msp.SigningIdentity, m *gp.GossipMessage) *gp.Envelope {
	tb.Helper()
	payload, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := s.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	return &gp.Envelope{Payload: payload, Signature: sig}
}

// Peer is the peer of identity s as gossip reports it: a signed alive
// message with endpoint and, when channel is not empty, a signed state info
// with the ledger height and chaincodes (name -> version).
func Peer(tb testing.TB, s *msp.SigningIdentity, endpoint, channel string, height uint64, chaincodes map[string]string) discovery.Peer {
	tb.Helper()
	ser, err := s.Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	pki, err := identity.PKIIDOf(ser)
	if err != nil {
		tb.Fatal(err)
	}
	p := discovery.Peer{MSPID: s.MSPID, Identity: ser, Alive: sign(tb, s, &gp.GossipMessage{Content: &gp.GossipMessage_AliveMsg{AliveMsg: &gp.AliveMessage{
		Membership: &gp.Member{Endpoint: endpoint, PkiId: pki},
		Timestamp:  &gp.PeerTime{IncNum: 1, SeqNum: 1},
	}}})}
	if channel != "" {
		names := make([]string, 0, len(chaincodes))
		for n := range chaincodes {
			names = append(names, n)
		}
		sort.Strings(names)
		var ccs []*gp.Chaincode
		for _, n := range names {
			ccs = append(ccs, &gp.Chaincode{Name: n, Version: chaincodes[n]})
		}
		p.StateInfo = sign(tb, s, &gp.GossipMessage{Tag: gp.GossipMessage_CHAN_OR_ORG, Content: &gp.GossipMessage_StateInfo{StateInfo: &gp.StateInfo{
			Timestamp: &gp.PeerTime{IncNum: 1, SeqNum: 1}, PkiId: pki,
			Properties: &gp.Properties{LedgerHeight: height, Chaincodes: ccs},
		}}})
	}
	return p
}

// Channels is an in-memory discovery.Channels.
type Channels struct {
	mu          sync.Mutex
	Bundles     map[string]*channelconfig.Bundle
	Definitions map[string]*discovery.Definition // by chaincode name, on every channel
}

// Bundle implements discovery.Channels.
func (c *Channels) Bundle(channel string) (*channelconfig.Bundle, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.Bundles[channel]
	return b, ok
}

// Chaincode implements discovery.Channels.
func (c *Channels) Chaincode(_, name string) (*discovery.Definition, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Definitions[name], nil
}

// Membership is an in-memory discovery.Membership.
type Membership struct {
	Channel []discovery.Peer // for every channel
	Local   []discovery.Peer
}

// ChannelPeers implements discovery.Membership.
func (m *Membership) ChannelPeers(string) []discovery.Peer { return m.Channel }

// LocalPeers implements discovery.Membership.
func (m *Membership) LocalPeers() []discovery.Peer { return m.Local }

// Serve serves a discovery server over cfg with TLS as node host of n
// (which does not ask for client certificates) on a loopback port until the
// test ends, and returns its address.
func Serve(tb testing.TB, n *testnet.Net, host string, cfg discovery.Config) string {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := discovery.NewServer(cfg)
	return testnet.ServeTLS(tb, lis, n.TLSCert(tb, host), func(g *grpc.Server) { s.Register(g) })
}
