package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"

	cb "github.com/hyperledger/fabric-protos-go-apiv2/common"
	discpb "github.com/hyperledger/fabric-protos-go-apiv2/discovery"
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/channelconfig"
	"github.com/weft-ledger/weft/internal/requestauth"
	"github.com/weft-ledger/weft/msp"
	"github.com/weft-ledger/weft/protos"
)

// DefaultChannelPolicy is the channel policy a client must satisfy for
// channel queries. Fabric v2.5's peer checks /Channel/Application/Writers
// (internal/peer/node/start.go), although its documentation speaks of
// channel membership; Weft does the same so that the same clients pass.
const DefaultChannelPolicy = "/Channel/Application/Writers"

// Peer is one peer as gossip knows it.
type Peer struct {
	// MSPID is the peer's organisation; when empty it is read from Identity.
	MSPID string
	// Identity is the peer's serialized identity (msp.SerializedIdentity).
	Identity []byte
	// Alive is the peer's latest signed AliveMessage envelope. A peer whose
	// alive message has no endpoint (no peer.gossip.externalEndpoint) is
	// never disclosed, as in Fabric.
	Alive *gp.Envelope
	// StateInfo is the peer's latest signed StateInfo envelope for the
	// channel asked about (ledger height and chaincodes); nil outside one.
	StateInfo *gp.Envelope
}

// Membership is what gossip knows of the peers. The answers include the
// peer serving discovery itself.
type Membership interface {
	// ChannelPeers returns the alive peers that joined channel, with their
	// latest state info for it.
	ChannelPeers(channel string) []Peer
	// LocalPeers returns every alive peer known, of every organisation.
	LocalPeers() []Peer
}

// Channels is what the peer knows of the channels it joined.
type Channels interface {
	// Bundle returns the channel's current configuration, false when the
	// peer has not joined the channel.
	Bundle(channel string) (*channelconfig.Bundle, bool)
	// Chaincode returns the chaincode definition committed on the channel,
	// nil and no error when there is none.
	Chaincode(channel, name string) (*Definition, error)
}

// Config configures a Server.
type Config struct {
	Channels   Channels
	Membership Membership
	// LocalMSP is the peer's own MSP; the local peers query needs an admin
	// of it (or, with OrgMembersAllowedAccess, any member).
	LocalMSP *msp.MSP
	// OrgMembersAllowedAccess is peer.discovery.orgMembersAllowedAccess.
	OrgMembersAllowedAccess bool
	// MutualTLS says the peer requires client TLS certificates
	// (peer.tls.clientAuthRequired): every request must then carry the
	// SHA-256 of the client's certificate in client_tls_cert_hash. Without
	// it a claimed hash must still match a certificate the client presented.
	MutualTLS bool
	// ChannelPolicy is the policy channel queries need; DefaultChannelPolicy when empty.
	ChannelPolicy string
	// AuthCacheEnabled, AuthCacheMaxSize and AuthCachePurgeRetentionRatio are
	// peer.discovery.authCache*; a size of 0 means DefaultAuthCacheMaxSize.
	AuthCacheEnabled             bool
	AuthCacheMaxSize             int
	AuthCachePurgeRetentionRatio float64
	Logger                       *slog.Logger
}

// Server is the discovery.Discovery gRPC service.
type Server struct {
	discpb.UnimplementedDiscoveryServer
	cfg   Config
	log   *slog.Logger
	local channelconfig.Policy // nil when no LocalMSP is configured
	// check decides eligibility; the auth cache, when enabled, sits in front.
	check func(channel string, sd protos.SignedData) error
	cache *authCache
}

// NewServer returns a server over cfg. It starts nothing.
func NewServer(cfg Config) *Server {
	if cfg.ChannelPolicy == "" {
		cfg.ChannelPolicy = DefaultChannelPolicy
	}
	if cfg.AuthCachePurgeRetentionRatio == 0 {
		cfg.AuthCachePurgeRetentionRatio = DefaultAuthCacheRetentionRate
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "discovery")
	if cfg.LocalMSP != nil {
		role := "admin"
		if cfg.OrgMembersAllowedAccess {
			role = "member"
		}
		env, err := channelconfig.ParsePolicyDSL(fmt.Sprintf("OR('%s.%s')", cfg.LocalMSP.ID(), role))
		if err == nil {
			s.local, err = channelconfig.NewSignaturePolicy(env, msp.NewManager(cfg.LocalMSP))
		}
		if err != nil {
			// An MSP ID the policy language cannot quote; the local query is
			// then refused, saying why.
			s.log.Error("local peers query disabled: cannot build the local access policy", "msp_id", cfg.LocalMSP.ID(), "error", err)
		}
	}
	s.check = s.eligible
	if cfg.AuthCacheEnabled {
		s.cache = newAuthCache(cfg.AuthCacheMaxSize, cfg.AuthCachePurgeRetentionRatio,
			func(ch string, sd protos.SignedData) error { return s.check(ch, sd) }, s.sequence)
	}
	return s
}

// Register adds the service to a gRPC server.
func (s *Server) Register(r grpc.ServiceRegistrar) { discpb.RegisterDiscoveryServer(r, s) }

// accessDenied is Fabric's answer to a query the client may not make; the
// cause goes to the peer's log only, so as not to tell a stranger which
// channels exist.
func accessDenied() *discpb.QueryResult { return errorResult("access denied") }

func errorResult(msg string) *discpb.QueryResult {
	return &discpb.QueryResult{Result: &discpb.QueryResult_Error{Error: &discpb.Error{Content: msg}}}
}

// Discover answers each query of a signed request. A request that is
// malformed, names no client identity or is bound to another TLS session
// fails as a whole (a gRPC error, as in Fabric); a query the client may not
// make or that cannot be answered gets an error result.
func (s *Server) Discover(ctx context.Context, sr *discpb.SignedRequest) (*discpb.Response, error) {
	addr := remoteAddr(ctx)
	req, err := s.validate(ctx, sr)
	if err != nil {
		s.log.Warn("refused discovery request", "remote_addr", addr, "error", err)
		return nil, err
	}
	sd := protos.SignedData{Data: sr.Payload, Identity: req.Authentication.ClientIdentity, Signature: sr.Signature}
	resp := &discpb.Response{}
	for _, q := range req.Queries {
		resp.Results = append(resp.Results, s.query(q, sd, addr))
	}
	return resp, nil
}

func (s *Server) validate(ctx context.Context, sr *discpb.SignedRequest) (*discpb.Request, error) {
	if sr == nil {
		return nil, status.Error(codes.InvalidArgument, "nil request")
	}
	req := &discpb.Request{}
	if err := proto.Unmarshal(sr.Payload, req); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "failed parsing request: the payload is not a discovery.Request: %v", err)
	}
	if req.Authentication == nil {
		return nil, status.Error(codes.PermissionDenied, "access denied, no authentication info in request")
	}
	if len(req.Authentication.ClientIdentity) == 0 {
		return nil, status.Error(codes.PermissionDenied, "access denied, client identity wasn't supplied")
	}
	claimed := req.Authentication.ClientTlsCertHash
	actual := requestauth.ClientCertHash(ctx)
	switch {
	case s.cfg.MutualTLS && len(actual) == 0:
		return nil, status.Error(codes.PermissionDenied, "client didn't send a TLS certificate")
	case len(actual) > 0 && (s.cfg.MutualTLS || len(claimed) > 0) && !bytes.Equal(claimed, actual) &&
		// Fabric's discover CLI hashes the certificate's PEM encoding
		// (the SDKs hash its DER); Fabric's peer accepts either, as it
		// never compares. Weft accepts both and nothing else.
		!bytes.Equal(claimed, requestauth.ClientCertPEMHash(ctx)):
		return nil, status.Errorf(codes.PermissionDenied,
			"client claimed TLS hash doesn't match computed TLS hash from gRPC stream: the request claims %x, the client's TLS certificate hashes to %x",
			claimed, actual)
	}
	return req, nil
}

func (s *Server) query(q *discpb.Query, sd protos.SignedData, addr string) *discpb.QueryResult {
	log := s.log.With("remote_addr", addr, "channel", q.GetChannel(), "client", describeIdentity(sd.Identity))
	var bundle *channelconfig.Bundle
	if q.GetChannel() != "" {
		b, ok := s.cfg.Channels.Bundle(q.Channel)
		if !ok {
			log.Warn("discovery query refused: this peer has not joined the channel")
			return accessDenied()
		}
		bundle = b
	}
	var err error
	if s.cache != nil {
		err = s.cache.eligible(q.GetChannel(), sd)
	} else {
		err = s.check(q.GetChannel(), sd)
	}
	if err != nil {
		log.Warn("discovery query refused: the client is not eligible", "error", err)
		return accessDenied()
	}
	if bundle == nil {
		if q.GetLocalPeers() == nil {
			return errorResult("unknown or missing request type")
		}
		return s.localPeers()
	}
	switch {
	case q.GetConfigQuery() != nil:
		res, err := ConfigResult(bundle)
		if err != nil {
			log.Error("config query failed", "error", err)
			return errorResult(fmt.Sprintf("failed fetching config for channel %s", q.Channel))
		}
		return &discpb.QueryResult{Result: &discpb.QueryResult_ConfigResult{ConfigResult: res}}
	case q.GetPeerQuery() != nil:
		return s.channelPeers(bundle, q)
	case q.GetCcQuery() != nil:
		return s.endorsers(bundle, q, log)
	}
	return errorResult("unknown or missing request type")
}

// eligible is the uncached authorisation: the channel policy for channel
// queries, the local access policy for channel-less ones.
func (s *Server) eligible(channel string, sd protos.SignedData) error {
	if channel == "" {
		if s.local == nil {
			return errors.New("the local peers query is not available: the peer has no local MSP for discovery")
		}
		if err := s.local.Evaluate([]protos.SignedData{sd}); err != nil {
			return fmt.Errorf("local peers query needs the local access policy of %s: %w", s.cfg.LocalMSP.ID(), err)
		}
		return nil
	}
	b, ok := s.cfg.Channels.Bundle(channel)
	if !ok {
		return fmt.Errorf("the peer has not joined channel %s", channel)
	}
	p, err := b.Policy(s.cfg.ChannelPolicy)
	if err != nil {
		return err
	}
	if err := p.Evaluate([]protos.SignedData{sd}); err != nil {
		return fmt.Errorf("channel %s policy %s: %w", channel, s.cfg.ChannelPolicy, err)
	}
	return nil
}

func (s *Server) sequence(channel string) uint64 {
	if channel == "" {
		return 0
	}
	if b, ok := s.cfg.Channels.Bundle(channel); ok {
		return b.Sequence()
	}
	return 0
}

func (s *Server) channelPeers(b *channelconfig.Bundle, q *discpb.Query) *discpb.QueryResult {
	peers := s.cfg.Membership.ChannelPeers(q.Channel)
	peers, err := PeersFor(s.channel(b), q.GetPeerQuery().GetFilter(), peers)
	if err != nil {
		return errorResult(err.Error())
	}
	return membersResult(peers, true)
}

func (s *Server) localPeers() *discpb.QueryResult {
	return membersResult(s.cfg.Membership.LocalPeers(), false)
}

func (s *Server) channel(b *channelconfig.Bundle) Channel {
	return Channel{Bundle: b, Definition: func(name string) (*Definition, error) {
		return s.cfg.Channels.Chaincode(b.ChannelID(), name)
	}}
}

func (s *Server) endorsers(b *channelconfig.Bundle, q *discpb.Query, log *slog.Logger) *discpb.QueryResult {
	interests := q.GetCcQuery().GetInterests()
	if len(interests) == 0 {
		return errorResult("chaincode query must have at least one chaincode interest")
	}
	for _, in := range interests {
		if err := validateInterest(in); err != nil {
			return errorResult(err.Error())
		}
	}
	peers := sortPeers(s.cfg.Membership.ChannelPeers(q.Channel))
	res := &discpb.ChaincodeQueryResult{}
	for _, in := range interests {
		desc, err := Endorsers(s.channel(b), in, peers)
		if err != nil {
			log.Warn("endorsers query failed", "interest", interestString(in), "error", err)
			// Fabric's wording first, then the cause.
			return errorResult(fmt.Sprintf("failed constructing descriptor for %s: %v", interestString(in), err))
		}
		res.Content = append(res.Content, desc)
	}
	return &discpb.QueryResult{Result: &discpb.QueryResult_CcQueryRes{CcQueryRes: res}}
}

func interestString(in interface{ String() string }) string { return in.String() }

// membersResult groups the disclosable peers by organisation. Fabric's rule:
// only peers with an external endpoint, and their alive envelopes without
// the secret part (which holds the internal endpoint).
func membersResult(peers []Peer, withState bool) *discpb.QueryResult {
	byOrg := map[string]*discpb.Peers{}
	for _, p := range sortPeers(peers) {
		if len(p.Identity) == 0 || p.Alive == nil || endpointOf(p.Alive) == "" {
			continue
		}
		if withState && p.StateInfo == nil {
			continue
		}
		out := &discpb.Peer{Identity: p.Identity, MembershipInfo: sanitize(p.Alive)}
		if withState {
			out.StateInfo = sanitize(p.StateInfo)
		}
		org := mspOf(p)
		if byOrg[org] == nil {
			byOrg[org] = &discpb.Peers{}
		}
		byOrg[org].Peers = append(byOrg[org].Peers, out)
	}
	return &discpb.QueryResult{Result: &discpb.QueryResult_Members{Members: &discpb.PeerMembershipResult{PeersByOrg: byOrg}}}
}

func sanitize(env *gp.Envelope) *gp.Envelope {
	return &gp.Envelope{Payload: env.Payload, Signature: env.Signature}
}

func endpointOf(alive *gp.Envelope) string {
	return gossipMessage(alive).GetAliveMsg().GetMembership().GetEndpoint()
}

func mspOf(p Peer) string {
	if p.MSPID != "" {
		return p.MSPID
	}
	sid := &mspproto.SerializedIdentity{}
	if proto.Unmarshal(p.Identity, sid) != nil {
		return ""
	}
	return sid.Mspid
}

// sortPeers orders peers by organisation and endpoint, so that answers do
// not change from one query to the next.
func sortPeers(peers []Peer) []Peer {
	out := append([]Peer(nil), peers...)
	sort.SliceStable(out, func(i, j int) bool {
		mi, mj := mspOf(out[i]), mspOf(out[j])
		if mi != mj {
			return mi < mj
		}
		return endpointOf(out[i].Alive) < endpointOf(out[j].Alive)
	})
	return out
}

// ConfigResult is the answer to a config query on a channel whose config is
// b: the FabricMSPConfig of every orderer and application organisation by
// MSP ID, and the orderer endpoints by orderer organisation. Fabric's rule
// for endpoints: when some orderer organisation lists Endpoints, each
// organisation gets its own (unparsable ones skipped); otherwise every
// orderer organisation gets the channel's global OrdererAddresses.
func ConfigResult(b *channelconfig.Bundle) (*discpb.ConfigResult, error) {
	root := b.Config().GetChannelGroup()
	og, ag := root.GetGroups()[channelconfig.OrdererGroupKey], root.GetGroups()[channelconfig.ApplicationGroupKey]
	if og == nil || ag == nil {
		return nil, fmt.Errorf("channel %s config lacks the Orderer or the Application group", b.ChannelID())
	}
	res := &discpb.ConfigResult{Msps: map[string]*mspproto.FabricMSPConfig{}, Orderers: map[string]*discpb.Endpoints{}}
	perOrg := map[string][]string{}
	anyPerOrg := false
	for _, group := range []*cb.ConfigGroup{og, ag} {
		for _, name := range sortedKeys(group.Groups) {
			g := group.Groups[name]
			conf, err := fabricMSPConfig(g)
			if err != nil {
				return nil, fmt.Errorf("channel %s organisation %s: %w", b.ChannelID(), name, err)
			}
			if conf == nil {
				continue
			}
			if group == og {
				eps := &cb.OrdererAddresses{}
				if v := g.Values[channelconfig.EndpointsKey]; v != nil {
					if err := proto.Unmarshal(v.Value, eps); err != nil {
						return nil, fmt.Errorf("channel %s orderer organisation %s: decode Endpoints: %w", b.ChannelID(), name, err)
					}
				}
				perOrg[conf.Name] = eps.Addresses
				anyPerOrg = anyPerOrg || len(eps.Addresses) > 0
			}
			if _, ok := res.Msps[conf.Name]; !ok {
				res.Msps[conf.Name] = conf
			}
		}
	}
	var global []string
	if v := root.GetValues()[channelconfig.OrdererAddressesKey]; v != nil {
		addrs := &cb.OrdererAddresses{}
		if err := proto.Unmarshal(v.Value, addrs); err != nil {
			return nil, fmt.Errorf("channel %s: decode OrdererAddresses: %w", b.ChannelID(), err)
		}
		global = addrs.Addresses
	}
	for mspID, eps := range perOrg {
		out := &discpb.Endpoints{}
		if anyPerOrg {
			for _, e := range eps {
				if ep, err := parseEndpoint(e); err == nil {
					out.Endpoint = append(out.Endpoint, ep)
				}
			}
		} else {
			for _, e := range global {
				ep, err := parseEndpoint(e)
				if err != nil {
					return nil, fmt.Errorf("channel %s: OrdererAddresses: %w", b.ChannelID(), err)
				}
				out.Endpoint = append(out.Endpoint, ep)
			}
		}
		res.Orderers[mspID] = out
	}
	return res, nil
}

func fabricMSPConfig(g *cb.ConfigGroup) (*mspproto.FabricMSPConfig, error) {
	v := g.GetValues()[channelconfig.MSPKey]
	if v == nil {
		return nil, nil
	}
	mc := &mspproto.MSPConfig{}
	if err := proto.Unmarshal(v.Value, mc); err != nil {
		return nil, fmt.Errorf("decode MSPConfig: %w", err)
	}
	if mc.Type != 0 { // only FABRIC MSPs help a client verify nodes
		return nil, nil
	}
	fc := &mspproto.FabricMSPConfig{}
	if err := proto.Unmarshal(mc.Config, fc); err != nil {
		return nil, fmt.Errorf("decode FabricMSPConfig: %w", err)
	}
	return fc, nil
}

func parseEndpoint(e string) (*discpb.Endpoint, error) {
	host, port, err := net.SplitHostPort(e)
	if err != nil {
		return nil, fmt.Errorf("orderer endpoint %q is not host:port: %w", e, err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("orderer endpoint %q: port %q is not a number", e, port)
	}
	return &discpb.Endpoint{Host: host, Port: uint32(n)}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func remoteAddr(ctx context.Context) string {
	if p, ok := grpcpeer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// describeIdentity names a client identity in logs: MSP ID and subject.
func describeIdentity(raw []byte) string {
	id, err := msp.ParseSerializedIdentity(raw)
	if err != nil {
		return fmt.Sprintf("undecodable identity (%v)", err)
	}
	return id.String()
}
