package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"time"

	discpb "github.com/hyperledger/fabric-protos-go-apiv2/discovery"
	gp "github.com/hyperledger/fabric-protos-go-apiv2/gossip"
	mspproto "github.com/hyperledger/fabric-protos-go-apiv2/msp"
	pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/weft-ledger/weft/internal/flowcontrol"
	"github.com/weft-ledger/weft/protos"
)

// Discovery asks one peer's service discovery (Fabric's discovery.Discovery)
// as the identity Signer, binding each request to the client's TLS
// certificate by its SHA-256 (TLSCertHash, nil without TLS).
type Discovery struct {
	Conn        grpc.ClientConnInterface
	Signer      protos.Signer
	TLSCertHash []byte
}

// DialDiscovery connects to a peer's discovery service. With TLS, a client
// certificate is always presented: the endpoint's, or else a self-signed one
// made for this connection, as Fabric's discover CLI does (Fabric peers
// refuse discovery requests over TLS without one). It returns the
// connection and the SHA-256 of the certificate presented.
func DialDiscovery(e Endpoint) (*grpc.ClientConn, []byte, error) {
	if e.Address == "" {
		return nil, nil, errors.New("no discovery server address to dial")
	}
	creds := insecure.NewCredentials()
	var hash []byte
	if e.TLS {
		cfg, err := e.TLSConfig()
		if err != nil {
			return nil, nil, err
		}
		if len(cfg.Certificates) == 0 {
			cert, err := selfSignedClientCert()
			if err != nil {
				return nil, nil, fmt.Errorf("make a TLS client certificate for %s: %w", e.Address, err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		sum := sha256.Sum256(cfg.Certificates[0].Certificate[0])
		hash = sum[:]
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(e.Address, append(flowcontrol.DialOptions(), grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize)))...)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", e.Address, err)
	}
	return conn, hash, nil
}

func selfSignedClientCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "weft discover"},
		NotBefore:    time.Now().Add(-5 * time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Send signs one request carrying queries and returns one result per query.
func (d Discovery) Send(ctx context.Context, queries ...*discpb.Query) ([]*discpb.QueryResult, error) {
	creator, err := d.Signer.Serialize()
	if err != nil {
		return nil, err
	}
	payload, err := proto.Marshal(&discpb.Request{
		Authentication: &discpb.AuthInfo{ClientIdentity: creator, ClientTlsCertHash: d.TLSCertHash},
		Queries:        queries,
	})
	if err != nil {
		return nil, fmt.Errorf("marshal discovery request: %w", err)
	}
	sig, err := d.Signer.Sign(payload)
	if err != nil {
		return nil, err
	}
	resp, err := discpb.NewDiscoveryClient(d.Conn).Discover(ctx, &discpb.SignedRequest{Payload: payload, Signature: sig})
	if err != nil {
		return nil, fmt.Errorf("discovery service refused the request: %w", err)
	}
	if len(resp.Results) != len(queries) {
		return nil, fmt.Errorf("sent %d queries but received %d results", len(queries), len(resp.Results))
	}
	return resp.Results, nil
}

func (d Discovery) one(ctx context.Context, q *discpb.Query) (*discpb.QueryResult, error) {
	res, err := d.Send(ctx, q)
	if err != nil {
		return nil, err
	}
	if e := res[0].GetError(); e != nil {
		where := "channel " + q.Channel
		if q.Channel == "" {
			where = "the local peers query"
		}
		return nil, fmt.Errorf("discovery (%s): %s", where, e.Content)
	}
	return res[0], nil
}

// DiscoveredChaincode is a chaincode a peer advertises: the version is the
// definition's sequence for _lifecycle chaincodes.
type DiscoveredChaincode struct{ Name, Version string }

// DiscoveredPeer is a peer as discovery describes it.
type DiscoveredPeer struct {
	MSPID        string
	Endpoint     string
	LedgerHeight uint64                // 0 for the local peers query (no state info)
	Chaincodes   []DiscoveredChaincode // nil for the local peers query
	Identity     []byte                // serialized msp.SerializedIdentity
}

// Cert is the peer's certificate in PEM, as the identity carries it.
func (p DiscoveredPeer) Cert() string {
	sid := &mspproto.SerializedIdentity{}
	if proto.Unmarshal(p.Identity, sid) != nil {
		return ""
	}
	return string(sid.IdBytes)
}

// Peers returns the peers of channel, or with channel "" the peers the
// server knows (the local peers query, for the peer's admins), sorted by
// MSP ID and endpoint.
func (d Discovery) Peers(ctx context.Context, channel string) ([]DiscoveredPeer, error) {
	q := &discpb.Query{Channel: channel, Query: &discpb.Query_PeerQuery{PeerQuery: &discpb.PeerMembershipQuery{}}}
	if channel == "" {
		q.Query = &discpb.Query_LocalPeers{LocalPeers: &discpb.LocalPeerQuery{}}
	}
	res, err := d.one(ctx, q)
	if err != nil {
		return nil, err
	}
	m := res.GetMembers()
	if m == nil {
		return nil, fmt.Errorf("discovery answered the peers query with %T", res.Result)
	}
	var out []DiscoveredPeer
	for org, ps := range m.PeersByOrg {
		for _, p := range ps.Peers {
			dp, err := parsePeer(p, channel != "")
			if err != nil {
				return nil, fmt.Errorf("peer of %s: %w", org, err)
			}
			dp.MSPID = org
			out = append(out, dp)
		}
	}
	sortPeers(out)
	return out, nil
}

func sortPeers(ps []DiscoveredPeer) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].MSPID != ps[j].MSPID {
			return ps[i].MSPID < ps[j].MSPID
		}
		return ps[i].Endpoint < ps[j].Endpoint
	})
}

// parsePeer checks a peer's envelopes as Fabric's discovery client does (an
// alive message with membership and timestamp; a state info with timestamp
// and properties when expected) and reads them. Signatures are not checked:
// the client trusts the peer it asked.
func parsePeer(p *discpb.Peer, withState bool) (DiscoveredPeer, error) {
	out := DiscoveredPeer{Identity: p.Identity}
	sid := &mspproto.SerializedIdentity{}
	if err := proto.Unmarshal(p.Identity, sid); err != nil {
		return out, fmt.Errorf("identity is not a serialized identity: %w", err)
	}
	out.MSPID = sid.Mspid
	alive, err := gossipOf(p.MembershipInfo)
	if err != nil {
		return out, fmt.Errorf("membership info: %w", err)
	}
	am := alive.GetAliveMsg()
	if am == nil || am.Membership == nil || am.Timestamp == nil {
		return out, errors.New("membership info is not an alive message with membership and timestamp")
	}
	out.Endpoint = am.Membership.Endpoint
	if !withState {
		return out, nil
	}
	state, err := gossipOf(p.StateInfo)
	if err != nil {
		return out, fmt.Errorf("state info of %s: %w", out.Endpoint, err)
	}
	si := state.GetStateInfo()
	if si == nil || si.Timestamp == nil || si.Properties == nil {
		return out, fmt.Errorf("state info of %s is not a state info message with timestamp and properties", out.Endpoint)
	}
	out.LedgerHeight = si.Properties.LedgerHeight
	for _, cc := range si.Properties.Chaincodes {
		if cc != nil {
			out.Chaincodes = append(out.Chaincodes, DiscoveredChaincode{Name: cc.Name, Version: cc.Version})
		}
	}
	return out, nil
}

func gossipOf(env *gp.Envelope) (*gp.GossipMessage, error) {
	if env == nil {
		return nil, errors.New("missing envelope")
	}
	m := &gp.GossipMessage{}
	if err := proto.Unmarshal(env.Payload, m); err != nil {
		return nil, fmt.Errorf("payload is not a gossip message: %w", err)
	}
	return m, nil
}

// Config returns channel's MSPs and orderer endpoints.
func (d Discovery) Config(ctx context.Context, channel string) (*discpb.ConfigResult, error) {
	if channel == "" {
		return nil, errors.New("the config query needs a channel")
	}
	res, err := d.one(ctx, &discpb.Query{Channel: channel, Query: &discpb.Query_ConfigQuery{ConfigQuery: &discpb.ConfigQuery{}}})
	if err != nil {
		return nil, err
	}
	if res.GetConfigResult() == nil {
		return nil, fmt.Errorf("discovery answered the config query with %T", res.Result)
	}
	return res.GetConfigResult(), nil
}

// EndorsementDescriptor says who can endorse a chaincode interest: under
// each group the peers that may endorse for it, and layouts, each a way to
// satisfy the policies (how many endorsers of which groups).
type EndorsementDescriptor struct {
	Chaincode         string
	EndorsersByGroups map[string][]DiscoveredPeer
	Layouts           []map[string]uint32
	Raw               *discpb.EndorsementDescriptor
}

// Endorsers returns the endorsement descriptor of each interest, in order.
func (d Discovery) Endorsers(ctx context.Context, channel string, interests ...*pb.ChaincodeInterest) ([]EndorsementDescriptor, error) {
	if channel == "" {
		return nil, errors.New("the endorsers query needs a channel")
	}
	if len(interests) == 0 {
		return nil, errors.New("no chaincode interests given")
	}
	for _, in := range interests {
		if in == nil || len(in.Chaincodes) == 0 {
			return nil, errors.New("a chaincode interest names no chaincode")
		}
		for _, cc := range in.Chaincodes {
			if cc.GetName() == "" {
				return nil, errors.New("chaincode name should not be empty")
			}
		}
	}
	res, err := d.one(ctx, &discpb.Query{Channel: channel, Query: &discpb.Query_CcQuery{CcQuery: &discpb.ChaincodeQuery{Interests: interests}}})
	if err != nil {
		return nil, err
	}
	content := res.GetCcQueryRes().GetContent()
	if len(content) != len(interests) {
		return nil, fmt.Errorf("expected %d endorsement descriptors but got %d", len(interests), len(content))
	}
	var out []EndorsementDescriptor
	for i, desc := range content {
		if want := interests[i].Chaincodes[0].Name; desc.Chaincode != want {
			return nil, fmt.Errorf("expected chaincode %s but got an endorsement descriptor for %s", want, desc.Chaincode)
		}
		ed := EndorsementDescriptor{Chaincode: desc.Chaincode, EndorsersByGroups: map[string][]DiscoveredPeer{}, Raw: desc}
		for grp, ps := range desc.EndorsersByGroups {
			for _, p := range ps.Peers {
				dp, err := parsePeer(p, true)
				if err != nil {
					return nil, fmt.Errorf("endorser of group %s for %s: %w", grp, desc.Chaincode, err)
				}
				ed.EndorsersByGroups[grp] = append(ed.EndorsersByGroups[grp], dp)
			}
			sortPeers(ed.EndorsersByGroups[grp])
		}
		for _, l := range desc.Layouts {
			for grp := range l.QuantitiesByGroup {
				if _, ok := desc.EndorsersByGroups[grp]; !ok {
					return nil, fmt.Errorf("group %s isn't mapped to endorsers, but exists in a layout", grp)
				}
			}
			ed.Layouts = append(ed.Layouts, l.QuantitiesByGroup)
		}
		out = append(out, ed)
	}
	return out, nil
}
